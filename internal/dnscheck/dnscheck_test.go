package dnscheck

import (
	"cmp"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// resolver is an in-process recursive resolver stand-in: it answers from a
// fixed set of records the way a real recursive resolver does, with the
// whole CNAME chain in one answer.
type resolver struct {
	records  []dns.RR
	rcode    int  // when non-zero, every answer has this response code
	silent   bool // never answer (a timeout)
	oneHop   bool // return at most one CNAME per answer, like a lazy resolver
	truncate bool // set TC on UDP answers, so the client retries over TCP
	// forwarder answers like a non-recursive, non-authoritative server (a
	// home router's): RA=0 and AA=0, so an empty answer says nothing.
	forwarder bool
	referral  bool           // with forwarder: NS records with an empty answer
	rcodes    map[uint16]int // a response code for one query type
}

func (z *resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if z.silent {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = !z.forwarder
	if rc := cmp.Or(z.rcodes[req.Question[0].Qtype], z.rcode); rc != 0 {
		m.Rcode = rc
		w.WriteMsg(m)
		return
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp && z.truncate {
		m.Truncated = true
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	cur := strings.ToLower(q.Name)
	for hops := 0; hops < 20; hops++ {
		var cname *dns.CNAME
		for _, rr := range z.records {
			if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Name == cur {
				cname = c
			}
		}
		if cname == nil {
			break
		}
		m.Answer = append(m.Answer, cname)
		cur = strings.ToLower(cname.Target)
		if z.oneHop {
			w.WriteMsg(m)
			return
		}
	}
	exists := false
	for _, rr := range z.records {
		if rr.Header().Name == cur {
			exists = true
			if rr.Header().Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if z.referral && len(m.Answer) == 0 {
		m.Ns = append(m.Ns, &dns.NS{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: "ns1.example.net."})
	}
	w.WriteMsg(m)
}

// serve starts z on a random UDP port of 127.0.0.1 (and TCP on the same
// port when tcp is set) and returns its address.
func serve(t *testing.T, z *resolver, tcp bool) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for tries := 0; ; tries++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if !tcp {
			break
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if tries == 10 {
			t.Fatalf("no port free for both UDP and TCP: %v", err)
		}
	}
	start := func(srv *dns.Server) {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	start(&dns.Server{PacketConn: pc, Handler: z})
	if ln != nil {
		start(&dns.Server{Listener: ln, Handler: z})
	}
	return pc.LocalAddr().String()
}

func rrs(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

var target = Target{
	CNAME: "blog.apps.example.com",
	IPs:   []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")},
}

const platformRecords = "blog.apps.example.com. 300 IN A 198.51.100.7"

func fmtAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func check(t *testing.T, servers ...string) Result {
	t.Helper()
	c := Checker{Resolvers: servers, Timeout: 2 * time.Second}
	return c.Check(context.Background(), "shop.example.com", target)
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		zone      resolver
		here      bool
		reason    string // substring of Result.Reason; "" means empty
		cname     []string
		a, aaaa   string
		resultErr string
	}{
		{
			name: "A here",
			zone: resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7")},
			here: true, a: "198.51.100.7",
		},
		{
			name: "A and AAAA here",
			zone: resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7", "shop.example.com. 60 IN AAAA 2001:db8::7")},
			here: true, a: "198.51.100.7", aaaa: "2001:db8::7",
		},
		{
			name:   "A elsewhere",
			zone:   resolver{records: rrs(t, "shop.example.com. 60 IN A 203.0.113.9")},
			reason: "DNS points at 203.0.113.9, expected 198.51.100.7, 2001:db8::7 or a CNAME to blog.apps.example.com",
			a:      "203.0.113.9",
		},
		{
			name:   "partly here",
			zone:   resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7", "shop.example.com. 60 IN A 203.0.113.9")},
			reason: "DNS points at 198.51.100.7 and 203.0.113.9, but 203.0.113.9 is not this server: remove that record, or use a CNAME to blog.apps.example.com instead",
			a:      "198.51.100.7 203.0.113.9",
		},
		{
			name:   "stale AAAA",
			zone:   resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7", "shop.example.com. 60 IN AAAA 2001:db8::dead")},
			reason: "but 2001:db8::dead is not this server",
			a:      "198.51.100.7", aaaa: "2001:db8::dead",
		},
		{
			name: "CNAME to the target",
			zone: resolver{records: rrs(t, "shop.example.com. 60 IN CNAME blog.apps.example.com.", platformRecords)},
			here: true, cname: []string{"blog.apps.example.com"}, a: "198.51.100.7",
		},
		{
			name: "CNAME chain through a CDN name to the target",
			zone: resolver{records: rrs(t,
				"shop.example.com. 60 IN CNAME shop.cdn.example.org.",
				"shop.cdn.example.org. 60 IN CNAME Blog.Apps.Example.COM.",
				"blog.apps.example.com. 60 IN CNAME lb.apps.example.com.",
				"lb.apps.example.com. 60 IN A 198.51.100.7")},
			here:  true,
			cname: []string{"shop.cdn.example.org", "blog.apps.example.com", "lb.apps.example.com"},
			a:     "198.51.100.7",
		},
		{
			name:  "CNAME chain returned one hop at a time",
			zone:  resolver{oneHop: true, records: rrs(t, "shop.example.com. 60 IN CNAME www.example.com.", "www.example.com. 60 IN CNAME blog.apps.example.com.", platformRecords)},
			here:  true,
			cname: []string{"www.example.com", "blog.apps.example.com"},
			a:     "198.51.100.7",
		},
		{
			name: "CNAME to the target before the target has addresses",
			zone: resolver{records: rrs(t, "shop.example.com. 60 IN CNAME blog.apps.example.com.")},
			here: true, cname: []string{"blog.apps.example.com"},
		},
		{
			name:   "CNAME elsewhere",
			zone:   resolver{records: rrs(t, "shop.example.com. 60 IN CNAME shop.oldhost.example.", "shop.oldhost.example. 60 IN A 203.0.113.9")},
			reason: "DNS points at 203.0.113.9 (via a CNAME to shop.oldhost.example), expected",
			cname:  []string{"shop.oldhost.example"}, a: "203.0.113.9",
		},
		{
			name:   "CNAME to a name that does not exist",
			zone:   resolver{records: rrs(t, "shop.example.com. 60 IN CNAME blgo.apps.example.com.")},
			reason: "DNS points at blgo.apps.example.com (a CNAME), which has no address, expected",
			cname:  []string{"blgo.apps.example.com"},
		},
		{
			name:   "NXDOMAIN",
			zone:   resolver{records: rrs(t, platformRecords)},
			reason: "no A, AAAA or CNAME record for shop.example.com yet (NXDOMAIN at 127.0.0.1:",
		},
		{
			name:   "no address records",
			zone:   resolver{records: rrs(t, `shop.example.com. 60 IN TXT "hello"`)},
			reason: "no A, AAAA or CNAME record for shop.example.com yet (127.0.0.1:",
		},
		{
			name:      "SERVFAIL",
			zone:      resolver{rcode: dns.RcodeServerFailure},
			reason:    "did not answer: SERVFAIL",
			resultErr: "SERVFAIL",
		},
		{
			name:      "REFUSED",
			zone:      resolver{rcode: dns.RcodeRefused},
			resultErr: "REFUSED",
		},
		{
			name:      "CNAME loop",
			zone:      resolver{oneHop: true, records: rrs(t, "shop.example.com. 60 IN CNAME a.example.com.", "a.example.com. 60 IN CNAME shop.example.com.")},
			resultErr: "form a loop",
		},
		{
			name: "CNAME chain too long",
			zone: resolver{records: rrs(t,
				"shop.example.com. 60 IN CNAME c1.example.com.", "c1.example.com. 60 IN CNAME c2.example.com.",
				"c2.example.com. 60 IN CNAME c3.example.com.", "c3.example.com. 60 IN CNAME c4.example.com.",
				"c4.example.com. 60 IN CNAME c5.example.com.", "c5.example.com. 60 IN CNAME c6.example.com.",
				"c6.example.com. 60 IN CNAME c7.example.com.", "c7.example.com. 60 IN CNAME c8.example.com.",
				"c8.example.com. 60 IN CNAME c9.example.com.", "c9.example.com. 60 IN CNAME blog.apps.example.com.")},
			resultErr: "longer than 8",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, serve(t, &tc.zone, false))
			if res.PointsHere != tc.here {
				t.Errorf("PointsHere = %v, want %v (reason %q)", res.PointsHere, tc.here, res.Reason)
			}
			switch {
			case tc.reason == "" && tc.resultErr == "" && res.Reason != "":
				t.Errorf("reason %q, want none", res.Reason)
			case tc.reason != "" && !strings.Contains(res.Reason, tc.reason):
				t.Errorf("reason %q, want one containing %q", res.Reason, tc.reason)
			}
			if len(res.Resolvers) != 1 {
				t.Fatalf("%d resolver results", len(res.Resolvers))
			}
			r := res.Resolvers[0]
			if r.PointsHere != tc.here {
				t.Errorf("resolver PointsHere = %v", r.PointsHere)
			}
			if tc.resultErr != "" {
				if !strings.Contains(r.Err, tc.resultErr) {
					t.Errorf("resolver error %q, want one containing %q", r.Err, tc.resultErr)
				}
				if !strings.Contains(res.Reason, "did not answer: "+r.Err) {
					t.Errorf("reason %q does not pass the resolver's error on", res.Reason)
				}
				return
			}
			if r.Err != "" {
				t.Fatalf("resolver error %q", r.Err)
			}
			if !slices.Equal(r.CNAME, tc.cname) {
				t.Errorf("CNAME chain %q, want %q", r.CNAME, tc.cname)
			}
			if got := fmtAddrs(r.A); got != tc.a {
				t.Errorf("A %q, want %q", got, tc.a)
			}
			if got := fmtAddrs(r.AAAA); got != tc.aaaa {
				t.Errorf("AAAA %q, want %q", got, tc.aaaa)
			}
		})
	}
}

func TestCheckResolversDisagree(t *testing.T) {
	here := serve(t, &resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7")}, false)
	here2 := serve(t, &resolver{records: rrs(t, "shop.example.com. 60 IN CNAME blog.apps.example.com.", platformRecords)}, false)
	old := serve(t, &resolver{records: rrs(t, "shop.example.com. 60 IN A 203.0.113.9")}, false)
	res := check(t, here, old, here2)
	if res.PointsHere {
		t.Error("points here while one resolver still sees the old record")
	}
	want := "2 of 3 resolvers see the new record; waiting for the rest to catch up (" + old + " still sees 203.0.113.9)"
	if res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
	for i, want := range []bool{true, false, true} {
		if res.Resolvers[i].PointsHere != want {
			t.Errorf("resolver %d PointsHere = %v, want %v", i, res.Resolvers[i].PointsHere, want)
		}
	}
	if res.Resolvers[1].Resolver != old {
		t.Errorf("results out of order: %+v", res.Resolvers)
	}

	// Before anything points here, the first resolver's view is the reason.
	nx := serve(t, &resolver{records: rrs(t, platformRecords)}, false)
	res = check(t, nx, old)
	if res.PointsHere || !strings.HasPrefix(res.Reason, "no A, AAAA or CNAME record for shop.example.com yet (NXDOMAIN at") {
		t.Errorf("%v %q", res.PointsHere, res.Reason)
	}
}

func TestCheckUnansweredResolversDoNotBlock(t *testing.T) {
	here := serve(t, &resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7")}, false)
	silent := serve(t, &resolver{silent: true}, false)
	c := Checker{Resolvers: []string{here, silent}, Timeout: 300 * time.Millisecond}
	res := c.Check(context.Background(), "shop.example.com", target)
	if !res.PointsHere || res.Reason != "" {
		t.Errorf("PointsHere %v, reason %q", res.PointsHere, res.Reason)
	}
	if res.Resolvers[1].Err != "timeout" {
		t.Errorf("silent resolver: error %q, want timeout", res.Resolvers[1].Err)
	}
}

func TestCheckNoAnswer(t *testing.T) {
	silent := serve(t, &resolver{silent: true}, false)
	// A UDP port with nothing listening: loopback answers with ICMP port
	// unreachable, which reads as connection refused.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()
	c := Checker{Resolvers: []string{silent, closed, "dns.google"}, Timeout: 300 * time.Millisecond}
	res := c.Check(context.Background(), "shop.example.com.", target)
	if res.PointsHere {
		t.Fatal("points here without answers")
	}
	want := "resolver " + silent + " did not answer: timeout; resolver " + closed + " did not answer: connection refused; resolver dns.google did not answer: "
	if !strings.HasPrefix(res.Reason, want) {
		t.Errorf("reason %q, want one starting %q", res.Reason, want)
	}
	if !strings.Contains(res.Resolvers[2].Err, "not an IP address") {
		t.Errorf("host name as resolver: %q", res.Resolvers[2].Err)
	}
}

func TestCheckTruncatedFallsBackToTCP(t *testing.T) {
	addr := serve(t, &resolver{truncate: true, records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7")}, true)
	res := check(t, addr)
	if !res.PointsHere {
		t.Errorf("not pointing here over TCP: %q %+v", res.Reason, res.Resolvers)
	}
}

func TestCheckMappedTargetAddress(t *testing.T) {
	addr := serve(t, &resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7")}, false)
	c := Checker{Resolvers: []string{addr}}
	res := c.Check(context.Background(), "Shop.Example.com", Target{IPs: []netip.Addr{netip.MustParseAddr("::ffff:198.51.100.7")}})
	if !res.PointsHere {
		t.Errorf("IPv4-mapped target address not matched: %q", res.Reason)
	}
}

func TestCheckCanceled(t *testing.T) {
	silent := serve(t, &resolver{silent: true}, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := Checker{Resolvers: []string{silent}}
	res := c.Check(ctx, "shop.example.com", target)
	if res.PointsHere || res.Resolvers[0].Err == "" {
		t.Errorf("canceled check: %+v", res)
	}
}

func TestCheckReasonWithoutTarget(t *testing.T) {
	addr := serve(t, &resolver{records: rrs(t, "shop.example.com. 60 IN A 203.0.113.9")}, false)
	c := Checker{Resolvers: []string{addr}}
	res := c.Check(context.Background(), "shop.example.com", Target{})
	if res.PointsHere || !strings.Contains(res.Reason, "set the node's public IPs") {
		t.Errorf("%v %q", res.PointsHere, res.Reason)
	}
	if res := c.Check(context.Background(), "", target); res.Reason == "" {
		t.Error("empty name: no reason")
	}
}

func TestSystemResolvers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	os.WriteFile(path, []byte("# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n"), 0o600)
	got, err := systemResolvers(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53", "[fe80::1%eth0]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	os.WriteFile(path, []byte("search example.com\n"), 0o600)
	if _, err := systemResolvers(path); err == nil || !strings.Contains(err.Error(), "lists no nameserver") {
		t.Errorf("empty resolv.conf: %v", err)
	}

	old := resolvConf
	resolvConf = filepath.Join(dir, "missing")
	defer func() { resolvConf = old }()
	var c Checker
	res := c.Check(context.Background(), "shop.example.com", target)
	if res.PointsHere || !strings.Contains(res.Reason, "does not exist: list some resolvers") {
		t.Errorf("missing resolv.conf: %q", res.Reason)
	}
}

func TestParseResolver(t *testing.T) {
	for _, tc := range []struct{ in, want, wantErr string }{
		{"1.1.1.1", "1.1.1.1:53", ""},
		{" 1.1.1.1 ", "1.1.1.1:53", ""},
		{"1.1.1.1:5353", "1.1.1.1:5353", ""},
		{"2606:4700:4700::1111", "[2606:4700:4700::1111]:53", ""},
		{"[2606:4700::1111]", "[2606:4700::1111]:53", ""},
		{"[2606:4700::1111]:53", "[2606:4700::1111]:53", ""},
		{"::ffff:9.9.9.9", "9.9.9.9:53", ""},
		{"[fe80::1%eth0]:53", "[fe80::1%eth0]:53", ""},
		{"", "", "empty"},
		{"dns.google", "", "is not an IP address with an optional port"},
		{"dns.google:53", "", `"dns.google" is not an IP address`},
		{"1.1.1.1:0", "", "between 1 and 65535"},
		{"1.1.1.1:65536", "", "between 1 and 65535"},
		{"1.1.1.1:dns", "", "between 1 and 65535"},
		{"1.1.1.1:", "", "between 1 and 65535"},
		{"[2606:4700::1111]:", "", "between 1 and 65535"},
		{"1.1.1", "", "not an IP address"},
		{"udp://1.1.1.1", "", "not an IP address"},
	} {
		got, err := ParseResolver(tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || got.String() != tc.want):
			t.Errorf("%q: %v, %v; want %s", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: %v, %v; want an error containing %q", tc.in, got, err, tc.wantErr)
		}
	}
}

// FuzzParseResolver checks that an accepted resolver is a usable address
// whose string form parses back to itself.
func FuzzParseResolver(f *testing.F) {
	for _, s := range []string{"1.1.1.1", "1.1.1.1:53", "[2606:4700::1111]:53", "2606:4700::1111", "[::1]", "dns.google:53", "1.1.1.1:0", "::ffff:1.2.3.4", "[fe80::1%eth0]:53", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseResolver(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", s)
			}
			return
		}
		if !ap.IsValid() || ap.Port() == 0 || ap.Addr().Is4In6() {
			t.Fatalf("%q: accepted as %v", s, ap)
		}
		again, err := ParseResolver(ap.String())
		if err != nil || again != ap {
			t.Fatalf("%q: %v does not parse back: %v, %v", s, ap, again, err)
		}
	})
}
