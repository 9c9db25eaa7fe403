package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/cache"
)

// TestCacheRFC9111EndToEnd checks through the edge, with a real upstream
// over TCP, the RFC 9111 §4.4 invalidation by unsafe requests and the
// RFC 9213 CDN-Cache-Control rules of the output cache.
func TestCacheRFC9111EndToEnd(t *testing.T) {
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := n.Add(1)
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("CDN-Cache-Control", "max-age=3600")
			_, _ = io.WriteString(w, r.URL.Path+" "+strconv.FormatInt(c, 10))
		case http.MethodPost:
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Location", "/items/7")
			w.WriteHeader(http.StatusCreated)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(up.Close)
	const host = "shop.apps.test"
	_, srv := newEdge(t, Config{}, Route{
		ID: "1", Service: "shop", Hosts: []string{host}, Upstreams: []string{up.URL},
		Cache: &cache.Config{TTL: time.Hour},
	})
	check := func(path, xc, body string) {
		t.Helper()
		res, got := get(t, srv, host, path)
		if res.Header.Get("X-Cache") != xc || got != body {
			t.Fatalf("GET %s: %q %q, want %q %q", path, res.Header.Get("X-Cache"), got, xc, body)
		}
		// RFC 9213: CDN-Cache-Control decided; both headers reach the client.
		if res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("CDN-Cache-Control") != "max-age=3600" {
			t.Fatalf("GET %s: Cache-Control %q, CDN-Cache-Control %q", path, res.Header.Get("Cache-Control"), res.Header.Get("CDN-Cache-Control"))
		}
	}
	check("/items", "MISS", "/items 1")
	check("/items/7", "MISS", "/items/7 2")
	check("/items", "HIT", "/items 1")
	check("/items/7", "HIT", "/items/7 2")

	// RFC 9111 §4.4: a successful POST drops its URL and its Location.
	res, _ := do(t, srv, http.MethodPost, host, "/items")
	if res.StatusCode != http.StatusCreated || res.Header.Get("X-Cache") != "BYPASS" {
		t.Fatalf("POST: %d %q", res.StatusCode, res.Header.Get("X-Cache"))
	}
	check("/items", "MISS", "/items 4")
	check("/items/7", "MISS", "/items/7 5")

	// An error answer to an unsafe request drops nothing.
	if res, _ := do(t, srv, http.MethodPut, host, "/items"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT: %d", res.StatusCode)
	}
	check("/items", "HIT", "/items 4")
}

// TestCacheRevalidationEndToEnd: RFC 9111 §4.3 through the edge and a real
// upstream: an expired response with an ETag is revalidated with
// If-None-Match, and the upstream's 304 reaches the client as the stored
// 200 with the refreshed header.
func TestCacheRevalidationEndToEnd(t *testing.T) {
	var n atomic.Int64
	var lastINM atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := n.Add(1)
		lastINM.Store(r.Header.Get("If-None-Match"))
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("X-Served", strconv.FormatInt(c, 10))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Cache-Control", "max-age=60") // the 304's freshness counts
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = io.WriteString(w, "page")
	}))
	const host = "news.apps.test"
	srv := cachedThenExpired(t, host, up)
	res, body := get(t, srv, host, "/")
	if res.StatusCode != http.StatusOK || body != "page" || res.Header.Get("X-Served") != "2" || res.Header.Get("ETag") != `"v1"` {
		t.Fatalf("revalidated: %d %q X-Served %q ETag %q", res.StatusCode, body, res.Header.Get("X-Served"), res.Header.Get("ETag"))
	}
	if inm, _ := lastINM.Load().(string); inm != `"v1"` {
		t.Fatalf("upstream saw If-None-Match %q", inm)
	}
	if res, body := get(t, srv, host, "/"); res.Header.Get("X-Cache") != "HIT" || body != "page" || res.Header.Get("X-Served") != "2" {
		t.Fatalf("after: %q %q %q", res.Header.Get("X-Cache"), body, res.Header.Get("X-Served"))
	}
}

// TestCacheRevalidationCookieEndToEnd: RFC 9111 §4.3.4 through the edge: a
// 304 to a revalidation that sets a cookie reaches its client with the
// cookie and the stored body; the entry is dropped, so no later client is
// served it (or the cookie) from the cache.
func TestCacheRevalidationCookieEndToEnd(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=1")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.Header().Set("Set-Cookie", "session=alice")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = io.WriteString(w, "page")
	}))
	const host = "shop.apps.test"
	srv := cachedThenExpired(t, host, up)
	res, body := get(t, srv, host, "/")
	if res.StatusCode != http.StatusOK || body != "page" || res.Header.Get("Set-Cookie") != "session=alice" {
		t.Fatalf("revalidated: %d %q Set-Cookie %q", res.StatusCode, body, res.Header.Get("Set-Cookie"))
	}
	res, body = get(t, srv, host, "/")
	if res.Header.Get("X-Cache") == "HIT" || body != "page" || res.Header.Get("Set-Cookie") != "" {
		t.Fatalf("after: X-Cache %q body %q Set-Cookie %q", res.Header.Get("X-Cache"), body, res.Header.Get("Set-Cookie"))
	}
}

// cachedThenExpired routes host to up with the cache on (its TTL longer
// than the test), stores up's answer to "/" — which must be "page" with
// max-age=1 — and waits until it has expired.
func cachedThenExpired(t *testing.T, host string, up *httptest.Server) *httptest.Server {
	t.Helper()
	t.Cleanup(up.Close)
	_, srv := newEdge(t, Config{}, Route{
		ID: "1", Service: "svc", Hosts: []string{host}, Upstreams: []string{up.URL},
		Cache: &cache.Config{TTL: time.Hour},
	})
	if res, body := get(t, srv, host, "/"); res.Header.Get("X-Cache") != "MISS" || body != "page" {
		t.Fatalf("first: %q %q", res.Header.Get("X-Cache"), body)
	}
	time.Sleep(1100 * time.Millisecond) // max-age=1 runs out
	return srv
}

// TestCacheStaleWhileRevalidateEndToEnd: RFC 5861 §3 through the edge and
// a real upstream: once the response expires, a client is answered with it
// at once (X-Cache: STALE) while the upstream, still busy with the
// refresh, has not answered; the refresh, which outlives that client's
// request, then replaces it.
func TestCacheStaleWhileRevalidateEndToEnd(t *testing.T) {
	var n atomic.Int64
	release := make(chan struct{})
	refreshing := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := n.Add(1)
		if c > 1 {
			refreshing <- struct{}{}
			<-release
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=30")
		_, _ = io.WriteString(w, "page "+strconv.FormatInt(c, 10))
	}))
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	const host = "news.apps.test"
	_, srv := newEdge(t, Config{}, Route{
		ID: "1", Service: "svc", Hosts: []string{host}, Upstreams: []string{up.URL},
		Cache: &cache.Config{TTL: time.Hour},
	})
	t.Cleanup(up.Close)
	if res, body := get(t, srv, host, "/"); res.Header.Get("X-Cache") != "MISS" || body != "page 1" {
		t.Fatalf("first: %q %q", res.Header.Get("X-Cache"), body)
	}
	time.Sleep(1100 * time.Millisecond) // max-age=1 runs out

	for range 3 {
		res, body := get(t, srv, host, "/")
		if res.Header.Get("X-Cache") != "STALE" || body != "page 1" || res.Header.Get("Age") == "" {
			t.Fatalf("while refreshing: %q %q Age %q", res.Header.Get("X-Cache"), body, res.Header.Get("Age"))
		}
	}
	<-refreshing // the one refresh is at the upstream, waiting
	if got := n.Load(); got != 2 {
		t.Fatalf("upstream requests %d, want 2", got)
	}
	once.Do(func() { close(release) })
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, body := get(t, srv, host, "/")
		if res.Header.Get("X-Cache") == "HIT" {
			if body != "page 2" {
				t.Fatalf("after the refresh: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HIT 5 s after the refresh was released: %q %q", res.Header.Get("X-Cache"), body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCacheStaleIfErrorDirectiveEndToEnd: RFC 5861 §4 through the edge. The
// service keeps stale copies for 10 ms only, the response asks for 30 s:
// when the upstream then fails (it is gone: the proxy's 502), the copy is
// served, 1 s after it expired.
func TestCacheStaleIfErrorDirectiveEndToEnd(t *testing.T) {
	var down atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=1, stale-if-error=30")
		_, _ = io.WriteString(w, "page")
	}))
	t.Cleanup(up.Close)
	const host = "shop.apps.test"
	_, srv := newEdge(t, Config{}, Route{
		ID: "1", Service: "svc", Hosts: []string{host}, Upstreams: []string{up.URL},
		Cache: &cache.Config{TTL: time.Hour, StaleIfError: 10 * time.Millisecond},
	})
	if res, body := get(t, srv, host, "/"); res.Header.Get("X-Cache") != "MISS" || body != "page" {
		t.Fatalf("first: %q %q", res.Header.Get("X-Cache"), body)
	}
	time.Sleep(2 * time.Second) // max-age=1 and the service's 10 ms are over
	down.Store(true)
	res, body := get(t, srv, host, "/")
	if res.StatusCode != 200 || res.Header.Get("X-Cache") != "STALE" || body != "page" {
		t.Fatalf("upstream failing within the response's stale-if-error: %d %q %q", res.StatusCode, res.Header.Get("X-Cache"), body)
	}
}
