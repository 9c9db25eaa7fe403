package egress

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func mustNetworks(t *testing.T, list ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseNetworks(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fixedInterfaces makes p see exactly addrs as its interface addresses.
func fixedInterfaces(p *Policy, addrs ...string) {
	p.interfaces = func() ([]netip.Addr, error) {
		var out []netip.Addr
		for _, a := range addrs {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func TestCheck(t *testing.T) {
	def := New(nil)
	fixedInterfaces(def, "127.0.0.1", "::1", "192.0.2.7", "fe80::1")
	def.Protect("admin_addr", netip.MustParseAddrPort("127.0.0.1:7070"))
	def.Protect("http_addr", netip.MustParseAddrPort("[::]:80"))
	def.Protect("debug_addr", netip.MustParseAddrPort("0.0.0.0:6060"))
	def.AddLocal(netip.MustParseAddr("203.0.113.9"))

	lan := New(mustNetworks(t, "10.0.0.0/8", "fd00::/8"))
	lanAndLoopback := New(mustNetworks(t, "0.0.0.0/0", "127.0.0.1/32", "169.254.0.0/16"))

	tests := []struct {
		p            *Policy
		addr         string
		allowPrivate bool
		want         string // "" allowed; else a word of the refusal
		own          bool
	}{
		// The default: everything unicast but the node and its neighbours.
		{def, "93.184.216.34:80", false, "", false},
		{def, "10.1.2.3:8080", false, "", false},
		{def, "[2001:db8::1]:443", false, "", false},
		{def, "127.0.0.1:9000", false, "loopback", false},
		{def, "127.1.2.3:9000", false, "loopback", false},
		{def, "[::1]:9000", false, "loopback", false},
		{def, "[::ffff:127.0.0.1]:9000", false, "loopback", false},
		{def, "169.254.169.254:80", false, "metadata", false},
		{def, "[::ffff:169.254.169.254]:80", false, "metadata", false},
		{def, "169.254.1.1:80", false, "link-local", false},
		{def, "[fd00:ec2::254]:80", false, "metadata", false},
		{def, "100.100.100.200:80", false, "metadata", false},
		{def, "100.100.100.100:80", false, "", false}, // CGNAT stays open
		{def, "[fe80::1%eth0]:8080", false, "link-local", false},
		{def, "0.0.0.0:9000", false, "this host", false},
		{def, "0.1.2.3:9000", false, "this host", false},
		{def, "[::]:9000", false, "unspecified", false},
		{def, "224.0.0.1:80", false, "multicast", false},
		{def, "[ff02::1]:80", false, "multicast", false},
		{def, "255.255.255.255:80", false, "broadcast", false},

		// The override opens all of those…
		{def, "127.0.0.1:9000", true, "", false},
		{def, "[::1]:9000", true, "", false},
		{def, "169.254.169.254:80", true, "", false},
		// …but never rampart's own listeners.
		{def, "127.0.0.1:7070", true, "admin_addr", true},
		{def, "[::ffff:127.0.0.1]:7070", true, "admin_addr", true},
		{def, "0.0.0.0:7070", true, "admin_addr", true},
		{def, "[::]:7070", true, "admin_addr", true},
		{def, "127.0.0.2:7070", true, "", false}, // the admin listener is bound to 127.0.0.1 only
		// A listener on :: or 0.0.0.0 is every local address with its port.
		{def, "127.0.0.1:80", true, "http_addr", true},
		{def, "127.9.9.9:80", true, "http_addr", true},
		{def, "[::1]:80", true, "http_addr", true},
		{def, "192.0.2.7:80", true, "http_addr", true},
		{def, "192.0.2.7:80", false, "http_addr", true},
		{def, "[fe80::1%eth0]:80", true, "http_addr", true},
		{def, "203.0.113.9:6060", true, "debug_addr", true},
		{def, "192.0.2.8:80", false, "", false}, // not this node
		{def, "192.0.2.7:81", false, "", false}, // no listener there

		// Allowed networks replace "everywhere".
		{lan, "10.9.9.9:80", false, "", false},
		{lan, "[fd00::5]:80", false, "", false},
		{lan, "93.184.216.34:80", false, "allowed_networks", false},
		{lan, "127.0.0.1:80", false, "allowed_networks", false},
		{lan, "[fd00:ec2::254]:80", false, "metadata", false}, // inside fd00::/8, still forbidden
		{lan, "93.184.216.34:80", true, "", false},
		// A broad network opens no forbidden range; one inside it does.
		{lanAndLoopback, "127.0.0.1:80", false, "", false},
		{lanAndLoopback, "127.0.0.2:80", false, "loopback", false},
		{lanAndLoopback, "169.254.1.1:80", false, "", false},
		{lanAndLoopback, "169.254.169.254:80", false, "metadata", false},
		{lanAndLoopback, "0.0.0.0:80", false, "this host", false},
		{lanAndLoopback, "8.8.8.8:53", false, "", false},
	}
	for _, tt := range tests {
		err := tt.p.Check(netip.MustParseAddrPort(tt.addr), tt.allowPrivate)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Check(%s, allowPrivate=%v) = %v, want allowed", tt.addr, tt.allowPrivate, err)
			}
			continue
		}
		var r *Refusal
		if !errors.As(err, &r) {
			t.Errorf("Check(%s, allowPrivate=%v) = %v, want a refusal mentioning %q", tt.addr, tt.allowPrivate, err, tt.want)
			continue
		}
		if !strings.Contains(r.Error(), tt.want) || r.Own != tt.own {
			t.Errorf("Check(%s, allowPrivate=%v) = %q (own %v), want it to mention %q (own %v)", tt.addr, tt.allowPrivate, r, r.Own, tt.want, tt.own)
		}
		if strings.Contains(r.Error(), "%") || !strings.HasPrefix(r.Error(), "upstream address ") {
			t.Errorf("Check(%s): message %q should name the address without its zone", tt.addr, r)
		}
	}
}

// TestCheckInterfacesUnknown: when the node's addresses cannot be listed,
// a dial to the port of a listener on every address is refused.
func TestCheckInterfacesUnknown(t *testing.T) {
	p := New(nil)
	p.interfaces = func() ([]netip.Addr, error) { return nil, errors.New("no netlink") }
	p.Protect("http_addr", netip.MustParseAddrPort("0.0.0.0:80"))
	if err := p.Check(netip.MustParseAddrPort("198.51.100.1:80"), true); err == nil {
		t.Error("dial to the edge's port allowed though the node's addresses are unknown")
	}
	if err := p.Check(netip.MustParseAddrPort("198.51.100.1:81"), false); err != nil {
		t.Errorf("another port: %v", err)
	}
}

// TestCheckRealInterfaces uses the machine's own addresses: whatever they
// are, each is the node's own for a listener on every address.
func TestCheckRealInterfaces(t *testing.T) {
	p := New(nil)
	p.Protect("http_addr", netip.MustParseAddrPort("[::]:8181"))
	addrs, err := interfaceAddrs()
	if err != nil || len(addrs) == 0 {
		t.Fatalf("listing interface addresses: %v %v", addrs, err)
	}
	for _, a := range addrs {
		if err := p.Check(netip.AddrPortFrom(a, 8181), true); err == nil {
			t.Errorf("%s:8181 (an interface address) allowed", a)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	p := New(nil)
	p.Protect("admin_addr", netip.MustParseAddrPort("127.0.0.1:7070"))
	if err := p.CheckAddr(netip.MustParseAddr("::ffff:127.0.0.1"), false); err == nil {
		t.Error("loopback allowed")
	}
	if err := p.CheckAddr(netip.MustParseAddr("127.0.0.1"), true); err != nil {
		t.Errorf("override: %v", err)
	}
}

func TestParseNetworks(t *testing.T) {
	got, err := ParseNetworks([]string{"10.1.2.3/8", " 192.0.2.10 ", "fd00::/8", "::ffff:172.16.0.0/108", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.10/32", "fd00::/8", "172.16.0.0/12", "2001:db8::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("network %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "fe80::1%eth0", "::ffff:0:0/95", "10.0.0.0/8/8"} {
		if _, err := ParseNetworks([]string{bad}); err == nil {
			t.Errorf("ParseNetworks(%q) succeeded", bad)
		} else if !strings.Contains(err.Error(), "10.0.0.0/8") {
			t.Errorf("ParseNetworks(%q) = %v: the message should show an example", bad, err)
		}
	}
}

// TestControl dials for real through a net.Dialer with the policy's
// Control: a refused address never gets a connection.
func TestControl(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	p := New(nil)
	d := &net.Dialer{Control: p.Control(false)}
	_, err = d.Dial("tcp", ln.Addr().String())
	var r *Refusal
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "upstream address 127.0.0.1 is not allowed") {
		t.Fatalf("dial to loopback: %v, want a refusal", err)
	}
	// The override opens loopback…
	d.Control = p.Control(true)
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with the override: %v", err)
	}
	c.Close()
	<-accepted
	// …but not once the listener is rampart's own.
	p.Protect("admin_addr", ln.Addr().(*net.TCPAddr).AddrPort())
	if _, err := d.Dial("tcp", ln.Addr().String()); !errors.As(err, &r) || !r.Own {
		t.Fatalf("dial to an own listener with the override: %v, want a refusal", err)
	}
	select {
	case <-accepted:
		t.Error("a refused dial reached the listener")
	default:
	}
}

func FuzzParseNetworks(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::ffff:10.0.0.0/104", "fe80::%1/64", "1.2.3.4", "::/0"} {
		f.Add(s)
	}
	p := New(nil)
	f.Fuzz(func(t *testing.T, s string) {
		nets, err := ParseNetworks([]string{s})
		if err != nil {
			return
		}
		n := nets[0]
		if !n.IsValid() || n != n.Masked() || n.Addr().Is4In6() || n.Addr().Zone() != "" {
			t.Fatalf("ParseNetworks(%q) = %v: not a clean network", s, n)
		}
		// Whatever the operator allows, loopback stays out unless the
		// network lies inside loopback.
		q := New(nets)
		err = q.Check(netip.MustParseAddrPort("127.0.0.1:80"), false)
		lo := netip.MustParsePrefix("127.0.0.0/8")
		if inside := n.Contains(netip.MustParseAddr("127.0.0.1")) && n.Bits() >= 8 && lo.Contains(n.Addr()); (err == nil) != inside {
			t.Fatalf("allowed %v: Check(127.0.0.1) = %v", n, err)
		}
		_ = p.Check(netip.AddrPortFrom(n.Addr(), 80), false)
	})
}
