package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// testUserDisable: DisabledAt round-trips through UpdateUser, and Status
// follows the password and DisabledAt on every read.
func testUserDisable(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	if u.Status != rampart.UserActive {
		t.Errorf("new user with a password: status %q, want active", u.Status)
	}
	invited := &rampart.User{Email: "new@example.com", Role: rampart.RoleMember}
	if err := s.CreateUser(ctx, invited); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByID(ctx, invited.ID); err != nil || got.Status != rampart.UserInvited {
		t.Errorf("user without a password: %v, %v; want status invited", got, err)
	}

	at := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	u.DisabledAt = &at
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	got, err := s.UserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	sameTimePtr(t, "DisabledAt", got.DisabledAt, &at)
	if got.Status != rampart.UserDisabled {
		t.Errorf("status %q, want disabled", got.Status)
	}
	got.DisabledAt = nil
	if err := s.UpdateUser(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserByID(ctx, u.ID); err != nil || got.DisabledAt != nil || got.Status != rampart.UserActive {
		t.Errorf("after enabling: %+v, %v; want no DisabledAt, active", got, err)
	}
}

// testUserDelete: a user goes with their credentials; one who owns a
// service does not go at all.
func testUserDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	tok := mustToken(t, s, u.ID, "ci")
	sess := &rampart.Session{UserID: u.ID, Hash: hash("cookie"), CSRFToken: "x", CreatedAt: time.Now(), SeenAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	link := mustLink(t, s, u.ID, "invite", time.Now().Add(time.Hour))

	owner := mustUser(t, s, "grace@example.com")
	mustService(t, s, "blog", owner.ID)
	wantCode(t, s.DeleteUser(ctx, owner.ID), rampart.ECONFLICT)
	if _, err := s.UserByID(ctx, owner.ID); err != nil {
		t.Errorf("refused delete removed the user: %v", err)
	}

	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := s.UserByID(ctx, u.ID)
	wantCode(t, err, rampart.ENOTFOUND)
	_, err = s.TokenByHash(ctx, tok.Hash)
	wantCode(t, err, rampart.ENOTFOUND)
	_, err = s.SessionByHash(ctx, sess.Hash)
	wantCode(t, err, rampart.ENOTFOUND)
	_, err = s.AccountLinkByHash(ctx, link.Hash)
	wantCode(t, err, rampart.ENOTFOUND)
	wantCode(t, s.DeleteUser(ctx, u.ID), rampart.ENOTFOUND)
}

func testTokenByID(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	tok := mustToken(t, s, u.ID, "ci")
	got, err := s.TokenByID(ctx, tok.ID)
	if err != nil {
		t.Fatalf("TokenByID: %v", err)
	}
	checkToken(t, got, tok)
	_, err = s.TokenByID(ctx, 424242)
	wantCode(t, err, rampart.ENOTFOUND)
}

func mustLink(t *testing.T, s store.Store, userID int64, seed string, expires time.Time) *rampart.AccountLink {
	t.Helper()
	l := &rampart.AccountLink{Kind: rampart.LinkInvite, UserID: userID, Hash: hash(seed), CreatedBy: "operator", ExpiresAt: expires}
	if err := s.CreateAccountLink(t.Context(), l); err != nil {
		t.Fatalf("CreateAccountLink(%q): %v", seed, err)
	}
	return l
}

func testAccountLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	other := mustUser(t, s, "grace@example.com")
	expires := time.Date(2031, 2, 3, 4, 5, 6, 123456789, time.FixedZone("UTC+2", 2*3600))
	l := &rampart.AccountLink{Kind: rampart.LinkReset, UserID: u.ID, Hash: hash("reset"), CreatedBy: "admin@example.com", ExpiresAt: expires}
	if err := s.CreateAccountLink(ctx, l); err != nil {
		t.Fatalf("CreateAccountLink: %v", err)
	}
	if l.ID == 0 {
		t.Fatal("CreateAccountLink did not set ID")
	}
	recent(t, "CreatedAt", l.CreatedAt)
	got, err := s.AccountLinkByHash(ctx, l.Hash)
	if err != nil {
		t.Fatalf("AccountLinkByHash: %v", err)
	}
	if got.ID != l.ID || got.Kind != rampart.LinkReset || got.UserID != u.ID || !bytes.Equal(got.Hash, l.Hash) || got.CreatedBy != "admin@example.com" {
		t.Errorf("link = %+v, want %+v", got, l)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, l.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, expires)

	err = s.CreateAccountLink(ctx, &rampart.AccountLink{Kind: rampart.LinkInvite, UserID: 424242, Hash: hash("x"), CreatedBy: "operator", ExpiresAt: expires})
	wantCode(t, err, rampart.ENOTFOUND)

	// Spent once, then gone.
	if err := s.DeleteAccountLink(ctx, l.ID); err != nil {
		t.Fatalf("DeleteAccountLink: %v", err)
	}
	wantCode(t, s.DeleteAccountLink(ctx, l.ID), rampart.ENOTFOUND)
	_, err = s.AccountLinkByHash(ctx, l.Hash)
	wantCode(t, err, rampart.ENOTFOUND)

	// A user's links go together; another user's stay.
	a, b := mustLink(t, s, u.ID, "a", expires), mustLink(t, s, u.ID, "b", expires)
	keep := mustLink(t, s, other.ID, "keep", expires)
	if err := s.DeleteUserAccountLinks(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUserAccountLinks: %v", err)
	}
	for _, l := range []*rampart.AccountLink{a, b} {
		_, err = s.AccountLinkByHash(ctx, l.Hash)
		wantCode(t, err, rampart.ENOTFOUND)
	}
	if _, err := s.AccountLinkByHash(ctx, keep.Hash); err != nil {
		t.Errorf("another user's link went too: %v", err)
	}

	// Pruning takes only the expired.
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	old := mustLink(t, s, u.ID, "old", now.Add(-time.Second))
	if n, err := s.DeleteExpiredAccountLinks(ctx, now); err != nil || n != 1 {
		t.Errorf("DeleteExpiredAccountLinks = %d, %v; want 1", n, err)
	}
	_, err = s.AccountLinkByHash(ctx, old.Hash)
	wantCode(t, err, rampart.ENOTFOUND)
	if _, err := s.AccountLinkByHash(ctx, keep.Hash); err != nil {
		t.Errorf("a live link was pruned: %v", err)
	}
}
