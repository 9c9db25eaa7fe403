package cache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVary: each combination of the varied request headers is its own
// entry; other headers do not matter.
func TestVary(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Add("Vary", "accept-language")
		_, _ = w.Write([]byte(r.Header.Get("Accept-Encoding") + "/" + r.Header.Get("Accept-Language") + " " + strconv.FormatInt(n, 10)))
	}}
	_, h, _ := setup(t, Config{}, o)
	steps := []struct {
		ae, al string
		xc     string
		body   string
	}{
		{"gzip", "en", "MISS", "gzip/en 1"},
		{"br", "en", "MISS", "br/en 2"},
		{"gzip", "en", "HIT", "gzip/en 1"},
		{"br", "en", "HIT", "br/en 2"},
		{"gzip", "de", "MISS", "gzip/de 3"},
		{"", "", "MISS", "/ 4"},
		{"gzip", "de", "HIT", "gzip/de 3"},
		{"", "", "HIT", "/ 4"},
		{"gzip, br", "en", "MISS", "gzip, br/en 5"},
	}
	for i, s := range steps {
		var hdr []string
		if s.ae != "" {
			hdr = append(hdr, "Accept-Encoding", s.ae)
		}
		if s.al != "" {
			hdr = append(hdr, "Accept-Language", s.al)
		}
		hdr = append(hdr, "User-Agent", "agent "+strconv.Itoa(i)) // not varied on
		w := get(h, "GET", "/v", hdr...)
		if w.Header().Get("X-Cache") != s.xc || w.Body.String() != s.body {
			t.Fatalf("step %d (%q, %q): %q %q, want %q %q", i, s.ae, s.al, w.Header().Get("X-Cache"), w.Body.String(), s.xc, s.body)
		}
	}
}

// TestVaryChanges: when the upstream stops varying, the plain response
// replaces the variants.
func TestVaryChanges(t *testing.T) {
	vary := true
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if vary {
			w.Header().Set("Vary", "Accept-Language")
		}
		_, _ = w.Write([]byte(r.Header.Get("Accept-Language") + strconv.FormatInt(n, 10)))
	}}
	c, h, clk := setup(t, Config{}, o)
	expect(t, get(h, "GET", "/", "Accept-Language", "en"), 200, "MISS", "en1")
	expect(t, get(h, "GET", "/", "Accept-Language", "de"), 200, "MISS", "de2")
	clk.Advance(4 * time.Second)
	vary = false
	expect(t, get(h, "GET", "/", "Accept-Language", "de"), 200, "MISS", "de3")
	expect(t, get(h, "GET", "/", "Accept-Language", "en"), 200, "HIT", "de3")
	if u := c.Usage(); u.Entries > 4 {
		t.Fatalf("usage %+v", u)
	}
}

// TestHEAD: a HEAD miss fetches with GET and fills the entry for both.
func TestHEAD(t *testing.T) {
	o := &origin{}
	_, h, _ := setup(t, Config{}, o)
	w := get(h, "HEAD", "/h")
	expect(t, w, 200, "MISS", "")
	if w.Header().Get("Content-Length") != "6" {
		t.Fatalf("HEAD miss Content-Length %q", w.Header().Get("Content-Length"))
	}
	expect(t, get(h, "GET", "/h"), 200, "HIT", "body 1")
	w = get(h, "HEAD", "/h")
	expect(t, w, 200, "HIT", "")
	if w.Header().Get("Content-Length") != "6" {
		t.Fatalf("HEAD hit Content-Length %q", w.Header().Get("Content-Length"))
	}
	if o.calls.Load() != 1 || o.methods[0] != "GET" {
		t.Fatalf("origin saw %v", o.methods)
	}
}

// TestTTLAndAge: Age counts up while the entry is fresh; after the TTL the
// next request goes upstream.
func TestTTLAndAge(t *testing.T) {
	o := &origin{}
	c, h, clk := setup(t, Config{TTL: 3 * time.Second, StaleIfError: -1}, o)
	w := get(h, "GET", "/")
	expect(t, w, 200, "MISS", "body 1")
	if w.Header().Get("Age") != "" {
		t.Fatalf("a miss has Age %q", w.Header().Get("Age"))
	}
	for _, age := range []string{"0", "1", "2"} {
		w = get(h, "GET", "/")
		expect(t, w, 200, "HIT", "body 1")
		if w.Header().Get("Age") != age || w.Header().Get("Content-Type") != "text/plain" {
			t.Fatalf("Age %q, Content-Type %q; want %s", w.Header().Get("Age"), w.Header().Get("Content-Type"), age)
		}
		clk.Advance(time.Second)
	}
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 2")
	expect(t, get(h, "GET", "/"), 200, "HIT", "body 2")
	if s := c.Stats("svc"); s != (Stats{Hits: 4, Misses: 2}) {
		t.Fatalf("stats %+v", s)
	}
}

// TestUpstreamLifetime: max-age shortens the TTL; the upstream's Age adds
// to ours.
func TestUpstreamLifetime(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=12")
		w.Header().Set("Age", "10")
		_, _ = w.Write([]byte("x" + strconv.FormatInt(n, 10)))
	}}
	_, h, clk := setup(t, Config{TTL: time.Minute}, o)
	get(h, "GET", "/")
	clk.Advance(time.Second)
	w := get(h, "GET", "/")
	expect(t, w, 200, "HIT", "x1")
	if w.Header().Get("Age") != "11" {
		t.Fatalf("Age %q, want 11", w.Header().Get("Age"))
	}
	clk.Advance(time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "x2")
}

// TestPurge: purging drops one service's entries only, at once.
func TestPurge(t *testing.T) {
	o := &origin{}
	c, h, _ := setup(t, Config{}, o)
	other := c.Handler("other", Config{}, o)
	get(h, "GET", "/a")
	get(h, "GET", "/b")
	get(other, "GET", "/a")
	expect(t, get(h, "GET", "/a"), 200, "HIT", "body 1")
	if n := c.Purge("svc"); n != 2 {
		t.Fatalf("Purge = %d, want 2", n)
	}
	if n := c.Purge("nonexistent"); n != 0 {
		t.Fatalf("Purge of an unknown service = %d", n)
	}
	expect(t, get(h, "GET", "/a"), 200, "MISS", "body 4")
	expect(t, get(other, "GET", "/a"), 200, "HIT", "body 3")
	// A handler rebuilt for new settings keeps the entries.
	h2 := c.Handler("svc", Config{TTL: 10 * time.Second}, o)
	expect(t, get(h2, "GET", "/a"), 200, "HIT", "body 4")
	c.Forget("svc")
	if _, ok := c.AllStats()["svc"]; ok {
		t.Fatalf("Forget kept the stats")
	}
	if s := c.AllStats()["other"]; s.Hits != 1 || s.Misses != 1 {
		t.Fatalf("other's stats %+v", s)
	}
}

// TestPurgeDuringFill: a response that was on its way when the purge came
// is not stored.
func TestPurgeDuringFill(t *testing.T) {
	reached, release := make(chan struct{}), make(chan struct{})
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			close(reached)
			<-release
		}
		_, _ = w.Write([]byte("v" + strconv.FormatInt(n, 10)))
	}}
	c, h, _ := setup(t, Config{}, o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		expect(t, get(h, "GET", "/"), 200, "MISS", "v1")
	}()
	<-reached
	c.Purge("svc")
	close(release)
	<-done
	expect(t, get(h, "GET", "/"), 200, "MISS", "v2")
	expect(t, get(h, "GET", "/"), 200, "HIT", "v2")
}

// failing is an origin whose answers the test switches between a good
// page, a 500, and a 502 page like the edge's proxy writes when the
// upstream is down.
type failing struct {
	mode  string
	calls int
}

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls++
	switch f.mode {
	case "500":
		http.Error(w, "oops", http.StatusInternalServerError)
	case "down":
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<h1>Service not answering</h1>"))
	default:
		w.Header().Set("Cache-Control", f.mode)
		_, _ = w.Write([]byte("good " + strconv.Itoa(f.calls)))
	}
}

// TestStaleIfError: an expired copy stands in for a failed refresh within
// the stale window, and only then.
func TestStaleIfError(t *testing.T) {
	for _, mode := range []string{"500", "down"} {
		t.Run(mode, func(t *testing.T) {
			f := &failing{}
			c, h, clk := setup(t, Config{TTL: time.Second, StaleIfError: 10 * time.Second}, f)
			expect(t, get(h, "GET", "/"), 200, "MISS", "good 1")
			clk.Advance(2 * time.Second)
			f.mode = mode
			w := get(h, "GET", "/")
			expect(t, w, 200, "STALE", "good 1")
			if w.Header().Get("Age") != "2" {
				t.Fatalf("stale Age %q", w.Header().Get("Age"))
			}
			expect(t, get(h, "HEAD", "/"), 200, "STALE", "")
			clk.Advance(9 * time.Second) // past the window
			if w := get(h, "GET", "/"); w.Code < 500 || w.Header().Get("X-Cache") != "MISS" {
				t.Fatalf("after the window: %d %q", w.Code, w.Header().Get("X-Cache"))
			}
			f.mode = ""
			expect(t, get(h, "GET", "/"), 200, "MISS", "good 5")
			if s := c.Stats("svc"); s.Stale != 2 || s.Misses != 3 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		f := &failing{}
		_, h, clk := setup(t, Config{TTL: time.Second, StaleIfError: -1}, f)
		get(h, "GET", "/")
		clk.Advance(2 * time.Second)
		f.mode = "down"
		if w := get(h, "GET", "/"); w.Code != 502 {
			t.Fatalf("stale-if-error off: %d", w.Code)
		}
	})
	t.Run("must-revalidate", func(t *testing.T) {
		f := &failing{mode: "must-revalidate"}
		_, h, clk := setup(t, Config{TTL: time.Second}, f)
		expect(t, get(h, "GET", "/"), 200, "MISS", "good 1")
		expect(t, get(h, "GET", "/"), 200, "HIT", "good 1")
		clk.Advance(2 * time.Second)
		f.mode = "down"
		if w := get(h, "GET", "/"); w.Code != 502 {
			t.Fatalf("must-revalidate served stale: %d", w.Code)
		}
	})
}

// TestStaleIfErrorDirective: RFC 5861 §4. A response that says
// stale-if-error=N is served stale on errors for N seconds past its
// freshness though the service's own window is shorter; past N, the error
// goes through.
func TestStaleIfErrorDirective(t *testing.T) {
	f := &failing{mode: "max-age=1, stale-if-error=60"}
	c, h, clk := setup(t, Config{TTL: time.Second, StaleIfError: 2 * time.Second}, f)
	expect(t, get(h, "GET", "/"), 200, "MISS", "good 1")
	clk.Advance(30 * time.Second) // past the service's 2 s, within the response's 60 s
	f.mode = "down"
	expect(t, get(h, "GET", "/"), 200, "STALE", "good 1")
	clk.Advance(31 * time.Second) // 61 s past freshness
	if w := get(h, "GET", "/"); w.Code != 502 {
		t.Fatalf("past the response's window: %d %q", w.Code, w.Header().Get("X-Cache"))
	}
	if s := c.Stats("svc"); s.Stale != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Without the directive the service's window decides, as before.
	f2 := &failing{mode: "max-age=1"}
	_, h2, clk2 := setup(t, Config{TTL: time.Second, StaleIfError: 2 * time.Second}, f2)
	get(h2, "GET", "/")
	clk2.Advance(30 * time.Second)
	f2.mode = "down"
	if w := get(h2, "GET", "/"); w.Code != 502 {
		t.Fatalf("the service's 2 s window served stale after 30 s: %d", w.Code)
	}
}

// TestObjectTooBig: a large response reaches its client whole, with or
// without Content-Length, and is not stored.
func TestObjectTooBig(t *testing.T) {
	big := strings.Repeat("x", 2000)
	for _, withLength := range []bool{true, false} {
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			if withLength {
				w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			}
			for i := 0; i < len(big); i += 500 {
				_, _ = w.Write([]byte(big[i : i+500]))
			}
		}}
		c, h, _ := setup(t, Config{MaxObjectBytes: 1000}, o)
		for range 3 {
			expect(t, get(h, "GET", "/big"), 200, "MISS", big)
		}
		if o.calls.Load() != 3 || c.Usage().Bytes > 1000 {
			t.Fatalf("withLength %v: origin calls %d, usage %+v", withLength, o.calls.Load(), c.Usage())
		}
	}
	// Exactly the limit is stored.
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(big[:1000])) }}
	_, h, _ := setup(t, Config{MaxObjectBytes: 1000}, o)
	get(h, "GET", "/")
	expect(t, get(h, "GET", "/"), 200, "HIT", big[:1000])
}

// TestIncomplete: a body shorter than its Content-Length (the upstream
// broke off) is not stored.
func TestIncomplete(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = w.Write([]byte("short"))
	}}
	_, h, _ := setup(t, Config{}, o)
	get(h, "GET", "/")
	get(h, "GET", "/")
	if o.calls.Load() != 2 {
		t.Fatalf("a cut-short response was stored")
	}
}

// TestHitForPass: after an unstorable response, requests go straight
// upstream for one TTL, then the URL is tried again.
func TestHitForPass(t *testing.T) {
	cookie := true
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if cookie {
			w.Header().Set("Set-Cookie", "s=1")
		}
		_, _ = w.Write([]byte("p" + strconv.FormatInt(n, 10)))
	}}
	_, h, clk := setup(t, Config{TTL: 3 * time.Second}, o)
	expect(t, get(h, "GET", "/"), 200, "MISS", "p1")
	cookie = false
	expect(t, get(h, "GET", "/"), 200, "MISS", "p2") // still marked pass
	clk.Advance(4 * time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "p3")
	expect(t, get(h, "GET", "/"), 200, "HIT", "p3")
}

// TestRangeAndConditional: stored 200s answer range and conditional
// requests; a conditional miss still fills the entry.
func TestRangeAndConditional(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 01 Jun 2026 10:00:00 GMT")
		w.Header().Set("Content-Type", "text/plain")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("0123456789"))
	}}
	_, h, _ := setup(t, Config{}, o)

	// A cold range request goes upstream and stores nothing.
	w := get(h, "GET", "/r", "Range", "bytes=2-4")
	if w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("range miss: %q", w.Header().Get("X-Cache"))
	}
	// A cold conditional request fills the entry with the full response.
	expect(t, get(h, "GET", "/r", "If-None-Match", `"v1"`), 200, "MISS", "0123456789")
	if o.reqs[1].Header.Get("If-None-Match") != "" {
		t.Fatalf("the fill was conditional")
	}
	expect(t, get(h, "GET", "/r", "Range", "bytes=2-4"), 206, "HIT", "234")
	expect(t, get(h, "GET", "/r", "If-None-Match", `"v1"`), 304, "HIT", "")
	expect(t, get(h, "GET", "/r", "If-None-Match", `"v0"`), 200, "HIT", "0123456789")
	expect(t, get(h, "GET", "/r", "If-Modified-Since", "Mon, 01 Jun 2026 10:00:00 GMT"), 304, "HIT", "")
	expect(t, get(h, "GET", "/r", "Range", "bytes=20-30"), 416, "HIT", "invalid range: failed to overlap\n")
	if o.calls.Load() != 2 {
		t.Fatalf("origin calls %d", o.calls.Load())
	}
}

// TestEarlyHints: a 103 before the response reaches the leader's client,
// and is not stored.
func TestEarlyHints(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</s.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = w.Write([]byte("page"))
	}}
	_, h, _ := setup(t, Config{}, o)
	hw := &hintsRecorder{h: http.Header{"X-Request-Id": {"id"}}}
	h.ServeHTTP(hw, newReq("GET", "/"))
	if len(hw.codes) != 2 || hw.codes[0] != 103 || hw.codes[1] != 200 {
		t.Fatalf("codes %v", hw.codes)
	}
	if hw.hints.Get("Link") == "" || hw.hints.Get("X-Request-Id") != "id" {
		t.Fatalf("103 header %v", hw.hints)
	}
	if hw.h.Get("Link") != "" || hw.h.Get("X-Request-Id") != "id" || hw.body != "page" {
		t.Fatalf("final header %v body %q", hw.h, hw.body)
	}
	expect(t, get(h, "GET", "/"), 200, "HIT", "page")
}

// hintsRecorder records 1xx responses apart from the final one, as the
// net/http server sends them.
type hintsRecorder struct {
	h     http.Header
	hints http.Header
	codes []int
	body  string
}

func (hr *hintsRecorder) Header() http.Header { return hr.h }
func (hr *hintsRecorder) WriteHeader(code int) {
	hr.codes = append(hr.codes, code)
	if code < 200 {
		hr.hints = hr.h.Clone()
	}
}
func (hr *hintsRecorder) Write(p []byte) (int, error) { hr.body += string(p); return len(p), nil }

// TestStreamingLeader: the leader's client gets each flushed part of the
// response as it is written, not once the whole body is in.
func TestStreamingLeader(t *testing.T) {
	step := make(chan struct{})
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("first "))
		http.NewResponseController(w).Flush()
		<-step
		_, _ = w.Write([]byte("second"))
	}}
	_, h, _ := setup(t, Config{}, o)
	fw := &flushRecorder{flushed: make(chan string, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(fw, newReq("GET", "/s"))
	}()
	if got := <-fw.flushed; got != "first " {
		t.Fatalf("flushed %q", got)
	}
	close(step)
	<-done
	expect(t, get(h, "GET", "/s"), 200, "HIT", "first second")
}

// TestLeaderClientGone: when the leader's client leaves before the
// upstream answers and the proxy writes nothing, nothing is stored.
func TestLeaderClientGone(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			return // like the edge's proxy for a canceled request: no write
		}
		_, _ = w.Write([]byte("real"))
	}}
	_, h, _ := setup(t, Config{}, o)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), newReq("GET", "/").WithContext(ctx))
	expect(t, get(h, "GET", "/"), 200, "MISS", "real")
	expect(t, get(h, "GET", "/"), 200, "HIT", "real")
}
