package ratelimit

import (
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzGCRA compares the limiter, for one client, with a token bucket
// written independently: credit in nanoseconds, capped at the whole quota,
// each request costing one emission interval. It also checks what the
// product promises: at most the burst plus the rate in any stretch of time,
// and a true RetryAfter.
func FuzzGCRA(f *testing.F) {
	f.Add(uint32(150), false, []byte{0, 0, 0, 255, 40, 32, 32, 1, 200})
	f.Add(uint32(1), true, []byte{31, 32, 33, 0, 64})
	f.Add(uint32(7), true, []byte{0, 0, 0, 0, 0, 0, 0, 0, 36, 37, 5, 250})
	f.Fuzz(func(t *testing.T, requests uint32, perSecond bool, gaps []byte) {
		cfg := Config{Requests: int(requests%1000) + 1, Period: time.Minute}
		if perSecond {
			cfg.Period = time.Second
		}
		if len(gaps) > 400 {
			gaps = gaps[:400]
		}
		l, clk := newLimiter(t, cfg, Options{})
		ip := addr("192.0.2.1")
		T := int64(cfg.Period) / int64(cfg.Requests)
		capacity := T * int64(cfg.Requests)
		credit := capacity
		var now int64
		var allowedAt []int64
		var prev Decision
		for i, g := range gaps {
			// Gaps from 0 to 8 intervals, in 1/32 steps; 255 means
			// "exactly what the last refusal said", and 254 one
			// nanosecond less.
			gap := int64(g) * T / 32
			if g == 255 && i > 0 && !prev.Allowed {
				gap = int64(prev.RetryAfter)
			}
			if g == 254 && i > 0 && !prev.Allowed {
				gap = int64(prev.RetryAfter) - 1
			}
			clk.Advance(time.Duration(gap))
			now += gap
			credit = min(capacity, credit+gap)

			d := l.Allow(ip)
			wantAllowed := credit >= T
			if wantAllowed {
				credit -= T
			}
			if d.Allowed != wantAllowed {
				t.Fatalf("request %d at %dns: allowed=%v, model says %v (credit %d, T %d)", i, now, d.Allowed, wantAllowed, credit, T)
			}
			if i > 0 && !prev.Allowed && gap >= int64(prev.RetryAfter) && !d.Allowed {
				t.Fatalf("request %d: refused although it came RetryAfter (%v) after a refusal", i, prev.RetryAfter)
			}
			if d.Allowed {
				if want := int(credit / T); d.Remaining != want {
					t.Fatalf("request %d: Remaining %d, model %d", i, d.Remaining, want)
				}
				if want := time.Duration(capacity - credit); d.Reset != want {
					t.Fatalf("request %d: Reset %v, model %v", i, d.Reset, want)
				}
				allowedAt = append(allowedAt, now)
			} else if want := time.Duration(T - credit); d.RetryAfter != want {
				t.Fatalf("request %d: RetryAfter %v, model %v", i, d.RetryAfter, want)
			}
			if d.Remaining == 0 && d.RetryAfter <= 0 {
				t.Fatalf("request %d: nothing remaining but no wait: %+v", i, d)
			}
			prev = d
		}
		// In any stretch [a, b] at most Requests + (b-a)/T requests.
		for i := range allowedAt {
			for j := i; j < len(allowedAt); j++ {
				if n, most := int64(j-i+1), int64(cfg.Requests)+(allowedAt[j]-allowedAt[i])/T; n > most {
					t.Fatalf("%d requests allowed in %dns, at most %d", n, allowedAt[j]-allowedAt[i], most)
				}
			}
		}
	})
}

var (
	policyRE    = regexp.MustCompile(`^"ip";q=[1-9][0-9]*;w=(1|60)$`)
	rateLimitRE = regexp.MustCompile(`^"ip";r=(0|[1-9][0-9]*);t=(0|[1-9][0-9]*)$`)
)

// FuzzConfig feeds arbitrary configurations to Validate and, when they
// pass, to a limiter, whose headers must keep to the draft's syntax.
func FuzzConfig(f *testing.F) {
	f.Add(150, int64(time.Minute), "10.0.0.0/8,2001:db8::/32", false)
	f.Add(0, int64(0), "", true)
	f.Add(-1, int64(time.Second), "10.0.0.1/8", false)
	f.Add(1000000, int64(time.Second), "::ffff:1.2.3.0/120,0.0.0.0/0", false)
	f.Fuzz(func(t *testing.T, requests int, period int64, allow string, disabled bool) {
		cfg := Config{Requests: requests, Period: time.Duration(period), Disabled: disabled}
		if allow != "" {
			for s := range strings.SplitSeq(allow, ",") {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					continue
				}
				cfg.Allow = append(cfg.Allow, p)
				if _, err := ParsePrefix(s); err == nil {
					if err := checkPrefix(p); err != nil {
						t.Fatalf("ParsePrefix accepted %q, Validate rejects it: %v", s, err)
					}
				}
			}
		}
		if err := cfg.Validate(); err != nil {
			if _, err2 := New(cfg, Options{}); err2 == nil {
				t.Fatal("New accepted a config that Validate rejects")
			}
			return
		}
		l, _ := newLimiter(t, cfg, Options{MaxClients: 100})
		for _, ip := range []netip.Addr{addr("10.1.2.3"), addr("192.0.2.1"), addr("2001:db8::1"), addr("::ffff:1.2.3.4")} {
			for range 3 {
				d := l.Allow(ip)
				h := http.Header{}
				d.WriteHeaders(h)
				if d.Limit == 0 {
					if len(h) != 0 || !d.Allowed {
						t.Fatalf("exempt decision %+v wrote %v", d, h)
					}
					continue
				}
				if !policyRE.MatchString(h.Get("RateLimit-Policy")) || !rateLimitRE.MatchString(h.Get("RateLimit")) {
					t.Fatalf("bad fields %q", h)
				}
			}
		}
		if err := l.SetConfig(Default()); err != nil {
			t.Fatal(err)
		}
		if err := l.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"150/minute", "10/s", "150 per minute", " 7 / SEC ", "0/s", "1/hour", "/", "9999999999999999999/m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, p, err := ParseRate(s)
		if err != nil {
			return
		}
		cfg := Config{Requests: n, Period: p}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseRate(%q) = %d/%v, which Validate rejects: %v", s, n, p, err)
		}
		n2, p2, err := ParseRate(cfg.String())
		if err != nil || n2 != n || p2 != p {
			t.Fatalf("%q → %q → %d/%v, %v", s, cfg.String(), n2, p2, err)
		}
	})
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "192.0.2.7", "2001:db8::/32", "::ffff:1.2.3.4", "10.0.0.1/8", "fe80::1%eth0", "1.2.3.4/-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p.Masked() != p {
			t.Fatalf("ParsePrefix(%q) = %v: invalid or not masked", s, p)
		}
		if err := (Config{Allow: []netip.Prefix{p}}).Validate(); err != nil {
			t.Fatalf("ParsePrefix(%q) = %v, which Validate rejects: %v", s, p, err)
		}
		if p2, err := ParsePrefix(p.String()); err != nil || p2 != p {
			t.Fatalf("%q → %v → %v, %v", s, p, p2, err)
		}
	})
}
