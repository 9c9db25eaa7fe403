// Package realip decides which IP address a request came from when the edge
// sits behind reverse proxies (Cloudflare, a load balancer), named after
// nginx's realip module.
//
// The TCP peer is the only address nobody can forge, so it is the answer
// unless the peer is a proxy the operator trusts. Only then are the headers
// such a proxy adds read, and only as far as they were written by trusted
// proxies: X-Forwarded-For is walked from the right (the entry the nearest
// proxy appended) to the left, skipping trusted addresses, and the first
// untrusted address is the client. Everything to the left of it was written
// by the client itself and is ignored. A client can therefore never choose
// its own address, whatever it sends, which is what the rate limiter and the
// audit log rely on.
//
// CF-Connecting-IP is read only when the peer itself is one of Cloudflare's
// addresses and the cloudflare preset is on: Cloudflare sets that header on
// every request it forwards, but another trusted proxy (a load balancer
// between Cloudflare and the edge, say) may pass on a value the client
// made up. Behind such a proxy the X-Forwarded-For walk finds the same
// client, because Cloudflare also appends to X-Forwarded-For.
//
// The standard Forwarded header (RFC 7239) is not read: the proxies this is
// for send X-Forwarded-For, and reading two headers that may disagree would
// only add ways to be fooled.
package realip

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// PresetCloudflare names Cloudflare's published proxy ranges.
const PresetCloudflare = "cloudflare"

// cloudflare holds Cloudflare's ranges as published at
// https://www.cloudflare.com/ips-v4 and https://www.cloudflare.com/ips-v6,
// checked in 2025 (the list has been stable since 2021). Should Cloudflare
// add a range, list it (or the whole current list) in trusted_proxies as
// CIDRs: the X-Forwarded-For walk then finds the client from those peers too.
var cloudflare = []string{
	// IPv4
	"173.245.48.0/20",
	"103.21.244.0/22",
	"103.22.200.0/22",
	"103.31.4.0/22",
	"141.101.64.0/18",
	"108.162.192.0/18",
	"190.93.240.0/20",
	"188.114.96.0/20",
	"197.234.240.0/22",
	"198.41.128.0/17",
	"162.158.0.0/15",
	"104.16.0.0/13",
	"104.24.0.0/14",
	"172.64.0.0/13",
	"131.0.72.0/22",
	// IPv6
	"2400:cb00::/32",
	"2606:4700::/32",
	"2803:f800::/32",
	"2405:b500::/32",
	"2405:8100::/32",
	"2a06:98c0::/29",
	"2c0f:f248::/32",
}

// Cloudflare returns Cloudflare's published proxy ranges (a fresh copy).
func Cloudflare() []netip.Prefix {
	out := make([]netip.Prefix, len(cloudflare))
	for i, s := range cloudflare {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Config says which proxies are trusted. The zero Config trusts none: every
// request's client is its TCP peer.
type Config struct {
	// Trusted are the addresses of proxies whose forwarding headers are
	// believed.
	Trusted []netip.Prefix `json:"trusted,omitempty"`
	// Presets name built-in lists of trusted proxies; the only one is
	// "cloudflare", which also enables CF-Connecting-IP.
	Presets []string `json:"presets,omitempty"`
}

// Validate checks the prefixes and preset names.
func (c Config) Validate() error {
	for _, p := range c.Trusted {
		if err := checkPrefix(p, p.String()); err != nil {
			return err
		}
	}
	for _, name := range c.Presets {
		if name != PresetCloudflare {
			return fmt.Errorf("trusted proxy preset %q is unknown: the only preset is %q", name, PresetCloudflare)
		}
	}
	return nil
}

func checkPrefix(p netip.Prefix, entry string) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("trusted proxy %q is not a valid CIDR", entry)
	case p.Addr().Zone() != "":
		return fmt.Errorf("trusted proxy %q has an IPv6 zone: leave it out", entry)
	case p != p.Masked():
		return fmt.Errorf("trusted proxy %q has bits set after the prefix length: write %s for the network, or %s for the one address",
			entry, p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	case p.Bits() == 0:
		return fmt.Errorf("trusted proxy %q trusts every address, which would let any client choose its own IP: list only your proxies' addresses", entry)
	}
	return nil
}

// ParseTrusted reads a trusted_proxies setting: each entry is a CIDR
// ("10.0.0.0/8", "2001:db8::/32"), a single address ("192.0.2.10") or a
// preset name ("cloudflare"). IPv4-mapped IPv6 forms are read as the IPv4
// they contain, and duplicates are dropped.
func ParseTrusted(entries []string) (Config, error) {
	var c Config
	for _, raw := range entries {
		e := strings.TrimSpace(raw)
		switch {
		case e == "":
			return Config{}, errors.New("trusted proxy entry is empty: give a CIDR (10.0.0.0/8), an address (192.0.2.10) or a preset (cloudflare)")
		case strings.EqualFold(e, PresetCloudflare):
			if !slices.Contains(c.Presets, PresetCloudflare) {
				c.Presets = append(c.Presets, PresetCloudflare)
			}
			continue
		}
		var p netip.Prefix
		if strings.Contains(e, "/") {
			var err error
			p, err = netip.ParsePrefix(e)
			if err != nil {
				return Config{}, fmt.Errorf("trusted proxy %q is not a valid CIDR: write it like 10.0.0.0/8 or 2001:db8::/32", e)
			}
		} else {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return Config{}, fmt.Errorf("trusted proxy %q is not an IP address, a CIDR or a preset: use e.g. 192.0.2.10, 10.0.0.0/8 or %s", e, PresetCloudflare)
			}
			if a.Zone() != "" {
				// PrefixFrom would drop the zone silently.
				return Config{}, fmt.Errorf("trusted proxy %q has an IPv6 zone: leave it out", e)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err := checkPrefix(p, e); err != nil {
			return Config{}, err
		}
		p = unmapPrefix(p)
		if !slices.Contains(c.Trusted, p) {
			c.Trusted = append(c.Trusted, p)
		}
	}
	return c, nil
}

// unmapPrefix turns ::ffff:10.0.0.0/104 into 10.0.0.0/8, so that it matches
// peers, which are unmapped before lookup.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}

// Resolver finds the client address of requests. Create it with [New]; a
// nil *Resolver trusts no proxy. It is immutable and safe for concurrent
// use.
type Resolver struct {
	trusted    ranges
	cloudflare ranges // empty unless the cloudflare preset is on
}

// New compiles cfg into a Resolver.
func New(cfg Config) (*Resolver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prefixes := slices.Clone(cfg.Trusted)
	r := &Resolver{}
	if slices.Contains(cfg.Presets, PresetCloudflare) {
		cf := Cloudflare()
		r.cloudflare = makeRanges(cf)
		prefixes = append(prefixes, cf...)
	}
	r.trusted = makeRanges(prefixes)
	return r, nil
}

// Trusted reports whether a is the address of a trusted proxy.
func (r *Resolver) Trusted(a netip.Addr) bool {
	return r != nil && r.trusted.contains(a.Unmap())
}

// ClientIP returns the address of the client that made req, with
// IPv4-mapped addresses unmapped and zones removed, or the zero Addr when
// RemoteAddr is not an address (a Unix socket, a test).
//
// When the TCP peer is not a trusted proxy, that is the answer and no header
// is looked at; this path does not allocate. When it is trusted:
// CF-Connecting-IP if the peer is Cloudflare (see the package doc), else the
// first untrusted address in X-Forwarded-For counted from the right, across
// all X-Forwarded-For lines in order. An entry that is not an address stops
// the walk and the peer is the answer: what lies beyond it cannot be
// vouched for, and blaming the proxy is safer than believing the client.
// When every entry is trusted, the leftmost one is the client (a request
// from inside the trusted network); without X-Forwarded-For it is the peer.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer, ok := parseHostPort(req.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !r.Trusted(peer) {
		return peer
	}
	if r.cloudflare.contains(peer) {
		if v := req.Header["Cf-Connecting-Ip"]; len(v) == 1 {
			if a, ok := parseHostPort(strings.TrimSpace(v[0])); ok {
				return a
			}
		}
	}
	return r.walk(peer, req.Header["X-Forwarded-For"])
}

// walk implements the X-Forwarded-For rule of ClientIP on the header's
// lines.
func (r *Resolver) walk(peer netip.Addr, lines []string) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" {
				continue // empty list elements are allowed (RFC 9110 §5.6.1)
			}
			a, ok := parseHostPort(entry)
			if !ok {
				return peer
			}
			if !r.trusted.contains(a) {
				return a
			}
			client = a
		}
	}
	return client
}

// parseHostPort reads an address as proxies write it: "192.0.2.1",
// "2001:db8::1", "192.0.2.1:5678", "[2001:db8::1]:443" or "[2001:db8::1]",
// unmapped and without zone. It picks the parser by shape rather than
// trying one after another, because a failed parse allocates its error and
// RemoteAddr ("ip:port") must not cost an allocation.
func parseHostPort(s string) (netip.Addr, bool) {
	var a netip.Addr
	var err error
	switch {
	case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
		a, err = netip.ParseAddr(s[1 : len(s)-1])
	case len(s) > 0 && s[0] == '[', strings.Count(s, ":") == 1:
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	default:
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// ranges is a set of addresses kept as sorted, merged intervals, so that a
// lookup is a binary search whatever the number of prefixes (Cloudflare
// alone has 22) and never allocates.
type ranges struct {
	v4 []span[u32]
	v6 []span[u128]
}

// ordered is what a span's bounds need: a comparison.
type ordered[T any] interface{ less(T) bool }

type span[T ordered[T]] struct{ lo, hi T }

type u32 uint32

func (a u32) less(b u32) bool { return a < b }

func u32From(a netip.Addr) u32 {
	b := a.As4()
	return u32(b[0])<<24 | u32(b[1])<<16 | u32(b[2])<<8 | u32(b[3])
}

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

// next returns a+1, and whether it did not wrap around.
func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	return u128{a.hi + 1, 0}, a.hi != ^uint64(0)
}

func u128From(a netip.Addr) u128 {
	b := a.As16()
	var x u128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

// lastOf6 returns the highest address of the prefix whose first address is
// lo and whose length is bits.
func lastOf6(lo u128, bits int) u128 {
	host := 128 - bits
	switch {
	case host >= 64:
		return u128{lo.hi | (^uint64(0) >> (128 - host)), ^uint64(0)}
	case host > 0:
		return u128{lo.hi, lo.lo | (^uint64(0) >> (64 - host))}
	}
	return lo
}

func makeRanges(prefixes []netip.Prefix) ranges {
	var r ranges
	for _, p := range prefixes {
		p = unmapPrefix(p).Masked()
		switch {
		case p.Addr().Is4():
			lo := u32From(p.Addr())
			hi := lo
			if host := 32 - p.Bits(); host > 0 {
				hi = lo | (^u32(0) >> (32 - host))
			}
			r.v4 = append(r.v4, span[u32]{lo, hi})
		case p.Addr().Is6():
			lo := u128From(p.Addr())
			r.v6 = append(r.v6, span[u128]{lo, lastOf6(lo, p.Bits())})
		}
	}
	r.v4 = merge(r.v4, func(a u32) (u32, bool) { return a + 1, a != ^u32(0) })
	r.v6 = merge(r.v6, u128.next)
	return r
}

// merge sorts spans and joins the ones that overlap or touch.
func merge[T ordered[T]](s []span[T], next func(T) (T, bool)) []span[T] {
	slices.SortFunc(s, func(a, b span[T]) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, sp := range s {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if after, ok := next(last.hi); !ok || !after.less(sp.lo) {
				if last.hi.less(sp.hi) {
					last.hi = sp.hi
				}
				continue
			}
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

func (r *ranges) contains(a netip.Addr) bool {
	switch {
	case a.Is4():
		return find(r.v4, u32From(a))
	case a.Is6():
		return find(r.v6, u128From(a))
	}
	return false
}

// find reports whether x is in one of the sorted, disjoint spans s.
func find[T ordered[T]](s []span[T], x T) bool {
	i, j := 0, len(s)
	for i < j {
		h := int(uint(i+j) >> 1)
		if !x.less(s[h].lo) { // s[h].lo <= x
			i = h + 1
		} else {
			j = h
		}
	}
	return i > 0 && !s[i-1].hi.less(x)
}
