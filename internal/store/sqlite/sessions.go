package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart"
)

const sessionColumns = `id, user_id, hash, csrf_token, ip, created_at, seen_at, expires_at`

// CreateSession inserts s and sets s.ID. A zero CreatedAt becomes now and a
// zero SeenAt becomes CreatedAt; ExpiresAt is required, since a session
// without an absolute expiry would live for ever.
func (q queries) CreateSession(ctx context.Context, s *rampart.Session) error {
	if s.ExpiresAt.IsZero() {
		return rampart.Errorf(rampart.EINVALID, "session has no expiry time: set ExpiresAt")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now()
	}
	if s.SeenAt.IsZero() {
		s.SeenAt = s.CreatedAt
	}
	created, err := nanos("session creation time", s.CreatedAt)
	if err != nil {
		return err
	}
	seen, err := nanos("session last-seen time", s.SeenAt)
	if err != nil {
		return err
	}
	expires, err := nanos("session expiry", s.ExpiresAt)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO sessions (user_id, hash, csrf_token, ip, created_at, seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.UserID, s.Hash, s.CSRFToken, s.IP, created, seen, expires)
	switch {
	case isForeignKey(err):
		return userNotFound(s.UserID, "a session must belong to an existing user")
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "a session with the same cookie already exists: generate a new cookie value")
	case err != nil:
		return fmt.Errorf("create session for user %d: %w", s.UserID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create session for user %d: %w", s.UserID, err)
	}
	s.ID = id
	return nil
}

// SessionByHash finds a session by the SHA-256 of its cookie value. It
// returns expired sessions too: expiry is the caller's decision.
func (q queries) SessionByHash(ctx context.Context, hash []byte) (*rampart.Session, error) {
	var (
		s                      rampart.Session
		created, seen, expires int64
	)
	err := q.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE hash = ?`, hash).
		Scan(&s.ID, &s.UserID, &s.Hash, &s.CSRFToken, &s.IP, &created, &seen, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "session not found: sign in again")
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s.CreatedAt, s.SeenAt, s.ExpiresAt = fromNanos(created), fromNanos(seen), fromNanos(expires)
	return &s, nil
}

// TouchSession records a request at at. SeenAt only moves forward, so
// concurrent requests finishing out of order cannot set it back.
func (q queries) TouchSession(ctx context.Context, id int64, at time.Time) error {
	n, err := nanos("session last-seen time", at)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE sessions SET seen_at = max(seen_at, ?) WHERE id = ?`, n, id)
	return oneRow(res, err, "record use of", "session", id)
}

// DeleteSession deletes the session with the given ID (sign-out).
func (q queries) DeleteSession(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return oneRow(res, err, "delete", "session", id)
}

// DeleteExpiredSessions removes sessions that expired before at or were
// last seen before idleBefore, and returns how many it removed.
func (q queries) DeleteExpiredSessions(ctx context.Context, at, idleBefore time.Time) (int64, error) {
	n, err := nanos("current time", at)
	if err != nil {
		return 0, err
	}
	idle, err := nanos("idle cut-off", idleBefore)
	if err != nil {
		return 0, err
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ? OR seen_at < ?`, n, idle)
	deleted, err := affected(res, err)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return deleted, nil
}

// DeleteUserSessions signs all of a user's sessions out but except (0:
// none kept), and returns how many it removed.
func (q queries) DeleteUserSessions(ctx context.Context, userID, except int64) (int64, error) {
	n, err := affected(q.w.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id != ?`, userID, except))
	if err != nil {
		return 0, fmt.Errorf("sign out sessions of user %d: %w", userID, err)
	}
	return n, nil
}
