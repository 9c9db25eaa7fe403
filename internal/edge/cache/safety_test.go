package cache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// personal is an origin that answers each request with something only its
// sender may see: the user named in X-User, Cookie or Authorization.
func personal(extra ...string) *origin {
	return &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(extra); i += 2 {
			w.Header().Add(extra[i], extra[i+1])
		}
		user := r.Header.Get("X-User") + r.Header.Get("Cookie") + r.Header.Get("Authorization")
		_, _ = w.Write([]byte("page of " + user))
	}}
}

// TestRequestNeverCached: requests with credentials are passed through,
// marked BYPASS, and neither fill the cache nor are answered from it.
func TestRequestNeverCached(t *testing.T) {
	for _, name := range []string{"Cookie", "Authorization"} {
		t.Run(name, func(t *testing.T) {
			o := personal()
			_, h, _ := setup(t, Config{}, o)
			expect(t, get(h, "GET", "/", name, "alice"), 200, "BYPASS", "page of alice")
			expect(t, get(h, "GET", "/", name, "bob"), 200, "BYPASS", "page of bob")
			// An anonymous visitor fills the cache…
			expect(t, get(h, "GET", "/"), 200, "MISS", "page of ")
			expect(t, get(h, "GET", "/"), 200, "HIT", "page of ")
			// …and a user with credentials is still not served from it.
			expect(t, get(h, "GET", "/", name, "carol"), 200, "BYPASS", "page of carol")
			expect(t, get(h, "HEAD", "/", name, "carol"), 200, "BYPASS", "page of carol")
			if got := o.calls.Load(); got != 5 {
				t.Fatalf("origin saw %d requests, want 5", got)
			}
		})
	}
}

// TestResponseNeverCached: for every rule that makes a response
// unstorable, a second user gets their own page, never the first one's.
func TestResponseNeverCached(t *testing.T) {
	tests := []struct {
		name string
		hdr  []string
	}{
		{"set-cookie", []string{"Set-Cookie", "session=alice"}},
		{"private", []string{"Cache-Control", "private"}},
		{"private, max-age", []string{"Cache-Control", "max-age=60, private"}},
		{"no-store", []string{"Cache-Control", "no-store"}},
		{"no-cache", []string{"Cache-Control", "no-cache"}},
		{"no-cache field", []string{"Cache-Control", `no-cache="Set-Cookie"`}},
		{"max-age 0", []string{"Cache-Control", "max-age=0"}},
		{"vary star", []string{"Vary", "*"}},
		{"expires past", []string{"Expires", "Thu, 19 Nov 1981 08:52:00 GMT"}},
		{"pragma", []string{"Pragma", "no-cache"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := personal(tt.hdr...)
			_, h, _ := setup(t, Config{}, o)
			expect(t, get(h, "GET", "/account", "X-User", "alice"), 200, "MISS", "page of alice")
			expect(t, get(h, "GET", "/account", "X-User", "bob"), 200, "MISS", "page of bob")
			expect(t, get(h, "HEAD", "/account", "X-User", "bob"), 200, "MISS", "page of bob")
			if got := o.calls.Load(); got != 3 {
				t.Fatalf("origin saw %d requests, want 3", got)
			}
		})
	}
}

// TestStatusNotCached: statuses outside the cacheable set go upstream
// every time.
func TestStatusNotCached(t *testing.T) {
	for _, code := range []int{201, 302, 307, 401, 403, 429, 500, 502, 503} {
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}}
		_, h, _ := setup(t, Config{}, o)
		get(h, "GET", "/")
		w := get(h, "GET", "/")
		if w.Code != code || w.Header().Get("X-Cache") != "MISS" || o.calls.Load() != 2 {
			t.Errorf("status %d: second request got %d %q, origin calls %d", code, w.Code, w.Header().Get("X-Cache"), o.calls.Load())
		}
	}
	for _, code := range []int{200, 203, 204, 300, 301, 308, 404, 410} {
		o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}}
		_, h, _ := setup(t, Config{}, o)
		get(h, "GET", "/")
		if w := get(h, "GET", "/"); w.Code != code || w.Header().Get("X-Cache") != "HIT" {
			t.Errorf("status %d: second request got %d %q, want a HIT", code, w.Code, w.Header().Get("X-Cache"))
		}
	}
}

// TestBypassRequests: requests that are not plain GET/HEAD go straight
// through.
func TestBypassRequests(t *testing.T) {
	tests := []struct {
		name string
		req  func() *http.Request
	}{
		{"post", func() *http.Request { return httptest.NewRequest("POST", "/", strings.NewReader("x")) }},
		{"delete", func() *http.Request { return httptest.NewRequest("DELETE", "/", nil) }},
		{"get with body", func() *http.Request { return httptest.NewRequest("GET", "/", strings.NewReader(`{"q":1}`)) }},
		{"websocket", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			return r
		}},
		{"lower-case cookie", func() *http.Request {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header["cookie"] = []string{"a=b"}
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &origin{}
			c, h, _ := setup(t, Config{}, o)
			for range 2 {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, tt.req())
				if w.Header().Get("X-Cache") != "BYPASS" {
					t.Fatalf("X-Cache = %q, want BYPASS", w.Header().Get("X-Cache"))
				}
			}
			if o.calls.Load() != 2 || c.Stats("svc").Bypasses != 2 || c.Usage().Entries != 0 {
				t.Fatalf("origin calls %d, stats %+v, usage %+v", o.calls.Load(), c.Stats("svc"), c.Usage())
			}
		})
	}
}

// TestDisabled: a disabled cache is not there at all.
func TestDisabled(t *testing.T) {
	o := &origin{}
	c := New(Options{})
	h := c.Handler("svc", Config{Disabled: true}, o)
	if h != http.Handler(o) {
		t.Fatalf("disabled handler wraps next")
	}
}

// TestKeys: everything in the key tells responses apart.
func TestKeys(t *testing.T) {
	o := &origin{}
	c, h, _ := setup(t, Config{}, o)
	other := c.Handler("other", Config{}, o)
	reqs := []struct {
		h      http.Handler
		target string
		tls    bool
	}{
		{h, "http://a.example/p?x=1", false},
		{h, "http://a.example/p?x=2", false},
		{h, "http://a.example/p?x=1&y", false},
		{h, "http://a.example/p", false},
		{h, "http://a.example/p?", false},
		{h, "http://a.example/P?x=1", false},
		{h, "http://b.example/p?x=1", false},
		{h, "https://a.example/p?x=1", true},
		{other, "http://a.example/p?x=1", false},
	}
	seen := map[string]bool{}
	for round := range 2 {
		for i, rq := range reqs {
			r := httptest.NewRequest("GET", rq.target, nil)
			if !rq.tls {
				r.TLS = nil
			}
			w := httptest.NewRecorder()
			rq.h.ServeHTTP(w, r)
			want := "MISS"
			if round == 1 {
				want = "HIT"
			}
			if w.Header().Get("X-Cache") != want {
				t.Fatalf("round %d, %s: X-Cache %q, want %q", round, rq.target, w.Header().Get("X-Cache"), want)
			}
			if round == 0 && seen[w.Body.String()] {
				t.Fatalf("request %d got another's body %q", i, w.Body.String())
			}
			seen[w.Body.String()] = true
		}
	}
	// The host matches without regard to case.
	expect(t, get(h, "GET", "http://A.EXAMPLE/p?x=2"), 200, "HIT", "body 2")
}
