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

// edgeGet sends GET path to host through the node's edge with client c and
// optional headers; it returns the response with its body read.
func (n *node) edgeGet(t *testing.T, c *http.Client, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.http+path, nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestRateLimitThroughEdge checks the limiter's promises over loopback
// against the real binary, with the default setting (150 per minute).
func TestRateLimitThroughEdge(t *testing.T) {
	n := startNode(t, "--platform-domain", domain, "--trusted-proxies", "127.0.0.9")
	n.adminSetup()
	app := upstream(t, "app")
	n.must("", "service", "create", "app", "--upstream", app.URL, "--upstream", app.URL+"/")
	host := "app." + domain
	// The route exists once a request from an unrelated client gets 200.
	eventually(t, "app routed", func() bool { r, _ := n.edgeGet(t, client("127.0.0.250"), host, "/"); return r.StatusCode == 200 })

	// A fresh client sending 200 requests at once: exactly 150 pass.
	c := client("127.0.0.2")
	var ok, limited atomic.Int64
	var mu sync.Mutex
	var last *http.Response
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := n.edgeGet(t, c, host, "/burst")
			switch r.StatusCode {
			case 200:
				ok.Add(1)
			case 429:
				limited.Add(1)
				mu.Lock()
				last = r
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 150 || limited.Load() != 50 {
		t.Fatalf("200 requests at once: %d passed, %d limited; want 150 and 50", ok.Load(), limited.Load())
	}
	h := last.Header
	if h.Get("RateLimit-Policy") != `"ip";q=150;w=60` {
		t.Errorf("RateLimit-Policy = %q", h.Get("RateLimit-Policy"))
	}
	retry, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || retry != 1 {
		// After a burst of 150 at 150/min, the next request is allowed
		// 400 ms later: Retry-After rounds up to 1 s.
		t.Errorf("Retry-After = %q, want 1", h.Get("Retry-After"))
	}
	if !strings.Contains(h.Get("RateLimit"), `"ip";r=0;t=`) {
		t.Errorf("RateLimit on a 429 = %q", h.Get("RateLimit"))
	}
	// Waiting Retry-After succeeds.
	time.Sleep(time.Duration(retry) * time.Second)
	if r, _ := n.edgeGet(t, c, host, "/after"); r.StatusCode != 200 {
		t.Errorf("after Retry-After: %d", r.StatusCode)
	}

	// Other clients are not affected: another IPv4 address, and the
	// allow-list (set while serving, applied without a restart).
	if r, _ := n.edgeGet(t, client("127.0.0.3"), host, "/"); r.StatusCode != 200 {
		t.Errorf("another client: %d", r.StatusCode)
	}
	n.must("", "ratelimit", "set", "app", "--allow", "127.0.0.2")
	eventually(t, "the allow-list to apply", func() bool {
		r, _ := n.edgeGet(t, c, host, "/")
		return r.StatusCode == 200 && r.Header.Get("RateLimit-Policy") == ""
	})
	for i := range 300 {
		if r, _ := n.edgeGet(t, c, host, "/"); r.StatusCode != 200 {
			t.Fatalf("allow-listed client limited at request %d", i)
		}
	}

	// IPv6 clients count by /64: two addresses of one /64 share a quota,
	// a third in another /64 has its own. The edge believes the addresses
	// from X-Forwarded-For because 127.0.0.9 is a trusted proxy.
	n.must("", "ratelimit", "set", "app", "--requests", "10", "--per", "minute", "--allow", "")
	proxy := client("127.0.0.9")
	eventually(t, "10 per minute", func() bool {
		r, _ := n.edgeGet(t, proxy, host, "/", "X-Forwarded-For", "2001:db8:9::1")
		return r.Header.Get("RateLimit-Policy") == `"ip";q=10;w=60`
	})
	count := func(xff string, k int) (passed int) {
		for range k {
			if r, _ := n.edgeGet(t, proxy, host, "/v6", "X-Forwarded-For", xff); r.StatusCode == 200 {
				passed++
			}
		}
		return passed
	}
	a := count("2001:db8:1:2::1", 6)
	b := count("2001:db8:1:2:ffff::7", 6)
	other := count("2001:db8:1:3::1", 10)
	if a != 6 || b != 4 || other != 10 {
		t.Errorf("/64 grouping: %d+%d of one /64 passed (want 6+4), %d of another (want 10)", a, b, other)
	}
}

// TestRateLimitPacing: a client that keeps to the rate for three periods
// is never limited.
func TestRateLimitPacing(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	app := upstream(t, "app")
	n.must("", "service", "create", "app", "--upstream", app.URL)
	n.must("", "ratelimit", "set", "app", "--requests", "10", "--per", "second")
	host := "app." + domain
	c := client("127.0.0.4")
	eventually(t, "10 per second", func() bool {
		r, _ := n.edgeGet(t, client("127.0.0.251"), host, "/")
		return r.Header.Get("RateLimit-Policy") == `"ip";q=10;w=1`
	})
	// 30 requests, one every 100 ms: exactly the rate, for three periods.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range 30 {
		<-tick.C
		if r, _ := n.edgeGet(t, c, host, "/"); r.StatusCode != 200 {
			t.Fatalf("paced request %d: %d (Retry-After %s)", i, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
}

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
