package rules

import (
	"slices"
	"testing"
)

// FuzzParsePorts checks that ParsePorts never panics, that what it accepts
// is a real, ordered range, and that formatting and parsing again gives the
// same range.
func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{"80", "8000-8100", "0", "65536", "9-1", " 1 - 2 ", "-", "1--2", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		from, to, err := ParsePorts(s)
		if err != nil {
			return
		}
		if from == 0 || to < from {
			t.Fatalf("ParsePorts(%q) = %d-%d: not a valid range", s, from, to)
		}
		f2, t2, err := ParsePorts(FormatPorts(from, to))
		if err != nil || f2 != from || t2 != to {
			t.Fatalf("ParsePorts(FormatPorts(%d, %d)) = %d, %d, %v", from, to, f2, t2, err)
		}
	})
}

// FuzzParseSources checks that ParseSources never panics, that its output
// is in normal form (a rule with it validates, normalising again changes
// nothing), and that formatting and parsing again gives the same list with
// no notes.
func FuzzParseSources(f *testing.F) {
	for _, s := range []string{"", "any", "any4, 198.51.100.7", "203.0.113.7/24,2001:db8::1/32", "::ffff:1.2.3.4/120",
		"10.0.0.0/8 10.1.0.0/16 10.1.2.3", "0.0.0.0/0;::/0", "fe80::1%lo", "1.2.3.4/0", "::/0 ::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, _, err := ParseSources(s)
		if err != nil {
			return
		}
		r := Rule{Proto: TCP, PortFrom: 1, PortTo: 1, Sources: ps}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseSources(%q) = %v, which does not validate: %v", s, ps, err)
		}
		if again, notes := NormalizeSources(slices.Clone(ps)); !slices.Equal(again, ps) || len(notes) > 0 {
			t.Fatalf("normalising %v again gives %v, %q", ps, again, notes)
		}
		text := FormatSources(ps)
		back, notes, err := ParseSources(text)
		if err != nil || !slices.Equal(back, ps) || len(notes) > 0 {
			t.Fatalf("ParseSources(FormatSources(%v) = %q) = %v, %q, %v", ps, text, back, notes, err)
		}
		// Every parsed prefix admits its own first address.
		for _, p := range ps {
			if !r.Admits(p.Addr()) || p.Addr().Is4In6() || p.Masked() != p {
				t.Fatalf("source %v of %q is not normalised", p, s)
			}
		}
	})
}
