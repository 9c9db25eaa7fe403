package cache

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkAccounting verifies, at rest, that the byte and entry counters
// match what the maps hold, and that nothing dead is still reachable.
func checkAccounting(t *testing.T, c *Cache) {
	t.Helper()
	var bytes, count int64
	bySvc := map[*service]int64{}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		for k, e := range sh.entries {
			if e.dead.Load() || e.key != k {
				t.Errorf("map holds a dead or misfiled entry %q", k)
			}
			bytes += e.size
			bySvc[e.svc] += e.size
			count++
		}
		if len(sh.fills) != 0 {
			t.Errorf("%d fills left over", len(sh.fills))
		}
		sh.mu.RUnlock()
	}
	if u := c.Usage(); u.Bytes != bytes || u.Entries != count {
		t.Errorf("usage %+v, maps hold %d entries, %d bytes", u, count, bytes)
	}
	for s, b := range bySvc {
		if got := s.bytes.Load(); got != b {
			t.Errorf("service %q is charged %d bytes, its entries take %d", s.name, got, b)
		}
	}
	for i := range c.front {
		if e := c.front[i].Load(); e != nil && e.dead.Load() {
			t.Errorf("front slot %d pins a dead entry", i)
		}
	}
}

// TestEviction: the cache stays within MaxBytes, and entries that are hit
// outlive those that are not.
func TestEviction(t *testing.T) {
	page := strings.Repeat("p", 4000)
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }}
	clk := newClock()
	c := New(Options{MaxBytes: 100_000, MaxServiceBytes: 100_000, Now: clk.Now})
	h := c.Handler("svc", Config{TTL: time.Hour}, o)
	for i := range 200 {
		get(h, "GET", "/hot") // hit on every round
		get(h, "GET", fmt.Sprintf("/cold/%d", i))
		if u := c.Usage(); u.Bytes > u.MaxBytes {
			t.Fatalf("after %d: %+v", i, u)
		}
	}
	if w := get(h, "GET", "/hot"); w.Header().Get("X-Cache") != "HIT" {
		t.Fatalf("the hot entry was evicted")
	}
	if w := get(h, "GET", "/cold/0"); w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("the oldest cold entry survived")
	}
	if u := c.Usage(); u.Entries < 15 {
		t.Fatalf("only %d entries left: eviction overshoots", u.Entries)
	}
	checkAccounting(t, c)
	if len(c.ring) > 2*int(c.count.Load())+64 {
		t.Fatalf("ring of %d for %d entries", len(c.ring), c.count.Load())
	}
}

// TestExpiredFirst: under memory pressure, entries that can only serve
// stale go before fresh ones.
func TestExpiredFirst(t *testing.T) {
	page := strings.Repeat("p", 4000)
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }}
	clk := newClock()
	c := New(Options{MaxBytes: 60_000, MaxServiceBytes: 60_000, Now: clk.Now})
	short := c.Handler("short", Config{TTL: time.Second}, o)
	long := c.Handler("long", Config{TTL: time.Hour}, o)
	for i := range 5 {
		get(long, "GET", fmt.Sprintf("/%d", i))
		get(long, "GET", fmt.Sprintf("/%d", i)) // referenced
	}
	for i := range 5 {
		get(short, "GET", fmt.Sprintf("/%d", i))
	}
	clk.Advance(2 * time.Second) // short's entries are stale-only now
	for i := 5; i < 9; i++ {
		get(long, "GET", fmt.Sprintf("/%d", i))
	}
	for i := range 9 {
		if w := get(long, "GET", fmt.Sprintf("/%d", i)); w.Header().Get("X-Cache") != "HIT" {
			t.Fatalf("fresh entry %d was evicted while stale ones remained", i)
		}
	}
	checkAccounting(t, c)
}

// TestSweep: entries past their stale window give their memory back as
// other entries come in, without memory pressure.
func TestSweep(t *testing.T) {
	o := &origin{}
	clk := newClock()
	c := New(Options{Now: clk.Now})
	h := c.Handler("svc", Config{TTL: time.Second, StaleIfError: time.Second}, o)
	for i := range 100 {
		get(h, "GET", fmt.Sprintf("/old/%d", i))
	}
	clk.Advance(5 * time.Second)
	for i := range 100 {
		get(h, "GET", fmt.Sprintf("/new/%d", i))
	}
	if u := c.Usage(); u.Entries > 110 {
		t.Fatalf("%d entries: expired ones were not swept", u.Entries)
	}
	checkAccounting(t, c)
}

// TestPurgeFreesMemory: purge gives the memory back at once.
func TestPurgeFreesMemory(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
		_, _ = w.Write([]byte("x"))
	}}
	c, h, _ := setup(t, Config{}, o)
	for i := range 50 {
		get(h, "GET", fmt.Sprintf("/%d", i), "Accept-Encoding", "gzip")
	}
	if n := c.Purge("svc"); n != 50 {
		t.Fatalf("Purge = %d, want 50", n)
	}
	if u := c.Usage(); u.Entries != 0 || u.Bytes != 0 {
		t.Fatalf("after purge: %+v", u)
	}
	checkAccounting(t, c)
}

// TestConcurrentStress hammers a small cache with hits, misses, varying
// responses, unstorable ones and purges from many goroutines, for the race
// detector and the accounting check.
func TestConcurrentStress(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/7"):
			w.Header().Set("Set-Cookie", "x=1")
		case strings.HasSuffix(r.URL.Path, "/5"):
			w.Header().Set("Vary", "Accept-Language")
		case strings.HasSuffix(r.URL.Path, "/3"):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(strings.Repeat("b", int(n%3000))))
	}}
	clk := newClock()
	c := New(Options{MaxBytes: 200_000, Now: clk.Now})
	handlers := []http.Handler{
		c.Handler("a", Config{TTL: time.Second}, o),
		c.Handler("b", Config{TTL: 2 * time.Second, MaxObjectBytes: 2000}, o),
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 400 {
				h := handlers[rng.IntN(2)]
				path := fmt.Sprintf("/%d/%d", rng.IntN(40), rng.IntN(10))
				method := "GET"
				if rng.IntN(5) == 0 {
					method = "HEAD"
				}
				w := get(h, method, path, "Accept-Language", []string{"en", "de"}[rng.IntN(2)])
				if w.Header().Get("X-Cache") == "" {
					t.Errorf("no X-Cache")
					return
				}
				switch rng.IntN(50) {
				case 0:
					c.Purge([]string{"a", "b"}[rng.IntN(2)])
				case 1:
					clk.Advance(300 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	checkAccounting(t, c)
	if u := c.Usage(); u.Bytes > u.MaxBytes {
		t.Fatalf("usage %+v", u)
	}
}
