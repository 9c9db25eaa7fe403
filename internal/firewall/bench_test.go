package firewall

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/rampart-dev/rampart/internal/firewall/rules"
)

// manySources returns n sources, half IPv4 and half IPv6, none adjacent
// to another (so none merge into one interval), plus extra.
func manySources(n int, extra ...string) []netip.Prefix {
	ps := make([]netip.Prefix, 0, n+len(extra))
	for i := range n {
		var a netip.Addr
		if i%2 == 0 {
			v := uint32(0x64400000) + uint32(i)*2 // 100.64.0.0/10, every other address
			a = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		} else {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8), 13: byte(i >> 16)})
		}
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	for _, e := range extra {
		a := netip.MustParseAddr(e)
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	ps, _ = rules.NormalizeSources(ps)
	return ps
}

// BenchmarkApply measures a whole apply (one batch, then reading the
// table back for drift detection) of the default rules plus one rule
// restricted to 100, 1,000 and 10,000 sources, and five such rules of
// 10,000: the most sources a node takes.
func BenchmarkApply(b *testing.B) {
	need(b)
	for _, n := range []int{100, 1000, 10000, rules.MaxTotalSources} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) {
			ns := newNS(b, "b")
			fw := New(Options{NetNS: ns.fd})
			rs := Ruleset{Rules: rules.Defaults()}
			for i := 0; i < n; i += rules.MaxSources {
				rs.Rules = append(rs.Rules, rules.Rule{Proto: rules.TCP, PortFrom: 8443 + uint16(i/rules.MaxSources), PortTo: 8443 + uint16(i/rules.MaxSources),
					Sources: manySources(min(rules.MaxSources, n-i))})
			}
			ctx := context.Background()
			for b.Loop() {
				if err := fw.Apply(ctx, rs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchRulesets are what the traffic benchmarks compare: no table at all,
// the port open to anyone, and the port restricted to 10,000 sources that
// include the client.
var benchRulesets = []struct {
	name    string
	sources int // -1: no firewall
}{{"none", -1}, {"open", 0}, {"sources=10000", 10000}}

func (l *lab) benchApply(b *testing.B, sources int) {
	if sources < 0 {
		if err := l.fw.Remove(context.Background()); err != nil {
			b.Fatal(err)
		}
		return
	}
	r := rules.Rule{Proto: rules.TCP, PortFrom: 443, PortTo: 443}
	if sources > 0 {
		r.Sources = manySources(sources-2, client4, client6)
	}
	if err := l.fw.Apply(context.Background(), Ruleset{Rules: []rules.Rule{rules.Defaults()[0], r}}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkConnect measures a TCP connection set up and torn down from
// the client to the server, through each ruleset: the SYN is the packet
// that goes through the port map and the source set. The rulesets share
// one network, so that only the ruleset differs. ("none" to "open" also
// measures conntrack, which any table that matches ct state turns on in
// the namespace.)
func BenchmarkConnect(b *testing.B) {
	l := newLab(b)
	l.server.serveTCP(b, 443)
	for _, rs := range benchRulesets {
		b.Run(rs.name, func(b *testing.B) {
			l.benchApply(b, rs.sources)
			var d net.Dialer
			for b.Loop() {
				var c net.Conn
				var err error
				l.client.in(b, func() { c, err = d.Dial("tcp", hostPort(server4, 443)) })
				if err != nil {
					b.Fatal(err)
				}
				// Reset rather than close, so that thousands of
				// connections leave no TIME_WAIT behind to exhaust the
				// client's ports.
				_ = c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		})
	}
}

// BenchmarkThroughput measures bulk TCP transfer from the client to the
// server over one connection, through each ruleset: established packets
// are accepted before any rule is looked at.
func BenchmarkThroughput(b *testing.B) {
	l := newLab(b)
	for _, rs := range benchRulesets {
		b.Run(rs.name, func(b *testing.B) {
			var ln net.Listener
			var err error
			l.server.in(b, func() { ln, err = net.Listen("tcp", hostPort(server4, 443)) })
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = io.Copy(io.Discard, c)
			}()
			l.benchApply(b, rs.sources)
			c, err := l.client.dialTCP(b, client4, hostPort(server4, 443), expectOpen)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
