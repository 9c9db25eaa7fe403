package dnscheck

// Which resolvers to ask: the addresses a user lists, or the system's.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

// ParseResolver reads a resolver address: an IP address with an optional
// port ("1.1.1.1", "1.1.1.1:5353", "2606:4700::1111",
// "[2606:4700::1111]:53"); the port defaults to 53. Host names are refused:
// finding them would need a resolver, and the point is to ask these ones.
func ParseResolver(s string) (netip.AddrPort, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.AddrPort{}, errors.New("resolver address is empty: give an IP address, e.g. 1.1.1.1 or [2606:4700:4700::1111]:53")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if err := checkZone(s, a); err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			if err := checkZone(s, a); err != nil {
				return netip.AddrPort{}, err
			}
			return netip.AddrPortFrom(a.Unmap(), 53), nil
		}
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolver %q is not an IP address with an optional port: write it like 1.1.1.1, 1.1.1.1:53 or [2606:4700:4700::1111]:53", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolver %q: %q is not an IP address: give the resolver's IP (a host name would need another resolver to find it)", s, host)
	}
	if err := checkZone(s, a); err != nil {
		return netip.AddrPort{}, err
	}
	p, err := parsePort(port)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("resolver %q: port %q is not between 1 and 65535", s, port)
	}
	return netip.AddrPortFrom(a.Unmap(), p), nil
}

// checkZone refuses a zone that is not an interface name or number. A zone
// names a local interface (fe80::1%eth0, as resolv.conf may have it);
// anything else, such as ']' or ':', makes an address that does not parse
// back once written with its port.
func checkZone(s string, a netip.Addr) error {
	for _, c := range []byte(a.Zone()) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("resolver %q has an invalid IPv6 zone: use an interface name, e.g. [fe80::1%%eth0]:53", s)
		}
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 {
		return 0, errors.New("bad port")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("bad port")
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, errors.New("bad port")
	}
	return uint16(n), nil
}

// systemResolvers reads the nameservers of a resolv.conf file.
func systemResolvers(path string) ([]string, error) {
	conf, err := dns.ClientConfigFromFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no DNS resolvers are configured and %s does not exist: list some resolvers (e.g. 1.1.1.1, 9.9.9.9)", path)
		}
		return nil, fmt.Errorf("no DNS resolvers are configured and %s cannot be read (%v): list some resolvers (e.g. 1.1.1.1, 9.9.9.9)", path, err)
	}
	var out []string
	for _, s := range conf.Servers {
		ap, err := ParseResolver(net.JoinHostPort(s, conf.Port))
		if err != nil {
			continue // resolv.conf is the system's business; skip what we cannot use
		}
		out = append(out, ap.String())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no DNS resolvers are configured and %s lists no nameserver: list some resolvers (e.g. 1.1.1.1, 9.9.9.9)", path)
	}
	return out, nil
}
