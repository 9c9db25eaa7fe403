package edge

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testport"
)

// holdRequest is one request of TestHoldWaitsForRestartedUpstream, and the
// path through the edge it takes.
type holdRequest struct {
	name, method, body string
	chunked            bool // no length: through httputil, not the forwarder
}

// TestHoldWaitsForRestartedUpstream: a route with a hold (a service whose
// process rampart runs, between a restart's old and new process) keeps
// requests that find its port refused until the upstream listens, then
// forwards them, bodies intact, on both of the edge's paths to upstreams.
func TestHoldWaitsForRestartedUpstream(t *testing.T) {
	addr := testport.Addr(t)
	_, srv := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"},
		Upstreams: []string{"http://" + addr}, Hold: 5 * time.Second})

	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+string(b))
	})}
	t.Cleanup(func() { up.Close() })
	go func() {
		time.Sleep(400 * time.Millisecond) // the new process starts
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		_ = up.Serve(ln)
	}()

	reqs := []holdRequest{
		{name: "GET", method: "GET"},
		{name: "POST with a body", method: "POST", body: "an order"},
		{name: "chunked POST", method: "POST", body: "a chunked order", chunked: true},
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, hr := range reqs {
		wg.Go(func() {
			var body io.Reader
			if hr.body != "" {
				body = strings.NewReader(hr.body)
				if hr.chunked {
					body = io.MultiReader(body) // hides the length
				}
			}
			req, _ := http.NewRequest(hr.method, srv.URL+"/x", body)
			req.Host = "svc.test"
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Errorf("%s: %v", hr.name, err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if want := hr.method + " /x " + hr.body; res.StatusCode != 200 || string(b) != want {
				t.Errorf("%s: %d %q, want 200 %q", hr.name, res.StatusCode, b, want)
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 350*time.Millisecond {
		t.Errorf("answered after %v, before the upstream listened", d)
	}
}

// TestHoldEnds: without a hold a refused upstream is a 502 at once; with
// one, a 502 once the hold has passed, on both paths.
func TestHoldEnds(t *testing.T) {
	for _, tc := range []struct {
		hold     time.Duration
		min, max time.Duration
	}{
		{0, 0, 300 * time.Millisecond},
		{500 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second},
	} {
		_, srv := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"},
			Upstreams: []string{"http://" + testport.Addr(t)}, Hold: tc.hold})
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader("x")
			if chunked {
				body = io.MultiReader(body)
			}
			req, _ := http.NewRequest("POST", srv.URL+"/", body)
			req.Host = "svc.test"
			start := time.Now()
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			d := time.Since(start)
			if res.StatusCode != http.StatusBadGateway || d < tc.min || d > tc.max {
				t.Errorf("hold %v, chunked %v: %d after %v, want 502 in [%v, %v]", tc.hold, chunked, res.StatusCode, d, tc.min, tc.max)
			}
		}
	}
}

// TestHoldRefusesNegative: a negative hold is a configuration error.
func TestHoldRefusesNegative(t *testing.T) {
	e, err := New(Config{ErrorLog: quiet})
	if err != nil {
		t.Fatal(err)
	}
	err = e.SetRoutes([]Route{{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{"http://127.0.0.1:1"}, Hold: -time.Second}})
	if err == nil || !strings.Contains(err.Error(), "hold") {
		t.Errorf("err %v", err)
	}
}

// closingListener is a port that, like Docker's proxy in front of a
// container that is being replaced, accepts connections and closes them
// at once until ready is closed; and that closes the first closeFirst
// connections in any case, like a process that resets its backlog as it
// goes away.
type closingListener struct {
	net.Listener
	ready      chan struct{}
	closeFirst int32
	accepted   *atomic.Int32
}

func (l closingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.accepted.Add(1) > l.closeFirst {
			select {
			case <-l.ready:
				return c, nil
			default:
			}
		}
		c.Close()
	}
}

// closingUpstream serves "ok" behind a closingListener.
func closingUpstream(t *testing.T, closeFirst int32) (addr string, ready chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", testport.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	ready = make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	t.Cleanup(func() { srv.Close() })
	go srv.Serve(closingListener{ln, ready, closeFirst, new(atomic.Int32)})
	return ln.Addr().String(), ready
}

// TestHoldClosed: on a route whose port is a proxy's (HoldClosed), a GET
// that finds its connections closed before any answer waits for the app
// behind it; on an app's own port it is sent once more (the backlog of a
// process going away), not again and again; a request with a body is not
// sent twice.
func TestHoldClosed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		holdClosed bool
		method     string
		closeFirst int32
		readyAfter time.Duration
		want       int
		slow       bool // answered only once ready
	}{
		{"GET, proxy's port", true, "GET", 0, 300 * time.Millisecond, 200, true},
		{"POST with a body", true, "POST", 0, 300 * time.Millisecond, http.StatusBadGateway, false},
		{"GET, app's own port, one reset", false, "GET", 1, 0, 200, false},
		{"GET, app's own port, closing", false, "GET", 0, 300 * time.Millisecond, http.StatusBadGateway, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, ready := closingUpstream(t, tc.closeFirst)
			_, srv := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"},
				Upstreams: []string{"http://" + addr}, Hold: 5 * time.Second, HoldClosed: tc.holdClosed})
			time.AfterFunc(tc.readyAfter, func() { close(ready) })
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader("an order")
			}
			req, _ := http.NewRequest(tc.method, srv.URL+"/", body)
			req.Host = "svc.test"
			start := time.Now()
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			d := time.Since(start)
			if res.StatusCode != tc.want {
				t.Fatalf("%d %q after %v, want %d", res.StatusCode, b, d, tc.want)
			}
			if tc.slow != (d >= 250*time.Millisecond) {
				t.Errorf("answered %d after %v", res.StatusCode, d)
			}
		})
	}
}
