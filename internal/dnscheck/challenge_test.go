package dnscheck

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The token of the service under test and another service's, as the store
// makes them (32 hex digits).
const (
	token      = "5f0c1e9a2b7d4c3e8f6a1b2c3d4e5f60"
	otherToken = "0123456789abcdef0123456789abcdef"
)

// TestCheckChallenge: on a shared node (Target.Token set) A/AAAA records to
// the node prove a name only together with the service's TXT record, while
// a CNAME to the platform hostname proves it alone; every reason that holds
// a name back names the record to add.
func TestCheckChallenge(t *testing.T) {
	shared := target
	shared.Token = token
	const aHere = "shop.example.com. 60 IN A 198.51.100.7"
	for _, tc := range []struct {
		name   string
		zone   resolver
		here   bool
		reason string // substring of Result.Reason when not here
		txt    []string
	}{
		{
			name:   "A here, no TXT",
			zone:   resolver{records: rrs(t, aHere)},
			reason: `DNS points at 198.51.100.7, this server, but other accounts share it, so an address does not prove the name is this service's: add a TXT record _rampart-challenge.shop.example.com with the value "` + token + `", or use a CNAME to blog.apps.example.com instead`,
		},
		{
			name: "A here with the token",
			zone: resolver{records: rrs(t, aHere, `_rampart-challenge.shop.example.com. 60 IN TXT "`+token+`"`)},
			here: true, txt: []string{token},
		},
		{
			name: "the token among other TXT records",
			zone: resolver{records: rrs(t, aHere, `_rampart-challenge.shop.example.com. 60 IN TXT "v=spf1 -all"`, `_rampart-challenge.shop.example.com. 60 IN TXT "`+strings.ToUpper(token)+`"`)},
			here: true, txt: []string{"v=spf1 -all", strings.ToUpper(token)},
		},
		{
			name: "the token split into two strings",
			zone: resolver{records: rrs(t, aHere, `_rampart-challenge.shop.example.com. 60 IN TXT "`+token[:10]+`" "`+token[10:]+`"`)},
			here: true, txt: []string{token},
		},
		{
			name: "the token pasted with its quotes",
			zone: resolver{records: rrs(t, aHere, `_rampart-challenge.shop.example.com. 60 IN TXT "\"`+token+`\""`)},
			here: true, txt: []string{token},
		},
		{
			name: "the TXT record delegated by CNAME",
			zone: resolver{records: rrs(t, aHere, `_rampart-challenge.shop.example.com. 60 IN CNAME proofs.example.net.`, `proofs.example.net. 60 IN TXT "`+token+`"`)},
			here: true, txt: []string{token},
		},
		{
			name:   "another service's token",
			zone:   resolver{records: rrs(t, aHere, `_rampart-challenge.shop.example.com. 60 IN TXT "`+otherToken+`"`)},
			reason: `the TXT record _rampart-challenge.shop.example.com holds "` + otherToken + `", not this service's token: set its value to "` + token + `"`,
			txt:    []string{otherToken},
		},
		{
			name: "CNAME proves it without TXT",
			zone: resolver{records: rrs(t, "shop.example.com. 60 IN CNAME blog.apps.example.com.", platformRecords)},
			here: true,
		},
		{
			name:   "TXT with the token, but A elsewhere",
			zone:   resolver{records: rrs(t, "shop.example.com. 60 IN A 203.0.113.9", `_rampart-challenge.shop.example.com. 60 IN TXT "`+token+`"`)},
			reason: `DNS points at 203.0.113.9, expected a CNAME to blog.apps.example.com, or 198.51.100.7 and 2001:db8::7 together with a TXT record _rampart-challenge.shop.example.com with the value "` + token + `"`,
			txt:    []string{token},
		},
		{
			name:   "nothing yet",
			zone:   resolver{records: rrs(t, "example.com. 60 IN NS ns1.example.com.")},
			reason: `add a CNAME record to blog.apps.example.com, or A/AAAA records for 198.51.100.7 and 2001:db8::7 and a TXT record _rampart-challenge.shop.example.com with the value "` + token + `" if it is a bare domain`,
		},
		{
			name:   "TXT query fails",
			zone:   resolver{records: rrs(t, aHere), rcodes: map[uint16]int{16: 2}}, // TXT: SERVFAIL
			reason: `could not say whether the TXT record _rampart-challenge.shop.example.com exists (SERVFAIL`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Checker{Resolvers: []string{serve(t, &tc.zone, false)}, Timeout: 2 * time.Second}
			res := c.Check(context.Background(), "shop.example.com", shared)
			if res.PointsHere != tc.here {
				t.Fatalf("PointsHere = %v, want %v (reason %q)", res.PointsHere, tc.here, res.Reason)
			}
			if tc.here && res.Reason != "" {
				t.Errorf("Reason = %q, want none", res.Reason)
			}
			if !tc.here && !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("Reason = %q\nwant it to contain %q", res.Reason, tc.reason)
			}
			if got := strings.Join(res.Resolvers[0].TXT, "|"); got != strings.Join(tc.txt, "|") {
				t.Errorf("TXT = %q, want %q", res.Resolvers[0].TXT, tc.txt)
			}
		})
	}
}

// TestCheckChallengeSingleAccount: without a token (a node with one
// account) the TXT record is neither asked for nor needed.
func TestCheckChallengeSingleAccount(t *testing.T) {
	z := resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7"), rcodes: map[uint16]int{16: 2}}
	res := check(t, serve(t, &z, false))
	if !res.PointsHere || res.Resolvers[0].TXTErr != "" {
		t.Fatalf("without a token: PointsHere %v, TXTErr %q; want true and no TXT query (%q)", res.PointsHere, res.Resolvers[0].TXTErr, res.Reason)
	}
}

// TestCheckChallengeLaggingResolver: one resolver that sees the address
// but not yet the TXT record holds the name back, and the reason says so.
func TestCheckChallengeLaggingResolver(t *testing.T) {
	shared := target
	shared.Token = token
	done := resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7", `_rampart-challenge.shop.example.com. 60 IN TXT "`+token+`"`)}
	behind := resolver{records: rrs(t, "shop.example.com. 60 IN A 198.51.100.7")}
	c := Checker{Resolvers: []string{serve(t, &done, false), serve(t, &behind, false)}, Timeout: 2 * time.Second}
	res := c.Check(context.Background(), "shop.example.com", shared)
	if res.PointsHere || !strings.Contains(res.Reason, "still sees 198.51.100.7 without the TXT record") {
		t.Fatalf("PointsHere %v, Reason %q; want false, naming the missing TXT record", res.PointsHere, res.Reason)
	}
}

func TestTXTValue(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"abc"}, "abc"},
		{[]string{"ab", "c"}, "abc"},
		{[]string{" abc "}, "abc"},
		{[]string{`\"abc\"`}, "abc"},
		{[]string{`\"`, `abc\"`}, "abc"},
		{[]string{`"abc"`}, "abc"},
		{[]string{`\"`}, `"`},
		{[]string{`\"\"`}, ""},
		{[]string{`a\\b`}, `a\b`},
		{[]string{`a\098c`}, "abc"},
		{[]string{`a\999`}, "a999"},
		{[]string{`a\`}, `a\`},
		{[]string{`\009abc\032`}, "abc"},
		{nil, ""},
	} {
		if got := TXTValue(tc.in); got != tc.want {
			t.Errorf("TXTValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzTXTValue: whatever a DNS server sends, the value is never longer than
// the strings it comes from and has no surrounding space, and a value with
// nothing to unescape or trim comes back as it was.
func FuzzTXTValue(f *testing.F) {
	f.Add("abc", "")
	f.Add(`\"abc`, `\"`)
	f.Add(` \"x\" `, "y")
	f.Add(`\255\256\`, "\x00")
	f.Add("\xff", `\0`)
	f.Fuzz(func(t *testing.T, a, b string) {
		v := TXTValue([]string{a, b})
		if len(v) > len(a)+len(b) {
			t.Fatalf("TXTValue(%q, %q) = %q: longer than its input", a, b, v)
		}
		if v != strings.TrimSpace(v) {
			t.Fatalf("TXTValue(%q, %q) = %q: surrounding space left", a, b, v)
		}
		plain := a + b
		if !strings.ContainsAny(plain, `\"`) && plain == strings.TrimSpace(plain) && v != plain {
			t.Fatalf("TXTValue(%q, %q) = %q: changed a plain value", a, b, v)
		}
	})
}
