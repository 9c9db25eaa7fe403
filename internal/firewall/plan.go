package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rampart-dev/rampart/internal/firewall/rules"
)

// Ruleset is what a node enforces: its rules, already validated by the
// service layer (Apply validates them again; nothing invalid reaches the
// kernel).
type Ruleset struct {
	Rules []rules.Rule
}

// Validate checks the ruleset as Apply and Render would: valid rules that
// do not collide, within bounds, and 22/tcp open to someone.
func (rs Ruleset) Validate() error {
	if err := rules.Validate(rs.Rules); err != nil {
		return err
	}
	return rules.RequireMandatory(rs.Rules)
}

// plan is a ruleset compiled to the shape of rampart's table. Because no
// two rules share a port of the same protocol (rules.Validate refuses
// that), each protocol's ports map to exactly one verdict: accept for a
// rule open to everyone, or a jump to the rule's own chain, which looks the
// source up in the rule's interval sets. A packet therefore costs one
// lookup in the port map and at most one in a source set, whatever the
// number of rules and sources.
type plan struct {
	ports      map[rules.Proto][]portEntry // sorted by first port
	restricted []restricted                // in port order, TCP first
}

type portEntry struct {
	from, to uint16
	chain    string // "" means accept
}

// restricted is a rule that admits some sources only: its chain accepts
// the whole of a family (any4, any6) or looks the source up in that
// family's set.
type restricted struct {
	chain      string
	rule       rules.Rule
	any4, any6 bool
	v4, v6     []addrRange
}

func (r restricted) set4() string { return r.chain + "_v4" }
func (r restricted) set6() string { return r.chain + "_v6" }

// addrRange is an inclusive range of addresses of one family.
type addrRange struct{ from, to netip.Addr }

func compile(rs Ruleset) (*plan, error) {
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	p := &plan{ports: map[rules.Proto][]portEntry{}}
	sorted := slices.Clone(rs.Rules)
	slices.SortFunc(sorted, func(a, b rules.Rule) int {
		if c := strings.Compare(string(a.Proto), string(b.Proto)); c != 0 {
			return c
		}
		return int(a.PortFrom) - int(b.PortFrom)
	})
	for _, r := range sorted {
		e := portEntry{from: r.PortFrom, to: r.PortTo}
		if len(r.Sources) > 0 {
			// Chain names are identifiers nft accepts unquoted and are
			// unique because rules do not overlap.
			x := restricted{chain: fmt.Sprintf("%s_%d_%d", r.Proto, r.PortFrom, r.PortTo), rule: r}
			for _, s := range r.Sources {
				switch {
				case s == rules.AnyIPv4:
					x.any4 = true
				case s == rules.AnyIPv6:
					x.any6 = true
				case s.Addr().Is4():
					x.v4 = appendRange(x.v4, s)
				default:
					x.v6 = appendRange(x.v6, s)
				}
			}
			e.chain = x.chain
			p.restricted = append(p.restricted, x)
		}
		p.ports[r.Proto] = append(p.ports[r.Proto], e)
	}
	return p, nil
}

// appendRange adds a prefix to sorted, disjoint ranges, merging it with the
// last one when they touch: the kernel's interval sets refuse overlapping
// elements, and fewer elements apply faster.
func appendRange(rs []addrRange, p netip.Prefix) []addrRange {
	r := addrRange{p.Masked().Addr(), lastAddr(p)}
	if n := len(rs); n > 0 && rs[n-1].to.Next() == r.from {
		rs[n-1].to = r.to
		return rs
	}
	return append(rs, r)
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ICMP and ICMPv6 types a working network needs, by the names nft uses:
// errors (so path MTU discovery and unreachable notices work), echo (so
// the host can be pinged), and for IPv6 neighbour and router discovery,
// without which IPv6 does not work at all.
var (
	icmpTypes = []namedType{
		{0, "echo-reply"}, {3, "destination-unreachable"}, {8, "echo-request"},
		{11, "time-exceeded"}, {12, "parameter-problem"},
	}
	icmpv6Types = []namedType{
		{1, "destination-unreachable"}, {2, "packet-too-big"}, {3, "time-exceeded"},
		{4, "parameter-problem"}, {128, "echo-request"}, {129, "echo-reply"},
		{133, "nd-router-solicit"}, {134, "nd-router-advert"},
		{135, "nd-neighbor-solicit"}, {136, "nd-neighbor-advert"},
	}
)

type namedType struct {
	code byte
	name string
}

func typeNames(ts []namedType) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

// Render prints the ruleset in nft syntax, exactly as Apply would load it:
// `nft -f` accepts the output and builds the same table. It needs no
// netlink and no privileges, so it also shows the plan when enforcement is
// off.
func Render(rs Ruleset) (string, error) {
	p, err := compile(rs)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("\t", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	w(0, "# rampart's firewall: %d rules. Inbound traffic is dropped unless a rule", len(rs.Rules))
	w(0, "# admits it; forwarded connections to published (DNAT'd) ports obey the same")
	w(0, "# rules. Other tables are left alone.")
	for i, r := range rs.Rules {
		w(0, "#   %d. %s", i+1, summary(r))
	}
	w(0, "table inet %s {", TableName)
	for _, proto := range []rules.Proto{rules.TCP, rules.UDP} {
		w(1, "map %s_ports {", proto)
		w(2, "type inet_service : verdict")
		w(2, "flags interval")
		if es := p.ports[proto]; len(es) > 0 {
			items := make([]string, len(es))
			for i, e := range es {
				v := "accept"
				if e.chain != "" {
					v = "jump " + e.chain
				}
				items[i] = rules.FormatPorts(e.from, e.to) + " : " + v
			}
			w(2, "elements = { %s }", strings.Join(items, ", "))
		}
		w(1, "}")
	}
	set := func(name, typ string, rs []addrRange) {
		w(1, "set %s {", name)
		w(2, "type %s", typ)
		w(2, "flags interval")
		if len(rs) > 0 {
			items := make([]string, len(rs))
			for i, r := range rs {
				items[i] = formatRange(r)
			}
			w(2, "elements = { %s }", strings.Join(items, ", "))
		}
		w(1, "}")
	}
	for _, x := range p.restricted {
		if len(x.v4) > 0 {
			set(x.set4(), "ipv4_addr", x.v4)
		}
		if len(x.v6) > 0 {
			set(x.set6(), "ipv6_addr", x.v6)
		}
	}
	w(1, "set icmp_types {")
	w(2, "type icmp_type")
	w(2, "elements = { %s }", typeNames(icmpTypes))
	w(1, "}")
	w(1, "set icmpv6_types {")
	w(2, "type icmpv6_type")
	w(2, "elements = { %s }", typeNames(icmpv6Types))
	w(1, "}")
	for _, x := range p.restricted {
		w(1, "chain %s {", x.chain)
		w(2, "# %s", summary(x.rule))
		if x.any4 {
			w(2, "meta nfproto ipv4 accept")
		}
		if len(x.v4) > 0 {
			w(2, "ip saddr @%s accept", x.set4())
		}
		if x.any6 {
			w(2, "meta nfproto ipv6 accept")
		}
		if len(x.v6) > 0 {
			w(2, "ip6 saddr @%s accept", x.set6())
		}
		w(1, "}")
	}
	w(1, "chain input {")
	w(2, "type filter hook input priority filter; policy drop;")
	w(2, `iifname "lo" accept`)
	w(2, "ct state established,related accept")
	w(2, "ct state invalid drop")
	w(2, "icmp type @icmp_types accept")
	w(2, "icmpv6 type @icmpv6_types accept")
	w(2, "# DHCPv6 replies to this host's client: conntrack cannot tie them to")
	w(2, "# the multicast request, and without them IPv6 leases are not renewed.")
	w(2, "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept")
	w(2, "tcp dport vmap @tcp_ports")
	w(2, "udp dport vmap @udp_ports")
	w(1, "}")
	// Chains are listed in the order Apply creates them, which is the
	// order nft lists them in.
	w(1, "chain published {")
	w(2, "# Connections DNAT'd to a published port, by the port the client asked for.")
	w(2, "meta l4proto tcp ct original proto-dst vmap @tcp_ports")
	w(2, "meta l4proto udp ct original proto-dst vmap @udp_ports")
	w(2, "drop")
	w(1, "}")
	w(1, "chain forward {")
	w(2, "type filter hook forward priority filter; policy accept;")
	w(2, "# Only connections DNAT'd to this host's published ports are filtered;")
	w(2, "# routing of everything else is left as it was.")
	w(2, "ct state established,related accept")
	w(2, "ct status dnat jump published")
	w(1, "}")
	w(0, "}")
	return b.String(), nil
}

func formatRange(r addrRange) string {
	if r.from == r.to {
		return r.from.String()
	}
	// A range that is exactly a network prints as one, as nft does.
	for bits := 0; bits <= r.from.BitLen(); bits++ {
		p := netip.PrefixFrom(r.from, bits)
		if p.Masked().Addr() == r.from && lastAddr(p) == r.to {
			return p.String()
		}
	}
	return r.from.String() + "-" + r.to.String()
}

// summary describes a rule in one line of reasonable length: a rule with
// thousands of sources shows how many, and the sets below list them.
func summary(r rules.Rule) string {
	if len(r.Sources) <= 4 {
		return r.String()
	}
	s := fmt.Sprintf("%s from %d sources", r.Name(), len(r.Sources))
	if r.Comment != "" {
		s += " (" + r.Comment + ")"
	}
	return s
}
