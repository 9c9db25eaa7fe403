package cache

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Conformance tests for stale-while-revalidate (RFC 5861 §3), within the
// limits RFC 9111 §4.2.4 sets on serving stale.

// gatedOrigin answers "body N" with the Cache-Control cc; once gate is
// set, each request waits for a value on it before answering, and every
// request's arrival is announced on started.
type gatedOrigin struct {
	origin
	mu      sync.Mutex
	cc      string
	status  int
	gate    chan struct{}
	started chan *http.Request
}

func newGatedOrigin(cc string) *gatedOrigin {
	g := &gatedOrigin{cc: cc, started: make(chan *http.Request, 16)}
	g.respond = func(n int64, w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		cc, status, gate := g.cc, g.status, g.gate
		g.mu.Unlock()
		g.started <- r
		if gate != nil {
			<-gate
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		body := "body " + strconv.FormatInt(n, 10)
		w.Header().Set("Cache-Control", cc)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	}
	return g
}

func (g *gatedOrigin) set(f func(g *gatedOrigin)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

// arrived waits for the origin to get a request.
func (g *gatedOrigin) arrived(t *testing.T) *http.Request {
	t.Helper()
	select {
	case r := <-g.started:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the origin got no request")
		return nil
	}
}

// until sends GETs until one is answered with X-Cache want, for up to 5 s.
func until(t *testing.T, h http.Handler, want string) *http.Response {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		w := get(h, "GET", "/")
		if w.Header().Get("X-Cache") == want {
			return w.Result()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 5 s; last answer %d %q %q", want, w.Code, w.Header().Get("X-Cache"), w.Body.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStaleWhileRevalidate: RFC 5861 §3: within stale-while-revalidate
// seconds after a response expires, the cache answers with it at once and
// refreshes it in the background, with one upstream request however many
// clients ask meanwhile; the refreshed response then serves as a HIT.
func TestStaleWhileRevalidate(t *testing.T) {
	o := newGatedOrigin("max-age=1, stale-while-revalidate=5")
	c, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
	o.arrived(t)
	clk.Advance(2 * time.Second)

	gate := make(chan struct{})
	o.set(func(g *gatedOrigin) { g.gate = gate })
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() { answered <- get(h, "GET", "/") }()
	var w *httptest.ResponseRecorder
	select {
	case w = <-answered: // the origin waits: the client must not
	case <-time.After(5 * time.Second):
		t.Fatal("the client waited for the refresh")
	}
	expect(t, w, 200, "STALE", "body 1")
	if w.Header().Get("Age") != "2" {
		t.Fatalf("stale answer's Age %q, want 2", w.Header().Get("Age"))
	}
	o.arrived(t) // the refresh is under way
	for range 5 {
		expect(t, get(h, "GET", "/"), 200, "STALE", "body 1")
		expect(t, get(h, "HEAD", "/"), 200, "STALE", "")
	}
	if n := o.calls.Load(); n != 2 {
		t.Fatalf("origin calls %d, want 2 (one refresh)", n)
	}
	// Clients were answered 11 times from the stale copy; the refresh
	// itself is no client's answer.
	if s := c.Stats("svc"); s.Stale != 11 || s.Misses != 1 {
		t.Fatalf("stats %+v, want 11 stale and 1 miss", s)
	}
	release()
	res := until(t, h, "HIT")
	if body := readBody(t, res); body != "body 2" {
		t.Fatalf("after the refresh: %q, want body 2", body)
	}
	if s := c.Stats("svc"); s.Misses != 1 || o.calls.Load() != 2 {
		t.Fatalf("stats %+v after %d origin calls, want still 1 miss and 2 calls", s, o.calls.Load())
	}
}

// TestStaleWhileRevalidateWindow: past its stale-while-revalidate window a
// response is fetched again before the client is answered, and the window
// is capped at the longer of the service's TTL and stale-if-error window.
func TestStaleWhileRevalidateWindow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cc      string
		cfg     Config
		advance time.Duration
		stale   bool
	}{
		{"within", "max-age=1, stale-while-revalidate=5", Config{TTL: time.Minute, StaleIfError: -1}, 5 * time.Second, true},
		{"past", "max-age=1, stale-while-revalidate=5", Config{TTL: time.Minute, StaleIfError: -1}, 7 * time.Second, false},
		{"capped at the TTL", "max-age=1, stale-while-revalidate=3600", Config{TTL: 10 * time.Second, StaleIfError: -1}, 12 * time.Second, false},
		{"capped at stale-if-error", "max-age=1, stale-while-revalidate=3600", Config{TTL: 10 * time.Second, StaleIfError: 30 * time.Second}, 30 * time.Second, true},
		{"past the cap", "max-age=1, stale-while-revalidate=3600", Config{TTL: 10 * time.Second, StaleIfError: 30 * time.Second}, 32 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newGatedOrigin(tc.cc)
			_, h, clk := setup(t, tc.cfg, o)
			expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
			clk.Advance(tc.advance)
			if tc.stale {
				expect(t, get(h, "GET", "/"), 200, "STALE", "body 1")
				until(t, h, "HIT")
			} else {
				expect(t, get(h, "GET", "/"), 200, "MISS", "body 2")
			}
		})
	}
}

// TestStaleWhileRevalidateForbidden: RFC 9111 §4.2.4 with §5.2.2.2,
// §5.2.2.8 and §5.2.2.10: must-revalidate, proxy-revalidate and s-maxage
// forbid serving the response stale, stale-while-revalidate included; so
// do no-cache and no-store, which keep it out of the cache. A value that
// is not delta-seconds grants nothing.
func TestStaleWhileRevalidateForbidden(t *testing.T) {
	for _, cc := range []string{
		"max-age=1, stale-while-revalidate=30, must-revalidate",
		"max-age=1, stale-while-revalidate=30, proxy-revalidate",
		"s-maxage=1, stale-while-revalidate=30",
		"max-age=1, stale-while-revalidate=30, no-cache",
		"max-age=1, stale-while-revalidate",
		"max-age=1, stale-while-revalidate=-5",
		"max-age=1, stale-while-revalidate=5s",
		"max-age=1, stale-while-revalidate=30, stale-while-revalidate=x",
		"max-age=1, stale-while-revalidate=0",
	} {
		t.Run(cc, func(t *testing.T) {
			o := newGatedOrigin(cc)
			_, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: time.Minute}, o)
			get(h, "GET", "/")
			clk.Advance(2 * time.Second)
			w := get(h, "GET", "/")
			if w.Header().Get("X-Cache") != "MISS" || w.Body.String() != "body 2" {
				t.Fatalf("got %q %q, want a MISS with body 2", w.Header().Get("X-Cache"), w.Body.String())
			}
		})
	}
	// The smallest of two values counts (RFC 9111 §4.2.1's rule for
	// duplicate directives, taken the careful way).
	o := newGatedOrigin("max-age=1, stale-while-revalidate=30, stale-while-revalidate=2")
	_, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
	get(h, "GET", "/")
	clk.Advance(4 * time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 2")
}

// TestStaleWhileRevalidateCDNCacheControl: RFC 9213 §2.2: CDN-Cache-Control
// replaces Cache-Control for this cache, stale-while-revalidate included.
func TestStaleWhileRevalidateCDNCacheControl(t *testing.T) {
	o := newGatedOrigin("max-age=1, stale-while-revalidate=30")
	o.respond = func(base func(int64, http.ResponseWriter, *http.Request)) func(int64, http.ResponseWriter, *http.Request) {
		return func(n int64, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("CDN-Cache-Control", "max-age=1")
			base(n, w, r)
		}
	}(o.respond)
	_, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
	get(h, "GET", "/")
	clk.Advance(2 * time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 2")
}

// TestStaleWhileRevalidateConditional: RFC 9111 §4.3.1 and RFC 5861 §3:
// the background refresh of a response with a validator is a conditional
// request of the cache's own, without the client's conditional or Range
// fields; a 304 refreshes the stored response, which the client's
// conditional and Range requests are then answered from.
func TestStaleWhileRevalidateConditional(t *testing.T) {
	o := newRevalOrigin(`"v1"`, "")
	o.ccFull, o.cc304 = "max-age=1, stale-while-revalidate=10", "max-age=60"
	_, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
	clk.Advance(2 * time.Second)

	w := get(h, "GET", "/", "If-None-Match", `"v1"`, "Range", "bytes=0-1", "If-Range", `"v1"`)
	if w.Code != http.StatusNotModified || w.Header().Get("X-Cache") != "STALE" {
		t.Fatalf("conditional stale request: %d %q, want 304 STALE", w.Code, w.Header().Get("X-Cache"))
	}
	res := until(t, h, "HIT")
	if body := readBody(t, res); body != "body 1" || res.Header.Get("X-Version") != "2" {
		t.Fatalf("after a 304: %q X-Version %q, want body 1 with the 304's fields", body, res.Header.Get("X-Version"))
	}
	o.origin.mu.Lock()
	refresh := o.reqs[1]
	o.origin.mu.Unlock()
	if got := refresh.Header.Get("If-None-Match"); got != `"v1"` || refresh.Header.Get("Range") != "" || refresh.Header.Get("If-Range") != "" || refresh.Method != "GET" {
		t.Fatalf("background refresh: %s If-None-Match %q Range %q If-Range %q", refresh.Method, got, refresh.Header.Get("Range"), refresh.Header.Get("If-Range"))
	}
	w = get(h, "GET", "/", "Range", "bytes=0-1")
	expect(t, w, http.StatusPartialContent, "HIT", "bo")
}

// TestStaleWhileRevalidateFailure: a background refresh that fails leaves
// the stale response in place, served for the rest of its window; an
// origin that panics (or breaks off) takes nothing down.
func TestStaleWhileRevalidateFailure(t *testing.T) {
	logged := make(chan string, 10)
	errorLog := slog.New(slog.NewTextHandler(lineWriter(logged), nil))
	for _, mode := range []string{"500", "abort", "panic"} {
		t.Run(mode, func(t *testing.T) {
			o := newGatedOrigin("max-age=1, stale-while-revalidate=10")
			clk := newClock()
			h := New(Options{Now: clk.Now, ErrorLog: errorLog}).Handler("svc", Config{TTL: time.Minute, StaleIfError: -1}, o)
			get(h, "GET", "/")
			o.arrived(t)
			clk.Advance(2 * time.Second)
			o.set(func(g *gatedOrigin) { g.status = 500 })
			if mode != "500" {
				o.respond = func(int64, http.ResponseWriter, *http.Request) {
					o.started <- nil
					if mode == "abort" {
						panic(http.ErrAbortHandler)
					}
					panic("the origin's bug")
				}
			}
			for range 3 {
				expect(t, get(h, "GET", "/"), 200, "STALE", "body 1")
				o.arrived(t) // each refresh ends before the next request
				waitNoFill(t, h)
			}
		})
	}
	// The fill ends before the panic reaches the goroutine's recover;
	// http.ErrAbortHandler is how the proxy says an upstream broke off,
	// not worth a line.
	for range 3 {
		select {
		case line := <-logged:
			if !strings.Contains(line, "panic=\"the origin's bug\"") || !strings.Contains(line, "url=example.com/") {
				t.Fatalf("logged %q", line)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a panic of the background refresh was not logged")
		}
	}
	select {
	case line := <-logged:
		t.Fatalf("logged more: %q", line)
	default:
	}
}

// lineWriter sends what is written to it to a channel.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// waitNoFill waits until no fill is under way for "/".
func waitNoFill(t *testing.T, h http.Handler) {
	t.Helper()
	ch := h.(*handler)
	r := newReq("GET", "/")
	var buf [keyBufSize]byte
	key, _ := ch.appendKey(buf[:0], r)
	deadline := time.Now().Add(5 * time.Second)
	for ch.c.pending(key, ch.c.hashKey(key), ch.s) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh did not end")
		}
		time.Sleep(time.Millisecond)
	}
}

func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(res.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestStaleWhileRevalidateBound: at most maxRefreshes background refreshes
// of one service run at once; past that, the client whose request would
// start one waits for it, as without stale-while-revalidate.
func TestStaleWhileRevalidateBound(t *testing.T) {
	o := newGatedOrigin("max-age=1, stale-while-revalidate=30")
	_, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
	url := func(i int) string { return "/p" + strconv.Itoa(i) }
	for i := range maxRefreshes + 1 {
		get(h, "GET", url(i))
		o.arrived(t)
	}
	clk.Advance(2 * time.Second)
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	o.set(func(g *gatedOrigin) { g.gate = gate })
	for i := range maxRefreshes {
		if w := get(h, "GET", url(i)); w.Header().Get("X-Cache") != "STALE" {
			t.Fatalf("%s: %q, want STALE", url(i), w.Header().Get("X-Cache"))
		}
		o.arrived(t)
	}
	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() { answered <- get(h, "GET", url(maxRefreshes)) }()
	o.arrived(t) // its refresh reached the origin, and waits there
	select {
	case w := <-answered:
		t.Fatalf("answered %q while %d refreshes were under way", w.Header().Get("X-Cache"), maxRefreshes)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	w := <-answered
	if w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("the refresh past the bound: %q, want MISS", w.Header().Get("X-Cache"))
	}
	// All refreshes end, and the bound is free again.
	deadline := time.Now().Add(5 * time.Second)
	for h.(*handler).s.refreshes.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d refreshes still counted", h.(*handler).s.refreshes.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackgroundHook: HandlerWithBackground runs its hook around each
// background refresh, once, with the refresh's own request (a plain GET
// that carries the client's other fields); serve returns the upstream's
// status. A 200 is written through the hook's writer as it is stored; a
// 304 that refreshes the copy and a 5xx that leaves it in place write
// nothing there (they are no client's answer), and the hook's work is no
// client's in the stats either.
func TestBackgroundHook(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string // what the hook's writer gets
		next, xnxt string // the next client's answer: body and X-Cache
	}{
		{http.StatusOK, "body 2", "body 2", "HIT"},
		{http.StatusNotModified, "", "body 1", "HIT"},
		{http.StatusServiceUnavailable, "", "body 1", "STALE"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			var calls atomic.Int64
			origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=30")
				w.Header().Set("ETag", `"v1"`)
				if n > 1 && tc.status != http.StatusOK {
					w.WriteHeader(tc.status)
					return
				}
				_, _ = io.WriteString(w, "body "+strconv.FormatInt(n, 10))
			})
			type call struct {
				r      *http.Request
				status int
				rec    *httptest.ResponseRecorder
			}
			calledBack := make(chan call, 4)
			clk := newClock()
			c := New(Options{Now: clk.Now})
			h := c.HandlerWithBackground("svc", Config{TTL: time.Minute, StaleIfError: time.Minute}, origin,
				func(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter) int) {
					rec := httptest.NewRecorder()
					calledBack <- call{r: r, status: serve(rec), rec: rec}
				})
			expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
			clk.Advance(2 * time.Second)
			expect(t, get(h, "GET", "/", "X-Client", "a", "If-None-Match", `"v0"`), 200, "STALE", "body 1")

			var got call
			select {
			case got = <-calledBack:
			case <-time.After(5 * time.Second):
				t.Fatal("the hook was not called for the background refresh")
			}
			if got.r.Method != "GET" || got.r.URL.Path != "/" || got.r.Header.Get("X-Client") != "a" {
				t.Fatalf("the refresh's request: %s %s X-Client %q", got.r.Method, got.r.URL.Path, got.r.Header.Get("X-Client"))
			}
			if inm := got.r.Header.Get("If-None-Match"); inm != "" {
				t.Fatalf("the refresh's request carries the client's If-None-Match %q", inm)
			}
			if got.status != tc.status {
				t.Fatalf("serve returned %d, want the upstream's %d", got.status, tc.status)
			}
			if b := got.rec.Body.String(); b != tc.body {
				t.Fatalf("the hook's writer got %q, want %q", b, tc.body)
			}
			if tc.body == "" && len(got.rec.Header()) != 0 {
				t.Fatalf("the hook's writer got a header %v for a response no client gets", got.rec.Header())
			}
			w := get(h, "GET", "/")
			if w.Body.String() != tc.next || w.Header().Get("X-Cache") != tc.xnxt {
				t.Fatalf("after the refresh: %s %q, want %s %q", w.Header().Get("X-Cache"), w.Body.String(), tc.xnxt, tc.next)
			}
			// The MISS and the client answers; not the refresh.
			wantStale := uint64(1)
			if tc.xnxt == "STALE" {
				wantStale = 2
			}
			if s := c.Stats("svc"); s.Misses != 1 || s.Stale != wantStale {
				t.Fatalf("stats %+v: want 1 miss and %d stale", s, wantStale)
			}
		})
	}
}
