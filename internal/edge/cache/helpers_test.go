package cache

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock for TTL and Age tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// origin is a fake upstream. It counts requests and how many run at once,
// and answers with respond (default: 200, "body N" where N counts calls).
type origin struct {
	calls   atomic.Int64
	active  atomic.Int64
	maxConc atomic.Int64
	respond func(n int64, w http.ResponseWriter, r *http.Request)

	mu      sync.Mutex
	methods []string
	reqs    []*http.Request
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.calls.Add(1)
	a := o.active.Add(1)
	defer o.active.Add(-1)
	for {
		m := o.maxConc.Load()
		if a <= m || o.maxConc.CompareAndSwap(m, a) {
			break
		}
	}
	o.mu.Lock()
	o.methods = append(o.methods, r.Method)
	o.reqs = append(o.reqs, r)
	o.mu.Unlock()
	if o.respond != nil {
		o.respond(n, w, r)
		return
	}
	body := "body " + strconv.FormatInt(n, 10)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write([]byte(body))
}

// setup returns a cache on a fake clock and a handler for service "svc"
// in front of o.
func setup(t testing.TB, cfg Config, o http.Handler) (*Cache, http.Handler, *clock) {
	t.Helper()
	clk := newClock()
	c := New(Options{Now: clk.Now})
	return c, c.Handler("svc", cfg, o), clk
}

// get sends one request through h; hdr holds header name/value pairs.
func get(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// expect checks status, X-Cache and body of a response.
func expect(t *testing.T, w *httptest.ResponseRecorder, status int, xcache, body string) {
	t.Helper()
	if w.Code != status || w.Header().Get("X-Cache") != xcache || w.Body.String() != body {
		t.Fatalf("got %d X-Cache=%q body %q; want %d %q %q", w.Code, w.Header().Get("X-Cache"), w.Body.String(), status, xcache, body)
	}
}

func newReq(method, target string) *http.Request { return httptest.NewRequest(method, target, nil) }

// flushRecorder reports what was written up to each Flush.
type flushRecorder struct {
	httptest.ResponseRecorder
	flushed chan string
}

func (f *flushRecorder) Header() http.Header {
	if f.HeaderMap == nil {
		f.HeaderMap = make(http.Header)
	}
	return f.HeaderMap
}

func (f *flushRecorder) Write(p []byte) (int, error) {
	if f.Body == nil {
		f.Body = new(bytes.Buffer)
	}
	return f.ResponseRecorder.Write(p)
}

func (f *flushRecorder) Flush() {
	f.flushed <- f.Body.String()
}
