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

// TestCacheBackgroundRefreshLogged: RFC 5861 §3's background refresh has
// a log line of its own, through the edge and a real upstream: marked
// REFRESH, the service's name and ID, the upstream and the status it
// answered, no client address, and a request ID of its own, which the
// upstream gets in X-Request-Id in place of the client's. It is not
// counted as a request of the service (traffic, metrics): no client made
// it.
func TestCacheBackgroundRefreshLogged(t *testing.T) {
	var n atomic.Int64
	ids := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := n.Add(1)
		ids <- r.Header.Get("X-Request-Id")
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=30")
		_, _ = io.WriteString(w, "page "+strconv.FormatInt(c, 10))
	}))
	t.Cleanup(up.Close)
	var (
		mu     sync.Mutex
		logged []LogEntry
	)
	const host = "news.apps.test"
	e, srv := newEdge(t, Config{Metrics: newRegistry(t), OnRequest: func(ent LogEntry) {
		mu.Lock()
		logged = append(logged, ent)
		mu.Unlock()
	}}, Route{
		ID: "7", Service: "news", Hosts: []string{host}, Upstreams: []string{up.URL},
		Cache: &cache.Config{TTL: time.Hour},
	})
	get(t, srv, host, "/a")
	<-ids
	time.Sleep(1100 * time.Millisecond) // max-age=1 runs out
	res, body := get(t, srv, host, "/a")
	if res.Header.Get("X-Cache") != "STALE" || body != "page 1" {
		t.Fatalf("expired: %q %q, want the STALE page 1", res.Header.Get("X-Cache"), body)
	}
	clientID := res.Header.Get("X-Request-Id")
	var upstreamID string
	select {
	case upstreamID = <-ids:
	case <-time.After(5 * time.Second):
		t.Fatal("no background refresh reached the upstream")
	}
	if upstreamID == "" || upstreamID == clientID {
		t.Fatalf("the refresh reached the upstream with X-Request-Id %q (the client's was %q): want one of its own", upstreamID, clientID)
	}

	var refresh *LogEntry
	deadline := time.Now().Add(5 * time.Second)
	for refresh == nil {
		mu.Lock()
		for i := range logged {
			if logged[i].Cache == CacheRefresh {
				refresh = &logged[i]
			}
		}
		mu.Unlock()
		if refresh == nil && time.Now().After(deadline) {
			t.Fatal("no log entry for the background refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
	want := LogEntry{Service: "news", ServiceID: "7", Host: host, Method: "GET", Path: "/a", Status: 200,
		Bytes: int64(len("page 2")), Upstream: up.URL, RequestID: upstreamID, Cache: CacheRefresh}
	got := *refresh
	got.Time, got.Duration = time.Time{}, 0
	if got != want {
		t.Fatalf("the refresh's log entry:\n got %+v\nwant %+v", got, want)
	}
	if refresh.ClientIP.IsValid() {
		t.Fatalf("the refresh's log entry names a client, %v: no client made it", refresh.ClientIP)
	}
	// The two clients' requests, not the refresh.
	mu.Lock()
	entries := len(logged)
	mu.Unlock()
	if entries != 3 {
		t.Fatalf("%d log entries, want 3 (two clients, one refresh)", entries)
	}
	if got := sum(e.Stats("7").Buckets); got != 2 {
		t.Fatalf("traffic counts %d requests, want the clients' 2", got)
	}
	if got := counterValue(t, e.metrics.requests.WithLabelValues("news", "200")); got != 2 {
		t.Fatalf("requests_total{news,200} = %v, want the clients' 2", got)
	}
}

// TestCacheBackgroundRefreshBrokenOff: a background refresh whose upstream
// breaks the body off is logged all the same, with the status it got and
// why it failed, and the stale copy keeps serving.
func TestCacheBackgroundRefreshBrokenOff(t *testing.T) {
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1, stale-while-revalidate=30")
		if n.Add(1) == 1 {
			_, _ = io.WriteString(w, "page 1")
			return
		}
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "only a part")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	t.Cleanup(up.Close)
	entries := make(chan LogEntry, 8)
	const host = "news.apps.test"
	_, srv := newEdge(t, Config{OnRequest: func(ent LogEntry) { entries <- ent }}, Route{
		ID: "7", Service: "news", Hosts: []string{host}, Upstreams: []string{up.URL},
		Cache: &cache.Config{TTL: time.Hour},
	})
	get(t, srv, host, "/")
	time.Sleep(1100 * time.Millisecond)
	if res, body := get(t, srv, host, "/"); res.Header.Get("X-Cache") != "STALE" || body != "page 1" {
		t.Fatalf("expired: %q %q", res.Header.Get("X-Cache"), body)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ent := <-entries:
			if ent.Cache != CacheRefresh {
				continue
			}
			if ent.Status != http.StatusOK || ent.Error == "" || ent.Upstream != up.URL {
				t.Fatalf("the broken-off refresh's entry: status %d, error %q, upstream %q", ent.Status, ent.Error, ent.Upstream)
			}
			if res, body := get(t, srv, host, "/"); res.Header.Get("X-Cache") != "STALE" || body != "page 1" {
				t.Fatalf("after the failed refresh: %q %q, want the STALE page 1", res.Header.Get("X-Cache"), body)
			}
			return
		case <-deadline:
			t.Fatal("no log entry for the broken-off refresh")
		}
	}
}
