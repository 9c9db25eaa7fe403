package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// checkToken compares every field of got with want.
func checkToken(t *testing.T, got, want *rampart.APIToken) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name || !bytes.Equal(got.Hash, want.Hash) {
		t.Errorf("token = {%d user %d %q %x}, want {%d user %d %q %x}",
			got.ID, got.UserID, got.Name, got.Hash, want.ID, want.UserID, want.Name, want.Hash)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTimePtr(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTimePtr(t, "LastUsedAt", got.LastUsedAt, want.LastUsedAt)
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	other := mustUser(t, s, "grace@example.com")

	// A time zone other than UTC and digits below the microsecond, to see
	// both normalized.
	expires := time.Date(2031, 2, 3, 4, 5, 6, 123456789, time.FixedZone("UTC+2", 2*3600))
	tests := []struct {
		name    string
		expires *time.Time
	}{
		{"never expires", nil},
		{"expires", &expires},
	}
	var created []*rampart.APIToken
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := &rampart.APIToken{UserID: u.ID, Name: tc.name, Hash: hash(tc.name), ExpiresAt: tc.expires}
			if err := s.CreateToken(ctx, tok); err != nil {
				t.Fatalf("CreateToken: %v", err)
			}
			if tok.ID == 0 {
				t.Fatal("CreateToken did not set ID")
			}
			recent(t, "CreatedAt", tok.CreatedAt)
			got, err := s.TokenByHash(ctx, tok.Hash)
			if err != nil {
				t.Fatalf("TokenByHash: %v", err)
			}
			checkToken(t, got, tok)
			created = append(created, tok)
		})
	}
	mustToken(t, s, other.ID, "someone else's")

	list, err := s.ListTokens(ctx, u.ID)
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	if len(list) != len(created) {
		t.Fatalf("ListTokens returned %d tokens, want %d (only the user's own)", len(list), len(created))
	}
	for i := range list {
		checkToken(t, list[i], created[i]) // oldest first
	}

	if list, err := s.ListTokens(ctx, 424242); err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListTokens of an unknown user = %v, %v; want an empty, non-nil list", list, err)
	}
}

func testTokenTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	tok := mustToken(t, s, u.ID, "ci")
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

	steps := []struct {
		name  string
		touch time.Time
		want  time.Time
	}{
		{"first use", t0, t0},
		{"later use", t0.Add(time.Minute), t0.Add(time.Minute)},
		{"an older request finishing late", t0.Add(30 * time.Second), t0.Add(time.Minute)},
	}
	for _, st := range steps {
		if err := s.TouchToken(ctx, tok.ID, st.touch); err != nil {
			t.Fatalf("%s: TouchToken: %v", st.name, err)
		}
		got, err := s.TokenByHash(ctx, tok.Hash)
		if err != nil {
			t.Fatalf("%s: TokenByHash: %v", st.name, err)
		}
		sameTimePtr(t, st.name+": LastUsedAt", got.LastUsedAt, &st.want)
	}
	wantCode(t, s.TouchToken(ctx, 424242, t0), rampart.ENOTFOUND)
}

func testTokenDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	tok := mustToken(t, s, u.ID, "ci")
	keep := mustToken(t, s, u.ID, "laptop")

	if err := s.DeleteToken(ctx, tok.ID); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	_, err := s.TokenByHash(ctx, tok.Hash)
	wantCode(t, err, rampart.ENOTFOUND)
	wantCode(t, s.DeleteToken(ctx, tok.ID), rampart.ENOTFOUND)
	if _, err := s.TokenByHash(ctx, keep.Hash); err != nil {
		t.Errorf("the other token is gone too: %v", err)
	}
}

func testTokenRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	mustToken(t, s, u.ID, "ci")

	err := s.CreateToken(ctx, &rampart.APIToken{UserID: 424242, Name: "orphan", Hash: hash("orphan")})
	wantCode(t, err, rampart.ENOTFOUND)

	err = s.CreateToken(ctx, &rampart.APIToken{UserID: u.ID, Name: "same secret", Hash: hash("ci")})
	wantCode(t, err, rampart.ECONFLICT)
}

// mustToken creates a token named name whose hash is hash(name).
func mustToken(t *testing.T, s store.Store, userID int64, name string) *rampart.APIToken {
	t.Helper()
	tok := &rampart.APIToken{UserID: userID, Name: name, Hash: hash(name)}
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken(%q): %v", name, err)
	}
	return tok
}
