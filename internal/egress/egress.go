// Package egress decides which addresses the edge may open connections to
// on behalf of a service: its upstream targets.
//
// On a shared node the upstream address is chosen by tenants, and the edge
// dials it from inside the node: without a policy, a member could point a
// service at rampart's own dashboard on 127.0.0.1:7070 (and have the world
// log in through it from 127.0.0.1), at another program listening on
// loopback only, or at the cloud's metadata service (169.254.169.254) with
// its credentials. A Policy refuses those targets:
//
//   - Always, whoever configured the service: rampart's own listeners
//     (admin, metrics, debug and the edge's own), registered with
//     [Policy.Protect]. A listener bound to 0.0.0.0 or :: counts as every
//     local address with its port, loopback included.
//   - By default: loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16,
//     fe80::/10), cloud metadata addresses (169.254.169.254,
//     fd00:ec2::254, 100.100.100.200), "this host" (0.0.0.0/8, ::),
//     multicast and broadcast. IPv4-mapped IPv6 addresses
//     (::ffff:127.0.0.1) are judged as the IPv4 address they carry, and
//     zone IDs (fe80::1%eth0) are ignored.
//
// The operator's allowed networks (config upstreams.allowed_networks)
// replace "every address" as the starting point: when set, only addresses
// inside one of them are allowed. A default-forbidden range stays
// forbidden unless an allowed network lies inside it — 10.0.0.0/8 or
// 0.0.0.0/0 do not open loopback, 127.0.0.0/8 or 127.0.0.1/32 do, and only
// 169.254.169.254/32 itself opens the metadata address. So a broad
// network never opens more than it says.
//
// A service whose override is on (an admin's allow_private_upstreams) may
// dial anything but rampart's own listeners.
//
// The same Policy is asked twice: by the service layer when a service is
// saved (for every address its host names resolve to then), and by the
// edge's dialer for the address it actually connects to (see
// [Policy.Control]), because a name can resolve elsewhere later (DNS
// rebinding). The package imports only the standard library, so that both
// can use it.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A Policy decides whether an upstream address may be dialed. The zero
// value is not usable; create one with New. It is safe for concurrent use.
type Policy struct {
	// allowed is where addresses may be; never empty (New puts in the
	// whole of IPv4 and IPv6 when the operator lists nothing).
	allowed []netip.Prefix
	// configured reports whether allowed came from the operator; it
	// changes only the wording of refusals.
	configured bool

	mu    sync.RWMutex
	own   []listener
	extra []netip.Addr // node addresses not on an interface (Protect's callers' public IPs)

	// interfaces lists the node's interface addresses; a hook for tests.
	interfaces func() ([]netip.Addr, error)
	local      atomic.Pointer[localAddrs]
}

// listener is one of rampart's own listening sockets.
type listener struct {
	name string // the setting that made it, e.g. "admin_addr"
	addr netip.AddrPort
}

// localAddrs is a snapshot of the node's interface addresses.
type localAddrs struct {
	addrs map[netip.Addr]bool
	at    time.Time
}

// localTTL bounds how stale the snapshot of interface addresses may be: an
// address added to an interface is known as the node's own after at most
// this long. The snapshot is taken only when a dial goes to the port of an
// own listener bound to every address, which is rare.
const localTTL = 5 * time.Second

// forbidden are the ranges refused by default, the narrowest first, so
// that a refusal names the most specific reason.
var forbidden = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "the cloud metadata address"},
	{netip.MustParsePrefix("100.100.100.200/32"), "a cloud metadata address (Alibaba Cloud)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the cloud metadata address (AWS, IPv6)"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("::/128"), "the unspecified address (this host)"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this host\" address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// everywhere is the starting point when the operator lists no networks.
var everywhere = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}

// New returns a policy that allows the given networks (nil or empty: every
// address), minus the default-forbidden ranges that no allowed network
// lies inside (see the package documentation). Prefixes are used as
// ParseNetworks returns them.
func New(allowed []netip.Prefix) *Policy {
	p := &Policy{interfaces: interfaceAddrs}
	if len(allowed) == 0 {
		p.allowed = everywhere
	} else {
		p.allowed = append([]netip.Prefix(nil), allowed...)
		p.configured = true
	}
	return p
}

// ParseNetworks parses the operator's allowed networks: CIDRs such as
// "10.0.0.0/8" or "fd00::/8", or single addresses ("192.0.2.10" means
// 192.0.2.10/32). Host bits are cleared; IPv4-mapped IPv6 networks
// (::ffff:10.0.0.0/104) become the IPv4 network they carry.
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range list {
		s = strings.TrimSpace(s)
		p, err := parseNetwork(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a network: give a CIDR such as 10.0.0.0/8 or an IP address", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network: give a CIDR such as 10.0.0.0/8 or an IP address", s)
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q mixes IPv4-mapped and other IPv6 addresses: give the IPv4 network (e.g. 10.0.0.0/8) and the IPv6 one separately", s)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Protect registers one of rampart's own listeners, named after the
// setting that made it (e.g. "admin_addr"): no service, whatever its
// override, may dial it. For a listener bound to 0.0.0.0 or :: that is
// every local address with its port. Call it once the listener is bound,
// with the address it got (":0" picks the port only then).
func (p *Policy) Protect(name string, addr netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.own = append(p.own, listener{name: name, addr: netip.AddrPortFrom(norm(addr.Addr()), addr.Port())})
}

// AddLocal names addresses of this node that are not on one of its
// interfaces, such as a public IP that the cloud maps to a private one:
// they count as local for the own-listener rule, since a connection to
// them can come back to this node.
func (p *Policy) AddLocal(addrs ...netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range addrs {
		p.extra = append(p.extra, norm(a))
	}
}

// A Refusal says why an address may not be dialed.
type Refusal struct {
	Addr netip.AddrPort
	// Reason says what the address is, e.g. "a loopback address" or
	// "rampart's own listener admin_addr".
	Reason string
	// Own is true for rampart's own listeners, which no override opens.
	Own bool
	// Outside is true when the address is refused only because it is
	// outside the operator's allowed networks (not a default-forbidden
	// range).
	Outside bool
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("upstream address %s is not allowed: it is %s", r.Addr.Addr(), r.Reason)
}

// Check returns nil when addr may be dialed, and a *Refusal when not.
// allowPrivate is the service's override: it lifts every rule but the
// own-listener one.
func (p *Policy) Check(addr netip.AddrPort, allowPrivate bool) error {
	a := norm(addr.Addr())
	addr = netip.AddrPortFrom(a, addr.Port())
	if name, ok := p.ownListener(a, addr.Port()); ok {
		return &Refusal{Addr: addr, Reason: "rampart's own listener (" + name + "), which is never reachable through the edge", Own: true}
	}
	if allowPrivate {
		return nil
	}
	return p.checkRanges(addr)
}

// CheckAddr is Check for an address whose port does not matter yet; it
// skips the own-listener rule, which is about address and port together.
func (p *Policy) CheckAddr(a netip.Addr, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	return p.checkRanges(netip.AddrPortFrom(norm(a), 0))
}

// checkRanges applies the allowed networks and the default-forbidden
// ranges to an address from norm: it is allowed when an allowed network
// holds it and lies inside every forbidden range that holds it.
func (p *Policy) checkRanges(addr netip.AddrPort) error {
	a := addr.Addr()
	var hit []int // forbidden ranges holding a
	for i, f := range forbidden {
		if f.prefix.Contains(a) {
			hit = append(hit, i)
		}
	}
	inside := false
	for _, n := range p.allowed {
		if !n.Contains(a) {
			continue
		}
		inside = true
		ok := true
		for _, i := range hit {
			f := forbidden[i].prefix
			if n.Bits() < f.Bits() || !f.Contains(n.Addr()) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	if !inside {
		return &Refusal{Addr: addr, Reason: "outside the networks the operator allows (upstreams.allowed_networks)", Outside: true}
	}
	return &Refusal{Addr: addr, Reason: forbidden[hit[0]].what}
}

// ownListener reports whether a:port reaches one of rampart's own
// listeners, and which.
func (p *Policy) ownListener(a netip.Addr, port uint16) (string, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, l := range p.own {
		if l.addr.Port() != port {
			continue
		}
		la := l.addr.Addr()
		// Connecting to 0.0.0.0 or :: reaches the local host.
		if a == la || a.IsUnspecified() {
			return l.name, true
		}
		if la.IsUnspecified() && (a.IsLoopback() || p.isLocal(a)) {
			return l.name, true
		}
	}
	return "", false
}

// isLocal reports whether a is one of the node's addresses. p.mu is held
// for reading.
func (p *Policy) isLocal(a netip.Addr) bool {
	for _, e := range p.extra {
		if e == a {
			return true
		}
	}
	snap := p.local.Load()
	if snap == nil || time.Since(snap.at) > localTTL {
		snap = &localAddrs{addrs: map[netip.Addr]bool{}, at: time.Now()}
		addrs, err := p.interfaces()
		if err != nil {
			// Without the list, every address with the port of an
			// own listener is presumed local: refusing a dial is
			// the safe mistake.
			return true
		}
		for _, x := range addrs {
			snap.addrs[norm(x)] = true
		}
		p.local.Store(snap)
	}
	return snap.addrs[a]
}

func interfaceAddrs() ([]netip.Addr, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ifaddrs))
	for _, ia := range ifaddrs {
		if n, ok := ia.(*net.IPNet); ok {
			if a, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// norm is how every address is compared: IPv4-mapped IPv6 as the IPv4
// address it carries, without a zone.
func norm(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

// Control returns a function for net.Dialer.Control that refuses to
// connect where Check refuses. It sees the address the dialer connects to
// after name resolution, for every address it tries, so a name that
// resolves elsewhere than it did when the service was saved is caught
// here. The error is a *Refusal, wrapped by the dialer in a *net.OpError.
func (p *Policy) Control(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			// The dialer hands Control resolved numeric addresses; anything
			// else is not something the policy can vouch for.
			return fmt.Errorf("upstream address %q is not allowed: it is not an IP address and port", address)
		}
		return p.Check(ap, allowPrivate)
	}
}
