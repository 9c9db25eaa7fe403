package rampart

import (
	"net/netip"
	"strings"
)

// InternalDomains are the DNS suffixes reserved for local use (RFC 6761,
// RFC 8375, ICANN's .internal) that no public CA certifies: rampart's
// internal CA does.
var InternalDomains = []string{"localhost", "test", "internal", "local", "home.arpa"}

// InternalNetworks are the loopback and private networks, whose addresses
// no public CA certifies either.
var InternalNetworks = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
}

// IsInternalName reports whether only rampart's internal CA can certify
// name: a name under one of InternalDomains, or a loopback or private IP
// address. Such a name needs no public DNS: a managed domain with one
// starts issuing at once.
func IsInternalName(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if ip, err := netip.ParseAddr(name); err == nil {
		ip = ip.Unmap()
		for _, n := range InternalNetworks {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, d := range InternalDomains {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}
