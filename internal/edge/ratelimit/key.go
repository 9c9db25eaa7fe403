package ratelimit

import (
	"encoding/binary"
	"net/netip"
)

// A client key is 8 bytes: an IPv6 client's /64 prefix is 64 bits, an IPv4
// address 32. IPv4 keys carry all ones in their upper half. The only IPv6
// /64s that look the same are in ffff:ffff::/32, which is multicast space
// and never the source of a request.
const v4Tag = 0xffff_ffff << 32

// client is an address split the way the limiter uses it.
type client struct {
	v4     bool
	hi, lo uint64 // the 128-bit IPv6 address; for IPv4, lo holds the address
}

// clientOf splits a. ok is false for the zero Addr.
func clientOf(a netip.Addr) (c client, ok bool) {
	switch {
	case !a.IsValid():
		return client{}, false
	case a.Is4(), a.Is4In6():
		b := a.As16()
		return client{v4: true, lo: uint64(binary.BigEndian.Uint32(b[12:]))}, true
	default:
		b := a.As16()
		return client{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}, true
	}
}

// key is the map key of c: the IPv4 address, or the IPv6 /64.
func (c client) key() uint64 {
	if c.v4 {
		return v4Tag | c.lo
	}
	return c.hi
}

// keyPrefix turns a key back into the network it stands for.
func keyPrefix(k uint64) netip.Prefix {
	if k&v4Tag == v4Tag {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(k))
		return netip.PrefixFrom(netip.AddrFrom4(b), 32)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], k)
	return netip.PrefixFrom(netip.AddrFrom16(b), 64)
}

// mix scrambles a key (with the limiter's random seed) to pick its shard,
// so that neither a sequential spray nor a chosen set of addresses lands
// in one shard. It is the 64-bit finalizer of MurmurHash3.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
