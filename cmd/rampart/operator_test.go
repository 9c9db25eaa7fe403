package main

import (
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/store"
)

// TestUserResetMFA: a user who lost their app gets email codes back, their
// sessions and recovery codes end, and the audit log says who did it.
func TestUserResetMFA(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	db, err := store.Open(ctx, store.DefaultDSN(dir))
	if err != nil {
		t.Fatal(err)
	}
	a := app.New(db, app.Options{})
	u, err := a.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: "ada@example.com", Password: "long enough password", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	u.MFA, u.TOTPSecret = rampart.MFATOTP, []byte("sealed seed")
	if err := db.SetUserMFA(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Accounts.StartSession(ctx, u, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, stdout, stderr := runArgs(t, "user", "reset-mfa", "--data", dir, "ADA@example.com")
	if code != 0 || !strings.Contains(stdout, "next login asks for a code emailed to ada@example.com") || !strings.Contains(stdout, "were not emailed") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}

	db, err = store.Open(ctx, store.DefaultDSN(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.UserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.MFA != rampart.MFAEmail || got.TOTPSecret != nil {
		t.Errorf("after reset: mfa %q, secret %q", got.MFA, got.TOTPSecret)
	}
	if n, err := db.DeleteUserSessions(ctx, got.ID, 0); err != nil || n != 0 {
		t.Errorf("sessions left after reset: %d (%v)", n, err)
	}
	events, err := db.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events {
		if e.Action == "mfa.reset" && strings.Contains(e.Detail, "ada@example.com") {
			found = true
		}
	}
	if !found {
		t.Errorf("no mfa.reset audit entry in %+v", events)
	}

	// An unknown account says so and where it looked.
	code, _, stderr = runArgs(t, "user", "reset-mfa", "--data", dir, "nobody@example.com")
	if code != 1 || !strings.Contains(stderr, `no user with email "nobody@example.com" in `+dir) {
		t.Errorf("unknown user: exit %d, stderr %q", code, stderr)
	}
}
