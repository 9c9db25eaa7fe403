// Package rules is the firewall's rule model and the parser for what people
// type into the dashboard, the CLI and the API: protocols, ports and port
// ranges, and lists of source addresses.
//
// It uses the standard library only, because the root package (the domain
// types), the service layer and the API client all import it, and
// internal/firewall compiles its rules to nftables. Every bound lives here
// once, so that what the service layer accepts is exactly what enforcement
// can apply.
//
// Everything that parses outside input reports errors that wrap ErrInvalid,
// and names the offending part and what to type instead.
package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds, defined once for the service layer and enforcement alike.
const (
	// MaxSources is how many addresses or networks one rule may list:
	// enough for a provider's published ranges, small enough that a
	// ruleset stays quick to apply (10,000 sources apply in well under a
	// second, see internal/firewall's benchmarks).
	MaxSources = 10000
	// MaxTotalSources bounds the sources of all rules together, so that
	// a whole ruleset still applies in well under a second.
	MaxTotalSources = 50000
	// MaxComment is the longest comment, in characters: a label, not a
	// document; nftables keeps comments in 256-byte userdata.
	MaxComment = 128
	// MaxRules bounds the rules of one node. The packet path does not
	// grow with it (rules compile to sets), but the dashboard's table and
	// the apply batch do.
	MaxRules = 1000
)

// ErrInvalid is wrapped by every error this package returns for bad input,
// so that callers can map them to a 400 without string matching.
var ErrInvalid = errors.New("invalid firewall rule")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Proto is a transport protocol a rule opens: TCP or UDP.
type Proto string

// The protocols a rule can open. ICMP is not a rule: the ruleset always
// admits the ICMP and ICMPv6 types a working network needs.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// ParseProto accepts "tcp" or "udp", in any case and with surrounding
// spaces.
func ParseProto(s string) (Proto, error) {
	switch p := Proto(strings.ToLower(strings.TrimSpace(s))); p {
	case TCP, UDP:
		return p, nil
	case "":
		return "", invalid("protocol is missing: use tcp or udp")
	default:
		return "", invalid("unknown protocol %q: use tcp or udp", clip(s))
	}
}

// ParsePorts parses one port ("80") or an inclusive range ("8000-8100").
// Port 0 is refused (it is not a port anything listens on), so are ports
// above 65535 and reversed ranges.
func ParsePorts(s string) (from, to uint16, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, invalid("port is missing: give a port such as 443 or a range such as 8000-8100")
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if from, err = parsePort(lo, s); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return from, from, nil
	}
	if to, err = parsePort(hi, s); err != nil {
		return 0, 0, err
	}
	if to < from {
		return 0, 0, invalid("port range %q is reversed: write %d-%d", s, to, from)
	}
	return from, to, nil
}

func parsePort(s, whole string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, invalid("%q is not a port or a port range: use a number from 1 to 65535, or two joined by a dash (8000-8100)", clip(whole))
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > 65535 {
		return 0, invalid("port %s is out of range: ports go from 1 to 65535", clip(s))
	}
	if n == 0 {
		return 0, invalid("port 0 cannot be opened: ports go from 1 to 65535")
	}
	return uint16(n), nil
}

// FormatPorts is the inverse of ParsePorts: "80" or "8000-8100".
func FormatPorts(from, to uint16) string {
	if from == to {
		return strconv.Itoa(int(from))
	}
	return fmt.Sprintf("%d-%d", from, to)
}

// Any IPv4 and any IPv6 address, as sources. A rule whose Sources are empty
// admits both; one that lists AnyIPv4 alone admits all of IPv4 and no IPv6.
var (
	AnyIPv4 = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	AnyIPv6 = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
)

// ParseSources parses a list of sources separated by commas, spaces or
// newlines: addresses (198.51.100.7, 2001:db8::1), networks in CIDR
// notation (203.0.113.0/24), and the words "any" (every address),
// "any4"/"ipv4" (every IPv4 address) and "any6"/"ipv6" (every IPv6
// address). An empty list means any address.
//
// The result is normalised, and each change is reported in notes so that
// the person who typed it can see what will be applied: host bits set in a
// network are cleared (203.0.113.7/24 becomes 203.0.113.0/24), IPv4-mapped
// IPv6 addresses become IPv4, duplicates and networks inside another listed
// network are dropped, and a list that covers all of IPv4 and IPv6 becomes
// "any" (nil). The order is canonical (IPv4 first, by address), so that two
// lists with the same meaning compare equal.
func ParseSources(s string) (sources []netip.Prefix, notes []string, err error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(fields) > MaxSources {
		return nil, nil, invalid("%d sources listed: a rule takes at most %d; use wider networks (CIDRs) or split the rule by port", len(fields), MaxSources)
	}
	out := make([]netip.Prefix, 0, len(fields))
	for _, f := range fields {
		switch strings.ToLower(f) {
		case "any", "all", "*":
			out = append(out, AnyIPv4, AnyIPv6)
			continue
		case "any4", "ipv4", "any-ipv4":
			out = append(out, AnyIPv4)
			continue
		case "any6", "ipv6", "any-ipv6":
			out = append(out, AnyIPv6)
			continue
		}
		p, note, err := parseSource(f)
		if err != nil {
			return nil, nil, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		out = append(out, p)
	}
	out, more := NormalizeSources(out)
	return out, append(notes, more...), nil
}

func parseSource(f string) (netip.Prefix, string, error) {
	if !strings.Contains(f, "/") {
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" { // a zone names a link, not a source
			return netip.Prefix{}, "", invalid("%q is not an IP address or a network: write 198.51.100.7, 2001:db8::1 or 203.0.113.0/24", clip(f))
		}
		note := ""
		if a.Is4In6() {
			note = fmt.Sprintf("%s is an IPv4 address written as IPv6: using %s", f, a.Unmap())
			a = a.Unmap()
		}
		return netip.PrefixFrom(a, a.BitLen()), note, nil
	}
	p, err := netip.ParsePrefix(f)
	if err != nil {
		return netip.Prefix{}, "", invalid("%q is not a network in CIDR notation: write it as address/length, such as 203.0.113.0/24 or 2001:db8::/32", clip(f))
	}
	var notes []string
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, "", invalid("%q mixes IPv4-mapped IPv6 with a length under 96: write the IPv4 network instead", clip(f))
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		notes = append(notes, fmt.Sprintf("%s is an IPv4 network written as IPv6: using %s", f, p))
	}
	if m := p.Masked(); m != p {
		notes = append(notes, fmt.Sprintf("%s has host bits set: using the network %s", p, m))
		p = m
	}
	return p, strings.Join(notes, "; "), nil
}

// NormalizeSources puts sources into their canonical form and says what it
// changed: prefixes masked and unmapped, duplicates and networks contained
// in another dropped, sorted IPv4 first, and nil when they cover every
// IPv4 and IPv6 address. Invalid prefixes are kept for Validate to refuse.
func NormalizeSources(in []netip.Prefix) (out []netip.Prefix, notes []string) {
	ps := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if p.IsValid() {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				q := netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
				notes = append(notes, fmt.Sprintf("%s is IPv4 written as IPv6: using %s", p, q))
				p = q
			}
			if m := p.Masked(); m != p {
				notes = append(notes, fmt.Sprintf("%s has host bits set: using the network %s", p, m))
				p = m
			}
		}
		ps = append(ps, p)
	}
	// Sorting by address, then by shorter prefix first, puts every network
	// right before the networks it contains.
	slices.SortFunc(ps, comparePrefix)
	out = ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].IsValid() && p.IsValid() && out[n-1].Overlaps(p) {
			// out[n-1] starts at or before p and is no longer, so it
			// contains p.
			if out[n-1] == p {
				notes = append(notes, fmt.Sprintf("%s is listed twice: keeping one", FormatSources([]netip.Prefix{p})))
			} else {
				notes = append(notes, fmt.Sprintf("%s is inside %s: dropped", FormatSources([]netip.Prefix{p}), FormatSources([]netip.Prefix{out[n-1]})))
			}
			continue
		}
		out = append(out, p)
	}
	if len(out) == 2 && out[0] == AnyIPv4 && out[1] == AnyIPv6 || len(out) == 0 {
		return nil, notes
	}
	return out, notes
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// FormatSources is the inverse of ParseSources for a normalised list: "any"
// for nil, "any4" and "any6" for the whole of one family, addresses without
// a length, networks in CIDR notation, joined by ", ".
func FormatSources(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "any"
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case p == AnyIPv4:
			b.WriteString("any4")
		case p == AnyIPv6:
			b.WriteString("any6")
		case p.IsSingleIP():
			b.WriteString(p.Addr().String())
		default:
			b.WriteString(p.String())
		}
	}
	return b.String()
}

// clip keeps an echoed input short enough for an error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
