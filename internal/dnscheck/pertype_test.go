package dnscheck

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestCheckPerType: each record type is judged on its own answer, and the
// result says which type gave what.
func TestCheckPerType(t *testing.T) {
	const hereA = "shop.example.com. 60 IN A 198.51.100.7"
	for _, tc := range []struct {
		name             string
		zone             resolver
		here             bool
		reason           []string // substrings of Result.Reason; none means empty
		a, aaaa          string
		err, aErr, aaErr string // substrings; "" means empty
	}{
		{
			// The defect a user hit: A answered here, AAAA empty from a
			// forwarder that does not recurse for it.
			name: "forwarder answers A here, AAAA empty",
			zone: resolver{forwarder: true, records: rrs(t, hereA)},
			here: true, a: "198.51.100.7",
			aaErr: "does not resolve recursively (an empty answer without recursion or authority",
		},
		{
			name: "forwarder answers A here, refers AAAA",
			zone: resolver{forwarder: true, referral: true, records: rrs(t, hereA)},
			here: true, a: "198.51.100.7",
			aaErr: "does not resolve recursively (a referral instead of an answer)",
		},
		{
			name: "A fails, AAAA here",
			zone: resolver{rcodes: map[uint16]int{dns.TypeA: dns.RcodeServerFailure}, records: rrs(t, "shop.example.com. 60 IN AAAA 2001:db8::7")},
			here: true, aaaa: "2001:db8::7",
			aErr: "SERVFAIL",
		},
		{
			name: "forwarder answers A elsewhere, AAAA empty",
			zone: resolver{forwarder: true, records: rrs(t, "shop.example.com. 60 IN A 203.0.113.9")},
			reason: []string{
				"DNS points at 203.0.113.9, expected",
				"answered only A; AAAA: no answer (does not resolve recursively",
			},
			a:     "203.0.113.9",
			aaErr: "does not resolve recursively",
		},
		{
			name:   "forwarder answers neither",
			zone:   resolver{forwarder: true, records: rrs(t, `shop.example.com. 60 IN TXT "hello"`)},
			reason: []string{"did not answer: does not resolve recursively"},
			err:    "does not resolve recursively",
		},
		{
			name:   "each type fails its own way",
			zone:   resolver{rcodes: map[uint16]int{dns.TypeA: dns.RcodeServerFailure, dns.TypeAAAA: dns.RcodeRefused}},
			reason: []string{"did not answer: A: SERVFAIL (", "; AAAA: REFUSED ("},
			err:    "A: SERVFAIL",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, serve(t, &tc.zone, false))
			if res.PointsHere != tc.here {
				t.Errorf("PointsHere = %v, want %v (reason %q)", res.PointsHere, tc.here, res.Reason)
			}
			if len(tc.reason) == 0 && res.Reason != "" {
				t.Errorf("reason %q, want none", res.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(res.Reason, want) {
					t.Errorf("reason %q, want one containing %q", res.Reason, want)
				}
			}
			r := res.Resolvers[0]
			if r.PointsHere != tc.here {
				t.Errorf("resolver PointsHere = %v", r.PointsHere)
			}
			for _, f := range []struct{ field, got, want string }{
				{"Err", r.Err, tc.err}, {"AErr", r.AErr, tc.aErr}, {"AAAAErr", r.AAAAErr, tc.aaErr},
				{"A", fmtAddrs(r.A), tc.a}, {"AAAA", fmtAddrs(r.AAAA), tc.aaaa},
			} {
				if f.want == "" && f.got != "" || !strings.Contains(f.got, f.want) {
					t.Errorf("%s = %q, want %q", f.field, f.got, f.want)
				}
			}
		})
	}
}

// TestCheckPartialAnswerDoesNotHideStaleAAAA: the forwarder cannot see
// the AAAA records, but a resolver that can sees a stale one, and that
// holds the name back as before.
func TestCheckPartialAnswerDoesNotHideStaleAAAA(t *testing.T) {
	records := rrs(t, "shop.example.com. 60 IN A 198.51.100.7", "shop.example.com. 60 IN AAAA 2001:db8::dead")
	forwarder := serve(t, &resolver{forwarder: true, records: records[:1]}, false)
	recursive := serve(t, &resolver{records: records}, false)
	res := check(t, forwarder, recursive)
	if res.PointsHere {
		t.Fatal("points here while a resolver sees a stale AAAA record")
	}
	want := "1 of 2 resolvers see the new record; waiting for the rest to catch up (" + recursive + " still sees 198.51.100.7 and 2001:db8::dead)"
	if res.Reason != want {
		t.Errorf("reason %q, want %q", res.Reason, want)
	}
	if f := res.Resolvers[0]; !f.PointsHere || f.AAAAErr == "" || f.Err != "" {
		t.Errorf("forwarder: %+v", f)
	}
}
