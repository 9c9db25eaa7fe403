package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart"
)

// CreateAccountLink inserts l and sets l.ID, and l.CreatedAt if zero.
func (q queries) CreateAccountLink(ctx context.Context, l *rampart.AccountLink) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = now()
	}
	created, err := nanos("link creation time", l.CreatedAt)
	if err != nil {
		return err
	}
	expires, err := nanos("link expiry", l.ExpiresAt)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO account_links (kind, user_id, hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		string(l.Kind), l.UserID, l.Hash, l.CreatedBy, created, expires)
	switch {
	case isForeignKey(err):
		return userNotFound(l.UserID, "a link must belong to an existing user")
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "a link with the same secret already exists: generate a new secret")
	case err != nil:
		return fmt.Errorf("create %s link for user %d: %w", l.Kind, l.UserID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create %s link for user %d: %w", l.Kind, l.UserID, err)
	}
	l.ID = id
	l.CreatedAt = fromNanos(created)
	l.ExpiresAt = fromNanos(expires)
	return nil
}

// AccountLinkByHash finds a link by the SHA-256 of its secret, expired
// ones included: expiry is the caller's decision.
func (q queries) AccountLinkByHash(ctx context.Context, hash []byte) (*rampart.AccountLink, error) {
	var (
		l                rampart.AccountLink
		kind             string
		created, expires int64
	)
	err := q.r.QueryRowContext(ctx, `SELECT id, kind, user_id, hash, created_by, created_at, expires_at FROM account_links WHERE hash = ?`, hash).
		Scan(&l.ID, &kind, &l.UserID, &l.Hash, &l.CreatedBy, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "link not found: it was used already, replaced by a newer one, or never sent")
	}
	if err != nil {
		return nil, fmt.Errorf("read account link: %w", err)
	}
	l.Kind = rampart.LinkKind(kind)
	l.CreatedAt, l.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &l, nil
}

// DeleteAccountLink spends the link with the given ID.
func (q queries) DeleteAccountLink(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM account_links WHERE id = ?`, id)
	return oneRow(res, err, "delete", "account link", id)
}

// DeleteUserAccountLinks voids every link of the user.
func (q queries) DeleteUserAccountLinks(ctx context.Context, userID int64) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM account_links WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete account links of user %d: %w", userID, err)
	}
	return nil
}

// DeleteExpiredAccountLinks removes links that expired before at.
func (q queries) DeleteExpiredAccountLinks(ctx context.Context, at time.Time) (int64, error) {
	n, err := nanos("current time", at)
	if err != nil {
		return 0, err
	}
	deleted, err := affected(q.w.ExecContext(ctx, `DELETE FROM account_links WHERE expires_at < ?`, n))
	if err != nil {
		return 0, fmt.Errorf("delete expired account links: %w", err)
	}
	return deleted, nil
}
