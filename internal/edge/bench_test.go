package edge

import (
	"time"

	"fmt"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart/internal/egress"
)

// benchUpstream serves a ~2 KB page with a Content-Length, like the bench
// origin's /page.
func benchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	page := []byte(strings.Repeat("<p>rampart bench page</p>\n", 75))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		_, _ = w.Write(page)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// discardWriter is a reusable http.ResponseWriter, so that the benchmark
// counts the proxy's allocations and not a recorder's.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkProxy measures one request through the proxy to a real loopback
// upstream, calling ServeHTTP directly. The upstream runs in this process,
// so its work is counted too: compare with the bare httputil row.
func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	tr := NewTransport()
	b.Cleanup(tr.CloseIdleConnections)

	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	route := Route{Service: "bench", Hosts: []string{"bench.localhost"}, Upstreams: []string{up.URL}}
	newBenchEdge := func(cfg Config) http.Handler {
		cfg.Transport = tr
		e, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.SetRoutes([]Route{route}); err != nil {
			b.Fatal(err)
		}
		return e
	}
	// The transport rampart serve uses: the egress policy checks each new
	// connection (the route has the override, its upstream is loopback).
	guarded := NewUpstreamTransport(egress.New(nil), nil)
	b.Cleanup(guarded.CloseIdleConnections)
	guardedEdge, err := New(Config{Transport: guarded})
	if err != nil {
		b.Fatal(err)
	}
	privileged := route
	privileged.AllowPrivate = true
	if err := guardedEdge.SetRoutes([]Route{privileged}); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		h    http.Handler
	}{
		{"httputil", bare},
		{"edge", newBenchEdge(Config{})},
		{"edge+egress", guardedEdge},
		{"edge+metrics+log", newBenchEdge(Config{
			Metrics:   prometheus.NewRegistry(),
			AccessLog: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/page?id=1", nil)
				req.Host = "bench.localhost"
				req.RemoteAddr = "192.0.2.1:40000"
				w := &discardWriter{h: make(http.Header)}
				for pb.Next() {
					clear(w.h)
					delete(req.Header, headerRequestID)
					w.n = 0
					c.h.ServeHTTP(w, req)
					if w.n == 0 {
						b.Fatal("empty response")
					}
				}
			})
		})
	}
}

// BenchmarkProxyLoopback is the whole path a client sees: client → edge
// over a loopback HTTP/1.1 connection → upstream.
func BenchmarkProxyLoopback(b *testing.B) {
	up := benchUpstream(b)
	e, err := New(Config{Metrics: prometheus.NewRegistry(), ErrorLog: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.SetRoutes([]Route{{Service: "bench", Hosts: []string{"bench.localhost"}, Upstreams: []string{up.URL}}}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: NewTransport()}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+"/page?id=1", nil)
			req.Host = "bench.localhost"
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}

// BenchmarkRouteLookup measures finding the route for a Host header in a
// table of 1000 services with two hosts each.
func BenchmarkRouteLookup(b *testing.B) {
	e, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	routes := make([]Route, 1000)
	for i := range routes {
		name := fmt.Sprintf("svc%d", i)
		routes[i] = Route{
			Service:   name,
			Hosts:     []string{name + ".rampart.example", "www." + name + ".example.com"},
			Upstreams: []string{"http://127.0.0.1:8080"},
		}
	}
	if err := e.SetRoutes(routes); err != nil {
		b.Fatal(err)
	}
	for _, host := range []string{"svc500.rampart.example", "www.svc999.example.com:443", "SVC500.Rampart.Example", "unknown.example.com"} {
		b.Run(host, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rt := e.lookup(host); rt != nil && rt.service == "" {
						b.Fatal("route without service")
					}
				}
			})
		})
	}
}

// BenchmarkServeCacheHit is the edge's own cost of a cache hit with the
// rate limiter deciding (at a limit that never fires) and metrics on: what
// every request of a flood costs beyond net/http itself.
func BenchmarkServeCacheHit(b *testing.B) {
	up := benchUpstream(b)
	e, err := New(Config{Metrics: prometheus.NewRegistry(), ErrorLog: quiet})
	if err != nil {
		b.Fatal(err)
	}
	rl := ratelimit.Config{Requests: 1_000_000, Period: time.Second}
	if err := e.SetRoutes([]Route{{Service: "bench", Hosts: []string{"bench.localhost"}, Upstreams: []string{up.URL}, RateLimit: &rl, Cache: &cache.Config{}}}); err != nil {
		b.Fatal(err)
	}
	newReq := func() *http.Request {
		req := httptest.NewRequest("GET", "http://bench.localhost/page?id=1", nil)
		req.RemoteAddr = "192.0.2.1:4321"
		req.Header.Set("User-Agent", "wrk")
		return req
	}
	w := &discardWriter{h: http.Header{}}
	e.ServeHTTP(w, newReq()) // fill
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := newReq()
		w := &discardWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			e.ServeHTTP(w, req)
		}
	})
}
