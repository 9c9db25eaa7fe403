package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// cliRelay is a running relay as the service layer sees it.
type cliRelay struct{}

func (cliRelay) Usage(string) (int, int, time.Time) { return 7, 300, time.Time{} }
func (cliRelay) Endpoint() (string, int, bool)      { return "10.0.0.1", 587, true }
func (cliRelay) Flush() rampart.MailQueue {
	oldest := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return rampart.MailQueue{Depth: 2, Oldest: &oldest}
}
func (cliRelay) DNS(context.Context) ([]rampart.MailDNSRecord, error) {
	return []rampart.MailDNSRecord{
		{Purpose: "spf", Name: "mail.example.com", Type: "TXT", Value: "v=spf1 ip4:192.0.2.1 -all", Published: true, Found: []string{"v=spf1 ip4:192.0.2.1 -all"}},
		{Purpose: "dkim", Name: "rampart1._domainkey.mail.example.com", Type: "TXT", Value: "v=DKIM1; k=ed25519; p=AAAA", Found: []string{"\x1b]0;pwned\x07"}},
	}, nil
}

func TestMailCommands(t *testing.T) {
	s := newAPIServer(t, app.Options{MailDomain: "mail.example.com", MailRelay: cliRelay{}})
	admin, member := s.admin, s.member
	as := s.run
	if code, _, errOut := as(member, "", "service", "create", "shop", "--upstream", "http://192.0.2.10:8080"); code != 0 {
		t.Fatalf("create shop: %d %s", code, errOut)
	}

	code, out, errOut := as(member, "", "mail", "show", "shop")
	if code != 0 || !strings.Contains(out, "shop@mail.example.com") || !strings.Contains(out, "10.0.0.1 port 587") ||
		!strings.Contains(out, "300 recipients per hour (the default)") || !strings.Contains(out, "7 in the last hour") || !strings.Contains(out, "rampart mail credentials shop") {
		t.Errorf("show: exit %d, %q %q", code, out, errOut)
	}

	code, out, errOut = as(member, "", "mail", "credentials", "shop")
	if code != 0 || !strings.Contains(out, "Password:") || !strings.Contains(out, "will not be shown again") || !strings.Contains(out, "Username:   shop@mail.example.com") {
		t.Fatalf("credentials: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = as(member, "", "mail", "credentials", "shop")
	if code != 0 || !strings.Contains(out, "not shown again") || !strings.Contains(out, "--rotate") {
		t.Errorf("credentials again: exit %d, %q", code, out)
	}
	code, out, _ = as(member, "", "mail", "credentials", "shop", "--rotate", "-o", "json")
	var creds rampart.MailCredentials
	if code != 0 || json.Unmarshal([]byte(out), &creds) != nil || len(creds.Password) != 43 {
		t.Errorf("credentials --rotate -o json: exit %d, %q", code, out)
	}

	tests := []struct {
		name   string
		tok    string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"member quota", member, []string{"mail", "quota", "shop", "--per-hour", "9000"}, 1, "", "only an admin"},
		{"member suspend", member, []string{"mail", "suspend", "shop"}, 1, "", "only an admin"},
		{"member resume", member, []string{"mail", "resume", "shop"}, 1, "", "only an admin"},
		{"member dns", member, []string{"mail", "dns"}, 1, "", "only an admin"},
		{"member flush", member, []string{"mail", "flush"}, 1, "", "only an admin"},
		{"flush", admin, []string{"mail", "flush"}, 0, "Retrying now: 2 message(s) in the queue, the oldest accepted 2026-01-0", ""},
		{"quota without the flag", admin, []string{"mail", "quota", "shop"}, 2, "", "--per-hour"},
		{"quota out of range", admin, []string{"mail", "quota", "shop", "--per-hour", "100001"}, 1, "", "between 1 and 100000"},
		{"quota", admin, []string{"mail", "quota", "shop", "--per-hour", "40"}, 0, "shop may send to 40 recipients per hour.", ""},
		{"quota default", admin, []string{"mail", "quota", "shop", "--per-hour", "0"}, 0, "300 recipients per hour (the default)", ""},
		{"suspend", admin, []string{"mail", "suspend", "shop", "--reason", "complaints"}, 0, "suspended: complaints", ""},
		{"show suspended", member, []string{"mail", "show", "shop"}, 0, "SUSPENDED: complaints", ""},
		{"resume", admin, []string{"mail", "resume", "shop"}, 0, "resumed", ""},
		{"suspend a line break", admin, []string{"mail", "suspend", "shop", "--reason", "a\nb"}, 1, "", "one line"},
		{"another's log", member, []string{"mail", "log", "nope"}, 1, "", `service "nope" not found`},
		{"log -n 0", member, []string{"mail", "log", "shop", "-n", "0"}, 2, "", "1 to 500"},
		{"quiet log", member, []string{"mail", "log", "shop"}, 0, "No mail from shop yet.", ""},
		{"no service", member, []string{"mail", "show"}, 2, "", "SERVICE"},
		{"dns", admin, []string{"mail", "dns"}, 0, "NOT published", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := as(tt.tok, "", tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d with %q / %q", code, out, errOut, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	// What DNS answers comes from outside: it is escaped, not written raw.
	if _, out, _ := as(admin, "", "mail", "dns"); strings.Contains(out, "\x1b") {
		t.Errorf("dns wrote a raw escape sequence: %q", out)
	}
}

func TestMailLogCommand(t *testing.T) {
	s := newAPIServer(t, app.Options{MailDomain: "mail.example.com"})
	if code, _, errOut := s.run(s.member, "", "service", "create", "shop", "--upstream", "http://192.0.2.10:8080"); code != 0 {
		t.Fatalf("create shop: %d %s", code, errOut)
	}
	ctx := t.Context()
	svc, err := s.app.Services.Get(ctx, app.OperatorActor(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	st := s.db
	add := func(q string, status rampart.MailStatus, reason string, rcpts ...string) {
		t.Helper()
		m := &rampart.MailMessage{QueueID: q, ServiceID: svc.ID, From: "shop@mail.example.com", Status: status, Reason: reason, Size: 2048,
			At: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}
		for _, r := range rcpts {
			m.Recipients = append(m.Recipients, rampart.MailRecipient{Addr: r, Status: status})
		}
		if err := st.AddMailMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	add("q1", rampart.MailSent, "", "a@example.org")
	add("q2", rampart.MailRefused, "over quota: resumes 10:42 \x1b[2J", "b@example.org", "c@example.org", "d@example.org", "e@example.org", "f@example.org")
	add("q3", rampart.MailBounced, "550 no such user", "x@example.org")

	code, out, errOut := s.run(s.member, "", "mail", "log", "shop", "-n", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "refused") || !strings.Contains(lines[0], "+2 more") ||
		!strings.Contains(lines[0], "2.0 kB") || !strings.Contains(lines[1], "550 no such user") || !strings.Contains(lines[1], "2026-12-05 10:00:00") {
		t.Fatalf("log -n 2: exit %d, %q %q", code, out, errOut)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("a reason's escape sequence reached the terminal: %q", out)
	}
	code, out, _ = s.run(s.member, "", "mail", "log", "shop", "-o", "json")
	var first rampart.MailMessage
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 || json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &first) != nil || first.QueueID != "q1" {
		t.Errorf("log -o json: exit %d, %q", code, out)
	}

	// -f prints what comes after the start, and stops on Ctrl+C (the
	// context): the writer adds a message once it has seen the first
	// page, and cancels once it has seen that message.
	defer func(d time.Duration) { mailFollowEvery = d }(mailFollowEvery)
	mailFollowEvery = 10 * time.Millisecond
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &followWriter{onText: func(text string) {
		switch {
		case strings.Contains(text, "q4-marker"):
			cancel()
		case strings.Contains(text, "550 no such user") && !strings.Contains(text, "queued"):
			add("q4", rampart.MailQueued, "q4-marker", "late@example.org")
		}
	}}
	var errOut2 strings.Builder
	code = run(fctx, []string{"mail", "log", "shop", "-f", "-n", "1", "--server", s.url, "--token", s.member}, strings.NewReader(""), w, &errOut2)
	if text := w.String(); code != 0 || !strings.Contains(text, "late@example.org") || strings.Contains(text, "a@example.org") {
		t.Errorf("log -f: exit %d, %q %q", code, text, errOut2.String())
	}
}

// followWriter collects output and calls onText with all of it after
// each write (the CLI writes from the test's goroutine).
type followWriter struct {
	b      strings.Builder
	onText func(string)
}

func (w *followWriter) Write(p []byte) (int, error) {
	w.b.Write(p)
	w.onText(w.b.String())
	return len(p), nil
}

func (w *followWriter) String() string { return w.b.String() }
