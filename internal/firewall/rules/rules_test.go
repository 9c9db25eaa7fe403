package rules

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		in       string
		from, to uint16
		err      string // part of the error; "" means success
	}{
		{"80", 80, 80, ""},
		{" 443 ", 443, 443, ""},
		{"8000-8100", 8000, 8100, ""},
		{"1-65535", 1, 65535, ""},
		{"22 - 23", 22, 23, ""},
		{"7-7", 7, 7, ""},
		{"", 0, 0, "port is missing"},
		{"0", 0, 0, "port 0 cannot be opened"},
		{"65536", 0, 0, "out of range"},
		{"99999999999999999999", 0, 0, "out of range"},
		{"8100-8000", 0, 0, "is reversed: write 8000-8100"},
		{"-80", 0, 0, "not a port"},
		{"80-", 0, 0, "not a port"},
		{"http", 0, 0, "not a port"},
		{"+80", 0, 0, "not a port"},
		{"80-90-100", 0, 0, "not a port"},
		{"0x50", 0, 0, "not a port"},
	} {
		from, to, err := ParsePorts(tc.in)
		if tc.err == "" {
			if err != nil || from != tc.from || to != tc.to {
				t.Errorf("ParsePorts(%q) = %d, %d, %v; want %d, %d", tc.in, from, to, err, tc.from, tc.to)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePorts(%q) error = %v; want one containing %q that wraps ErrInvalid", tc.in, err, tc.err)
		}
	}
}

func TestParseProto(t *testing.T) {
	for in, want := range map[string]Proto{"tcp": TCP, " UDP ": UDP, "Tcp": TCP} {
		if got, err := ParseProto(in); err != nil || got != want {
			t.Errorf("ParseProto(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "icmp", "sctp", "tcp/udp", "6"} {
		if _, err := ParseProto(in); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "use tcp or udp") {
			t.Errorf("ParseProto(%q) error = %v; want one saying to use tcp or udp", in, err)
		}
	}
}

func TestParseSources(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  string   // FormatSources of the result
		notes []string // parts of the notes, in order
		err   string
	}{
		{in: "", want: "any"},
		{in: "any", want: "any"},
		{in: "any4", want: "any4"},
		{in: "IPv6", want: "any6"},
		{in: "0.0.0.0/0, ::/0", want: "any"},
		{in: "203.0.113.0/24, 2001:db8::/32, 198.51.100.7", want: "198.51.100.7, 203.0.113.0/24, 2001:db8::/32"},
		{in: "198.51.100.7\n198.51.100.8;198.51.100.9 \t2001:db8::1", want: "198.51.100.7, 198.51.100.8, 198.51.100.9, 2001:db8::1"},
		{in: "203.0.113.7/24", want: "203.0.113.0/24", notes: []string{"203.0.113.7/24 has host bits set: using the network 203.0.113.0/24"}},
		{in: "2001:db8::1/32", want: "2001:db8::/32", notes: []string{"has host bits set"}},
		{in: "::ffff:198.51.100.7", want: "198.51.100.7", notes: []string{"IPv4 address written as IPv6"}},
		{in: "::ffff:198.51.100.0/120", want: "198.51.100.0/24", notes: []string{"IPv4 network written as IPv6"}},
		{in: "198.51.100.7, 198.51.100.7", want: "198.51.100.7", notes: []string{"198.51.100.7 is listed twice"}},
		{in: "10.1.2.3, 10.0.0.0/8, 10.2.0.0/16", want: "10.0.0.0/8", notes: []string{"10.1.2.3 is inside 10.0.0.0/8", "10.2.0.0/16 is inside 10.0.0.0/8"}},
		{in: "any4, 198.51.100.7", want: "any4", notes: []string{"198.51.100.7 is inside any4"}},
		{in: "198.51.100.300", err: `"198.51.100.300" is not an IP address`},
		{in: "203.0.113.0/33", err: "not a network in CIDR notation"},
		{in: "example.com", err: "not an IP address"},
		{in: "fe80::1%eth0", err: "not an IP address"},
		{in: "::ffff:1.2.3.4/64", err: "IPv4-mapped"},
	} {
		got, notes, err := ParseSources(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseSources(%q) error = %v; want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSources(%q): %v", tc.in, err)
			continue
		}
		if s := FormatSources(got); s != tc.want {
			t.Errorf("ParseSources(%q) = %s; want %s", tc.in, s, tc.want)
		}
		if len(notes) != len(tc.notes) {
			t.Errorf("ParseSources(%q) notes = %q; want %d containing %q", tc.in, notes, len(tc.notes), tc.notes)
			continue
		}
		for i := range notes {
			if !strings.Contains(notes[i], tc.notes[i]) {
				t.Errorf("ParseSources(%q) note %d = %q; want it to contain %q", tc.in, i, notes[i], tc.notes[i])
			}
		}
	}
}

func TestParseSourcesBound(t *testing.T) {
	var b strings.Builder
	for i := range MaxSources {
		b.WriteString(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String())
		b.WriteByte(',')
	}
	got, _, err := ParseSources(b.String())
	if err != nil || len(got) != MaxSources {
		t.Fatalf("ParseSources(%d addresses) = %d sources, %v", MaxSources, len(got), err)
	}
	b.WriteString("192.0.2.1")
	if _, _, err := ParseSources(b.String()); err == nil || !strings.Contains(err.Error(), "at most 10000") {
		t.Fatalf("ParseSources(%d addresses) error = %v; want the bound", MaxSources+1, err)
	}
}

func TestRuleValidate(t *testing.T) {
	ok := Rule{Proto: TCP, PortFrom: 22, PortTo: 22, Sources: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, Comment: "office"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid rule %v: %v", ok, err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Rule)
		err  string
	}{
		{"unknown protocol", func(r *Rule) { r.Proto = "icmp" }, `unknown protocol "icmp"`},
		{"port 0", func(r *Rule) { r.PortFrom, r.PortTo = 0, 0 }, "port 0"},
		{"reversed", func(r *Rule) { r.PortFrom, r.PortTo = 90, 80 }, "90-80 is reversed: write 80-90"},
		{"host bits", func(r *Rule) { r.Sources = []netip.Prefix{netip.MustParsePrefix("203.0.113.7/24")} }, "host bits set"},
		{"unsorted", func(r *Rule) {
			r.Sources = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.0/24")}
		}, "not in normal form"},
		{"duplicate", func(r *Rule) {
			r.Sources = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("203.0.113.0/24")}
		}, "listed twice"},
		{"both families spelled out", func(r *Rule) { r.Sources = []netip.Prefix{AnyIPv4, AnyIPv6} }, "not in normal form"},
		{"invalid prefix", func(r *Rule) { r.Sources = []netip.Prefix{{}} }, "not a valid network"},
		{"too many sources", func(r *Rule) { r.Sources = make([]netip.Prefix, MaxSources+1) }, "at most 10000"},
		{"long comment", func(r *Rule) { r.Comment = strings.Repeat("é", MaxComment+1) }, "129 characters long"},
		{"control characters", func(r *Rule) { r.Comment = "a\nb" }, "control characters"},
	} {
		r := ok
		tc.edit(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate(%v) = %v; want an error containing %q", tc.name, r, err, tc.err)
		}
	}
}

func TestValidateRuleset(t *testing.T) {
	rule := func(proto Proto, ports string) Rule {
		from, to, err := ParsePorts(ports)
		if err != nil {
			t.Fatal(err)
		}
		return Rule{Proto: proto, PortFrom: from, PortTo: to}
	}
	if err := Validate(append(Defaults(), rule(UDP, "443"), rule(TCP, "8000-8100"), rule(TCP, "8101"))); err != nil {
		t.Fatalf("a ruleset without collisions: %v", err)
	}
	for _, tc := range []struct {
		rs  []Rule
		err string
	}{
		{[]Rule{rule(TCP, "22"), rule(TCP, "80"), rule(TCP, "22")}, "rules 1 and 3 both open 22/tcp"},
		{[]Rule{rule(TCP, "8000-8100"), rule(TCP, "8100-8200")}, "rules 1 (8000-8100/tcp) and 2 (8100-8200/tcp) overlap"},
		// A short range after a long one must not hide the long one.
		{[]Rule{rule(UDP, "1000-2000"), rule(UDP, "1100"), rule(UDP, "1500-1600")}, "rules 1 (1000-2000/udp) and 2 (1100/udp) overlap"},
		{[]Rule{rule(TCP, "1-100"), rule(TCP, "200"), rule(TCP, "50-60")}, "rules 1 (1-100/tcp) and 3 (50-60/tcp) overlap"},
		{[]Rule{rule(TCP, "80"), {Proto: "sctp", PortFrom: 1, PortTo: 1}}, "rule 2: invalid firewall rule: unknown protocol"},
		{make([]Rule, MaxRules+1), "at most 1000"},
	} {
		if err := Validate(tc.rs); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Validate(%v) = %v; want an error containing %q", tc.rs, err, tc.err)
		}
	}
}

func TestParseRule(t *testing.T) {
	r, notes, err := ParseRule("TCP", "8000-8100", "203.0.113.9/24", "  staging  ")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.String(), "8000-8100/tcp from 203.0.113.0/24 (staging)"; got != want {
		t.Errorf("ParseRule(...).String() = %q; want %q", got, want)
	}
	if len(notes) != 1 {
		t.Errorf("notes = %q; want the host-bits note", notes)
	}
	if !r.Admits(netip.MustParseAddr("203.0.113.200")) || r.Admits(netip.MustParseAddr("198.51.100.1")) || r.AdmitsIPv6() || !r.AdmitsIPv4() {
		t.Errorf("%v admits the wrong sources", r)
	}
	if _, _, err := ParseRule("tcp", "22", "", strings.Repeat("x", MaxComment+1)); err == nil {
		t.Error("ParseRule accepted an over-long comment")
	}
}

func TestKnownPorts(t *testing.T) {
	if err := Validate(Defaults()); err != nil {
		t.Fatalf("the default ruleset is invalid: %v", err)
	}
	var all []Rule
	for _, k := range KnownPorts {
		all = append(all, k.Rule())
		if k.Purpose == "" || k.Name == "" {
			t.Errorf("known port %d/%s has no name or purpose", k.Port, k.Proto)
		}
	}
	if err := Validate(all); err != nil {
		t.Fatalf("the known ports collide: %v", err)
	}
	var open []string
	for _, r := range Defaults() {
		open = append(open, r.Name())
	}
	if want := []string{"22/tcp", "80/tcp", "443/tcp"}; !slices.Equal(open, want) {
		t.Errorf("Defaults() opens %q; want %q", open, want)
	}
	for _, p := range []uint16{18344, 18345, 18346, 18374, 18445} {
		if k, ok := LookupKnown(TCP, p); !ok || k.Open {
			t.Errorf("tool port %d/tcp: known=%v open=%v; want known and closed", p, ok, k.Open)
		}
	}
	if k, ok := LookupKnown(UDP, 4242); !ok || k.Open {
		t.Errorf("4242/udp: known=%v open=%v; want known and closed", ok, k.Open)
	}
	if k, _ := LookupKnown(TCP, 22); !k.Mandatory {
		t.Error("22/tcp is not mandatory")
	}
}

// TestValidateOverlapsLikeBruteForce compares Validate's one-pass overlap
// detection with checking every pair, on random rulesets.
func TestValidateOverlapsLikeBruteForce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		n := 1 + rnd.IntN(8)
		rs := make([]Rule, n)
		for i := range rs {
			from := uint16(1 + rnd.IntN(60))
			rs[i] = Rule{Proto: []Proto{TCP, UDP}[rnd.IntN(2)], PortFrom: from, PortTo: from + uint16(rnd.IntN(10))}
		}
		want := false
		for i := range rs {
			for j := i + 1; j < len(rs); j++ {
				want = want || rs[i].Overlaps(rs[j])
			}
		}
		if err := Validate(rs); (err != nil) != want {
			t.Fatalf("Validate(%v) = %v; overlapping pairs exist: %v", rs, err, want)
		}
	}
}
