package firewall

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// TestICMP pings the server over IPv4 and IPv6 (admitted: a host that does
// not answer pings is hard to diagnose) and sends an ICMP timestamp
// request, which Linux answers when nothing filters it and which is not a
// type a working network needs (dropped). IPv6 echo working at all also
// shows neighbour discovery getting through: no IPv6 packet crossed the
// link before the ruleset was applied.
func TestICMP(t *testing.T) {
	l := newLab(t)
	timestamp := &icmp.RawBody{Data: make([]byte, 16)}
	if !l.client.icmpAnswered(t, "ip4:icmp", client4, server4, ipv4.ICMPTypeTimestamp, timestamp, expectOpen) {
		t.Fatal("the server does not answer ICMP timestamps even without a firewall: the test below would prove nothing")
	}
	l.apply(t, rule(t, "tcp", "22", ""))
	for _, tc := range []struct {
		name     string
		network  string
		src, dst string
		typ      icmp.Type
		body     icmp.MessageBody
		want     bool
	}{
		{"echo over IPv4", "ip4:icmp", client4, server4, ipv4.ICMPTypeEcho, &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: 1, Data: []byte("rampart")}, true},
		{"echo over IPv6", "ip6:ipv6-icmp", client6, server6, ipv6.ICMPTypeEchoRequest, &icmp.Echo{ID: os.Getpid() & 0xffff, Seq: 1, Data: []byte("rampart")}, true},
		// Type 13, timestamp: originate, receive and transmit times.
		{"timestamp over IPv4", "ip4:icmp", client4, server4, ipv4.ICMPTypeTimestamp, timestamp, false},
	} {
		if got := l.client.icmpAnswered(t, tc.network, tc.src, tc.dst, tc.typ, tc.body, wait(tc.want)); got != tc.want {
			t.Errorf("%s from %s to %s: answered=%v, want %v", tc.name, tc.src, tc.dst, got, tc.want)
		}
	}
}

// icmpAnswered sends one ICMP message from src to dst and reports whether
// a reply from dst came back within wait.
func (ns *netns) icmpAnswered(tb testing.TB, network, src, dst string, typ icmp.Type, body icmp.MessageBody, wait time.Duration) bool {
	tb.Helper()
	var c *icmp.PacketConn
	var err error
	ns.in(tb, func() { c, err = icmp.ListenPacket(network, src) })
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	msg, err := (&icmp.Message{Type: typ, Body: body}).Marshal(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return false
		}
		proto := 1
		if network == "ip6:ipv6-icmp" {
			proto = 58
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || from.String() != dst {
			continue
		}
		// A raw socket also sees the neighbour discovery and the
		// message it sent itself; only replies count.
		switch m.Type {
		case ipv4.ICMPTypeEchoReply, ipv6.ICMPTypeEchoReply, ipv4.ICMPTypeTimestampReply:
			return true
		}
	}
}
