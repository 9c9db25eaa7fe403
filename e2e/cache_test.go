package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCacheFlood: 64 concurrent connections for 10 s on one URL of an
// upstream that takes 20 ms. The upstream sees about one request per TTL
// (3 s), and every client gets a 200.
func TestCacheFlood(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	var hits atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintf(w, "page generated at %s", time.Now().Format(time.RFC3339Nano))
	}))
	defer slow.Close()
	n.must("", "service", "create", "news", "--upstream", slow.URL)
	n.must("", "ratelimit", "set", "news", "--off") // one loopback client is all 64 connections
	host := "news." + domain
	eventually(t, "news routed", func() bool {
		r, _ := n.edgeGet(t, client("127.0.0.252"), host, "/warmup")
		return r.StatusCode == 200
	})

	c := client("127.0.0.5")
	stop := time.Now().Add(10 * time.Second)
	hits.Store(0)
	var total, bad atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				r, _ := n.edgeGet(t, c, host, "/front-page")
				total.Add(1)
				if r.StatusCode != 200 {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("flood: %d requests in 10 s, %d reached the upstream", total.Load(), hits.Load())
	if bad.Load() > 0 {
		t.Errorf("%d of %d responses were not 200", bad.Load(), total.Load())
	}
	// 10 s / 3 s TTL: the fills at 0, 3, 6 and 9 s.
	if h := hits.Load(); h < 1 || h > 4 {
		t.Errorf("the upstream saw %d requests for one URL in 10 s; want at most 4 (one per 3 s TTL)", h)
	}
	// Purge from the CLI: the next request is a miss.
	n.must("", "cache", "purge", "news")
	if r, _ := n.edgeGet(t, c, host, "/front-page"); r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after purge: X-Cache %q", r.Header.Get("X-Cache"))
	}
	if r, _ := n.edgeGet(t, c, host, "/front-page"); r.Header.Get("X-Cache") != "HIT" || r.Header.Get("Age") == "" {
		t.Errorf("second request: X-Cache %q Age %q", r.Header.Get("X-Cache"), r.Header.Get("Age"))
	}
	// A user's own page is never served to another.
	if r, _ := n.edgeGet(t, c, host, "/front-page", "Cookie", "session=alice"); r.Header.Get("X-Cache") != "BYPASS" {
		t.Errorf("request with a cookie: X-Cache %q", r.Header.Get("X-Cache"))
	}
	// The metrics count it.
	resp, err := http.Get("http://" + n.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`rampart_edge_cache_requests_total{result="hit",service="news"}`, `rampart_edge_cache_requests_total{result="bypass",service="news"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The hits of the flood went the fast lane's way (keep-alive
	// connections, plain GETs).
	lane := regexp.MustCompile(`(?m)^rampart_edge_fastlane_requests_total\{listener="http"\} (\d+)`).FindStringSubmatch(string(m))
	if lane == nil {
		t.Fatal("metrics lack rampart_edge_fastlane_requests_total")
	}
	if n, _ := strconv.ParseInt(lane[1], 10, 64); n < total.Load()/2 {
		t.Errorf("the fast lane answered %d of the flood's %d requests; want most of them", n, total.Load())
	}
}
