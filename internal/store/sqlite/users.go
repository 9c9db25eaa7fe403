package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rampart-dev/rampart"
)

const userColumns = `id, email, role, password_hash, created_at, updated_at, mfa, totp_secret, totp_pending, totp_last_step, disabled_at`

// CreateUser inserts u and sets u.ID, CreatedAt and UpdatedAt.
func (q queries) CreateUser(ctx context.Context, u *rampart.User) error {
	t := now()
	if u.MFA == "" {
		u.MFA = rampart.MFAEmail
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO users (email, role, password_hash, created_at, updated_at, mfa) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Email, string(u.Role), u.PasswordHash, t.UnixNano(), t.UnixNano(), string(u.MFA))
	if isUnique(err) {
		return rampart.Errorf(rampart.ECONFLICT, "a user with email %q already exists", u.Email)
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Email, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Email, err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, t, t
	u.Status = u.ComputeStatus()
	return nil
}

// UserByID returns the user with the given ID.
func (q queries) UserByID(ctx context.Context, id int64) (*rampart.User, error) {
	u, err := scanUser(q.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "user %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user with exactly this email; callers normalize it
// first with rampart.NormalizeEmail, as they do before storing one.
func (q queries) UserByEmail(ctx context.Context, email string) (*rampart.User, error) {
	u, err := scanUser(q.r.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "no user with email %q", email)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %q: %w", email, err)
	}
	return u, nil
}

// ListUsers returns all users ordered by email.
func (q queries) ListUsers(ctx context.Context) ([]*rampart.User, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	users := []*rampart.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UpdateUser writes Email, Role, PasswordHash and DisabledAt and sets
// u.UpdatedAt.
func (q queries) UpdateUser(ctx context.Context, u *rampart.User) error {
	disabled, err := nanosPtr("disabled time", u.DisabledAt)
	if err != nil {
		return err
	}
	t := now()
	res, err := q.w.ExecContext(ctx,
		`UPDATE users SET email = ?, role = ?, password_hash = ?, disabled_at = ?, updated_at = ? WHERE id = ?`,
		u.Email, string(u.Role), u.PasswordHash, disabled, t.UnixNano(), u.ID)
	if isUnique(err) {
		return rampart.Errorf(rampart.ECONFLICT, "a user with email %q already exists", u.Email)
	}
	if err := oneRow(res, err, "update", "user", u.ID); err != nil {
		return err
	}
	u.UpdatedAt = t
	u.Status = u.ComputeStatus()
	return nil
}

// DeleteUser deletes the user with the given ID; the foreign keys take
// their credentials with them and refuse while they own services.
func (q queries) DeleteUser(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if isForeignKey(err) {
		return rampart.Errorf(rampart.ECONFLICT, "user %d still owns services: delete them or give them to someone else first", id)
	}
	return oneRow(res, err, "delete", "user", id)
}

// SetUserMFA writes u's second factor: MFA, TOTPSecret, TOTPPending and
// TOTPLastStep, and sets u.UpdatedAt.
func (q queries) SetUserMFA(ctx context.Context, u *rampart.User) error {
	if !u.MFA.Valid() {
		return rampart.Errorf(rampart.EINVALID, "second factor %q is unknown", u.MFA)
	}
	t := now()
	res, err := q.w.ExecContext(ctx,
		`UPDATE users SET mfa = ?, totp_secret = ?, totp_pending = ?, totp_last_step = ?, updated_at = ? WHERE id = ?`,
		string(u.MFA), u.TOTPSecret, u.TOTPPending, u.TOTPLastStep, t.UnixNano(), u.ID)
	if err := oneRow(res, err, "update second factor of", "user", u.ID); err != nil {
		return err
	}
	u.UpdatedAt = t
	return nil
}

// AdvanceTOTPStep records that the app code of step was accepted for user
// id, unless a code of that step or a later one was accepted before: the
// compare and the write are one statement, so two requests racing with the
// same code cannot both win. It reports whether this one did.
func (q queries) AdvanceTOTPStep(ctx context.Context, id, step int64) (bool, error) {
	n, err := affected(q.w.ExecContext(ctx, `UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step))
	if err != nil {
		return false, fmt.Errorf("record app code step of user %d: %w", id, err)
	}
	return n == 1, nil
}

// CountUsers returns how many users there are.
func (q queries) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanUser(s scanner) (*rampart.User, error) {
	var (
		u                rampart.User
		role, mfa        string
		created, updated int64
		disabled         *int64
	)
	if err := s.Scan(&u.ID, &u.Email, &role, &u.PasswordHash, &created, &updated, &mfa, &u.TOTPSecret, &u.TOTPPending, &u.TOTPLastStep, &disabled); err != nil {
		return nil, err
	}
	u.Role, u.MFA = rampart.Role(role), rampart.MFAMethod(mfa)
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	u.DisabledAt = fromNullNanos(disabled)
	u.Status = u.ComputeStatus()
	return &u, nil
}

// affected returns how many rows an UPDATE or DELETE changed, passing on
// the statement's own error, so that "no such row" can become ENOTFOUND.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// oneRow checks the result of a write addressed by ID: the driver's error
// wrapped with what was being done ("delete service 7: …"), or ENOTFOUND
// when no row has that ID.
func oneRow(res sql.Result, err error, doing, what string, id int64) error {
	n, err := affected(res, err)
	if err != nil {
		return fmt.Errorf("%s %s %d: %w", doing, what, id, err)
	}
	if n == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "%s %d not found", what, id)
	}
	return nil
}
