package totp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseCode feeds arbitrary user input to the code parser and, through
// Validate, to the whole check: nothing may panic, a parsed code is exactly
// the digits of the input, and every refusal is one of the documented errors.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", " 1 2 3 4 5 6 ", "", "12345", "1234567", "12a456", "１２３４５６", "\t123456\t", strings.Repeat(" ", 70) + "123456"} {
		f.Add(s)
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseCode(in, Digits)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseCode(%q): unexpected error %v", in, err)
			}
		} else {
			if len(got) != Digits || strings.Trim(got, "0123456789") != "" {
				t.Fatalf("parseCode(%q) = %q: not %d digits", in, got, Digits)
			}
			if stripped := strings.NewReplacer(" ", "", "\t", "").Replace(in); stripped != got {
				t.Fatalf("parseCode(%q) = %q, want %q", in, got, stripped)
			}
		}
		step, verr := Validate(rfcSecret, in, now, 0)
		switch {
		case err != nil && !errors.Is(verr, ErrMalformed):
			t.Fatalf("Validate(%q) = %v, want ErrMalformed as parseCode said", in, verr)
		case verr == nil && (step < stepAt(now)-Skew || step > stepAt(now)+Skew):
			t.Fatalf("Validate(%q) = step %d, outside the window", in, step)
		case verr != nil && !errors.Is(verr, ErrMalformed) && !errors.Is(verr, ErrWrongCode):
			t.Fatalf("Validate(%q): unexpected error %v", in, verr)
		}
	})
}
