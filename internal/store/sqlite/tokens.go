package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart"
)

const tokenColumns = `id, user_id, name, hash, created_at, expires_at, last_used_at`

// CreateToken inserts t and sets t.ID and CreatedAt.
func (q queries) CreateToken(ctx context.Context, t *rampart.APIToken) error {
	expires, err := nanosPtr("token expiry", t.ExpiresAt)
	if err != nil {
		return err
	}
	lastUsed, err := nanosPtr("token last use", t.LastUsedAt)
	if err != nil {
		return err
	}
	created := now()
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO api_tokens (user_id, name, hash, created_at, expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.UserID, t.Name, t.Hash, created.UnixNano(), expires, lastUsed)
	switch {
	case isForeignKey(err):
		return userNotFound(t.UserID, "an API token must belong to an existing user")
	case isUnique(err):
		// Only a broken random source gives two tokens the same secret.
		return rampart.Errorf(rampart.ECONFLICT, "an API token with the same secret already exists: generate a new secret")
	case err != nil:
		return fmt.Errorf("create API token for user %d: %w", t.UserID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create API token for user %d: %w", t.UserID, err)
	}
	t.ID, t.CreatedAt = id, created
	return nil
}

// TokenByHash finds a token by the SHA-256 of its secret.
func (q queries) TokenByHash(ctx context.Context, hash []byte) (*rampart.APIToken, error) {
	t, err := scanToken(q.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The message names no hash: it is derived from a secret.
		return nil, rampart.Errorf(rampart.ENOTFOUND, "API token not found: it may have been deleted; create a new one")
	}
	if err != nil {
		return nil, fmt.Errorf("read API token: %w", err)
	}
	return t, nil
}

// TokenByID returns the token with the given ID.
func (q queries) TokenByID(ctx context.Context, id int64) (*rampart.APIToken, error) {
	t, err := scanToken(q.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "API token %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read API token %d: %w", id, err)
	}
	return t, nil
}

// ListTokens returns the user's tokens, oldest first.
func (q queries) ListTokens(ctx context.Context, userID int64) ([]*rampart.APIToken, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list API tokens of user %d: %w", userID, err)
	}
	defer rows.Close()
	tokens := []*rampart.APIToken{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list API tokens of user %d: %w", userID, err)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list API tokens of user %d: %w", userID, err)
	}
	return tokens, nil
}

// TouchToken records a use at at. LastUsedAt only moves forward, so
// concurrent requests finishing out of order cannot set it back.
func (q queries) TouchToken(ctx context.Context, id int64, at time.Time) error {
	n, err := nanos("token use time", at)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx,
		`UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, ?1), ?1) WHERE id = ?2`, n, id)
	return oneRow(res, err, "record use of", "API token", id)
}

// DeleteToken deletes the token with the given ID.
func (q queries) DeleteToken(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	return oneRow(res, err, "delete", "API token", id)
}

func scanToken(s scanner) (*rampart.APIToken, error) {
	var (
		t                 rampart.APIToken
		created           int64
		expires, lastUsed *int64
	)
	if err := s.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &created, &expires, &lastUsed); err != nil {
		return nil, err
	}
	t.CreatedAt = fromNanos(created)
	t.ExpiresAt, t.LastUsedAt = fromNullNanos(expires), fromNullNanos(lastUsed)
	return &t, nil
}
