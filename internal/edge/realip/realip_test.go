package realip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustNew(t testing.TB, entries ...string) *Resolver {
	t.Helper()
	cfg, err := ParseTrusted(entries)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func request(remote string, headers ...string) *http.Request {
	req := httptest.NewRequest("GET", "http://shop.example.com/", nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

const (
	xff = "X-Forwarded-For"
	cf  = "CF-Connecting-IP"
)

func TestClientIP(t *testing.T) {
	r := mustNew(t, "10.0.0.0/8", "192.0.2.10", "2001:db8:1::/48", "cloudflare")
	for _, tc := range []struct {
		name    string
		remote  string
		headers []string
		want    string
	}{
		// Untrusted peers: headers are never read.
		{"direct client", "203.0.113.5:40000", nil, "203.0.113.5"},
		{"spoofed XFF from an untrusted peer", "203.0.113.5:40000", []string{xff, "1.2.3.4"}, "203.0.113.5"},
		{"spoofed CF-Connecting-IP from an untrusted peer", "203.0.113.5:40000", []string{cf, "1.2.3.4"}, "203.0.113.5"},
		{"untrusted IPv6 peer", "[2001:db8:2::5]:40000", []string{xff, "1.2.3.4"}, "2001:db8:2::5"},
		{"IPv4-mapped untrusted peer", "[::ffff:203.0.113.5]:40000", nil, "203.0.113.5"},
		{"peer with a zone", "[fe80::1%eth0]:40000", nil, "fe80::1"},
		{"bad RemoteAddr", "@unix", nil, "invalid IP"},
		{"empty RemoteAddr", "", nil, "invalid IP"},
		{"RemoteAddr without port", "203.0.113.5", nil, "203.0.113.5"},

		// Trusted peers.
		{"trusted peer without headers", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"trusted peer, one XFF entry", "10.1.2.3:5000", []string{xff, "198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped trusted peer", "[::ffff:10.1.2.3]:5000", []string{xff, "198.51.100.1"}, "198.51.100.1"},
		{"trusted single address", "192.0.2.10:5000", []string{xff, "198.51.100.1"}, "198.51.100.1"},
		{"next address is not trusted", "192.0.2.11:5000", []string{xff, "198.51.100.1"}, "192.0.2.11"},
		{"trusted IPv6 peer", "[2001:db8:1::9]:443", []string{xff, "2001:db8:2::1"}, "2001:db8:2::1"},
		{"client spoofs the left of the chain", "10.1.2.3:5000", []string{xff, "1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:5000", []string{xff, "1.2.3.4, 198.51.100.1, 10.9.9.9, 192.0.2.10"}, "198.51.100.1"},
		{"chain over several lines", "10.1.2.3:5000", []string{xff, "1.2.3.4, 198.51.100.1", xff, "10.9.9.9", xff, "192.0.2.10"}, "198.51.100.1"},
		{"client only in the first line", "10.1.2.3:5000", []string{xff, "198.51.100.1", xff, "10.9.9.9, 10.8.8.8"}, "198.51.100.1"},
		{"every hop trusted", "10.1.2.3:5000", []string{xff, "10.7.7.7, 10.9.9.9"}, "10.7.7.7"},
		{"entries with ports", "10.1.2.3:5000", []string{xff, "198.51.100.1:1234, 10.9.9.9:80"}, "198.51.100.1"},
		{"bracketed IPv6 entries", "10.1.2.3:5000", []string{xff, "[2001:db8:2::1]:1234, [2001:db8:1::1]"}, "2001:db8:2::1"},
		{"IPv4-mapped entry", "10.1.2.3:5000", []string{xff, "::ffff:198.51.100.1"}, "198.51.100.1"},
		{"empty list elements", "10.1.2.3:5000", []string{xff, " , 198.51.100.1 ,, "}, "198.51.100.1"},
		{"tabs and spaces", "10.1.2.3:5000", []string{xff, "\t198.51.100.1\t,  10.9.9.9  "}, "198.51.100.1"},
		{"empty header", "10.1.2.3:5000", []string{xff, ""}, "10.1.2.3"},

		// Garbage stops the walk at the peer.
		{"garbage", "10.1.2.3:5000", []string{xff, "not-an-ip"}, "10.1.2.3"},
		{"unknown", "10.1.2.3:5000", []string{xff, "unknown"}, "10.1.2.3"},
		{"garbage behind a trusted hop", "10.1.2.3:5000", []string{xff, "1.2.3.4, junk, 10.9.9.9"}, "10.1.2.3"},
		{"garbage beyond the client is never read", "10.1.2.3:5000", []string{xff, "junk, 198.51.100.1"}, "198.51.100.1"},
		{"hostname", "10.1.2.3:5000", []string{xff, "client.example.com"}, "10.1.2.3"},
		{"RFC 7239 syntax", "10.1.2.3:5000", []string{xff, "for=198.51.100.1"}, "10.1.2.3"},
		{"IPv4 with leading zeros", "10.1.2.3:5000", []string{xff, "198.051.100.001"}, "10.1.2.3"},
		{"CIDR", "10.1.2.3:5000", []string{xff, "198.51.100.0/24"}, "10.1.2.3"},

		// CF-Connecting-IP: only straight from Cloudflare.
		{"Cloudflare peer", "173.245.48.1:5000", []string{cf, "198.51.100.1", xff, "1.2.3.4, 198.51.100.2"}, "198.51.100.1"},
		{"Cloudflare IPv6 peer", "[2606:4700::1]:5000", []string{cf, "2001:db8:2::1"}, "2001:db8:2::1"},
		{"Cloudflare peer, IPv4-mapped", "[::ffff:104.16.0.1]:5000", []string{cf, "198.51.100.1"}, "198.51.100.1"},
		{"Cloudflare peer without CF header", "173.245.48.1:5000", []string{xff, "198.51.100.2"}, "198.51.100.2"},
		{"Cloudflare peer, garbage CF header", "173.245.48.1:5000", []string{cf, "nope", xff, "198.51.100.2"}, "198.51.100.2"},
		{"Cloudflare peer, two CF headers", "173.245.48.1:5000", []string{cf, "198.51.100.1", cf, "198.51.100.3"}, "173.245.48.1"},
		{"CF header through a trusted load balancer is ignored", "10.1.2.3:5000", []string{cf, "1.2.3.4", xff, "198.51.100.1, 173.245.48.1"}, "198.51.100.1"},
		{"CF header from an untrusted peer", "198.51.100.9:5000", []string{cf, "1.2.3.4"}, "198.51.100.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.ClientIP(request(tc.remote, tc.headers...))
			if got.String() != tc.want {
				t.Errorf("ClientIP = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestClientIPWithoutCloudflarePreset(t *testing.T) {
	// Cloudflare's ranges listed by hand: trusted for X-Forwarded-For, but
	// CF-Connecting-IP stays off.
	var entries []string
	for _, p := range Cloudflare() {
		entries = append(entries, p.String())
	}
	r := mustNew(t, entries...)
	req := request("173.245.48.1:5000", cf, "1.2.3.4", xff, "198.51.100.1")
	if got := r.ClientIP(req); got.String() != "198.51.100.1" {
		t.Errorf("ClientIP = %v, want the X-Forwarded-For client", got)
	}
}

func TestZeroResolver(t *testing.T) {
	req := request("10.1.2.3:5000", xff, "198.51.100.1", cf, "198.51.100.1")
	var nilR *Resolver
	for _, r := range []*Resolver{nilR, {}, mustNew(t)} {
		if got := r.ClientIP(req); got.String() != "10.1.2.3" {
			t.Errorf("resolver %+v: ClientIP = %v, want the peer", r, got)
		}
	}
	if nilR.Trusted(netip.MustParseAddr("10.1.2.3")) {
		t.Error("nil resolver trusts")
	}
}

func TestParseTrusted(t *testing.T) {
	cfg, err := ParseTrusted([]string{" 10.0.0.0/8 ", "192.0.2.10", "2001:db8::/32", "Cloudflare", "cloudflare", "10.0.0.0/8", "::ffff:172.16.0.0/108", "::ffff:192.0.2.99", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.10/32", "2001:db8::/32", "172.16.0.0/12", "192.0.2.99/32", "2001:db8::1/128"}
	var got []string
	for _, p := range cfg.Trusted {
		got = append(got, p.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("Trusted = %q, want %q", got, want)
	}
	if !slices.Equal(cfg.Presets, []string{"cloudflare"}) {
		t.Errorf("Presets = %q", cfg.Presets)
	}
	if cfg, err := ParseTrusted(nil); err != nil || len(cfg.Trusted)+len(cfg.Presets) != 0 {
		t.Errorf("nil: %+v, %v", cfg, err)
	}

	for _, tc := range []struct{ in, wantErr string }{
		{"", "empty"},
		{"cloudfare", `"cloudfare" is not an IP address, a CIDR or a preset`},
		{"10.0.0.0/33", "not a valid CIDR"},
		{"10.0.0/8", "not a valid CIDR"},
		{"10.0.0.1/8", "write 10.0.0.0/8 for the network, or 10.0.0.1/32 for the one address"},
		{"0.0.0.0/0", "trusts every address"},
		{"::/0", "trusts every address"},
		{"fe80::1%eth0", "zone"},
		{"fe80::%eth0/64", "not a valid CIDR"},
		{"proxy.internal", "not an IP address"},
		{"10.0.0.1:80", "not an IP address"},
	} {
		_, err := ParseTrusted([]string{"10.0.0.0/8", tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: %v, want an error containing %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg     Config
		wantErr string
	}{
		{Config{}, ""},
		{Config{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Presets: []string{"cloudflare"}}, ""},
		{Config{Presets: []string{"fastly"}}, `preset "fastly" is unknown`},
		{Config{Trusted: []netip.Prefix{{}}}, "not a valid CIDR"},
		{Config{Trusted: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/8")}}, "bits set"},
		{Config{Trusted: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}, "every address"},
	} {
		err := tc.cfg.Validate()
		if _, nerr := New(tc.cfg); (err == nil) != (nerr == nil) {
			t.Errorf("%+v: Validate %v but New %v", tc.cfg, err, nerr)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: %v, want an error containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestCloudflarePreset(t *testing.T) {
	cfp := Cloudflare()
	if len(cfp) != 22 {
		t.Errorf("%d Cloudflare ranges, want 15 IPv4 + 7 IPv6", len(cfp))
	}
	for _, p := range cfp {
		if p != p.Masked() {
			t.Errorf("%v is not a network address", p)
		}
	}
	cfp[0] = netip.Prefix{} // a copy: the preset itself is unchanged
	if Cloudflare()[0] != netip.MustParsePrefix("173.245.48.0/20") {
		t.Error("Cloudflare() returned the package's own slice")
	}
	r := mustNew(t, "cloudflare")
	for _, s := range []string{"173.245.48.0", "173.245.63.255", "104.27.255.255", "131.0.75.255", "2a06:98c7:ffff::1", "2c0f:f248::1"} {
		if !r.Trusted(netip.MustParseAddr(s)) {
			t.Errorf("%s is not trusted", s)
		}
	}
	for _, s := range []string{"173.245.64.0", "104.28.0.0", "131.0.76.0", "2a06:98c8::", "2c0f:f249::", "1.1.1.1"} {
		if r.Trusted(netip.MustParseAddr(s)) {
			t.Errorf("%s is trusted", s)
		}
	}
}

// TestRangesMatchPrefixes compares the interval lookup with a plain scan of
// the prefixes, on overlapping, adjacent and edge-of-space prefixes.
func TestRangesMatchPrefixes(t *testing.T) {
	var prefixes []netip.Prefix
	for _, s := range []string{
		"10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8", "192.168.1.0/24", "192.168.2.0/24", "192.168.4.0/24",
		"255.255.255.255/32", "0.0.0.1/32", "128.0.0.0/1",
		"2001:db8::/32", "2001:db8:1::/48", "2001:db9::/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
		"::1/128", "fe80::/10", "8000::/1", "2001:db8:ffff:ffff::/64",
	} {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	r := makeRanges(prefixes)
	if len(r.v4) >= 9 || len(r.v6) >= 8 {
		t.Errorf("spans were not merged: %d IPv4, %d IPv6", len(r.v4), len(r.v6))
	}
	var probes []netip.Addr
	for _, p := range prefixes {
		first := p.Masked().Addr()
		last := lastAddr(p)
		probes = append(probes, first, last, first.Prev(), last.Next(), first.Next())
	}
	probes = append(probes, netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::"), netip.MustParseAddr("127.0.0.1"))
	for _, a := range probes {
		if !a.IsValid() {
			continue
		}
		want := slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
		if got := r.contains(a); got != want {
			t.Errorf("contains(%v) = %v, want %v", a, got, want)
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestClientIPDoesNotAllocate(t *testing.T) {
	r := mustNew(t, "10.0.0.0/8", "cloudflare")
	for name, req := range map[string]*http.Request{
		"untrusted":      request("203.0.113.5:40000", xff, "1.2.3.4"),
		"untrusted IPv6": request("[2001:db8:2::5]:40000", xff, "1.2.3.4"),
		"cloudflare":     request("173.245.48.1:5000", cf, "198.51.100.1"),
		"xff chain":      request("10.1.2.3:5000", xff, "1.2.3.4, 198.51.100.1, 10.9.9.9"),
	} {
		if n := testing.AllocsPerRun(100, func() { r.ClientIP(req) }); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func BenchmarkClientIP(b *testing.B) {
	r := mustNew(b, "10.0.0.0/8", "192.168.0.0/16", "2001:db8:1::/48", "cloudflare")
	for _, bc := range []struct {
		name string
		req  *http.Request
	}{
		{"untrusted", request("203.0.113.5:40000", xff, "1.2.3.4")},
		{"untrusted-ipv6", request("[2001:db8:2::5]:40000")},
		{"cloudflare", request("[2606:4700::1]:5000", cf, "198.51.100.1")},
		{"xff-3-hops", request("10.1.2.3:5000", xff, "1.2.3.4, 198.51.100.1, 192.168.0.1, 10.9.9.9")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.ClientIP(bc.req)
			}
		})
	}
}

// FuzzWalk checks the X-Forwarded-For walk on arbitrary headers: it never
// panics, the answer is the peer or an address in the header, and a client
// behind an untrusted peer can never change the answer.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{"", "1.2.3.4", "1.2.3.4, 10.0.0.1", "junk, 10.0.0.1", "[2001:db8::1]:80,::ffff:10.0.0.1", ",,,", " \t,", "10.0.0.1:99999", "[::1"} {
		f.Add(s, "10.1.2.3:5000")
		f.Add(s, "[::ffff:203.0.113.5]:1")
	}
	r := mustNew(f, "10.0.0.0/8", "2001:db8::/32", "cloudflare")
	f.Fuzz(func(t *testing.T, header, remote string) {
		req := request(remote)
		req.Header[xff] = strings.Split(header, "\n")
		req.Header["Cf-Connecting-Ip"] = []string{header}
		got := r.ClientIP(req)
		peer, ok := parseHostPort(remote)
		switch {
		case !ok:
			if got.IsValid() {
				t.Fatalf("RemoteAddr %q: got %v", remote, got)
			}
			return
		case !r.Trusted(peer):
			if got != peer {
				t.Fatalf("untrusted peer %v: got %v from %q", peer, got, header)
			}
			return
		case got == peer:
			return
		}
		if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
			t.Fatalf("%q: got %v", header, got)
		}
		// The answer came from the header: some entry must parse to it.
		found := false
		for _, e := range strings.FieldsFunc(header, func(r rune) bool { return r == ',' || r == '\n' }) {
			if a, ok := parseHostPort(strings.Trim(e, " \t")); ok && a == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("%q: got %v, which is not in the header", header, got)
		}
	})
}

// FuzzParseTrusted checks that accepted entries make a resolver that trusts
// exactly the prefixes parsed.
func FuzzParseTrusted(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1", "cloudflare", "::ffff:10.0.0.0/104", "2001:db8::/32", "0.0.0.0/0", "10.0.0.1/8", "fe80::1%eth0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		cfg, err := ParseTrusted([]string{entry})
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", entry)
			}
			return
		}
		r, err := New(cfg)
		if err != nil {
			t.Fatalf("%q: parsed to %+v, which New refuses: %v", entry, cfg, err)
		}
		for _, p := range cfg.Trusted {
			if p.Bits() == 0 || p != p.Masked() || p.Addr().Is4In6() {
				t.Fatalf("%q: accepted %v", entry, p)
			}
			if !r.Trusted(p.Addr()) || !r.Trusted(lastAddr(p)) {
				t.Fatalf("%q: %v not trusted", entry, p)
			}
			if n := lastAddr(p).Next(); n.IsValid() && r.Trusted(n) && len(cfg.Presets) == 0 {
				t.Fatalf("%q: %v trusted beyond %v", entry, n, p)
			}
		}
	})
}
