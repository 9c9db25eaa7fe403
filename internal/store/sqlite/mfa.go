package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart"
)

const challengeColumns = `id, user_id, hash, method, code_mac, attempts, sends, sent_at, ip, created_at, expires_at`

// CreateLoginChallenge inserts c and sets c.ID.
func (q queries) CreateLoginChallenge(ctx context.Context, c *rampart.LoginChallenge) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	created, err := nanos("challenge creation time", c.CreatedAt)
	if err != nil {
		return err
	}
	expires, err := nanos("challenge expiry", c.ExpiresAt)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO login_challenges (user_id, hash, method, ip, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.UserID, c.Hash, string(c.Method), c.IP, created, expires)
	switch {
	case isForeignKey(err):
		return userNotFound(c.UserID, "a login must belong to an existing user")
	case err != nil:
		return fmt.Errorf("create login challenge for user %d: %w", c.UserID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create login challenge for user %d: %w", c.UserID, err)
	}
	c.ID = id
	return nil
}

// LoginChallengeByHash finds a challenge by the SHA-256 of its secret,
// expired ones included: expiry is the caller's decision.
func (q queries) LoginChallengeByHash(ctx context.Context, hash []byte) (*rampart.LoginChallenge, error) {
	var (
		c                rampart.LoginChallenge
		method           string
		sent             sql.NullInt64
		created, expires int64
	)
	err := q.r.QueryRowContext(ctx, `SELECT `+challengeColumns+` FROM login_challenges WHERE hash = ?`, hash).
		Scan(&c.ID, &c.UserID, &c.Hash, &method, &c.CodeMAC, &c.Attempts, &c.Sends, &sent, &c.IP, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "login not found: start again with your email and password")
	}
	if err != nil {
		return nil, fmt.Errorf("read login challenge: %w", err)
	}
	c.Method = rampart.MFAMethod(method)
	if sent.Valid {
		c.SentAt = fromNanos(sent.Int64)
	}
	c.CreatedAt, c.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &c, nil
}

// CountLoginAttempt adds one wrong (or not yet checked) second factor to
// challenge id and returns the new count. Callers count before they check,
// so that parallel guesses cannot all slip under the limit.
func (q queries) CountLoginAttempt(ctx context.Context, id int64) (int, error) {
	var n int
	err := q.w.QueryRowContext(ctx, `UPDATE login_challenges SET attempts = attempts + 1 WHERE id = ? RETURNING attempts`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, rampart.Errorf(rampart.ENOTFOUND, "login not found: start again with your email and password")
	}
	if err != nil {
		return 0, fmt.Errorf("count attempt of login challenge %d: %w", id, err)
	}
	return n, nil
}

// RecordCodeSent stores the MAC of a newly emailed code for challenge id
// (replacing the previous code), counts the send and records its time.
func (q queries) RecordCodeSent(ctx context.Context, id int64, mac []byte, at time.Time) error {
	n, err := nanos("code send time", at)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE login_challenges SET code_mac = ?, sends = sends + 1, sent_at = ? WHERE id = ?`, mac, n, id)
	return oneRow(res, err, "record code sent for", "login challenge", id)
}

// DeleteLoginChallenge spends challenge id. It is ENOTFOUND when the
// challenge is already gone, which is how a code used twice at once is
// refused the second time.
func (q queries) DeleteLoginChallenge(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM login_challenges WHERE id = ?`, id)
	return oneRow(res, err, "delete", "login challenge", id)
}

// DeleteUserLoginChallenges ends every login of a user that waits for a
// second factor (after an MFA change, the factor they wait for is stale).
func (q queries) DeleteUserLoginChallenges(ctx context.Context, userID int64) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM login_challenges WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete login challenges of user %d: %w", userID, err)
	}
	return nil
}

// DeleteExpiredLoginChallenges removes challenges that expired before at.
func (q queries) DeleteExpiredLoginChallenges(ctx context.Context, at time.Time) (int64, error) {
	n, err := nanos("current time", at)
	if err != nil {
		return 0, err
	}
	deleted, err := affected(q.w.ExecContext(ctx, `DELETE FROM login_challenges WHERE expires_at < ?`, n))
	if err != nil {
		return 0, fmt.Errorf("delete expired login challenges: %w", err)
	}
	return deleted, nil
}

// ReplaceRecoveryCodes makes hashes the user's recovery codes, the old
// set, used or not, gone. Callers run it in a transaction with the audit
// event.
func (q queries) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete recovery codes of user %d: %w", userID, err)
	}
	for _, h := range hashes {
		_, err := q.w.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)`, userID, h)
		switch {
		case isForeignKey(err):
			return userNotFound(userID, "recovery codes must belong to an existing user")
		case err != nil:
			return fmt.Errorf("store recovery code of user %d: %w", userID, err)
		}
	}
	return nil
}

// UseRecoveryCode spends the user's unused code with this hash, or is
// ENOTFOUND: never issued, already used, or someone else's.
func (q queries) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time) error {
	n, err := nanos("recovery code use time", at)
	if err != nil {
		return err
	}
	done, err := affected(q.w.ExecContext(ctx,
		`UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL`, n, userID, hash))
	if err != nil {
		return fmt.Errorf("use recovery code of user %d: %w", userID, err)
	}
	if done == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "that recovery code is not valid or was used already")
	}
	return nil
}

// CountRecoveryCodes returns how many of the user's recovery codes are
// unused, and how many there are in all.
func (q queries) CountRecoveryCodes(ctx context.Context, userID int64) (unused, total int, err error) {
	err = q.r.QueryRowContext(ctx,
		`SELECT count(*) FILTER (WHERE used_at IS NULL), count(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&unused, &total)
	if err != nil {
		return 0, 0, fmt.Errorf("count recovery codes of user %d: %w", userID, err)
	}
	return unused, total, nil
}
