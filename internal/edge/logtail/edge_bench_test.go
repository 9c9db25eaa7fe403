package logtail

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// discard is a reusable http.ResponseWriter, so that the benchmark counts
// the edge's allocations and not a recorder's.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkEdgeCacheHit is edge.BenchmarkServeCacheHit (a cache hit with
// the rate limiter deciding and metrics on) with and without the log
// tail as the edge's OnRequest, as `rampart serve` runs it: what the live
// log costs the cheapest request the edge answers.
func BenchmarkEdgeCacheHit(b *testing.B) {
	page := strings.Repeat("<p>rampart bench page</p>\n", 75)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, page) }))
	defer up.Close()
	for _, bc := range []struct {
		name string
		tail bool
	}{{"no-log-tail", false}, {"log-tail", true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := edge.Config{Metrics: prometheus.NewRegistry(), ErrorLog: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if bc.tail {
				cfg.OnRequest = New(Options{}).Publish
			}
			e, err := edge.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			rl := ratelimit.Config{Requests: 1_000_000, Period: time.Second}
			if err := e.SetRoutes([]edge.Route{{Service: "bench", Hosts: []string{"bench.localhost"}, Upstreams: []string{up.URL}, RateLimit: &rl, Cache: &cache.Config{}}}); err != nil {
				b.Fatal(err)
			}
			newReq := func() *http.Request {
				req := httptest.NewRequest("GET", "http://bench.localhost/page?id=1", nil)
				req.RemoteAddr = "192.0.2.1:4321"
				return req
			}
			e.ServeHTTP(&discard{h: http.Header{}}, newReq()) // fill
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := newReq()
				w := &discard{h: make(http.Header, 8)}
				for pb.Next() {
					clear(w.h)
					e.ServeHTTP(w, req)
				}
			})
		})
	}
}
