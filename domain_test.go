package rampart

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	const platform = "apps.example.net"
	long63 := strings.Repeat("a", 63)
	// 4 labels of 63 + 3 dots = 255; trim to exactly 253.
	exactly253 := long63 + "." + long63 + "." + long63 + "." + strings.Repeat("b", 61)
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		// Accepted, with the normal form.
		{"example.com", "example.com", ""},
		{"  Shop.Example.COM  ", "shop.example.com", ""},
		{"shop.example.com.", "shop.example.com", ""},
		{"a.b.c.d.example.co.uk", "a.b.c.d.example.co.uk", ""},
		{"my-shop.example.com", "my-shop.example.com", ""},
		{"1shop.example.com", "1shop.example.com", ""},
		{"123.example.com", "123.example.com", ""},
		{"example.test", "example.test", ""},
		{long63 + ".com", long63 + ".com", ""},
		{exactly253, exactly253, ""},
		{"app.apps.example.net.evil.com", "app.apps.example.net.evil.com", ""},
		{"notapps.example.net", "notapps.example.net", ""},

		// IDN → punycode.
		{"bücher.example", "xn--bcher-kva.example", ""},
		{"BÜCHER.Example", "xn--bcher-kva.example", ""},
		{"Bücher.EXAMPLE.", "xn--bcher-kva.example", ""},
		{"bücher。example", "xn--bcher-kva.example", ""},        // ideographic full stop
		{"bücher．example", "xn--bcher-kva.example", ""},        // full-width full stop
		{"ＥＸＡＭＰＬＥ．ＣＯＭ", "example.com", ""},                     // full-width letters
		{"ex\u00adample.com", "example.com", ""},               // soft hyphen is ignored
		{"faß.de", "xn--fa-hia.de", ""},                        // non-transitional: not "fass.de"
		{"例え.テスト", "xn--r8jz45g.xn--zckzah", ""},               // Japanese
		{"مثال.إختبار", "xn--mgbh0fb.xn--kgbechtv", ""},        // Arabic, right-to-left
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""}, // already punycode
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", ""},

		// Empty and length.
		{"", "", "required"},
		{"   ", "", "required"},
		{".", "", "required"},
		{exactly253 + "b", "", "at most 253"},
		{strings.Repeat("a.", 600) + "com", "", "at most 253"},
		{strings.Repeat("a", 64) + ".com", "", "at most 63"},
		{strings.Repeat("ü", 60) + ".com", "", "at most 63"}, // 63+ once encoded

		// Labels.
		{"example..com", "", "empty label"},
		{".example.com", "", "empty label"},
		{"example.com..", "", "empty label"},
		{"-shop.example.com", "", "starts with a hyphen"},
		{"shop-.example.com", "", "ends with a hyphen"},
		{"ab--cd.example.com", "", "3rd and 4th"},
		{"my_shop.example.com", "", "underscore"},
		{"my shop.example.com", "", `character " "`},
		{"shop!.example.com", "", `character "!"`},
		{"shop\x00.example.com", "", `character "\x00"`},
		{"shop.exa*mple.com", "", "wildcard"},
		{"localhost", "", "single label"},
		{"com", "", "single label"},
		{"bücher", "", "single label"},

		// Numeric top-level domains and IP literals.
		{"example.123", "", "never numeric"},
		{"example.0x1f", "", "never numeric"},
		{"0x7f.1", "", "never numeric"},
		{"1.2.3.4", "", "IP address"},
		{"1.2.3.4.", "", "IP address"},
		{"1.2.3.4:443", "", "IP address"},
		{"::1", "", "IP address"},
		{"2001:db8::1", "", "IP address"},
		{"[2001:db8::1]", "", "IP address"},
		{"[2001:db8::1]:8443", "", "IP address"},
		{"fe80::1%eth0", "", "IP address"},
		{"::ffff:192.0.2.1", "", "IP address"},
		{"１.２.３.４", "", "IP address"}, // full-width digits map to an address

		// Wildcards, URLs, ports, emails.
		{"*.example.com", "", "wildcards need a DNS-01 provider, which is not configured; add each name separately"},
		{"*", "", "wildcard"},
		{"https://example.com/path", "", `give only the domain name, e.g. "example.com"`},
		{"https://Shop.Example.com:8443/x?y#z", "", `e.g. "shop.example.com"`},
		{"http://bücher.example/", "", `e.g. "xn--bcher-kva.example"`},
		{"https://", "", `is a URL: give only the domain name, e.g. "shop.example.com"`},
		{"http://[::1]:80/", "", `e.g. "shop.example.com"`},
		{"example.com/path", "", `has a path: give only the domain name, e.g. "example.com"`},
		{"example.com?x=1", "", "has a path"},
		{"example.com:8080", "", `has a port: custom domains are served on ports 80 and 443; give only the name, e.g. "example.com"`},
		{"example.com:", "", "without a port"},
		{"me@example.com", "", `email address: give only the domain name, e.g. "example.com"`},

		// The platform domain and names under it.
		{"apps.example.net", "", "names under apps.example.net are already served as <service>.apps.example.net"},
		{"blog.apps.example.net", "", "under the platform domain"},
		{"BLOG.Apps.Example.Net.", "", "under the platform domain"},

		// IDN failures.
		{"💩.la", "", "emoji and symbols are not allowed"},
		{"i❤.ws", "", "symbol"},
		{"xn--ls8h.la", "", "emoji and symbols are not allowed"}, // the same, as punycode
		{"xn--zz.example", "", "not valid punycode"},
		{"xn--a.example", "", "not valid punycode"},
		{"xn--.example", "", "ends with a hyphen"},
		{"xn--abc-.example", "", "ends with a hyphen"},
		{"xn--example-.com", "", "ends with a hyphen"},
		{"xn--nxasmq6b.com", "", ""}, // valid Greek: accepted below
		{"shop_ü.example", "", "underscore"},
		{"-bücher.example", "", "hyphen"},
		{"bü\u200dcher.example", "", "not allowed"}, // zero-width joiner out of context
		{"\u0301bücher.example", "", "not a valid internationalized label"},
		{"⑴.com", "", "character"},
		{"bücher\u3000x.example", "", "not allowed in domain names"},
		{"\xff.example", "", "UTF-8"},
		{"ab\u0627.example", "", "not a valid internationalized label"}, // Latin then Arabic
	} {
		got, err := NormalizeDomain(tc.in, platform)
		switch {
		case tc.in == "xn--nxasmq6b.com":
			if err != nil || got != tc.in {
				t.Errorf("%q: got %q, %v", tc.in, got, err)
			}
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.in, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%q: accepted as %q, want an error containing %q", tc.in, got, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%q: error %q, want one containing %q", tc.in, err, tc.wantErr)
		case err != nil && ErrorCode(err) != EINVALID:
			t.Errorf("%q: code %q, want %q", tc.in, ErrorCode(err), EINVALID)
		case err != nil && got != "":
			t.Errorf("%q: returned %q with an error", tc.in, got)
		}
	}
}

func TestNormalizeDomainWithoutPlatform(t *testing.T) {
	for _, in := range []string{"apps.example.net", "blog.apps.example.net"} {
		if got, err := NormalizeDomain(in, ""); err != nil || got != in {
			t.Errorf("%q without a platform domain: %q, %v", in, got, err)
		}
	}
	// The platform domain may be configured with a trailing dot or capitals.
	if _, err := NormalizeDomain("x.apps.example.net", "Apps.Example.NET."); err == nil {
		t.Error("name under a platform domain written with a trailing dot was accepted")
	}
}

func TestDisplayDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"xn--bcher-kva.example", "bücher.example"},
		{"shop.xn--bcher-kva.example", "shop.bücher.example"},
		{"xn--r8jz45g.xn--zckzah", "例え.テスト"},
		{"example.com", ""},
		{"xn--zz.example", ""},
	} {
		if got := DisplayDomain(tc.in); got != tc.want {
			t.Errorf("DisplayDomain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidateTLSMode(t *testing.T) {
	for _, m := range []TLSMode{TLSManaged, TLSCustom, TLSOff} {
		if err := ValidateTLSMode(m); err != nil {
			t.Errorf("%q: %v", m, err)
		}
	}
	for m, want := range map[TLSMode]string{"": "empty", "auto": `"auto" is unknown`, "Managed": "unknown"} {
		err := ValidateTLSMode(m)
		if err == nil || !strings.Contains(err.Error(), want) || ErrorCode(err) != EINVALID {
			t.Errorf("%q: %v, want an invalid error containing %q", m, err, want)
		}
	}
}

func TestDomainValidate(t *testing.T) {
	d := Domain{Name: "xn--bcher-kva.example", TLSMode: TLSManaged}
	if err := d.Validate("apps.example.net"); err != nil {
		t.Fatal(err)
	}
	d.Name = "Bücher.example"
	if err := d.Validate(""); err == nil || !strings.Contains(err.Error(), `use "xn--bcher-kva.example"`) {
		t.Errorf("unnormalized name: %v", err)
	}
	d.Name, d.TLSMode = "shop.example.com", "letsencrypt"
	if err := d.Validate(""); err == nil {
		t.Error("unknown TLS mode accepted")
	}
}

func TestDomainJSON(t *testing.T) {
	b, err := json.Marshal(Domain{ID: 1, ServiceID: 2, Service: "blog", Name: "shop.example.com", TLSMode: TLSManaged, DomainStatus: DomainStatus{State: DomainWaitingForDNS}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"service_id":2`, `"tls_mode":"managed"`, `"state":"waiting_for_dns"`, `"created_at"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

// FuzzNormalizeDomain checks that every accepted name is one the rest of
// rampart can rely on without checking again, and that normalizing is
// idempotent.
func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{
		"example.com", "Shop.Example.COM.", "bücher.example", "bücher。example", "xn--bcher-kva.example",
		"💩.la", "xn--ls8h.la", "xn--zz.example", "*.example.com", "https://example.com/path",
		"1.2.3.4", "[::1]:80", "example.com:8080", "a..b", "-a.com", "ab--cd.com", "faß.de",
		"例え.テスト", "مثال.إختبار", "ＥＸＡＭＰＬＥ．ＣＯＭ", "ex\u00adample.com", "x.apps.example.net",
		strings.Repeat("a", 63) + ".com", strings.Repeat("a.", 127) + "com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := NormalizeDomain(in, "apps.example.net")
		if err != nil {
			if name != "" || ErrorCode(err) != EINVALID || err.Error() == "" {
				t.Fatalf("%q: name %q, error %v (code %q)", in, name, err, ErrorCode(err))
			}
			return
		}
		if len(name) > MaxDomainLength {
			t.Fatalf("%q: %q is %d long", in, name, len(name))
		}
		labels := strings.Split(name, ".")
		if len(labels) < 2 {
			t.Fatalf("%q: %q has one label", in, name)
		}
		for _, l := range labels {
			if l == "" || len(l) > MaxLabelLength || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("%q: %q has the bad label %q", in, name, l)
			}
			for i := 0; i < len(l); i++ {
				if c := l[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
					t.Fatalf("%q: %q has the byte %q (not lower-case LDH)", in, name, c)
				}
			}
		}
		if name == "apps.example.net" || strings.HasSuffix(name, ".apps.example.net") {
			t.Fatalf("%q: %q is under the platform domain", in, name)
		}
		again, err := NormalizeDomain(name, "apps.example.net")
		if err != nil || again != name {
			t.Fatalf("%q: normalized to %q, which normalizes to %q, %v", in, name, again, err)
		}
	})
}
