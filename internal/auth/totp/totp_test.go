package totp

import (
	"errors"
	"testing"
	"time"
)

// rfcSecret is RFC 6238 Appendix B's SHA-1 seed, the 20 ASCII bytes
// "12345678901234567890", in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// TestRFC6238Vectors runs every SHA-1 test vector of RFC 6238 Appendix B
// through the validation path the product uses, with 8 digits as the RFC's
// table has them.
func TestRFC6238Vectors(t *testing.T) {
	for _, tc := range []struct {
		unix int64
		step int64
		code string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	} {
		now := time.Unix(tc.unix, 0)
		if got := stepAt(now); got != tc.step {
			t.Errorf("stepAt(%d) = %#x, want %#x", tc.unix, got, tc.step)
		}
		got, err := code(rfcSecret, tc.step, 8)
		if err != nil || got != tc.code {
			t.Errorf("code at %d = %q, %v; want %q", tc.unix, got, err, tc.code)
		}
		step, err := validate(rfcSecret, tc.code, now, 0, 8)
		if err != nil || step != tc.step {
			t.Errorf("validate(%q) at %d = %#x, %v; want %#x, nil", tc.code, tc.unix, step, err, tc.step)
		}
		if _, err := validate(rfcSecret, tc.code, now, tc.step, 8); !errors.Is(err, ErrReplay) {
			t.Errorf("validate(%q) at %d again = %v, want ErrReplay", tc.code, tc.unix, err)
		}
		// The 6-digit product code is the 8-digit one's last six digits
		// (both are the same number modulo a power of ten).
		six, err := Code(rfcSecret, now)
		if err != nil || six != tc.code[2:] {
			t.Errorf("Code at %d = %q, %v; want %q", tc.unix, six, err, tc.code[2:])
		}
		if step, err := Validate(rfcSecret, six, now, 0); err != nil || step != tc.step {
			t.Errorf("Validate(%q) at %d = %#x, %v; want %#x, nil", six, tc.unix, step, err, tc.step)
		}
	}
}

func TestSkew(t *testing.T) {
	now := time.Unix(1_800_000_015, 0) // mid-step
	cur := stepAt(now)
	for _, tc := range []struct {
		offset time.Duration
		want   error
	}{
		{-2 * Period * time.Second, ErrWrongCode},
		{-Period * time.Second, nil},
		{0, nil},
		{Period * time.Second, nil},
		{2 * Period * time.Second, ErrWrongCode},
	} {
		c, err := Code(rfcSecret, now.Add(tc.offset))
		if err != nil {
			t.Fatal(err)
		}
		step, err := Validate(rfcSecret, c, now, 0)
		if !errors.Is(err, tc.want) {
			t.Errorf("code from %v away: err = %v, want %v", tc.offset, err, tc.want)
			continue
		}
		if want := cur + int64(tc.offset/(Period*time.Second)); err == nil && step != want {
			t.Errorf("code from %v away: step = %d, want %d", tc.offset, step, want)
		}
	}
}

func TestReplay(t *testing.T) {
	now := time.Unix(1_800_000_015, 0)
	c, _ := Code(rfcSecret, now)
	step, err := Validate(rfcSecret, c, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(rfcSecret, c, now, step); !errors.Is(err, ErrReplay) {
		t.Errorf("same code twice: err = %v, want ErrReplay", err)
	}
	// Still refused a step later, while it is inside the skew window.
	if _, err := Validate(rfcSecret, c, now.Add(Period*time.Second), step); !errors.Is(err, ErrReplay) {
		t.Errorf("same code a step later: err = %v, want ErrReplay", err)
	}
	// An older code after a newer one was used is a replay too.
	prev, _ := Code(rfcSecret, now.Add(-Period*time.Second))
	if _, err := Validate(rfcSecret, prev, now, step); !errors.Is(err, ErrReplay) {
		t.Errorf("older code after a newer one: err = %v, want ErrReplay", err)
	}
	// The next code is fine.
	next, _ := Code(rfcSecret, now.Add(Period*time.Second))
	if got, err := Validate(rfcSecret, next, now, step); err != nil || got != step+1 {
		t.Errorf("next code: %d, %v; want %d, nil", got, err, step+1)
	}
}

func TestMalformed(t *testing.T) {
	now := time.Unix(1111111111, 0)
	good, _ := Code(rfcSecret, now) // "050471"
	for _, in := range []string{good, "050 471", " 050471 ", "0 5 0 4 7 1", "050\t471"} {
		if _, err := Validate(rfcSecret, in, now, 0); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", in, err)
		}
	}
	for _, in := range []string{"", "      ", "05047", "0504711", "050-471", "05047a", "o50471", "050471\n", "０５０４７１", "+50471", "-50471"} {
		if _, err := Validate(rfcSecret, in, now, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("Validate(%q) = %v, want ErrMalformed", in, err)
		}
	}
	if _, err := Validate(rfcSecret, "000000", now, 0); !errors.Is(err, ErrWrongCode) {
		t.Errorf("wrong code: err = %v, want ErrWrongCode", err)
	}
}

func TestBadSecret(t *testing.T) {
	now := time.Unix(1111111111, 0)
	for _, s := range []string{"", "GEZDGNBV", "not base32!", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1"} {
		if _, err := Validate(s, "123456", now, 0); !errors.Is(err, ErrSecret) {
			t.Errorf("Validate with secret %q = %v, want ErrSecret", s, err)
		}
		if _, err := Code(s, now); !errors.Is(err, ErrSecret) {
			t.Errorf("Code with secret %q = %v, want ErrSecret", s, err)
		}
	}
	// Lower case and padding, as some tools write secrets, are accepted.
	if _, err := Code("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", now); err != nil {
		t.Errorf("lower-case secret: %v", err)
	}
}

func TestStepBefore1970(t *testing.T) {
	if got := stepAt(time.Unix(-1, 0)); got != -1 {
		t.Errorf("stepAt(-1) = %d, want -1", got)
	}
	if _, err := Validate(rfcSecret, "123456", time.Unix(-100, 0), 0); !errors.Is(err, ErrWrongCode) {
		t.Errorf("before 1970: %v, want ErrWrongCode", err)
	}
}
