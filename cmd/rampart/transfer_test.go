package main

import (
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestServiceTransfer runs `rampart service transfer` against a real API:
// usage mistakes exit 2, refusals 1 with the server's words, and the
// owner's delete that was refused goes through once the service is
// handed on.
func TestServiceTransfer(t *testing.T) {
	s := newAPIServer(t, app.Options{})
	bob := s.user("bob@example.com", rampart.RoleMember)
	if code, out, errOut := s.run(s.member, "", "service", "create", "shop", "--upstream", "http://203.0.113.10:8080"); code != 0 {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := s.run(s.admin, "", "service", "transfer", "shop"); code != 2 || !strings.Contains(errOut, "--to EMAIL") {
		t.Errorf("transfer without --to: exit %d, %q", code, errOut)
	}
	if code, _, errOut := s.run(s.member, "", "service", "transfer", "shop", "--to", "bob@example.com"); code != 1 || !strings.Contains(errOut, "only an admin can hand a service to another account") {
		t.Errorf("the owner hands it on: exit %d, %q", code, errOut)
	}
	if code, _, errOut := s.run(s.admin, "", "service", "transfer", "shop", "--to", "nobody@example.com"); code != 1 || !strings.Contains(errOut, "nobody@example.com has no account") {
		t.Errorf("to nobody: exit %d, %q", code, errOut)
	}
	code, out, errOut := s.run(s.admin, "", "service", "transfer", "shop", "--to", "bob@example.com")
	if code != 0 || out != "shop belongs to bob@example.com now.\n" {
		t.Fatalf("transfer: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := s.run(s.member, "", "service", "show", "shop"); code != 1 || !strings.Contains(errOut, `service "shop" not found`) {
		t.Errorf("the old owner shows it: exit %d, %q", code, errOut)
	}
	if code, out, _ := s.run(bob, "", "service", "show", "shop", "-o", "json"); code != 0 || !strings.Contains(out, `"owner": "bob@example.com"`) {
		t.Errorf("the new owner shows it: exit %d, %q", code, out)
	}
	if code, out, _ := s.run(bob, "", "audit", "--service", "shop"); code != 0 || !strings.Contains(out, "service.transfer.in") {
		t.Errorf("the new owner's audit: exit %d, %q", code, out)
	}
}
