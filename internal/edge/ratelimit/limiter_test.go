package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestBurst(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        Config
		send, want int
	}{
		{"zero value is 150/minute", Config{}, 200, 150},
		{"default", Default(), 200, 150},
		{"per second", Config{Requests: 10, Period: time.Second}, 15, 10},
		{"uneven interval", Config{Requests: 7, Period: time.Second}, 20, 7},
		{"one per minute", Config{Requests: 1, Period: time.Minute}, 3, 1},
		{"maximum", Config{Requests: MaxRequests, Period: time.Second}, MaxRequests + 10, MaxRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t, tc.cfg, Options{})
			ip := addr("192.0.2.1")
			allowed := 0
			for i := range tc.send {
				d := l.Allow(ip)
				if i < tc.want {
					if !d.Allowed || d.Remaining != tc.want-1-i {
						t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, tc.want-1-i)
					}
					allowed++
					continue
				}
				if d.Allowed || d.Remaining != 0 || d.RetryAfter <= 0 {
					t.Fatalf("request %d: %+v, want refused with a wait", i+1, d)
				}
			}
			s := l.Stats(0)
			if s.Allowed != uint64(tc.want) || s.Limited != uint64(tc.send-tc.want) {
				t.Errorf("stats allowed %d limited %d, want %d and %d", s.Allowed, s.Limited, tc.want, tc.send-tc.want)
			}
		})
	}
}

func TestRetryAfterIsTrue(t *testing.T) {
	for _, cfg := range []Config{
		Default(),
		{Requests: 10, Period: time.Second},
		{Requests: 7, Period: time.Second},
		{Requests: 1, Period: time.Minute},
		{Requests: 3, Period: time.Minute},
		{Requests: MaxRequests, Period: time.Minute},
	} {
		t.Run(cfg.String(), func(t *testing.T) {
			ip := addr("198.51.100.7")
			l, clk := newLimiter(t, cfg, Options{})
			_, d := burst(l, ip, cfg.Requests+1)
			if d.Allowed {
				t.Fatal("request after the burst was allowed")
			}
			// Exactly RetryAfter: one nanosecond earlier is too early.
			clk.Advance(d.RetryAfter - 1)
			if d2 := l.Allow(ip); d2.Allowed || d2.RetryAfter != 1 {
				t.Fatalf("1ns before RetryAfter: %+v, want refused with 1ns to wait", d2)
			}
			clk.Advance(1)
			if d2 := l.Allow(ip); !d2.Allowed {
				t.Fatalf("at RetryAfter: %+v, want allowed", d2)
			}

			// The header's whole seconds: one second less is too early,
			// the full value always works.
			l, clk = newLimiter(t, cfg, Options{})
			_, d = burst(l, ip, cfg.Requests+1)
			secs := d.RetryAfterSeconds()
			if secs < 1 {
				t.Fatalf("Retry-After %d, want at least 1", secs)
			}
			clk.Advance(time.Duration(secs-1) * time.Second)
			if d2 := l.Allow(ip); d2.Allowed {
				t.Fatalf("%ds after a refusal that said Retry-After: %d: allowed", secs-1, secs)
			}
			clk.Advance(time.Second)
			if d2 := l.Allow(ip); !d2.Allowed {
				t.Fatalf("%ds after a refusal that said Retry-After: %d: %+v", secs, secs, d2)
			}
		})
	}
}

// at returns the moment of the k-th request of a client that sends exactly
// requests per period, evenly spaced.
func at(k int, cfg Config) time.Duration {
	return time.Duration(int64(k) * int64(cfg.Period) / int64(cfg.Requests))
}

func TestPacingAtTheRateIsNeverLimited(t *testing.T) {
	for _, cfg := range []Config{
		Default(),
		{Requests: 10, Period: time.Second},
		{Requests: 7, Period: time.Second},
		{Requests: 1, Period: time.Minute},
		{Requests: 1000, Period: time.Minute},
	} {
		for _, drained := range []bool{false, true} {
			name := cfg.String()
			if drained {
				name += " after the burst"
			}
			t.Run(name, func(t *testing.T) {
				ip := addr("2001:db8::1")
				l, clk := newLimiter(t, cfg, Options{})
				if drained {
					if n, _ := burst(l, ip, cfg.Requests); n != cfg.Requests {
						t.Fatalf("burst: %d allowed, want %d", n, cfg.Requests)
					}
				}
				// Three periods at exactly the rate.
				var elapsed time.Duration
				for k := 1; k <= 3*cfg.Requests; k++ {
					clk.Advance(at(k, cfg) - elapsed)
					elapsed = at(k, cfg)
					if d := l.Allow(ip); !d.Allowed {
						t.Fatalf("request %d at %v: %+v", k, elapsed, d)
					}
				}
			})
		}
	}
}

// A client that goes faster than the rate gets the burst plus the rate,
// and no more.
func TestFasterThanTheRate(t *testing.T) {
	cfg := Default()
	ip := addr("192.0.2.9")
	l, clk := newLimiter(t, cfg, Options{})
	allowed := 0
	for range 3 * 60 * 10 { // 10 requests per second for three minutes
		if l.Allow(ip).Allowed {
			allowed++
		}
		clk.Advance(100 * time.Millisecond)
	}
	// The last request is at 179.9s: 150 + floor(179.9s / 400ms) = 599.
	if want := 150 + 449; allowed != want {
		t.Errorf("allowed %d, want %d", allowed, want)
	}
}

func TestClients(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  string
		share bool
	}{
		{"same IPv6 /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"IPv6 zone ignored", "fe80::1%eth0", "fe80::2", true},
		{"neighbouring IPv6 /64s", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"IPv4-mapped is IPv4", "::ffff:192.0.2.1", "192.0.2.1", true},
		{"neighbouring IPv4", "192.0.2.1", "192.0.2.2", false},
		{"IPv4 is not ::/64", "0.0.0.0", "::1", false},
		{"IPv4-compatible is IPv6", "::192.0.2.1", "192.0.2.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t, Config{Requests: 5, Period: time.Minute}, Options{})
			burst(l, addr(tc.a), 5)
			d := l.Allow(addr(tc.b))
			if shared := !d.Allowed; shared != tc.share {
				t.Errorf("%s then %s: shared=%v, want %v", tc.a, tc.b, shared, tc.share)
			}
		})
	}
}

func TestNotLimited(t *testing.T) {
	allow := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("203.0.113.7/32"),
		netip.MustParsePrefix("::ffff:192.0.2.0/120"),
		netip.MustParsePrefix("2001:db8:aa::/48"),
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		ip      netip.Addr
		limited bool
	}{
		{"in an IPv4 network", Config{Allow: allow}, addr("10.200.3.4"), false},
		{"one IPv4 address", Config{Allow: allow}, addr("203.0.113.7"), false},
		{"next to it", Config{Allow: allow}, addr("203.0.113.8"), true},
		{"IPv4-mapped prefix", Config{Allow: allow}, addr("192.0.2.200"), false},
		{"IPv4-mapped client", Config{Allow: allow}, addr("::ffff:10.1.1.1"), false},
		{"in an IPv6 network", Config{Allow: allow}, addr("2001:db8:aa:ffff::1"), false},
		{"outside it", Config{Allow: allow}, addr("2001:db8:ab::1"), true},
		{"no address", Config{}, netip.Addr{}, false},
		{"disabled", Config{Disabled: true}, addr("192.0.2.1"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t, tc.cfg, Options{})
			n, d := burst(l, tc.ip, 1000)
			if limited := n < 1000; limited != tc.limited {
				t.Fatalf("%v: %d of 1000 allowed", tc.ip, n)
			}
			if !tc.limited {
				if d != (Decision{Allowed: true}) {
					t.Errorf("decision %+v, want the exempt Decision", d)
				}
				if s := l.Stats(0); s.Tracked != 0 || s.Allowed != 0 {
					t.Errorf("exempt client tracked: %+v", s)
				}
			}
		})
	}
}

func TestSetConfig(t *testing.T) {
	ip := addr("192.0.2.1")
	perMin := func(n int) Config { return Config{Requests: n, Period: time.Minute} }
	for _, tc := range []struct {
		name     string
		from, to Config
		used     int // requests sent under from, at one instant
		more     int // how many more are allowed under to, at the same instant
	}{
		{"raise after the burst", perMin(150), perMin(300), 150, 150},
		{"raise halfway", perMin(150), perMin(300), 75, 225},
		{"lower, quota left", perMin(150), perMin(100), 50, 50},
		{"lower below what was used", perMin(150), perMin(100), 120, 0},
		{"minute to second", perMin(150), Config{Requests: 10, Period: time.Second}, 75, 0},
		{"minute to second, little used", perMin(150), Config{Requests: 10, Period: time.Second}, 4, 6},
		{"second to minute", Config{Requests: 10, Period: time.Second}, perMin(600), 5, 595},
		{"allow-list only", perMin(150), Config{Requests: 150, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, 100, 50},
		{"off and on again forgets", perMin(150), perMin(150), 150, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := newLimiter(t, tc.from, Options{})
			if n, _ := burst(l, ip, tc.used); n != tc.used {
				t.Fatalf("before: %d allowed, want %d", n, tc.used)
			}
			if tc.name == "off and on again forgets" {
				if err := l.SetConfig(Config{Disabled: true}); err != nil {
					t.Fatal(err)
				}
				if s := l.Stats(0); s.Tracked != 0 {
					t.Fatalf("disabled limiter tracks %d clients", s.Tracked)
				}
			}
			if err := l.SetConfig(tc.to); err != nil {
				t.Fatal(err)
			}
			n, d := burst(l, ip, tc.more+1)
			if n != tc.more || d.Allowed {
				t.Errorf("after: %d allowed, want %d then a refusal (%+v)", n, tc.more, d)
			}
			if got, want := d.Limit, tc.to.withDefaults().Requests; got != want {
				t.Errorf("Limit %d, want %d", got, want)
			}
		})
	}
}

func TestSetConfigInvalid(t *testing.T) {
	l, _ := newLimiter(t, Default(), Options{})
	if err := l.SetConfig(Config{Requests: -1}); err == nil {
		t.Fatal("SetConfig accepted -1 requests")
	}
	if got := l.Config(); got.Requests != 150 || got.Period != time.Minute {
		t.Errorf("config changed to %+v", got)
	}
	if n, _ := burst(l, addr("192.0.2.1"), 151); n != 150 {
		t.Errorf("%d allowed, want 150", n)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		opts Options
	}{
		{Config{Period: 5 * time.Second}, Options{}},
		{Default(), Options{MaxClients: -1}},
		{Default(), Options{StatsWindow: -time.Second}},
	} {
		if _, err := New(tc.cfg, tc.opts); err == nil {
			t.Errorf("New(%+v, %+v) succeeded", tc.cfg, tc.opts)
		}
	}
}

func TestRealClock(t *testing.T) {
	l, err := New(Config{Requests: 2, Period: time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ip := addr("192.0.2.1")
	if n, _ := burst(l, ip, 3); n != 2 {
		t.Errorf("%d allowed, want 2", n)
	}
}
