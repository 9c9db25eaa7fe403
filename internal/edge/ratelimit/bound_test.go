package ratelimit

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// trackedNow counts the entries in the shards' maps directly.
func trackedNow(l *Limiter) (n, worstShard int) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += sh.t.n
		worstShard = max(worstShard, sh.t.n)
		sh.mu.Unlock()
	}
	return n, worstShard
}

// A spray of a million live addresses at one instant, far more than
// MaxClients: the table never grows past its bound, and the limiter
// forgets clients rather than growing.
func TestSprayStaysBounded(t *testing.T) {
	for _, tc := range []struct{ max, spray int }{
		{1, 10_000},
		{100, 100_000},
		{1000, 1_000_000},
		{50_000, 200_000},
	} {
		max, spray := tc.max, tc.spray
		l, _ := newLimiter(t, Default(), Options{MaxClients: max})
		for i := range spray {
			ip := v4(i)
			if i%2 == 1 {
				ip = v6(i)
			}
			if d := l.Allow(ip); !d.Allowed {
				t.Fatalf("MaxClients %d: new client %v refused: %+v", max, ip, d)
			}
			if i%4096 == 0 {
				if n, worst := trackedNow(l); n > max || worst > l.shardCap {
					t.Fatalf("MaxClients %d: %d tracked (worst shard %d of %d) after %d clients", max, n, worst, l.shardCap, i+1)
				}
			}
		}
		s := l.Stats(0)
		if s.Tracked > max || s.Capacity > max {
			t.Errorf("MaxClients %d: tracked %d, capacity %d", max, s.Tracked, s.Capacity)
		}
		if s.Evicted == 0 || s.Evicted+uint64(s.Tracked) != uint64(spray) {
			t.Errorf("MaxClients %d: %d evicted + %d tracked, want %d", max, s.Evicted, s.Tracked, spray)
		}
	}
}

// At a realistic pace, new clients replace expired ones and nobody live
// is evicted, though far more addresses pass than MaxClients.
func TestExpiredMakeRoom(t *testing.T) {
	l, clk := newLimiter(t, Default(), Options{MaxClients: 1000})
	// One new address per millisecond; each entry lives 400 ms, so about
	// 400 are live at any time.
	for i := range 200_000 {
		l.Allow(v4(i))
		clk.Advance(time.Millisecond)
	}
	s := l.Stats(0)
	if s.Evicted != 0 {
		t.Errorf("%d live clients evicted, want none", s.Evicted)
	}
	if s.Tracked > 1000 {
		t.Errorf("%d tracked", s.Tracked)
	}
}

// Eviction forgets the clients that have used the least of their quota; a
// client that is being limited is kept while the spray is on.
func TestEvictionKeepsHeavyClients(t *testing.T) {
	l, _ := newLimiter(t, Default(), Options{MaxClients: 1000})
	heavy := addr("192.0.2.66")
	burst(l, heavy, 150)
	for i := range 100_000 {
		l.Allow(v6(i))
		if i%1000 == 0 && l.Allow(heavy).Allowed {
			t.Fatalf("heavy client forgotten after %d spray addresses", i)
		}
	}
	if s := l.Stats(0); s.Evicted == 0 {
		t.Fatal("nothing evicted")
	}
}

// When every tracked client is heavy, the bound still holds: the limiter
// forgets some of them, and those get a fresh burst. This is the
// documented behaviour at the bound.
func TestEvictionForgetsWhenAllAreHeavy(t *testing.T) {
	l, _ := newLimiter(t, Config{Requests: 10, Period: time.Minute}, Options{MaxClients: 100})
	const clients = 200
	for i := range clients {
		if n, _ := burst(l, v4(i), 10); n != 10 {
			t.Fatalf("client %d: %d allowed", i, n)
		}
	}
	s := l.Stats(0)
	if s.Tracked > 100 {
		t.Fatalf("%d tracked, bound 100", s.Tracked)
	}
	forgotten := 0
	for i := range clients {
		if l.Allow(v4(i)).Allowed {
			forgotten++
		}
	}
	if forgotten < clients-100 || uint64(forgotten) > s.Evicted+uint64(clients-s.Tracked) {
		t.Errorf("%d clients forgotten, %d evicted, %d tracked", forgotten, s.Evicted, s.Tracked)
	}
}

// After a spray, maps shrink back once their clients have expired: when
// new clients arrive, or when Stats is called.
func TestMemoryReturnsAfterSpray(t *testing.T) {
	for _, byStats := range []bool{false, true} {
		l, clk := newLimiter(t, Default(), Options{MaxClients: 400_000})
		for i := range 400_000 {
			l.Allow(v4(i))
		}
		for i := range l.shards {
			if sh := &l.shards[i]; len(sh.t.e) != l.maxSlots {
				t.Fatalf("shard %d: %d slots after the spray, want %d", i, len(sh.t.e), l.maxSlots)
			}
		}
		clk.Advance(time.Minute)
		if byStats {
			l.Stats(0)
		} else {
			for i := range 10_000 {
				l.Allow(v6(i))
			}
		}
		for i := range l.shards {
			sh := &l.shards[i]
			if len(sh.t.e) > l.maxSlots/8 {
				t.Fatalf("byStats=%v: shard %d: %d entries in %d slots", byStats, i, sh.t.n, len(sh.t.e))
			}
		}
	}
}

// Many goroutines on one client, at one instant: exactly the burst gets
// through. Many goroutines on many clients, with the clock moving, the
// config changing and Stats being read: no races (run with -race).
func TestConcurrent(t *testing.T) {
	t.Run("one client", func(t *testing.T) {
		l, _ := newLimiter(t, Default(), Options{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 8 {
			wg.Go(func() {
				n, _ := burst(l, addr("192.0.2.1"), 100)
				mu.Lock()
				allowed += n
				mu.Unlock()
			})
		}
		wg.Wait()
		if allowed != 150 {
			t.Errorf("%d allowed, want 150", allowed)
		}
	})
	t.Run("mixed", func(t *testing.T) {
		l, clk := newLimiter(t, Default(), Options{MaxClients: 2000})
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 5000 {
					d := l.Allow(v4(g*1000 + i%3000))
					if d.Limit != 0 && d.Limit != 150 && d.Limit != 20 {
						t.Errorf("Limit %d", d.Limit)
						return
					}
					if i%100 == 0 {
						clk.Advance(time.Millisecond)
					}
				}
			})
		}
		wg.Go(func() {
			for i := range 50 {
				cfg := Default()
				switch i % 3 {
				case 1:
					cfg.Requests = 20
				case 2:
					cfg.Disabled = true
				}
				if err := l.SetConfig(cfg); err != nil {
					t.Error(err)
				}
				l.Stats(10)
				runtime.Gosched()
			}
		})
		wg.Wait()
	})
}
