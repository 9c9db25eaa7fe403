package mailer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/mailer"
)

func TestCompose(t *testing.T) {
	now := time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)
	c := mailer.Config{From: from}
	raw, err := c.Compose(mailer.Message{To: "user@example.org", Subject: "Code: é", Text: "line\nnext"}, now)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{
		"From: " + from + "\r\n", "To: user@example.org\r\n", "Subject: =?utf-8?q?Code:_=C3=A9?=\r\n",
		"Date: Sat, 05 Dec 2026 20:00:00 +0000\r\n", "@example.com>\r\n", "\r\n\r\nline\r\nnext\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("composed message lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") {
		t.Error("a bare LF in the composed message")
	}

	for name, tc := range map[string]struct {
		c mailer.Config
		m mailer.Message
	}{
		"header injection in To": {c, mailer.Message{To: "a@b.c\r\nBcc: x@y.z", Subject: "s", Text: "t"}},
		"no subject":             {c, mailer.Message{To: "a@b.c", Text: "t"}},
		"sender with a name":     {mailer.Config{From: "Rampart <r@example.com>"}, mailer.Message{To: "a@b.c", Subject: "s", Text: "t"}},
		"no sender":              {mailer.Config{}, mailer.Message{To: "a@b.c", Subject: "s", Text: "t"}},
	} {
		if _, err := tc.c.Compose(tc.m, now); err == nil {
			t.Errorf("%s: composed", name)
		}
	}
}
