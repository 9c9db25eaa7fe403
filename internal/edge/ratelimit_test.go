package edge

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// TestRateLimit: the limiter in a route's chain answers 429 with the
// RateLimit fields and Retry-After, shows the fields on allowed responses
// only past half the quota, and counts refusals for the metrics and the
// dashboard.
func TestRateLimit(t *testing.T) {
	up := echoUpstream(t, "shop")
	e, srv := newEdge(t, Config{Metrics: newRegistry(t)}, Route{
		Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{up.URL},
		RateLimit: &ratelimit.Config{Requests: 4, Period: time.Minute},
	})
	var codes []int
	var fields []bool
	var last *http.Response
	for range 5 {
		res, _ := get(t, srv, "shop.example.com", "/")
		codes = append(codes, res.StatusCode)
		fields = append(fields, res.Header.Get("RateLimit") != "")
		last = res
	}
	if want := []int{200, 200, 200, 200, 429}; !slices.Equal(codes, want) {
		t.Fatalf("status codes %v, want %v", codes, want)
	}
	if want := []bool{false, false, true, true, true}; !slices.Equal(fields, want) {
		t.Errorf("RateLimit field present: %v, want %v", fields, want)
	}
	for k, want := range map[string]string{
		"Retry-After":      "15",
		"RateLimit-Policy": `"ip";q=4;w=60`,
		"Cache-Control":    "no-store",
	} {
		if got := last.Header.Get(k); got != want {
			t.Errorf("429 %s: %q, want %q", k, got, want)
		}
	}
	if got := counterValue(t, e.metrics.limited.WithLabelValues("shop")); got != 1 {
		t.Errorf("limited counter %v, want 1", got)
	}
	if b := thisMinute(e, "shop"); b.Requests != 5 || b.Limited != 1 {
		t.Errorf("current bucket %+v, want 5 requests, 1 limited", b)
	}
	if st := e.Stats("shop"); len(st.TopLimited) != 1 || st.TopLimited[0] != (ClientCount{Client: "127.0.0.1", Limited: 1}) {
		t.Errorf("TopLimited %+v", st.TopLimited)
	}

	// A new table keeps what clients have used, even when the service's
	// route is refused for a while in between.
	route := Route{Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{up.URL}, RateLimit: &ratelimit.Config{Requests: 4, Period: time.Minute}}
	bad := route
	bad.Cache = &cache.Config{TTL: time.Millisecond}
	if err := e.SetRoutes([]Route{bad}); err == nil {
		t.Fatal("SetRoutes accepted a 1ms TTL")
	}
	if err := e.SetRoutes([]Route{route}); err != nil {
		t.Fatal(err)
	}
	if res, _ := get(t, srv, "shop.example.com", "/"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after new tables: %d, want 429", res.StatusCode)
	}
	wantLimited(t, e, "shop", 2) // the counts outlived the refused route

	// A new limit applies at once, to the counts so far.
	route.RateLimit = &ratelimit.Config{Requests: 40, Period: time.Minute}
	if err := e.SetRoutes([]Route{route}); err != nil {
		t.Fatal(err)
	}
	if res, _ := get(t, srv, "shop.example.com", "/"); res.StatusCode != http.StatusOK {
		t.Errorf("after raising the limit: %d, want 200", res.StatusCode)
	}
}

// TestRateLimitAllowAndStopped: allow-listed clients are never limited and
// see no RateLimit fields; a stopped service answers 503 before any limit.
func TestRateLimitAllowAndStopped(t *testing.T) {
	up := echoUpstream(t, "shop")
	e, srv := newEdge(t, Config{},
		Route{Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{up.URL},
			RateLimit: &ratelimit.Config{Requests: 1, Period: time.Minute, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
		Route{Service: "old", Hosts: []string{"old.example.com"}, Stopped: true,
			RateLimit: &ratelimit.Config{Requests: 1, Period: time.Minute}},
	)
	for range 3 {
		if res, _ := get(t, srv, "shop.example.com", "/"); res.StatusCode != http.StatusOK || res.Header.Get("RateLimit") != "" {
			t.Fatalf("allow-listed client: %d %v", res.StatusCode, res.Header)
		}
		if res, _ := get(t, srv, "old.example.com", "/"); res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("stopped service: %d, want 503", res.StatusCode)
		}
	}
	wantLimited(t, e, "old", 0)
}

// TestFreshIgnoresLimit: Fresh looks only at the cache, so the fast lane
// hands a limited client's hit to the handler chain, where the limiter
// refuses it as on the ordinary path.
func TestFreshIgnoresLimit(t *testing.T) {
	up := echoUpstream(t, "shop")
	e, _ := newEdge(t, Config{}, Route{
		Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{up.URL},
		RateLimit: &ratelimit.Config{Requests: 1, Period: time.Minute},
		Cache:     &cache.Config{TTL: time.Minute},
	})
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://shop.example.com/p", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		return r
	}
	if e.Fresh(req()) {
		t.Fatal("Fresh before anything was stored")
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req())
	if w.Code != http.StatusOK || w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("fill: %d %q", w.Code, w.Header().Get("X-Cache"))
	}
	if !e.Fresh(req()) {
		t.Fatal("not Fresh after the fill")
	}
	w = httptest.NewRecorder()
	e.ServeHTTP(w, req())
	if w.Code != http.StatusTooManyRequests || w.Header().Get("X-Cache") != "" {
		t.Fatalf("second request: %d %q, want 429 without a cache lookup", w.Code, w.Header().Get("X-Cache"))
	}
}

// wantLimited checks how many of service's requests this minute the rate
// limiter refused.
func wantLimited(t *testing.T, e *Edge, service string, n int64) {
	t.Helper()
	if b := thisMinute(e, service); b.Limited != n {
		t.Errorf("%s this minute: %+v, want %d limited", service, b, n)
	}
}

// thisMinute is the traffic bucket of service that is still filling.
func thisMinute(e *Edge, service string) TrafficCount {
	st := e.Stats(service)
	return st.Buckets[len(st.Buckets)-1]
}
