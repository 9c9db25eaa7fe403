package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
)

// TestPeopleCommands runs `rampart user` and `rampart token`'s network
// commands against a real API on a fresh store.
func TestPeopleCommands(t *testing.T) {
	mail := &mailertest.Outbox{}
	s := newAPIServer(t, app.Options{Mailer: mail, PublicURL: "https://rampart.test"})
	admin, member := s.admin, s.member
	as := func(tok string, args ...string) (int, string, string) {
		t.Helper()
		return s.run(tok, "", args...)
	}

	// Members are refused with the API's message.
	for _, args := range [][]string{{"user", "list"}, {"user", "invite", "x@example.com"}, {"user", "disable", "admin@example.com"}, {"user", "reset-password", "admin@example.com"}} {
		if code, _, errOut := as(member, args...); code != 1 || !strings.Contains(errOut, "only an admin") {
			t.Errorf("member %v: exit %d, %q", args, code, errOut)
		}
	}

	if code, out, errOut := as(admin, "user", "invite", "carol@example.com"); code != 0 || !strings.Contains(out, "Invited carol@example.com as member") {
		t.Fatalf("invite: exit %d, %q %q", code, out, errOut)
	}
	if !strings.Contains(mail.Last(t, "carol@example.com").Text, "https://rampart.test/invite/") {
		t.Errorf("no invitation link: %s", mail.Last(t, "carol@example.com").Text)
	}
	code, out, errOut := as(admin, "user", "list")
	if code != 0 || !strings.Contains(out, "carol@example.com") || !strings.Contains(out, "invited") || !strings.Contains(out, "STATUS") {
		t.Errorf("list: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = as(admin, "user", "list", "-o", "json")
	var users []rampart.User
	if err := json.Unmarshal([]byte(out), &users); code != 0 || err != nil || len(users) != 3 {
		t.Errorf("list -o json: exit %d, %v, %q", code, err, out)
	}

	if code, out, errOut := as(admin, "user", "set-role", "mia@example.com", "admin"); code != 0 || !strings.Contains(out, "mia@example.com is now admin") {
		t.Errorf("set-role: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := as(admin, "user", "set-role", "mia@example.com", "root"); code != 1 || !strings.Contains(errOut, "unknown") {
		t.Errorf("set-role root: exit %d, %q", code, errOut)
	}
	if code, out, errOut := as(admin, "user", "disable", "mia@example.com"); code != 0 || !strings.Contains(out, "Disabled mia@example.com") {
		t.Errorf("disable: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := as(member, "user", "list"); code != 1 || !strings.Contains(errOut, "disabled") {
		t.Errorf("a disabled user's token: exit %d, %q", code, errOut)
	}
	if code, out, errOut := as(admin, "user", "enable", "mia@example.com"); code != 0 || !strings.Contains(out, "Enabled mia@example.com") {
		t.Errorf("enable: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := as(admin, "user", "reset-password", "mia@example.com"); code != 0 || !strings.Contains(out, "Emailed mia@example.com a link") {
		t.Errorf("reset-password: exit %d, %q %q", code, out, errOut)
	}

	// Delete asks on a terminal; without one it needs --yes.
	if code, _, errOut := as(admin, "user", "delete", "carol@example.com"); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("delete without --yes: exit %d, %q", code, errOut)
	}
	if code, out, errOut := as(admin, "user", "delete", "carol@example.com", "--yes"); code != 0 || !strings.Contains(out, "Deleted the account carol@example.com") {
		t.Errorf("delete: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := as(admin, "user", "delete", "admin@example.com", "--yes"); code != 1 || !strings.Contains(errOut, "your own account") {
		t.Errorf("delete oneself: exit %d, %q", code, errOut)
	}

	// Tokens: listed, revoked, refused.
	code, out, errOut = as(member, "token", "list")
	if code != 0 || !strings.Contains(out, "LAST USED") || !strings.Contains(out, "test") {
		t.Errorf("token list: exit %d, %q %q", code, out, errOut)
	}
	_, out, _ = as(admin, "token", "list", "--email", "mia@example.com", "-o", "json")
	var tokens []rampart.APIToken
	if err := json.Unmarshal([]byte(out), &tokens); err != nil || len(tokens) != 1 {
		t.Fatalf("token list -o json: %v, %q", err, out)
	}
	if code, _, errOut := as(admin, "token", "revoke", "abc"); code != 2 || !strings.Contains(errOut, "number") {
		t.Errorf("revoke abc: exit %d, %q", code, errOut)
	}
	id := strconv.FormatInt(tokens[0].ID, 10)
	if code, out, errOut := as(admin, "token", "revoke", id); code != 0 || !strings.Contains(out, "Revoked API token "+id) {
		t.Errorf("revoke: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := as(member, "token", "list"); code != 1 || !strings.Contains(errOut, "revoked") {
		t.Errorf("a revoked token: exit %d, %q", code, errOut)
	}
}
