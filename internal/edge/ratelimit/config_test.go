package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	many := make([]netip.Prefix, MaxAllow+1)
	for i := range many {
		many[i] = netip.PrefixFrom(v4(i), 32)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // in the error; "" for none
	}{
		{"zero", Config{}, ""},
		{"default", Default(), ""},
		{"per second", Config{Requests: 10, Period: time.Second}, ""},
		{"maximum", Config{Requests: MaxRequests, Period: time.Second}, ""},
		{"disabled", Config{Disabled: true}, ""},
		{"allow-list", Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::/0")}}, ""},
		{"negative", Config{Requests: -1}, "requests must be 1..1000000 (got -1)"},
		{"too many", Config{Requests: MaxRequests + 1}, "requests must be 1..1000000"},
		{"period", Config{Period: 10 * time.Second}, "period must be 1s or 1m (got 10s)"},
		{"negative period", Config{Period: -time.Minute}, "period must be 1s or 1m"},
		{"hour", Config{Period: time.Hour}, "period must be 1s or 1m"},
		{"zero prefix", Config{Allow: []netip.Prefix{{}}}, "allow-list entry 1: not a valid network"},
		{"host bits", Config{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.1/8")}},
			"allow-list entry 2: 10.0.0.1/8 has bits set after the first 8: write 10.0.0.0/8 for the network, or 10.0.0.1/32 for the one address"},
		{"long list", Config{Allow: many}, "at most 10000"},
		{"disabled is checked too", Config{Disabled: true, Requests: -5}, "requests must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	err := Config{Requests: -1, Period: time.Hour}.Validate()
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("want both problems listed, got %v", err)
	}
}

func TestConfigString(t *testing.T) {
	for cfg, want := range map[*Config]string{
		{}:                                  "150/minute",
		{Requests: 10, Period: time.Second}: "10/second",
		{Disabled: true}:                    "off",
		{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}:                                                "150/minute, 1 network allowed",
		{Requests: 5, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}: "5/minute, 2 networks allowed",
	} {
		if got := cfg.String(); got != want {
			t.Errorf("%+v: %q, want %q", *cfg, got, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in     string
		n      int
		period time.Duration
		err    string
	}{
		{"150/minute", 150, time.Minute, ""},
		{"150/min", 150, time.Minute, ""},
		{" 150 / M ", 150, time.Minute, ""},
		{"10/s", 10, time.Second, ""},
		{"10/sec", 10, time.Second, ""},
		{"10/Second", 10, time.Second, ""},
		{"150 per minute", 150, time.Minute, ""},
		{"1000000/s", 1000000, time.Second, ""},
		{"150", 0, 0, "write it as requests/period"},
		{"150/hour", 0, 0, "second or minute"},
		{"0/s", 0, 0, "from 1 to 1000000"},
		{"-3/s", 0, 0, "from 1 to 1000000"},
		{"1000001/s", 0, 0, "from 1 to 1000000"},
		{"1e3/s", 0, 0, "whole number"},
		{"", 0, 0, "write it as"},
	} {
		n, p, err := ParseRate(tc.in)
		if tc.err == "" {
			if err != nil || n != tc.n || p != tc.period {
				t.Errorf("ParseRate(%q) = %d, %v, %v; want %d, %v", tc.in, n, p, err, tc.n, tc.period)
			}
			if err := (Config{Requests: n, Period: p}).Validate(); err != nil {
				t.Errorf("ParseRate(%q) gave an invalid config: %v", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseRate(%q): error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"192.0.2.0/24", "192.0.2.0/24", ""},
		{" 192.0.2.7 ", "192.0.2.7/32", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120", ""},
		{"0.0.0.0/0", "0.0.0.0/0", ""},
		{"192.0.2.7/24", "", "write 192.0.2.0/24 for the network, or 192.0.2.7/32"},
		{"192.0.2.0/33", "", "not a network"},
		{"fe80::1%eth0", "", "not an IP address"},
		{"example.com", "", "not an IP address"},
		{"", "", "not an IP address"},
	} {
		p, err := ParsePrefix(tc.in)
		if tc.err == "" {
			if err != nil || p.String() != tc.want {
				t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParsePrefix(%q): error %v, want %q", tc.in, err, tc.err)
		}
	}
}

// The compiled allow-list agrees with netip's own Contains.
func TestAllowSet(t *testing.T) {
	var prefixes []netip.Prefix
	for _, s := range []string{
		"10.0.0.0/8", "10.1.0.0/16", "10.255.255.255/32", "11.0.0.0/8", // nested and adjacent
		"192.0.2.0/25", "192.0.2.128/25", "198.51.100.7/32", "255.255.255.255/32",
		"::ffff:203.0.113.0/120", "2001:db8::/32", "2001:db8:1::/48", "2001:db9::/32",
		"fe80::/10", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/128",
	} {
		prefixes = append(prefixes, netip.MustParsePrefix(s))
	}
	set := newAllowSet(prefixes)
	naive := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range prefixes {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	probes := []string{
		"9.255.255.255", "10.0.0.0", "10.200.1.1", "11.255.255.255", "12.0.0.0",
		"192.0.2.0", "192.0.2.255", "192.0.3.0", "198.51.100.6", "198.51.100.7", "198.51.100.8",
		"255.255.255.254", "255.255.255.255", "0.0.0.0", "203.0.113.9", "::ffff:203.0.113.9", "::ffff:10.0.0.1",
		"2001:db7:ffff::1", "2001:db8::", "2001:db9:ffff:ffff:ffff:ffff:ffff:ffff", "2001:dba::",
		"fe80::1", "febf:ffff::1", "fec0::", "::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
	}
	for i := range 2000 { // and a walk through both spaces
		probes = append(probes, v4(i*8191).String(), v6(i*7919).String())
	}
	for _, s := range probes {
		a := addr(s)
		c, _ := clientOf(a)
		if got, want := set.contains(c), naive(a); got != want {
			t.Errorf("%s: contains %v, want %v", s, got, want)
		}
	}
	if n := len(set.v4); n != 5 { // 10-11/8, 192.0.2.0/24, 198.51.100.7, 203.0.113/24, 255.255.255.255
		t.Errorf("%d IPv4 spans after merging: %v", n, set.v4)
	}
}
