package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestStatsTop(t *testing.T) {
	l, clk := newLimiter(t, Config{Requests: 1}, Options{StatsWindow: time.Minute})
	a, b, c := addr("192.0.2.1"), addr("2001:db8:1:2::7"), addr("198.51.100.3")
	burst(l, a, 11) // 10 refused
	burst(l, b, 6)  // 5 refused
	burst(l, c, 1)  // none
	s := l.Stats(10)
	want := []LimitedClient{
		{netip.MustParsePrefix("192.0.2.1/32"), 10},
		{netip.MustParsePrefix("2001:db8:1:2::/64"), 5},
	}
	if !equalTop(s.Top, want) {
		t.Errorf("Top %v, want %v", s.Top, want)
	}
	if s.Allowed != 3 || s.Limited != 15 || s.Tracked != 3 || s.Evicted != 0 {
		t.Errorf("counters %+v", s)
	}
	if s := l.Stats(1); len(s.Top) != 1 || s.Top[0].Limited != 10 {
		t.Errorf("Stats(1).Top %v", s.Top)
	}
	if s := l.Stats(0); s.Top != nil {
		t.Errorf("Stats(0).Top %v", s.Top)
	}

	// A window later the old refusals count half as much after half the
	// next window, and not at all after two.
	clk.Advance(90 * time.Second)
	burst(l, c, 3) // c is new again after its TAT passed: 1 allowed, 2 refused
	s = l.Stats(10)
	want = []LimitedClient{
		{netip.MustParsePrefix("192.0.2.1/32"), 5},
		{netip.MustParsePrefix("198.51.100.3/32"), 2},
		{netip.MustParsePrefix("2001:db8:1:2::/64"), 3}, // 2.5 rounds to 3
	}
	want[1], want[2] = want[2], want[1]
	if !equalTop(s.Top, want) {
		t.Errorf("after 90s: Top %v, want %v", s.Top, want)
	}
	clk.Advance(2 * time.Minute)
	if s := l.Stats(10); len(s.Top) != 0 {
		t.Errorf("after 210s: Top %v", s.Top)
	}
}

func equalTop(a, b []LimitedClient) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// With more limited clients than the tables hold, the heaviest still come
// out on top with their exact counts.
func TestStatsTopManyClients(t *testing.T) {
	l, _ := newLimiter(t, Config{Requests: 1}, Options{MaxClients: 64}) // one shard
	for i := range 1000 {
		burst(l, v4(i), 2) // one refusal each
	}
	heavy := []netip.Addr{addr("203.0.113.1"), addr("203.0.113.2"), addr("2001:db8::1")}
	for i, ip := range heavy {
		burst(l, ip, 1+100*(3-i))
	}
	s := l.Stats(3)
	if len(s.Top) != 3 {
		t.Fatalf("Top %v", s.Top)
	}
	for i, ip := range heavy {
		c, _ := clientOf(ip)
		if got := s.Top[i]; got.Network != keyPrefix(c.key()) || got.Limited < 100*(3-i) {
			t.Errorf("Top[%d] = %v, want %v with at least %d", i, got, ip, 100*(3-i))
		}
	}
}

func TestTopTable(t *testing.T) {
	var tt topTable
	for i := range topPerShard {
		tt.add(uint64(i))
	}
	tt.add(3)
	tt.add(999) // replaces the least-counted (0), count 2
	found := false
	for i := range tt.n {
		if tt.keys[i] == 999 {
			found = tt.counts[i] == 2
		}
		if tt.keys[i] == 0 {
			t.Error("key 0 still in the table")
		}
	}
	if !found {
		t.Errorf("999 not in the table with count 2: %+v", tt)
	}
}
