package edge_test

// What a service costs in memory, for the bound the README states: an
// idle service, a service with a little traffic, and what one service's
// state can grow to at most. Run with -v to see the figures.

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// heapBytes is the live heap after a full collection.
func heapBytes() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// manyRoutes is n services as `rampart serve` installs them: a platform
// host each, the default rate limiter and output cache on.
func manyRoutes(n int, upstream string) []edge.Route {
	routes := make([]edge.Route, n)
	for i := range routes {
		rl, cc := ratelimit.Default(), cache.Default()
		routes[i] = edge.Route{
			ID:        strconv.Itoa(i + 1),
			Service:   fmt.Sprintf("service-%d", i+1),
			Hosts:     []string{fmt.Sprintf("service-%d.apps.test", i+1)},
			Upstreams: []string{upstream},
			RateLimit: &rl,
			Cache:     &cc,
		}
	}
	return routes
}

// Bounds that TestThousandServicesMemory holds 1,000 services to, per
// service, with a margin over what it measures on linux/amd64 (about 18 KiB
// idle: 11 KiB of it the rate limiter's shard headers, 4.5 KiB the metric
// series, the rest route, traffic counts and cache namespace; about 25 KiB
// with its traffic), so that noise does not fail it and a regression that
// makes a service half again as costly does.
const (
	idleServiceBound = 28 << 10
	busyServiceBound = 40 << 10
)

// TestThousandServicesMemory installs 1,000 services, each with its rate
// limiter, cache namespace, traffic counts, metric series and log ring,
// and measures the heap: idle, then after a little traffic each (two
// clients, two pages cached, four log entries).
func TestThousandServicesMemory(t *testing.T) {
	page := strings.Repeat("x", 1000)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, page)
	}))
	defer up.Close()
	const n = 1000
	routes := manyRoutes(n, up.URL)
	logs := logtail.New(logtail.Options{})

	before := heapBytes()
	e, err := edge.New(edge.Config{
		Metrics:   prometheus.NewRegistry(),
		ErrorLog:  slog.New(slog.DiscardHandler),
		OnRequest: logs.Publish,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetRoutes(routes); err != nil {
		t.Fatal(err)
	}
	idle := heapBytes() - before

	clients := []string{"192.0.2.1:1000", "[2001:db8::1]:1000"}
	for i := range n {
		host := routes[i].Hosts[0]
		for _, client := range clients {
			for _, path := range []string{"/", "/about"} {
				r := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
				r.RemoteAddr = client
				w := httptest.NewRecorder()
				e.ServeHTTP(w, r)
				if w.Code != http.StatusOK || w.Body.Len() != len(page) {
					t.Fatalf("%s%s: %d, %d bytes", host, path, w.Code, w.Body.Len())
				}
			}
		}
	}
	busy := heapBytes() - before
	if st := e.Stats("1000"); st.Buckets[len(st.Buckets)-1].Requests != 4 {
		t.Fatalf("the last service counted %+v, want its 4 requests", st.Buckets[len(st.Buckets)-1])
	}

	t.Logf("%d services: %s idle (%s each), %s with a little traffic each (%s each)",
		n, size(idle), size(idle/n), size(busy), size(busy/n))
	if idle/n > idleServiceBound {
		t.Errorf("an idle service takes %s, over the %s bound", size(idle/n), size(idleServiceBound))
	}
	if busy/n > busyServiceBound {
		t.Errorf("a service with a little traffic takes %s, over the %s bound", size(busy/n), size(busyServiceBound))
	}
	runtime.KeepAlive(e)
	runtime.KeepAlive(logs)
}

// TestServiceMemoryWorstCase measures what one service's state can grow to
// at most: its rate limiter tracking as many clients as it may
// (edge.DefaultLimiterClients) and its log ring full of the longest
// entries. Its cache share is accounted by the cache itself
// (cache.Options.MaxServiceBytes). Together with TestThousandServicesMemory
// these are the README's figures.
func TestServiceMemoryWorstCase(t *testing.T) {
	// The limiter at its bound: a spray of more addresses than it tracks.
	before := heapBytes()
	lim, err := ratelimit.New(ratelimit.Default(), ratelimit.Options{MaxClients: edge.DefaultLimiterClients})
	if err != nil {
		t.Fatal(err)
	}
	for i := range edge.DefaultLimiterClients + edge.DefaultLimiterClients/4 {
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		a[4], a[5], a[6], a[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		lim.Allow(netip.AddrFrom16(a)) // one /64 each
	}
	limiter := heapBytes() - before
	if st := lim.Stats(0); st.Tracked > edge.DefaultLimiterClients {
		t.Fatalf("the limiter tracks %d clients, over its bound of %d", st.Tracked, edge.DefaultLimiterClients)
	}
	runtime.KeepAlive(lim)

	// The log ring full of the longest entries it keeps.
	logs := logtail.New(logtail.Options{})
	before = heapBytes()
	long := edge.LogEntry{
		Time: time.Now(), Service: "worst", Host: strings.Repeat("h", 253), Method: strings.Repeat("M", 40),
		Path: "/" + strings.Repeat("p", 4000), Status: 502, ClientIP: netip.MustParseAddr("2001:db8::1"),
		Upstream: "http://10.0.0.1:8080", RequestID: strings.Repeat("r", 64), Error: strings.Repeat("e", 2000),
	}
	for range 2 * logtail.DefaultPerService {
		logs.Publish(long)
	}
	ring := heapBytes() - before
	runtime.KeepAlive(logs)

	share := cache.New(cache.Options{}).Usage().MaxServiceBytes
	t.Logf("one service at most: limiter %s (%d clients), log ring %s (%d entries), cache share %s (of %s for all)",
		size(limiter), edge.DefaultLimiterClients, size(ring), logtail.DefaultPerService, size(share), size(cache.DefaultMaxBytes))
	if limiter > 6<<20 {
		t.Errorf("a full limiter takes %s, over the 6 MiB its doc comment promises", size(limiter))
	}
	if ring > 3<<20 {
		t.Errorf("a full log ring takes %s, over 3 MiB", size(ring))
	}
}

// BenchmarkSetRoutes1000 rebuilds the routing table of 1,000 services, as
// every change to any service does; one service changes each time.
func BenchmarkSetRoutes1000(b *testing.B) {
	e, err := edge.New(edge.Config{Metrics: prometheus.NewRegistry(), ErrorLog: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	routes := manyRoutes(1000, "http://127.0.0.1:9")
	if err := e.SetRoutes(routes); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rl := ratelimit.Config{Requests: 100 + i%50, Period: time.Minute}
		routes[i%len(routes)].RateLimit = &rl
		if err := e.SetRoutes(routes); err != nil {
			b.Fatal(err)
		}
	}
}

// size formats a byte count for people.
func size(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
}
