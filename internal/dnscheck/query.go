package dnscheck

// The queries: one resolver, one name, one record type, with the CNAME
// chain followed, and what a failed query means in words.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/miekg/dns"
)

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

// txtLookup is what a resolver holds at a challenge name.
type txtLookup struct {
	values []string
	err    error
}

// resolveTXT asks server for the TXT records at name. The name may be a
// CNAME (an owner who delegates the record elsewhere, as is done for
// _acme-challenge): every TXT record in the answer counts, since the answer
// is to this question and a recursive resolver puts only the chain and its
// end there. A name that does not exist has no records; that is an answer,
// not an error.
func resolveTXT(ctx context.Context, server, name string) txtLookup {
	resp, err := exchange(ctx, server, dns.Fqdn(name), dns.TypeTXT)
	if err != nil {
		return txtLookup{err: err}
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		return txtLookup{err: rcodeError(resp.Rcode)}
	}
	var l txtLookup
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			if v := TXTValue(t.Txt); !slices.Contains(l.values, v) {
				l.values = append(l.values, v)
			}
		}
	}
	return l
}

// TXTValue is the value of a TXT record from its character-strings as the
// DNS library gives them: in presentation form, where a quote is `\"`, a
// backslash `\\` and a byte outside printable ASCII `\DDD` (decimal).
// The strings are unescaped and joined: one TXT value longer than 255
// bytes is split into several strings, which mean their concatenation
// (RFC 7208 §3.3 reads them so, as do the site-verification records of
// others). Spaces around the value, and one pair of double quotes that a DNS
// panel kept as part of what a person pasted (`"abc"` typed into a field
// that quotes by itself), are dropped: neither can be part of a token.
func TXTValue(segments []string) string {
	var b strings.Builder
	for _, s := range segments {
		unescapeTXT(&b, s)
	}
	v := strings.TrimSpace(b.String())
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = strings.TrimSpace(v[1 : len(v)-1])
	}
	return v
}

// unescapeTXT writes s without its presentation-form escapes to b. A
// backslash at the end, or before a number above 255, stands for itself.
func unescapeTXT(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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
		return nil, notRecursive(resp)
	}
	return resp, nil
}

// notRecursive is the error of an empty answer from a server that neither
// recursed nor holds the zone: it does not say that the records are
// absent, only that this server did not look. Forwarders on home routers
// give such an answer for one type and a real one for the other, which is
// why the error is per type (see checkOne).
func notRecursive(resp *dns.Msg) error {
	for _, rr := range resp.Ns {
		if _, ok := rr.(*dns.NS); ok {
			return errors.New("does not resolve recursively (a referral instead of an answer): configure a recursive resolver")
		}
	}
	return errors.New("does not resolve recursively (an empty answer without recursion or authority, which does not say there is no record): configure a recursive resolver")
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
