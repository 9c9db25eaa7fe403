package main

import (
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestServiceProtect runs `rampart service protect`, show and delete
// against a real API on a fresh store.
func TestServiceProtect(t *testing.T) {
	s := newAPIServer(t, app.Options{})
	admin, member := s.admin, s.member
	as := func(tok string, args ...string) (int, string, string) {
		t.Helper()
		return s.run(tok, "", args...)
	}
	if code, out, errOut := as(member, "service", "create", "shop", "--upstream", "http://203.0.113.10:8080"); code != 0 {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := as(member, "service", "show", "shop"); code != 0 || protectionLine(out) != "off" {
		t.Errorf("show of a new service: exit %d, %q", code, out)
	}

	// Usage mistakes exit 2 and say what to type.
	if code, _, errOut := as(member, "service", "protect", "shop", "maybe"); code != 2 || !strings.Contains(errOut, "neither on nor off") {
		t.Errorf("protect maybe: exit %d, %q", code, errOut)
	}
	if code, _, errOut := as(member, "service", "protect", "shop"); code != 2 || !strings.Contains(errOut, "on|off") {
		t.Errorf("protect without on|off: exit %d, %q", code, errOut)
	}
	// Someone else's service is not there.
	if code, _, errOut := as(s.user("bob@example.com", rampart.RoleMember), "service", "protect", "shop", "on"); code != 1 || !strings.Contains(errOut, `service "shop" not found`) {
		t.Errorf("another member protecting shop: exit %d, %q", code, errOut)
	}

	code, out, errOut := as(member, "service", "protect", "shop", "on")
	if code != 0 || !strings.Contains(out, "Termination protection is on for shop") || !strings.Contains(out, "rampart service protect shop off") {
		t.Fatalf("protect on: exit %d, %q %q", code, out, errOut)
	}
	if _, out, _ := as(member, "service", "show", "shop"); !strings.HasPrefix(protectionLine(out), "on (delete is refused") {
		t.Errorf("show of a protected service: %q", out)
	}
	if _, out, _ := as(member, "service", "show", "shop", "-o", "json"); !strings.Contains(out, `"termination_protection": true`) {
		t.Errorf("show -o json of a protected service: %q", out)
	}
	// Delete fails with the server's message, for an admin too.
	for _, tok := range []string{member, admin} {
		for _, action := range [][]string{{"delete"}, {"stop"}, {"kill"}, {"restart"}, {"reset"}, {"set-version", "shop", "2"}} {
			args := append([]string{"service"}, action...)
			if len(action) == 1 {
				args = append(args, "shop")
			}
			code, out, errOut := as(tok, args...)
			if code != 1 || out != "" || !strings.Contains(errOut, "shop has termination protection on: turn it off first (rampart service protect shop off") {
				t.Errorf("%s of a protected service: exit %d, stdout %q, stderr %q", action[0], code, out, errOut)
			}
		}
	}

	if code, out, errOut := as(member, "service", "protect", "shop", "off"); code != 0 || !strings.Contains(out, "Termination protection is off for shop: it can be deleted") {
		t.Fatalf("protect off: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := as(member, "service", "delete", "shop"); code != 0 || !strings.Contains(out, "Deleted service shop.") {
		t.Errorf("delete after protection is off: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = as(admin, "audit", "--service", "shop")
	for _, want := range []string{"service.protection.on", "service.protection.off", "service.delete"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("audit: exit %d, %q lacks %q", code, out, want)
		}
	}
}

// protectionLine is what `service show` says after "Termination protection:".
func protectionLine(out string) string {
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, "Termination protection:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}
