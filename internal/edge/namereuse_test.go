package edge

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// fixedUpstream starts a loopback upstream that answers every request with
// body, cacheable for an hour. Requests for /slow are counted in slow and
// wait until hold is closed (hold is called when the request arrives, so
// a test can swap it between rounds).
func fixedUpstream(t testing.TB, body string, slow *atomic.Int64, hold func() chan struct{}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" && hold != nil {
			slow.Add(1)
			<-hold()
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fetch is get for other goroutines than the test's: it returns errors.
func fetch(srv *httptest.Server, host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	res, err := srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

// TestNameReuse: a service deleted and created again under the same name
// (a new ID, another owner's upstream) in one routing-table change starts
// with nothing of the old one's: no cached page, not even one whose
// request was still running on the old table when the new one came in, no
// limiter counts, no traffic counts, no metric counts. Nothing of the old
// service stays in memory.
func TestNameReuse(t *testing.T) {
	var (
		holdMu sync.Mutex
		hold   chan struct{}
	)
	current := func() chan struct{} {
		holdMu.Lock()
		defer holdMu.Unlock()
		return hold
	}
	var slowA atomic.Int64
	upA := fixedUpstream(t, "A", &slowA, current)
	upB := fixedUpstream(t, "B", nil, nil)
	reg := newRegistry(t)
	var (
		logMu  sync.Mutex
		logged []LogEntry
	)
	e, srv := newEdge(t, Config{Metrics: reg, OnRequest: func(ent LogEntry) {
		logMu.Lock()
		logged = append(logged, ent)
		logMu.Unlock()
	}})
	const host = "x.apps.test"
	route := func(id, upstream string) Route {
		return Route{
			ID: id, Service: "x", Hosts: []string{host}, Upstreams: []string{upstream},
			Cache: &cache.Config{TTL: time.Hour},
			// A uses 6 of its 10, B 7 of its own 10: shared counts
			// would refuse B's last requests.
			RateLimit: &ratelimit.Config{Requests: 10, Period: time.Minute},
		}
	}
	const rounds, inFlight = 100, 4
	for round := range rounds {
		idA, idB := strconv.Itoa(2*round+1), strconv.Itoa(2*round+2)
		holdMu.Lock()
		hold = make(chan struct{})
		holdMu.Unlock()
		slowA.Store(0)

		if err := e.SetRoutes([]Route{route(idA, upA.URL)}); err != nil {
			t.Fatal(err)
		}
		// A's page, cached for an hour.
		for i, want := range []string{"MISS", "HIT"} {
			res, body := get(t, srv, host, "/")
			if body != "A" || res.Header.Get("X-Cache") != want {
				t.Fatalf("round %d: A's request %d: %q, X-Cache %q", round, i, body, res.Header.Get("X-Cache"))
			}
		}
		// Requests on the old table, whose responses arrive after the
		// swap: "/slow", which the new service is asked for too, and more.
		var wg sync.WaitGroup
		errs := make(chan error, inFlight+8)
		for i := range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/slow"
				if i > 0 {
					path += "?n=" + strconv.Itoa(i)
				}
				if _, _, err := fetch(srv, host, path); err != nil {
					errs <- err
				}
			}()
		}
		waitFor(t, "the slow requests to reach A", func() bool { return slowA.Load() == inFlight })

		if err := e.SetRoutes([]Route{route(idB, upB.URL)}); err != nil {
			t.Fatal(err)
		}
		close(current()) // A answers the old table's requests now
		for _, path := range []string{"/", "/slow", "/", "/slow"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body, err := fetch(srv, host, path)
				switch {
				case err != nil:
					errs <- err
				case code != http.StatusOK || body != "B":
					errs <- fmt.Errorf("round %d: the new service's %s got %d %q", round, path, code, body)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for _, path := range []string{"/", "/slow", "/slow?n=1"} {
			if res, body := get(t, srv, host, path); body != "B" {
				t.Fatalf("round %d: after the old requests ended, %s got %d %q", round, path, res.StatusCode, body)
			}
		}
		// A request is counted after its answer is written: the
		// client may read the answer first.
		waitFor(t, "the new service's 7 requests to be counted", func() bool {
			return sum(e.Stats(idB).Buckets) >= 7 && testutil.ToFloat64(e.metrics.requests.WithLabelValues("x", "200")) >= 7
		}, func() string {
			return fmt.Sprintf("round %d: traffic %d, metric %v, A's traffic %d", round, sum(e.Stats(idB).Buckets),
				testutil.ToFloat64(e.metrics.requests.WithLabelValues("x", "200")), sum(e.Stats(idA).Buckets))
		})
		if st := e.Stats(idB); sum(st.Buckets) != 7 {
			t.Fatalf("round %d: the new service's traffic counts %d requests, want its own 7", round, sum(st.Buckets))
		}
		if st := e.Stats(idA); sum(st.Buckets) != 0 {
			t.Fatalf("round %d: the old service's traffic outlived it: %d requests", round, sum(st.Buckets))
		}
		if got := testutil.ToFloat64(e.metrics.requests.WithLabelValues("x", "200")); got != 7 {
			t.Fatalf("round %d: requests_total{service=x,code=200} = %v, want the new service's 7", round, got)
		}
		// The log tells the two apart by ID, whatever table a request
		// ran on.
		logMu.Lock()
		for _, ent := range logged {
			want := map[string]string{idA: upA.URL, idB: upB.URL}[ent.ServiceID]
			if ent.Service != "x" || want == "" || ent.Upstream != "" && ent.Upstream != want {
				t.Fatalf("round %d: log entry of service %q (ID %q) names upstream %q", round, ent.Service, ent.ServiceID, ent.Upstream)
			}
		}
		logged = logged[:0]
		logMu.Unlock()
	}
	e.mu.Lock()
	kept := len(e.services)
	e.mu.Unlock()
	if kept != 1 {
		t.Errorf("the edge keeps the state of %d services, want 1", kept)
	}
	// B's "/", "/slow" and "/slow?n=1": nothing of any A.
	if u := e.cache.Usage(); u.Entries != 3 {
		t.Errorf("the cache holds %d entries, want the last service's 3", u.Entries)
	}
}

func sum(b []TrafficCount) int64 {
	var n int64
	for _, c := range b {
		n += c.Requests
	}
	return n
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			msg := "timed out waiting for " + what
			for _, f := range state {
				msg += ": " + f()
			}
			t.Fatal(msg)
		}
		time.Sleep(time.Millisecond)
	}
}
