package storetest

import (
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// checkUser compares every field of got with want.
func checkUser(t *testing.T, got, want *rampart.User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.Role != want.Role || got.PasswordHash != want.PasswordHash {
		t.Errorf("user = {%d %q %q %q}, want {%d %q %q %q}",
			got.ID, got.Email, got.Role, got.PasswordHash, want.ID, want.Email, want.Role, want.PasswordHash)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := &rampart.User{Email: "ada@example.com", Role: rampart.RoleAdmin, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.ID == 0 {
		t.Fatal("CreateUser did not set ID")
	}
	recent(t, "CreatedAt", u.CreatedAt)
	sameTime(t, "UpdatedAt", u.UpdatedAt, u.CreatedAt)

	byID, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	checkUser(t, byID, u)

	byEmail, err := s.UserByEmail(ctx, u.Email)
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	checkUser(t, byEmail, u)

	other := mustUser(t, s, "grace@example.com")
	if other.ID == u.ID {
		t.Errorf("two users got the same ID %d", u.ID)
	}
}

func testUserConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustUser(t, s, "ada@example.com")
	err := s.CreateUser(ctx, &rampart.User{Email: "ada@example.com", Role: rampart.RoleMember})
	wantCode(t, err, rampart.ECONFLICT)
	wantMessage(t, err, `"ada@example.com"`)
	wantMessage(t, err, "already exists")

	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1 (the clash must not insert)", n, err)
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	mustUser(t, s, "ada@example.com")
	tests := []struct {
		name string
		call func() error
	}{
		{"UserByID", func() error { _, err := s.UserByID(t.Context(), 424242); return err }},
		{"UserByEmail", func() error { _, err := s.UserByEmail(t.Context(), "nobody@example.com"); return err }},
		{"UserByEmail/not normalized", func() error { _, err := s.UserByEmail(t.Context(), "ADA@example.com"); return err }},
		{"UpdateUser", func() error {
			return s.UpdateUser(t.Context(), &rampart.User{ID: 424242, Email: "x@example.com", Role: rampart.RoleMember})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.call(), rampart.ENOTFOUND)
		})
	}
}

func testUserListAndCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	users, err := s.ListUsers(ctx)
	if err != nil || users == nil || len(users) != 0 {
		t.Fatalf("ListUsers on an empty store = %v, %v; want an empty, non-nil list", users, err)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on an empty store = %d, %v; want 0", n, err)
	}

	for _, e := range []string{"carol@example.com", "alice@example.com", "bob@example.com"} {
		mustUser(t, s, e)
	}
	users, err = s.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.Email)
	}
	want := []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	if len(got) != len(want) {
		t.Fatalf("ListUsers emails = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ListUsers emails = %q, want %q (ordered by email)", got, want)
		}
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 3 {
		t.Errorf("CountUsers = %d, %v; want 3", n, err)
	}
}

func testUserUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	mustUser(t, s, "grace@example.com")
	created, updated := u.CreatedAt, u.UpdatedAt

	u.Email, u.Role, u.PasswordHash = "ada@example.org", rampart.RoleAdmin, "$argon2id$new"
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if u.UpdatedAt.Before(updated) {
		t.Errorf("UpdatedAt went back from %v to %v", updated, u.UpdatedAt)
	}
	got, err := s.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	checkUser(t, got, u)
	sameTime(t, "CreatedAt after update", got.CreatedAt, created)
	if _, err := s.UserByEmail(ctx, "ada@example.com"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("old email still finds a user: err = %v", err)
	}

	// Taking someone else's email is a conflict and changes nothing.
	u.Email = "grace@example.com"
	err = s.UpdateUser(ctx, u)
	wantCode(t, err, rampart.ECONFLICT)
	wantMessage(t, err, `"grace@example.com"`)
	if got, err := s.UserByID(ctx, u.ID); err != nil || got.Email != "ada@example.org" {
		t.Errorf("after a clashing update the user is %+v, %v; want email ada@example.org", got, err)
	}
}
