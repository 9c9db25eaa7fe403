// Package dnstest runs a small authoritative DNS server for tests, with
// records the test sets and changes while it runs: Pebble's validation
// authority, the custom-domain checks and the upstream checks (a name
// whose answer changes between a save and a dial, as in DNS rebinding) all
// ask it.
package dnstest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNS is a tiny authoritative DNS server for tests: names set with Set
// resolve to their addresses, names set with SetCNAME to their target's
// (the chain in one answer, as a recursive resolver gives it), names set
// with SetTXT have those TXT records, names set with SetMX have those MX
// records (SetNullMX: the RFC 7505 "no mail" record), and every other name
// is NXDOMAIN. It
// answers over TCP (which Pebble uses) and UDP on the same port.
type DNS struct {
	// Addr is host:port, for pebble -dnsserver or a net.Resolver.
	Addr string

	mu      sync.RWMutex
	records map[string][]net.IP
	cnames  map[string]string
	txts    map[string][]string
	mxs     map[string][]MX
	queries map[string]int
}

// Start starts a DNS server on 127.0.0.1 that runs until the test ends.
func Start(t testing.TB) *DNS {
	t.Helper()
	d := &DNS{records: map[string][]net.IP{}, cnames: map[string]string{}, txts: map[string][]string{}, mxs: map[string][]MX{}, queries: map[string]int{}}
	var tcp net.Listener
	var udp net.PacketConn
	for range 20 {
		var err error
		if tcp, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if udp, err = net.ListenPacket("udp", tcp.Addr().String()); err == nil {
			break
		}
		tcp.Close()
		tcp = nil
	}
	if tcp == nil {
		t.Fatal("no free port for the test DNS server")
	}
	d.Addr = tcp.Addr().String()
	h := dns.HandlerFunc(d.serve)
	ts := &dns.Server{Listener: tcp, Handler: h}
	us := &dns.Server{PacketConn: udp, Handler: h}
	go func() { _ = ts.ActivateAndServe() }()
	go func() { _ = us.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = ts.Shutdown()
		_ = us.Shutdown()
	})
	return d
}

// Resolver returns a resolver that asks this server only.
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, network, d.Addr)
	}}
}

// Set makes name resolve to ips (A and AAAA records as fits each). No ips:
// name stops resolving.
func (d *DNS) Set(name string, ips ...string) {
	name = dns.Fqdn(strings.ToLower(name))
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(ips) == 0 {
		delete(d.records, name)
		return
	}
	var list []net.IP
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil {
			list = append(list, ip)
		}
	}
	d.records[name] = list
}

// SetCNAME makes name a CNAME to target; an empty target removes it.
func (d *DNS) SetCNAME(name, target string) {
	name = dns.Fqdn(strings.ToLower(name))
	d.mu.Lock()
	defer d.mu.Unlock()
	if target == "" {
		delete(d.cnames, name)
		return
	}
	d.cnames[name] = dns.Fqdn(strings.ToLower(target))
}

// SetTXT gives name one TXT record per value; no values removes them.
func (d *DNS) SetTXT(name string, values ...string) {
	name = dns.Fqdn(strings.ToLower(name))
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(values) == 0 {
		delete(d.txts, name)
		return
	}
	d.txts[name] = values
}

// MX is one mail exchanger of a domain: lower Pref is tried first.
type MX struct {
	Pref uint16
	Host string
}

// SetMX gives name these MX records; no records removes them.
func (d *DNS) SetMX(name string, mxs ...MX) {
	name = dns.Fqdn(strings.ToLower(name))
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(mxs) == 0 {
		delete(d.mxs, name)
		return
	}
	d.mxs[name] = mxs
}

// SetNullMX publishes the RFC 7505 null MX ("0 .") for name: the domain
// accepts no mail.
func (d *DNS) SetNullMX(name string) { d.SetMX(name, MX{Pref: 0, Host: "."}) }

// Queries reports how many questions were asked about name.
func (d *DNS) Queries(name string) int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.queries[dns.Fqdn(strings.ToLower(name))]
}

func (d *DNS) serve(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	d.mu.Lock()
	for _, q := range req.Question {
		name := strings.ToLower(q.Name)
		d.queries[name]++
		for hops := 0; hops < 8; hops++ {
			target, ok := d.cnames[name]
			if !ok || q.Qtype == dns.TypeCNAME {
				break
			}
			resp.Answer = append(resp.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: target})
			name = target
		}
		ips, hasIPs := d.records[name]
		txts, hasTXT := d.txts[name]
		mxs, hasMX := d.mxs[name]
		if !hasIPs && !hasTXT && !hasMX {
			resp.Rcode = dns.RcodeNameError
			continue
		}
		hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: 0}
		for _, ip := range ips {
			if v4 := ip.To4(); v4 != nil && q.Qtype == dns.TypeA {
				hdr.Rrtype = dns.TypeA
				resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: v4})
			} else if v4 == nil && q.Qtype == dns.TypeAAAA {
				hdr.Rrtype = dns.TypeAAAA
				resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip})
			}
		}
		if q.Qtype == dns.TypeTXT {
			hdr.Rrtype = dns.TypeTXT
			for _, v := range txts {
				resp.Answer = append(resp.Answer, &dns.TXT{Hdr: hdr, Txt: splitTXT(v)})
			}
		}
		if q.Qtype == dns.TypeMX {
			hdr.Rrtype = dns.TypeMX
			for _, mx := range mxs {
				resp.Answer = append(resp.Answer, &dns.MX{Hdr: hdr, Preference: mx.Pref, Mx: dns.Fqdn(strings.ToLower(mx.Host))})
			}
		}
	}
	d.mu.Unlock()
	_ = w.WriteMsg(resp)
}

// splitTXT cuts a long value into the 255-byte character-strings one TXT
// record is made of (a DKIM RSA key is longer than one string may be).
func splitTXT(v string) []string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, v[:255])
		v = v[255:]
	}
	return append(parts, v)
}
