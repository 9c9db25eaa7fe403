package rampart

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateMailPerHour(t *testing.T) {
	tests := []struct {
		n  int
		ok bool
	}{
		{-1, false}, {0, false}, {1, true}, {300, true}, {MaxMailPerHour, true}, {MaxMailPerHour + 1, false}, {1 << 62, false},
	}
	for _, tt := range tests {
		err := ValidateMailPerHour(tt.n)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateMailPerHour(%d) = %v, want ok=%v", tt.n, err, tt.ok)
		}
		if err != nil && (ErrorCode(err) != EINVALID || ErrorField(err) != "per_hour") {
			t.Errorf("ValidateMailPerHour(%d) = %v, want invalid per_hour", tt.n, err)
		}
	}
}

func TestValidateMailReason(t *testing.T) {
	tests := []struct {
		reason string
		ok     bool
	}{
		{"", true}, {"spam complaints from example.org", true}, {"naïve ünïcode", true},
		{"two\nlines", false}, {"cr\rhere", false}, {"nul\x00", false}, {"del\x7f", false}, {"tab\t", false}, {"bad \xff utf-8", false},
		{strings.Repeat("x", MaxMailSuspendReason), true}, {strings.Repeat("x", MaxMailSuspendReason+1), false},
	}
	for _, tt := range tests {
		if err := ValidateMailReason(tt.reason); (err == nil) != tt.ok {
			t.Errorf("ValidateMailReason(%q) = %v, want ok=%v", tt.reason, err, tt.ok)
		}
	}
}

func TestMailStatusValid(t *testing.T) {
	for _, s := range []MailStatus{MailQueued, MailSent, MailDeferred, MailBounced, MailRefused} {
		if !s.Valid() {
			t.Errorf("%q is not valid", s)
		}
	}
	for _, s := range []MailStatus{"", "Sent", "lost"} {
		if s.Valid() {
			t.Errorf("%q is valid", s)
		}
	}
}

func TestMailAddress(t *testing.T) {
	if got := MailAddress("blog", "mail.example.com"); got != "blog@mail.example.com" {
		t.Errorf("MailAddress = %q", got)
	}
	if got := MailAddress("blog", ""); got != "" {
		t.Errorf("MailAddress without a domain = %q, want empty", got)
	}
}

// FuzzValidateMailReason: what passes is one bounded line a mail can
// carry; the refusal never quotes more than one character of the input.
func FuzzValidateMailReason(f *testing.F) {
	for _, s := range []string{"", "spam", "a\nb", "\x00", "\u2028", strings.Repeat("é", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reason string) {
		err := ValidateMailReason(reason)
		if err != nil {
			if len(ErrorMessage(err)) > 200 {
				t.Fatalf("refusal is %d bytes long", len(ErrorMessage(err)))
			}
			return
		}
		if len(reason) > MaxMailSuspendReason || strings.ContainsAny(reason, "\r\n\x00") || !utf8.ValidString(reason) {
			t.Fatalf("accepted %q", reason)
		}
	})
}
