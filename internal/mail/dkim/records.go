package dkim

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Record is one DNS record to publish.
type Record struct {
	Name  string // fully qualified, without the trailing dot
	Type  string // "TXT"
	Value string // the whole value; Strings splits it for the zone file
}

// Strings splits r.Value into the character-strings of one TXT record,
// each at most 255 bytes (RFC 1035 §3.3): an RSA-2048 key's record is
// about 400 bytes and must be published as two strings, which DNS clients
// join back without separator.
func (r Record) Strings() []string {
	v := r.Value
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}

// Records returns the DKIM TXT record of each key:
// <selector>._domainkey.<domain> "v=DKIM1; k=ed25519; p=...".
func Records(domain string, keys []Key) ([]Record, error) {
	s, err := NewSigner(domain, keys)
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(keys))
	for i, k := range keys {
		p, err := publicKey(s.crypto[i])
		if err != nil {
			return nil, fmt.Errorf("dkim: public key of %s: %w", k.Selector, err)
		}
		recs[i] = Record{Name: k.Selector + "._domainkey." + s.domain, Type: "TXT", Value: "v=DKIM1; k=" + k.Algorithm + "; p=" + p}
	}
	return recs, nil
}

// SPF suggests the domain's SPF record: mail from domain comes from ips.
// It ends in "~all" (softfail), not "-all": the domain may well send mail
// from elsewhere too (a newsletter service, a mailbox provider), and a
// hard fail for a source the operator forgot makes receivers reject that
// mail outright; with DKIM signatures in place, DMARC gives the stronger
// policy a place to live once the operator is sure.
func SPF(domain string, ips []netip.Addr) Record {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() {
			b.WriteString(" ip4:" + ip.String())
		} else if ip.Is6() {
			b.WriteString(" ip6:" + ip.WithZone("").String())
		}
	}
	b.WriteString(" ~all")
	return Record{Name: strings.ToLower(strings.TrimSuffix(domain, ".")), Type: "TXT", Value: b.String()}
}

// Check is whether one record is published.
type Check struct {
	Record    Record
	Published bool     // a TXT record at Record.Name has Record.Value
	Found     []string // every TXT value found there, strings joined
	Error     string   // why the lookup failed; "" when DNS answered
}

// checkTimeout bounds one question to one server.
const checkTimeout = 5 * time.Second

// CheckRecords asks resolvers ("ip:port", tried in order) whether each
// record is published. A value counts as published when it equals the
// expected one, whitespace aside (DNS hosting panels add and drop spaces
// around ";").
func CheckRecords(ctx context.Context, resolvers []string, recs []Record) []Check {
	out := make([]Check, len(recs))
	for i, r := range recs {
		out[i].Record = r
		found, err := lookupTXT(ctx, resolvers, r.Name)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Found = found
		for _, f := range found {
			if squeeze(f) == squeeze(r.Value) {
				out[i].Published = true
			}
		}
	}
	return out
}

func squeeze(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// lookupTXT returns name's TXT values (each record's strings joined), none
// for NXDOMAIN.
func lookupTXT(ctx context.Context, resolvers []string, name string) ([]string, error) {
	if len(resolvers) == 0 {
		return nil, fmt.Errorf("no DNS servers to ask about %s", name)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = true
	// Answers up to 4 KB arrive over UDP (an RSA DKIM record, many MX
	// hosts); larger ones come back truncated and are asked again over TCP.
	m.SetEdns0(4096, false)
	var last error
	for _, server := range resolvers {
		qctx, cancel := context.WithTimeout(ctx, checkTimeout)
		c := &dns.Client{}
		resp, _, err := c.ExchangeContext(qctx, m, server)
		if err == nil && resp.Truncated {
			c.Net = "tcp"
			resp, _, err = c.ExchangeContext(qctx, m, server)
		}
		cancel()
		if err != nil {
			last = fmt.Errorf("asking %s for TXT %s: %w", server, name, err)
			continue
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			var found []string
			for _, rr := range resp.Answer {
				if t, ok := rr.(*dns.TXT); ok {
					found = append(found, unescape(strings.Join(t.Txt, "")))
				}
			}
			return found, nil
		default:
			last = fmt.Errorf("%s answered %s for TXT %s; try again later", server, dns.RcodeToString[resp.Rcode], name)
		}
	}
	return nil, last
}

// unescape undoes miekg/dns's presentation escapes in a TXT string
// ("\;" "\"" "\\" and "\DDD").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if i+3 < len(s) && isDigits(s[i+1:i+4]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
