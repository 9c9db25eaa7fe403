package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rule opens a port or a range of ports of one protocol to a list of
// sources.
type Rule struct {
	Proto    Proto  `json:"proto"`
	PortFrom uint16 `json:"port_from"` // first port, 1-65535
	PortTo   uint16 `json:"port_to"`   // last port, inclusive; equal to PortFrom for one port
	// Sources lists who may connect. Empty means anyone, over IPv4 and
	// IPv6; AnyIPv4 or AnyIPv6 alone opens the port over that family
	// only. Keep it in the form NormalizeSources gives.
	Sources []netip.Prefix `json:"sources"`
	Comment string         `json:"comment,omitempty"`
}

// ParseRule parses a rule from its typed parts, the way the dashboard's
// form and the CLI's flags give them. notes say how the sources were
// normalised.
func ParseRule(proto, ports, sources, comment string) (r Rule, notes []string, err error) {
	if r.Proto, err = ParseProto(proto); err != nil {
		return Rule{}, nil, err
	}
	if r.PortFrom, r.PortTo, err = ParsePorts(ports); err != nil {
		return Rule{}, nil, err
	}
	if r.Sources, notes, err = ParseSources(sources); err != nil {
		return Rule{}, nil, err
	}
	r.Comment = strings.TrimSpace(comment)
	if err := r.Validate(); err != nil {
		return Rule{}, nil, err
	}
	return r, notes, nil
}

// Validate checks one rule as it would be applied: a known protocol, an
// ordered range of real ports, sources in normal form and within bounds,
// and a short, printable comment.
func (r Rule) Validate() error {
	if r.Proto != TCP && r.Proto != UDP {
		return invalid("unknown protocol %q: use tcp or udp", clip(string(r.Proto)))
	}
	if r.PortFrom == 0 || r.PortTo == 0 {
		return invalid("port 0 cannot be opened: ports go from 1 to 65535")
	}
	if r.PortTo < r.PortFrom {
		return invalid("port range %d-%d is reversed: write %d-%d", r.PortFrom, r.PortTo, r.PortTo, r.PortFrom)
	}
	if len(r.Sources) > MaxSources {
		return invalid("%s lists %d sources: a rule takes at most %d; use wider networks (CIDRs) or split the rule by port", r.Name(), len(r.Sources), MaxSources)
	}
	for i, p := range r.Sources {
		if !p.IsValid() {
			return invalid("%s: source %d is not a valid network", r.Name(), i+1)
		}
	}
	if n, notes := NormalizeSources(r.Sources); !slices.Equal(n, r.Sources) {
		why := "they are not sorted"
		if len(notes) > 0 {
			why = notes[0]
		}
		return invalid("%s: sources are not in normal form (%s); parse them with ParseSources or pass them through NormalizeSources", r.Name(), why)
	}
	if n := utf8.RuneCountInString(r.Comment); n > MaxComment {
		return invalid("comment of %s is %d characters long: keep it to %d at most", r.Name(), n, MaxComment)
	}
	if !utf8.ValidString(r.Comment) || strings.IndexFunc(r.Comment, unicode.IsControl) >= 0 {
		return invalid("comment of %s has control characters or invalid UTF-8: use one line of text", r.Name())
	}
	return nil
}

// Name is how messages refer to the rule: "8000-8100/tcp".
func (r Rule) Name() string { return FormatPorts(r.PortFrom, r.PortTo) + "/" + string(r.Proto) }

// String describes the rule in one line, in the words the dashboard uses:
// "443/tcp from any", "22/tcp from 203.0.113.0/24 (office)".
func (r Rule) String() string {
	s := r.Name() + " from " + FormatSources(r.Sources)
	if r.Comment != "" {
		s += " (" + r.Comment + ")"
	}
	return s
}

// Overlaps reports whether the two rules open some same port of the same
// protocol. The ruleset refuses such pairs: which sources may reach the
// shared ports would depend on rule order, which nobody should have to
// work out.
func (r Rule) Overlaps(o Rule) bool {
	return r.Proto == o.Proto && r.PortFrom <= o.PortTo && o.PortFrom <= r.PortTo
}

// AdmitsIPv4 and AdmitsIPv6 report whether the rule admits any source of
// that family.
func (r Rule) AdmitsIPv4() bool { return len(r.Sources) == 0 || r.Sources[0].Addr().Is4() }

// AdmitsIPv6 reports whether the rule admits any IPv6 source.
func (r Rule) AdmitsIPv6() bool {
	return len(r.Sources) == 0 || r.Sources[len(r.Sources)-1].Addr().Is6()
}

// Admits reports whether a connection from addr is let through by this
// rule's sources (not its port).
func (r Rule) Admits(addr netip.Addr) bool {
	if len(r.Sources) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range r.Sources {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Validate checks a whole ruleset: each rule, the number of rules, and
// that no two rules open a same port of the same protocol. An error names
// the colliding rules by position (1-based, as the dashboard lists them)
// and by what they open.
func Validate(rs []Rule) error {
	if len(rs) > MaxRules {
		return invalid("%d rules: a node takes at most %d; merge ports into ranges or sources into networks", len(rs), MaxRules)
	}
	total := 0
	for i, r := range rs {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rule %d: %w", i+1, err)
		}
		total += len(r.Sources)
	}
	if total > MaxTotalSources {
		return invalid("the rules list %d sources in all: a node takes at most %d; use wider networks (CIDRs)", total, MaxTotalSources)
	}
	// Sorting by start makes overlap detection one pass; the indices are
	// kept for the message.
	type at struct {
		r Rule
		i int
	}
	byProto := map[Proto][]at{}
	for i, r := range rs {
		byProto[r.Proto] = append(byProto[r.Proto], at{r, i})
	}
	for _, proto := range []Proto{TCP, UDP} {
		list := byProto[proto]
		if len(list) == 0 {
			continue
		}
		slices.SortStableFunc(list, func(a, b at) int { return int(a.r.PortFrom) - int(b.r.PortFrom) })
		far := list[0]
		// Each rule is compared with the earlier rule that reaches
		// furthest, so a short range after a long one does not hide the
		// long one.
		for _, cur := range list[1:] {
			if far.r.Overlaps(cur.r) {
				a, b := far, cur
				if a.i > b.i {
					a, b = b, a
				}
				if a.r.PortFrom == b.r.PortFrom && a.r.PortTo == b.r.PortTo {
					return invalid("rules %d and %d both open %s: merge their sources into one rule", a.i+1, b.i+1, a.r.Name())
				}
				return invalid("rules %d (%s) and %d (%s) overlap: a port may belong to one rule only; split the ranges so they do not share ports", a.i+1, a.r.Name(), b.i+1, b.r.Name())
			}
			if cur.r.PortTo > far.r.PortTo {
				far = cur
			}
		}
	}
	return nil
}

// RequireMandatory checks that every mandatory known port (22/tcp) is
// opened by some rule, to some sources at least: a ruleset without it
// would lock the operator out of the machine. The service layer refuses
// such a change, and enforcement refuses to apply it, in case anything
// gets past.
func RequireMandatory(rs []Rule) error {
	for _, k := range KnownPorts {
		if !k.Mandatory {
			continue
		}
		if !slices.ContainsFunc(rs, func(r Rule) bool { return r.Proto == k.Proto && r.PortFrom <= k.Port && k.Port <= r.PortTo }) {
			return invalid("no rule opens %d/%s (%s): it is mandatory, because without it nobody can reach the machine over SSH; restrict its sources instead of removing it", k.Port, k.Proto, k.Name)
		}
	}
	return nil
}
