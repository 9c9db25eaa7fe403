package cache

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// These tests run in synctest bubbles: time is virtual and advances only
// when every goroutine is blocked, so a 20 ms upstream and a 2 s flood
// take no real time and no assertion depends on the machine's speed.

// concurrent sends n GET requests for target through h at once and returns
// the responses once all are answered.
func concurrent(h http.Handler, n int, target string) []*httptest.ResponseRecorder {
	out := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = get(h, "GET", target) })
	}
	wg.Wait()
	return out
}

// TestCollapse: N concurrent requests on a cold key make one upstream
// request, and all get its response.
func TestCollapse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			<-release
			_, _ = w.Write([]byte("shared " + strconv.FormatInt(n, 10)))
		}}
		c := New(Options{})
		h := c.Handler("svc", Config{}, o)
		const n = 50
		out := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { out[i] = get(h, "GET", "/cold") })
		}
		synctest.Wait() // everyone is in the upstream or waiting for it
		during := o.calls.Load()
		close(release)
		wg.Wait()
		if during != 1 {
			t.Fatalf("upstream saw %d requests while the fill was under way, want 1", during)
		}
		hits := 0
		for _, w := range out {
			if w.Code != 200 || w.Body.String() != "shared 1" {
				t.Fatalf("got %d %q", w.Code, w.Body.String())
			}
			if w.Header().Get("X-Cache") == "HIT" {
				hits++
			}
		}
		if hits != n-1 || o.calls.Load() != 1 {
			t.Fatalf("%d hits, %d upstream calls", hits, o.calls.Load())
		}
	})
}

// TestCollapseUnstorable: when the leader's response turns out unstorable,
// the waiters go upstream at once and in parallel, not one after another.
func TestCollapseUnstorable(t *testing.T) {
	tests := []struct {
		name    string
		respond func(n int64, w http.ResponseWriter, r *http.Request)
	}{
		{"set-cookie", func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Set-Cookie", "s="+strconv.FormatInt(n, 10))
			w.WriteHeader(200)
			time.Sleep(50 * time.Millisecond)
			_, _ = w.Write([]byte("mine"))
		}},
		{"error", func(n int64, w http.ResponseWriter, r *http.Request) {
			time.Sleep(50 * time.Millisecond)
			w.WriteHeader(http.StatusBadGateway)
		}},
		{"too big mid-body", func(n int64, w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("x", 600)))
			_, _ = w.Write([]byte(strings.Repeat("x", 600))) // now over the limit
			time.Sleep(50 * time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := &origin{respond: tt.respond}
				c := New(Options{})
				h := c.Handler("svc", Config{MaxObjectBytes: 1000}, o)
				const n = 20
				start := time.Now()
				out := concurrent(h, n, "/u")
				for _, w := range out {
					if w.Header().Get("X-Cache") != "MISS" {
						t.Fatalf("X-Cache %q", w.Header().Get("X-Cache"))
					}
				}
				if o.calls.Load() != n || o.maxConc.Load() < n/2 {
					t.Fatalf("upstream calls %d, at most %d at once: the waiters were serialized", o.calls.Load(), o.maxConc.Load())
				}
				// Virtual time, so exact: the waiters did not queue.
				if d := time.Since(start); d > 150*time.Millisecond {
					t.Fatalf("took %v of virtual time", d)
				}
			})
		})
	}
}

// TestCollapseStale: requests waiting for a refresh that fails get the
// stale copy, and the upstream sees one request.
func TestCollapseStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &failing{}
		var mu sync.Mutex
		h := New(Options{}).Handler("svc", Config{TTL: time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			f.ServeHTTP(w, r)
		}))
		get(h, "GET", "/")
		time.Sleep(2 * time.Second)
		f.mode = "down"
		for _, w := range concurrent(h, 30, "/") {
			expect(t, w, 200, "STALE", "good 1")
		}
		if f.calls != 2 {
			t.Fatalf("upstream calls %d, want 2", f.calls)
		}
	})
}

// TestLockTimeout: a fill that hangs holds its waiters only for the lock
// timeout; then they go upstream themselves, or serve a stale copy.
func TestLockTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := make(chan struct{})
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				<-hang
			}
			_, _ = w.Write([]byte("r" + strconv.FormatInt(n, 10)))
		}}
		h := New(Options{LockTimeout: time.Second}).Handler("svc", Config{}, o)
		go get(h, "GET", "/")
		synctest.Wait()
		start := time.Now()
		expect(t, get(h, "GET", "/"), 200, "MISS", "r2")
		if d := time.Since(start); d != time.Second {
			t.Fatalf("waited %v", d)
		}
		close(hang)
	})
}

// TestFlood is the flood test at small scale: 32 clients for 2 s on
// one URL of a 20 ms upstream with a 1 s TTL. The upstream sees at most one
// request per TTL window, every client gets a 200, and no client waits
// longer than one upstream round trip.
func TestFlood(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
			_, _ = w.Write([]byte("page"))
		}}
		c := New(Options{})
		h := c.Handler("svc", Config{TTL: time.Second}, o)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var total int
		var worst time.Duration
		for range 32 {
			wg.Go(func() {
				for time.Since(start) < 2*time.Second {
					t0 := time.Now()
					w := get(h, "GET", "/page?id=1")
					d := time.Since(t0)
					if w.Code != 200 || w.Body.String() != "page" {
						t.Errorf("got %d %q", w.Code, w.Body.String())
						return
					}
					mu.Lock()
					total++
					worst = max(worst, d)
					mu.Unlock()
					time.Sleep(time.Millisecond) // let virtual time pass
				}
			})
		}
		wg.Wait()
		if got := o.calls.Load(); got > 3 {
			t.Fatalf("upstream saw %d requests in 2 s with a 1 s TTL, want ≤ 3", got)
		}
		if worst > 20*time.Millisecond {
			t.Fatalf("slowest request took %v of virtual time, want ≤ one upstream round trip", worst)
		}
		s := c.Stats("svc")
		if int(s.Hits+s.Misses) != total || s.Misses != uint64(o.calls.Load()) {
			t.Fatalf("stats %+v for %d requests, %d upstream", s, total, o.calls.Load())
		}
	})
}

// TestCollapseVary: requests that waited for a fill on a cold key get a
// response for their own variant, never the leader's.
func TestCollapseVary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			<-release
			w.Header().Set("Vary", "Accept-Language")
			_, _ = w.Write([]byte("lang " + r.Header.Get("Accept-Language")))
		}}
		h := New(Options{}).Handler("svc", Config{}, o)
		langs := []string{"en", "de", "fr", "de", "en", "fr", "de"}
		out := make([]*httptest.ResponseRecorder, len(langs))
		var wg sync.WaitGroup
		wg.Go(func() { out[0] = get(h, "GET", "/", "Accept-Language", langs[0]) })
		synctest.Wait() // the "en" request leads
		for i := 1; i < len(langs); i++ {
			wg.Go(func() { out[i] = get(h, "GET", "/", "Accept-Language", langs[i]) })
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		for i, w := range out {
			if w.Body.String() != "lang "+langs[i] {
				t.Fatalf("%s request got %q", langs[i], w.Body.String())
			}
		}
		if o.calls.Load() != 3 {
			t.Fatalf("upstream calls %d, want one per language", o.calls.Load())
		}
	})
}
