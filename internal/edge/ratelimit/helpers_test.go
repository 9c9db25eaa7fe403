package ratelimit

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct{ ns atomic.Int64 }

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *fakeClock) Now() time.Time          { return epoch.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newLimiter(t testing.TB, cfg Config, opts Options) (*Limiter, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	l, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l, clk
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// v4 returns the i-th IPv4 address from 1.0.0.0 on.
func v4(i int) netip.Addr {
	n := uint32(1<<24 + i)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// v6 returns an address in the i-th /64 of 2001:db8::/32 (wrapping).
func v6(i int) netip.Addr {
	var b [16]byte
	b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
	b[4], b[5], b[6], b[7] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	b[15] = 1
	return netip.AddrFrom16(b)
}

// burst sends n requests from ip at the current instant and returns how
// many were allowed and the last Decision.
func burst(l *Limiter, ip netip.Addr, n int) (allowed int, last Decision) {
	for range n {
		last = l.Allow(ip)
		if last.Allowed {
			allowed++
		}
	}
	return allowed, last
}
