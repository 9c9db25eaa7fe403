package dnstest

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func ask(t *testing.T, d *DNS, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	resp, err := dns.ExchangeContext(t.Context(), m, d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestMXAndTXT(t *testing.T) {
	d := Start(t)
	d.SetMX("Example.test", MX{Pref: 20, Host: "b.example.test"}, MX{Pref: 10, Host: "a.example.test"})
	d.SetNullMX("nomail.test")
	long := strings.Repeat("k", 600)
	d.SetTXT("txt.test", long)

	resp := ask(t, d, "example.test", dns.TypeMX)
	if len(resp.Answer) != 2 || resp.Answer[1].(*dns.MX).Mx != "a.example.test." || resp.Answer[1].(*dns.MX).Preference != 10 {
		t.Errorf("MX answer %v", resp.Answer)
	}
	// A name with only MX records exists: its A question is empty, not NXDOMAIN.
	if resp := ask(t, d, "example.test", dns.TypeA); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 {
		t.Errorf("A of an MX-only name: %v", resp)
	}
	if resp := ask(t, d, "nomail.test", dns.TypeMX); len(resp.Answer) != 1 || resp.Answer[0].(*dns.MX).Mx != "." {
		t.Errorf("null MX answer %v", resp.Answer)
	}
	resp = ask(t, d, "txt.test", dns.TypeTXT)
	txt := resp.Answer[0].(*dns.TXT).Txt
	if len(txt) != 3 || strings.Join(txt, "") != long {
		t.Errorf("600-byte TXT served as %d strings", len(txt))
	}
	d.SetMX("example.test")
	if resp := ask(t, d, "example.test", dns.TypeMX); resp.Rcode != dns.RcodeNameError {
		t.Errorf("removed MX: rcode %d", resp.Rcode)
	}
}
