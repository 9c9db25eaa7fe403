package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsTimeout bounds one DNS question to one server.
const dnsTimeout = 5 * time.Second

// errNoMail is a domain that says it takes no mail (null MX, RFC 7505) or
// does not exist: retrying cannot help.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// resolver asks the configured DNS servers, in order, for MX and address
// records. It does its own lookups (not the system's) so that tests can
// point it at internal/dnstest and so that a SERVFAIL is told apart from
// NXDOMAIN: the first is worth a retry, the second is not.
type resolver struct {
	servers []string
}

// query returns the answer section for name/qtype, a *permanentError for
// NXDOMAIN, or a temporary error for anything else that went wrong.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	// Answers up to 4 KB arrive over UDP (an RSA DKIM record, many MX
	// hosts); larger ones come back truncated and are asked again over TCP.
	m.SetEdns0(4096, false)
	var last error
	for _, server := range r.servers {
		qctx, cancel := context.WithTimeout(ctx, dnsTimeout)
		c := &dns.Client{Net: "udp"}
		resp, _, err := c.ExchangeContext(qctx, m, server)
		if err == nil && resp.Truncated {
			c.Net = "tcp"
			resp, _, err = c.ExchangeContext(qctx, m, server)
		}
		cancel()
		if err != nil {
			last = fmt.Errorf("asking %s for %s %s: %w", server, dns.TypeToString[qtype], name, err)
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
			return resp.Answer, nil
		case dns.RcodeNameError:
			return nil, &permanentError{fmt.Sprintf("%s does not exist (NXDOMAIN)", name)}
		default:
			last = fmt.Errorf("%s answered %s for %s %s", server, dns.RcodeToString[resp.Rcode], dns.TypeToString[qtype], name)
		}
	}
	if last == nil {
		last = errors.New("no DNS servers configured")
	}
	return nil, last
}

// mxHosts returns the hosts that take mail for domain, best preference
// first: its MX hosts, or the domain itself when it has none (the implicit
// MX of RFC 5321 §5.1).
func (r *resolver) mxHosts(ctx context.Context, domain string) ([]string, error) {
	rrs, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var mxs []*dns.MX
	for _, rr := range rrs {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, mx)
		}
	}
	if len(mxs) == 0 {
		return []string{domain}, nil
	}
	// RFC 7505: a lone MX "." means the domain accepts no mail.
	if len(mxs) == 1 && mxs[0].Mx == "." {
		return nil, &permanentError{fmt.Sprintf("%s accepts no mail (null MX, RFC 7505)", domain)}
	}
	// Stable: equal preferences keep the server's order (a resolver
	// shuffles them for load spreading already).
	slices.SortStableFunc(mxs, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
	hosts := make([]string, 0, len(mxs))
	for _, mx := range mxs {
		if mx.Mx != "." {
			hosts = append(hosts, strings.TrimSuffix(mx.Mx, "."))
		}
	}
	return hosts, nil
}

// addrs returns host's IPv4 then IPv6 addresses.
func (r *resolver) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	var out []netip.Addr
	var firstErr error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.query(ctx, host, t)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, &permanentError{fmt.Sprintf("%s has no address records", host)}
	}
	return out, nil
}

// isPublic reports whether mail may be sent to ip: not loopback, private
// (RFC 1918, ULA), link-local, CGNAT, unspecified or multicast. An MX is
// named by whoever controls the recipient's domain, so without this check
// any tenant could point a domain at 127.0.0.1 or 10.0.0.5 and make the
// relay speak SMTP to services inside our network.
func isPublic(ip netip.Addr) bool {
	ip = ip.Unmap()
	// NAT64 (RFC 6052) carries an IPv4 address that a gateway reaches for
	// us: judge that address.
	if nat64.Contains(ip) {
		b := ip.As16()
		return isPublic(netip.AddrFrom4([4]byte(b[12:])))
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsValid() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// blocked are special-purpose ranges that netip has no predicate for.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("::ffff:0:0/96"),  // mapped (Unmap handles the rest)
	netip.MustParsePrefix("100::/64"),       // discard-only
}

// systemResolvers reads /etc/resolv.conf.
func systemResolvers() ([]string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("deliver: no Resolvers configured and /etc/resolv.conf unreadable: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, errors.New("deliver: no Resolvers configured and /etc/resolv.conf names no nameserver")
	}
	return out, nil
}
