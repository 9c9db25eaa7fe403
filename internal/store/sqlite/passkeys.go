package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

const passkeyColumns = `id, user_id, credential_id, public_key, sign_count, transports, aaguid, flags, rp_id, name, created_at, last_used_at`

// PasskeyHandle returns the user's WebAuthn user handle, storing fresh as
// it when the user has none yet.
func (q queries) PasskeyHandle(ctx context.Context, userID int64, fresh []byte) ([]byte, error) {
	_, err := q.w.ExecContext(ctx, `INSERT INTO passkey_users (user_id, handle) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING`, userID, fresh)
	switch {
	case isForeignKey(err):
		return nil, userNotFound(userID, "a passkey must belong to an existing user")
	case err != nil:
		return nil, fmt.Errorf("store passkey handle of user %d: %w", userID, err)
	}
	var h []byte
	if err := q.w.QueryRowContext(ctx, `SELECT handle FROM passkey_users WHERE user_id = ?`, userID).Scan(&h); err != nil {
		return nil, fmt.Errorf("read passkey handle of user %d: %w", userID, err)
	}
	return h, nil
}

// CreatePasskey inserts p and sets p.ID (and CreatedAt when zero).
func (q queries) CreatePasskey(ctx context.Context, p *rampart.Passkey) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	created, err := nanos("passkey creation time", p.CreatedAt)
	if err != nil {
		return err
	}
	used, err := nanosPtr("passkey use time", p.LastUsedAt)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, transports, aaguid, flags, rp_id, name, created_at, last_used_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.UserID, p.CredentialID, p.PublicKey, int64(p.SignCount), strings.Join(p.Transports, ","), p.AAGUID, int64(p.Flags), p.RPID, p.Name, created, used)
	switch {
	case isForeignKey(err):
		return userNotFound(p.UserID, "a passkey must belong to an existing user")
	case isUnique(err) && strings.Contains(err.Error(), "credential_id"):
		return rampart.Errorf(rampart.ECONFLICT, "this passkey is already registered")
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "you already have a passkey named %q: choose another name", p.Name)
	case err != nil:
		return fmt.Errorf("create passkey for user %d: %w", p.UserID, err)
	}
	if p.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("create passkey for user %d: %w", p.UserID, err)
	}
	return nil
}

// ListPasskeys returns the user's passkeys, oldest first.
func (q queries) ListPasskeys(ctx context.Context, userID int64) ([]*rampart.Passkey, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %d: %w", userID, err)
	}
	defer rows.Close()
	list := []*rampart.Passkey{}
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list passkeys of user %d: %w", userID, err)
	}
	return list, nil
}

// PasskeyByID returns passkey id.
func (q queries) PasskeyByID(ctx context.Context, id int64) (*rampart.Passkey, error) {
	p, err := scanPasskey(q.r.QueryRowContext(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "passkey %d not found", id)
	}
	return p, err
}

// UsePasskey records a login with passkey id: its new signature counter
// and flags, and when.
func (q queries) UsePasskey(ctx context.Context, id int64, signCount uint32, flags uint8, at time.Time) error {
	n, err := nanos("passkey use time", at)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE passkeys SET sign_count = ?, flags = ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?`,
		int64(signCount), int64(flags), n, id)
	return oneRow(res, err, "record use of", "passkey", id)
}

// DeletePasskey removes passkey id.
func (q queries) DeletePasskey(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM passkeys WHERE id = ?`, id)
	return oneRow(res, err, "delete", "passkey", id)
}

// DeleteUserPasskeys removes every passkey of a user and their handle.
func (q queries) DeleteUserPasskeys(ctx context.Context, userID int64) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM passkeys WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete passkeys of user %d: %w", userID, err)
	}
	if _, err := q.w.ExecContext(ctx, `DELETE FROM passkey_users WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("delete passkey handle of user %d: %w", userID, err)
	}
	return nil
}

func scanPasskey(row scanner) (*rampart.Passkey, error) {
	var (
		p            rampart.Passkey
		count, flags int64
		transports   string
		created      int64
		used         *int64
	)
	err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &count, &transports, &p.AAGUID, &flags, &p.RPID, &p.Name, &created, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("read passkey: %w", err)
	}
	p.SignCount, p.Flags = uint32(count), uint8(flags)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	p.CreatedAt, p.LastUsedAt = fromNanos(created), fromNullNanos(used)
	return &p, nil
}
