package ratelimit

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// allowSet is an allow-list compiled into sorted, merged address ranges, so
// that a lookup is a binary search whatever the length of the list.
type allowSet struct {
	v4 []span4
	v6 []span6
}

type span4 struct{ lo, hi uint32 }

type span6 struct{ lo, hi u128 }

type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// next returns a+1, wrapping at the top.
func (a u128) next() u128 {
	a.lo++
	if a.lo == 0 {
		a.hi++
	}
	return a
}

// newAllowSet compiles valid, masked prefixes (see Config.Validate).
func newAllowSet(prefixes []netip.Prefix) allowSet {
	var s allowSet
	for _, p := range prefixes {
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		if a.Is4() {
			b := a.As4()
			lo := binary.BigEndian.Uint32(b[:])
			host := uint32(uint64(1)<<(32-bits) - 1)
			s.v4 = append(s.v4, span4{lo, lo | host})
			continue
		}
		b := a.As16()
		lo := u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
		hi := lo
		switch {
		case bits <= 64:
			hi.hi |= ^uint64(0) >> bits // >>64 is 0 in Go
			hi.lo = ^uint64(0)
		default:
			hi.lo |= ^uint64(0) >> (bits - 64)
		}
		s.v6 = append(s.v6, span6{lo, hi})
	}
	slices.SortFunc(s.v4, func(a, b span4) int { return cmp.Compare(a.lo, b.lo) })
	slices.SortFunc(s.v6, func(a, b span6) int { return a.lo.cmp(b.lo) })
	s.v4 = merge4(s.v4)
	s.v6 = merge6(s.v6)
	return s
}

// merge4 joins overlapping and adjacent sorted spans.
func merge4(in []span4) []span4 {
	out := in[:0]
	for _, sp := range in {
		if n := len(out); n > 0 && (out[n-1].hi == ^uint32(0) || sp.lo <= out[n-1].hi+1) {
			out[n-1].hi = max(out[n-1].hi, sp.hi)
			continue
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

func merge6(in []span6) []span6 {
	out := in[:0]
	for _, sp := range in {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.hi == (u128{^uint64(0), ^uint64(0)}) || sp.lo.cmp(last.hi.next()) <= 0 {
				if sp.hi.cmp(last.hi) > 0 {
					last.hi = sp.hi
				}
				continue
			}
		}
		out = append(out, sp)
	}
	return slices.Clip(out)
}

// contains reports whether c's address is in the set.
func (s *allowSet) contains(c client) bool {
	if c.v4 {
		x := uint32(c.lo)
		// The last span that starts at or before x.
		i, j := 0, len(s.v4)
		for i < j {
			h := int(uint(i+j) >> 1)
			if s.v4[h].lo <= x {
				i = h + 1
			} else {
				j = h
			}
		}
		return i > 0 && x <= s.v4[i-1].hi
	}
	x := u128{c.hi, c.lo}
	i, j := 0, len(s.v6)
	for i < j {
		h := int(uint(i+j) >> 1)
		if s.v6[h].lo.cmp(x) <= 0 {
			i = h + 1
		} else {
			j = h
		}
	}
	return i > 0 && x.cmp(s.v6[i-1].hi) <= 0
}

func (s *allowSet) empty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }
