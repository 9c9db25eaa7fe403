// Package dnscheck tells whether a custom domain points at this server, the
// way a DNS propagation checker does: it asks several recursive resolvers
// directly, each on its own, and reports what every one of them sees.
//
// Asking resolvers directly, instead of the system's stub resolver, matters
// twice. The system caches, so it would keep answering with the record the
// owner just replaced; and a certificate authority validates from its own
// resolvers, in several places, so a name is only ready for issuance when
// resolvers elsewhere agree too. A failed validation costs a retry against
// the CA's rate limits, so [Result.PointsHere] waits until every resolver
// that answered agrees.
//
// The package knows nothing about the store: the caller passes the name, the
// [Target] and the resolvers, and shows the [Result] (Reason is a sentence
// for the dashboard) or acts on PointsHere.
package dnscheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/rampart-dev/rampart"
)

// DefaultTimeout bounds each resolver's lookups when Checker.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// maxCNAMEChain bounds how many CNAME hops are followed. Resolvers give up
// at about the same depth, and a longer chain is almost always a loop.
const maxCNAMEChain = 8

// resolvConf is where the system's resolvers are read from; a variable so
// that tests can point it elsewhere.
var resolvConf = "/etc/resolv.conf"

// Target is what a custom domain should point at. The types of a check
// are the root package's, so that the service layer and the API can carry
// them without importing this package (and its DNS library).
type Target = rampart.DNSTarget

// Checker queries DNS resolvers. The zero value uses the system's resolvers
// and [DefaultTimeout].
type Checker struct {
	// Resolvers are recursive resolvers as "ip:port" (see [ParseResolver]
	// for the accepted forms). Empty: the nameservers in /etc/resolv.conf.
	Resolvers []string
	// Timeout bounds all the queries to one resolver for one Check. Zero:
	// [DefaultTimeout].
	Timeout time.Duration
}

// Result is what the resolvers see for one name.
type Result = rampart.DNSCheck

// ResolverResult is what one resolver sees.
type ResolverResult = rampart.DNSAnswer

// answer is a ResolverResult with what judging it needs besides.
type answer struct {
	ResolverResult
	nxdomain bool // the name (or the end of its chain) does not exist
}

// Check asks every resolver, in parallel, where name points and judges the
// answers against t. name is a normalized domain name (see
// rampart.NormalizeDomain); a trailing dot is allowed. Check returns when
// every resolver has answered or timed out, or ctx is done.
func (c *Checker) Check(ctx context.Context, name string, t Target) Result {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "" {
		return Result{Reason: "no domain name to check"}
	}
	servers := c.Resolvers
	if len(servers) == 0 {
		var err error
		servers, err = systemResolvers(resolvConf)
		if err != nil {
			return Result{Reason: err.Error()}
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	answers := make([]answer, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			answers[i] = checkOne(ctx, s, name, t)
		})
	}
	wg.Wait()
	res := Result{Resolvers: make([]ResolverResult, len(answers))}
	for i, a := range answers {
		res.Resolvers[i] = a.ResolverResult
	}
	res.PointsHere, res.Reason = judge(name, t, answers)
	return res
}

// checkOne asks one resolver for A and AAAA at the same time; each answer
// carries the CNAME chain, so no separate CNAME query is needed.
func checkOne(ctx context.Context, server, name string, t Target) answer {
	rr := answer{ResolverResult: ResolverResult{Resolver: server}}
	ap, err := ParseResolver(server)
	if err != nil {
		rr.Err = err.Error()
		return rr
	}
	addr := ap.String()
	rr.Resolver = addr
	var v4, v6 lookup
	var wg sync.WaitGroup
	wg.Go(func() { v4 = resolve(ctx, addr, name, dns.TypeA) })
	wg.Go(func() { v6 = resolve(ctx, addr, name, dns.TypeAAAA) })
	wg.Wait()
	if v4.err != nil || v6.err != nil {
		rr.Err = describeErr(cmpOr(v4.err, v6.err))
		return rr
	}
	rr.CNAME = v4.chain
	if len(v6.chain) > len(rr.CNAME) {
		rr.CNAME = v6.chain
	}
	rr.A, rr.AAAA = v4.addrs, v6.addrs
	rr.nxdomain = v4.nxdomain && v6.nxdomain
	rr.PointsHere = pointsHere(rr.ResolverResult, t)
	return rr
}

func cmpOr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type lookup struct {
	chain    []string
	addrs    []netip.Addr
	nxdomain bool
	err      error
}

// rcodeError is a response code that means the resolver could not answer.
type rcodeError int

func (e rcodeError) Error() string { return dns.RcodeToString[int(e)] }

// resolve asks server for qtype records of name and follows the CNAME chain.
// A recursive resolver normally returns the whole chain in one answer; when
// it stops part-way, the rest is asked for.
func resolve(ctx context.Context, server, name string, qtype uint16) lookup {
	var l lookup
	cur := dns.Fqdn(name)
	seen := map[string]bool{cur: true}
	for {
		resp, err := exchange(ctx, server, cur, qtype)
		if err != nil {
			l.err = err
			return l
		}
		followed := false
		for {
			next := ""
			for _, rr := range resp.Answer {
				if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
					next = strings.ToLower(dns.Fqdn(c.Target))
					break
				}
			}
			if next == "" {
				break
			}
			if seen[next] {
				l.err = fmt.Errorf("the CNAME records of %s form a loop at %s: fix them", name, strings.TrimSuffix(next, "."))
				return l
			}
			if len(l.chain) == maxCNAMEChain {
				l.err = fmt.Errorf("the CNAME chain of %s is longer than %d records: point the name closer to its target", name, maxCNAMEChain)
				return l
			}
			seen[next] = true
			l.chain = append(l.chain, strings.TrimSuffix(next, "."))
			cur, followed = next, true
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			l.nxdomain = true
			return l
		default:
			l.err = rcodeError(resp.Rcode)
			return l
		}
		for _, rr := range resp.Answer {
			if !strings.EqualFold(rr.Header().Name, cur) {
				continue
			}
			var ip net.IP
			switch rr := rr.(type) {
			case *dns.A:
				ip = rr.A
			case *dns.AAAA:
				ip = rr.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok && rr.Header().Rrtype == qtype {
				a = a.Unmap()
				if !slices.Contains(l.addrs, a) {
					l.addrs = append(l.addrs, a)
				}
			}
		}
		if len(l.addrs) > 0 || !followed {
			slices.SortFunc(l.addrs, netip.Addr.Compare)
			return l
		}
	}
}

// exchange sends one query, over TCP again when the UDP answer was
// truncated. The answer must be for the question asked: a resolver that
// answers something else (or a spoofed packet) is an error, not a record.
func exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	// 1232 bytes fits every path MTU without fragmentation (DNS flag day
	// 2020); larger answers come over TCP.
	m.SetEdns0(1232, false)
	client := dns.Client{Net: "udp", UDPSize: 1232}
	resp, _, err := client.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		client.Net = "tcp"
		resp, _, err = client.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Question) != 1 || resp.Question[0].Qtype != qtype || !strings.EqualFold(resp.Question[0].Name, name) {
		return nil, errors.New("answered a different question")
	}
	if resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 0 && !resp.RecursionAvailable && !resp.Authoritative {
		return nil, errors.New("does not resolve recursively (a referral instead of an answer): configure a recursive resolver")
	}
	return resp, nil
}

// describeErr turns a query error into the few words shown after "did not
// answer: ".
func describeErr(err error) string {
	var rc rcodeError
	var ne net.Error
	switch {
	case errors.As(err, &rc):
		switch int(rc) {
		case dns.RcodeServerFailure:
			return "SERVFAIL (the domain's name servers did not answer it, or its DNSSEC is broken)"
		case dns.RcodeRefused:
			return "REFUSED (it does not resolve for this server)"
		}
		return rc.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	return err.Error()
}

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
