package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

func testUserMFA(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	if u.MFA != rampart.MFAEmail {
		t.Fatalf("new user's MFA = %q, want %q (the default)", u.MFA, rampart.MFAEmail)
	}
	u.MFA, u.TOTPSecret, u.TOTPPending, u.TOTPLastStep = rampart.MFATOTP, []byte("sealed-seed"), nil, 7
	if err := s.SetUserMFA(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MFA != rampart.MFATOTP || !bytes.Equal(got.TOTPSecret, []byte("sealed-seed")) || got.TOTPPending != nil || got.TOTPLastStep != 7 {
		t.Fatalf("after SetUserMFA: %q %q %q %d", got.MFA, got.TOTPSecret, got.TOTPPending, got.TOTPLastStep)
	}
	u.MFA = "sms"
	wantCode(t, s.SetUserMFA(ctx, u), rampart.EINVALID)
	u.ID, u.MFA = 99999, rampart.MFAEmail
	wantCode(t, s.SetUserMFA(ctx, u), rampart.ENOTFOUND)

	// A step is accepted once, and never one at or before the last.
	for _, c := range []struct {
		step int64
		want bool
	}{{8, true}, {8, false}, {7, false}, {10, true}, {9, false}} {
		ok, err := s.AdvanceTOTPStep(ctx, got.ID, c.step)
		if err != nil || ok != c.want {
			t.Errorf("AdvanceTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.want)
		}
	}
}

func testLoginChallenges(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	c := &rampart.LoginChallenge{UserID: u.ID, Hash: hash("c1"), Method: rampart.MFAEmail, IP: "192.0.2.7", CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
	if err := s.CreateLoginChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordCodeSent(ctx, c.ID, []byte("mac-1"), at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 3; want++ {
		n, err := s.CountLoginAttempt(ctx, c.ID)
		if err != nil || n != want {
			t.Fatalf("CountLoginAttempt = %d, %v; want %d", n, err, want)
		}
	}
	got, err := s.LoginChallengeByHash(ctx, hash("c1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.UserID != u.ID || got.Method != rampart.MFAEmail || !bytes.Equal(got.CodeMAC, []byte("mac-1")) ||
		got.Attempts != 3 || got.Sends != 1 || got.IP != "192.0.2.7" {
		t.Fatalf("challenge = %+v", got)
	}
	sameTime(t, "SentAt", got.SentAt, at.Add(time.Second))
	sameTime(t, "ExpiresAt", got.ExpiresAt, at.Add(10*time.Minute))

	// Spent once; the second spend (a code used twice at once) is refused.
	if err := s.DeleteLoginChallenge(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteLoginChallenge(ctx, c.ID), rampart.ENOTFOUND)
	_, err = s.LoginChallengeByHash(ctx, hash("c1"))
	wantCode(t, err, rampart.ENOTFOUND)
	_, err = s.CountLoginAttempt(ctx, c.ID)
	wantCode(t, err, rampart.ENOTFOUND)

	wantCode(t, s.CreateLoginChallenge(ctx, &rampart.LoginChallenge{UserID: 99999, Hash: hash("x"), Method: rampart.MFAEmail, ExpiresAt: at}), rampart.ENOTFOUND)

	// Expired challenges are pruned; a user's are deleted together.
	old := &rampart.LoginChallenge{UserID: u.ID, Hash: hash("old"), Method: rampart.MFATOTP, CreatedAt: at, ExpiresAt: at.Add(time.Minute)}
	live := &rampart.LoginChallenge{UserID: u.ID, Hash: hash("live"), Method: rampart.MFATOTP, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
	for _, c := range []*rampart.LoginChallenge{old, live} {
		if err := s.CreateLoginChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteExpiredLoginChallenges(ctx, at.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredLoginChallenges = %d, %v; want 1", n, err)
	}
	if err := s.DeleteUserLoginChallenges(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.LoginChallengeByHash(ctx, hash("live"))
	wantCode(t, err, rampart.ENOTFOUND)
}

func testRecoveryCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	ada, bob := mustUser(t, s, "ada@example.com"), mustUser(t, s, "bob@example.com")
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	if err := s.ReplaceRecoveryCodes(ctx, ada.ID, [][]byte{hash("a1"), hash("a2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, bob.ID, [][]byte{hash("b1")}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.UseRecoveryCode(ctx, ada.ID, hash("b1"), at), rampart.ENOTFOUND) // bob's
	if err := s.UseRecoveryCode(ctx, ada.ID, hash("a1"), at); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.UseRecoveryCode(ctx, ada.ID, hash("a1"), at), rampart.ENOTFOUND) // used
	if unused, total, err := s.CountRecoveryCodes(ctx, ada.ID); err != nil || unused != 1 || total != 2 {
		t.Fatalf("CountRecoveryCodes = %d/%d, %v; want 1/2", unused, total, err)
	}
	// A new set replaces the old one entirely.
	if err := s.ReplaceRecoveryCodes(ctx, ada.ID, [][]byte{hash("a3")}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.UseRecoveryCode(ctx, ada.ID, hash("a2"), at), rampart.ENOTFOUND)
	if unused, total, err := s.CountRecoveryCodes(ctx, ada.ID); err != nil || unused != 1 || total != 1 {
		t.Fatalf("CountRecoveryCodes = %d/%d, %v; want 1/1", unused, total, err)
	}
	wantCode(t, s.ReplaceRecoveryCodes(ctx, 99999, [][]byte{hash("z")}), rampart.ENOTFOUND)
}

func testDeleteUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	ada, bob := mustUser(t, s, "ada@example.com"), mustUser(t, s, "bob@example.com")
	at := time.Now().UTC()
	keep := mustSession(t, s, ada.ID, "keep", at)
	mustSession(t, s, ada.ID, "other1", at)
	mustSession(t, s, ada.ID, "other2", at)
	mustSession(t, s, bob.ID, "bob", at)
	if n, err := s.DeleteUserSessions(ctx, ada.ID, keep.ID); err != nil || n != 2 {
		t.Fatalf("DeleteUserSessions = %d, %v; want 2", n, err)
	}
	for _, c := range []struct {
		name string
		live bool
	}{{"keep", true}, {"other1", false}, {"bob", true}} {
		_, err := s.SessionByHash(ctx, hash(c.name))
		if (err == nil) != c.live {
			t.Errorf("session %q: err = %v, want live=%v", c.name, err, c.live)
		}
	}
	if n, err := s.DeleteUserSessions(ctx, ada.ID, 0); err != nil || n != 1 {
		t.Fatalf("DeleteUserSessions(all) = %d, %v; want 1", n, err)
	}
}
