package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// checkSession compares every field of got with want.
func checkSession(t *testing.T, got, want *rampart.Session) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || !bytes.Equal(got.Hash, want.Hash) ||
		got.CSRFToken != want.CSRFToken || got.IP != want.IP {
		t.Errorf("session = {%d user %d %x %q %q}, want {%d user %d %x %q %q}",
			got.ID, got.UserID, got.Hash, got.CSRFToken, got.IP,
			want.ID, want.UserID, want.Hash, want.CSRFToken, want.IP)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "SeenAt", got.SeenAt, want.SeenAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

// newSession returns an unsaved session of userID created at at, whose hash
// is hash(name).
func newSession(userID int64, name string, at time.Time) *rampart.Session {
	return &rampart.Session{
		UserID:    userID,
		Hash:      hash(name),
		CSRFToken: "csrf-" + name,
		IP:        "192.0.2.7",
		CreatedAt: at,
		SeenAt:    at,
		ExpiresAt: at.Add(12 * time.Hour),
	}
}

// mustSession creates newSession(userID, name, at).
func mustSession(t *testing.T, s store.Store, userID int64, name string, at time.Time) *rampart.Session {
	t.Helper()
	sess := newSession(userID, name, at)
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatalf("CreateSession(%q): %v", name, err)
	}
	return sess
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	at := time.Date(2030, 5, 6, 7, 8, 9, 987654321, time.FixedZone("UTC-5", -5*3600))
	sess := newSession(u.ID, "browser", at)
	sess.IP = "2001:db8::1"
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if sess.ID == 0 {
		t.Fatal("CreateSession did not set ID")
	}
	got, err := s.SessionByHash(ctx, sess.Hash)
	if err != nil {
		t.Fatalf("SessionByHash: %v", err)
	}
	checkSession(t, got, sess)

	_, err = s.SessionByHash(ctx, hash("unknown"))
	wantCode(t, err, rampart.ENOTFOUND)
}

func testSessionTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	sess := mustSession(t, s, u.ID, "browser", t0)

	steps := []struct {
		name  string
		touch time.Time
		want  time.Time
	}{
		{"next request", t0.Add(time.Minute), t0.Add(time.Minute)},
		{"an older request finishing late", t0.Add(30 * time.Second), t0.Add(time.Minute)},
	}
	for _, st := range steps {
		if err := s.TouchSession(ctx, sess.ID, st.touch); err != nil {
			t.Fatalf("%s: TouchSession: %v", st.name, err)
		}
		got, err := s.SessionByHash(ctx, sess.Hash)
		if err != nil {
			t.Fatalf("%s: SessionByHash: %v", st.name, err)
		}
		sameTime(t, st.name+": SeenAt", got.SeenAt, st.want)
		sameTime(t, st.name+": ExpiresAt", got.ExpiresAt, sess.ExpiresAt)
	}
	wantCode(t, s.TouchSession(ctx, 424242, t0), rampart.ENOTFOUND)
}

func testSessionDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	now := time.Now()
	sess := mustSession(t, s, u.ID, "browser", now)
	keep := mustSession(t, s, u.ID, "phone", now)

	if err := s.DeleteSession(ctx, sess.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err := s.SessionByHash(ctx, sess.Hash)
	wantCode(t, err, rampart.ENOTFOUND)
	wantCode(t, s.DeleteSession(ctx, sess.ID), rampart.ENOTFOUND)
	if _, err := s.SessionByHash(ctx, keep.Hash); err != nil {
		t.Errorf("the other session is gone too: %v", err)
	}
}

func testSessionRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	now := time.Now()
	mustSession(t, s, u.ID, "browser", now)

	wantCode(t, s.CreateSession(ctx, newSession(424242, "orphan", now)), rampart.ENOTFOUND)
	wantCode(t, s.CreateSession(ctx, newSession(u.ID, "browser", now)), rampart.ECONFLICT)
}

func testSessionDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	idleBefore := now.Add(-time.Hour)

	tests := []struct {
		name          string
		seen, expires time.Time
		deleted       bool
	}{
		{"fresh", now, now.Add(time.Hour), false},
		{"past its expiry", now, now.Add(-time.Second), true},
		{"expires exactly now", now, now, false},
		{"idle", idleBefore.Add(-time.Second), now.Add(time.Hour), true},
		{"seen exactly at the idle cut-off", idleBefore, now.Add(time.Hour), false},
		{"idle and expired", idleBefore.Add(-time.Hour), now.Add(-time.Hour), true},
	}
	want := int64(0)
	sessions := make([]*rampart.Session, len(tests))
	for i, tc := range tests {
		sess := newSession(u.ID, tc.name, now.Add(-24*time.Hour))
		sess.SeenAt, sess.ExpiresAt = tc.seen, tc.expires
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession(%q): %v", tc.name, err)
		}
		sessions[i] = sess
		if tc.deleted {
			want++
		}
	}

	n, err := s.DeleteExpiredSessions(ctx, now, idleBefore)
	if err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	if n != want {
		t.Errorf("DeleteExpiredSessions removed %d sessions, want %d", n, want)
	}
	for i, tc := range tests {
		_, err := s.SessionByHash(ctx, sessions[i].Hash)
		switch {
		case tc.deleted && rampart.ErrorCode(err) != rampart.ENOTFOUND:
			t.Errorf("%s: session kept (err %v), want it deleted", tc.name, err)
		case !tc.deleted && err != nil:
			t.Errorf("%s: session deleted (err %v), want it kept", tc.name, err)
		}
	}

	if n, err := s.DeleteExpiredSessions(ctx, now, idleBefore); err != nil || n != 0 {
		t.Errorf("second DeleteExpiredSessions = %d, %v; want 0", n, err)
	}
}
