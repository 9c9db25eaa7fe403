package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

const sshKeySelect = `SELECT id, node, title, type, bits, fingerprint, public_key, comment, added_by, added_by_id, created_at FROM ssh_keys`

// CreateSSHKey inserts k and sets k.ID and CreatedAt.
func (q queries) CreateSSHKey(ctx context.Context, k *rampart.SSHKey) error {
	t := now()
	err := q.w.QueryRowContext(ctx,
		`INSERT INTO ssh_keys (node, title, type, bits, fingerprint, public_key, comment, added_by, added_by_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		k.Node, k.Title, k.Type, k.Bits, k.Fingerprint, k.PublicKey, k.Comment, k.AddedBy, k.AddedByID, t.UnixNano()).Scan(&k.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "node %s already has the SSH key %s", k.Node, k.Fingerprint)
	case err != nil:
		return fmt.Errorf("create SSH key %s: %w", k.Fingerprint, err)
	}
	k.CreatedAt = t
	q.changed(store.KindSSHKeys)
	return nil
}

// ListSSHKeys returns the node's keys, oldest first.
func (q queries) ListSSHKeys(ctx context.Context, node string) ([]*rampart.SSHKey, error) {
	rows, err := q.r.QueryContext(ctx, sshKeySelect+` WHERE node = ? ORDER BY id`, node)
	if err != nil {
		return nil, fmt.Errorf("list SSH keys: %w", err)
	}
	defer rows.Close()
	list := []*rampart.SSHKey{}
	for rows.Next() {
		k, err := scanSSHKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list SSH keys: %w", err)
		}
		list = append(list, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list SSH keys: %w", err)
	}
	return list, nil
}

// SSHKeyByID returns the key with the given ID.
func (q queries) SSHKeyByID(ctx context.Context, id int64) (*rampart.SSHKey, error) {
	k, err := scanSSHKey(q.r.QueryRowContext(ctx, sshKeySelect+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "SSH key %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read SSH key %d: %w", id, err)
	}
	return k, nil
}

// SSHKeyByFingerprint returns the node's key with the given fingerprint.
func (q queries) SSHKeyByFingerprint(ctx context.Context, node, fingerprint string) (*rampart.SSHKey, error) {
	k, err := scanSSHKey(q.r.QueryRowContext(ctx, sshKeySelect+` WHERE node = ? AND fingerprint = ?`, node, fingerprint))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "SSH key %s not found", fingerprint)
	}
	if err != nil {
		return nil, fmt.Errorf("read SSH key %s: %w", fingerprint, err)
	}
	return k, nil
}

// DeleteSSHKey deletes the key with the given ID.
func (q queries) DeleteSSHKey(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM ssh_keys WHERE id = ?`, id)
	if err := oneRow(res, err, "delete", "SSH key", id); err != nil {
		return err
	}
	q.changed(store.KindSSHKeys)
	return nil
}

// SSHKeysStatus returns the reconciler's last report for node.
func (q queries) SSHKeysStatus(ctx context.Context, node string) (rampart.SSHKeysStatus, error) {
	var (
		st                        rampart.SSHKeysStatus
		written, checked, driftAt *int64
	)
	err := q.r.QueryRowContext(ctx,
		`SELECT applied_revision, path, error, written_at, checked_at, drift, drift_at FROM ssh_keys_status WHERE node = ?`, node).
		Scan(&st.AppliedRevision, &st.Path, &st.Error, &written, &checked, &st.Drift, &driftAt)
	if errors.Is(err, sql.ErrNoRows) {
		return rampart.SSHKeysStatus{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("read the SSH keys status of node %s: %w", node, err)
	}
	st.WrittenAt, st.CheckedAt, st.DriftAt = fromNullNanos(written), fromNullNanos(checked), fromNullNanos(driftAt)
	return st, nil
}

// SetSSHKeysStatus replaces node's report. The table has no trigger:
// status never moves a revision.
func (q queries) SetSSHKeysStatus(ctx context.Context, node string, st rampart.SSHKeysStatus) error {
	written, err := nanosPtr("written_at", st.WrittenAt)
	if err != nil {
		return err
	}
	checked, err := nanosPtr("checked_at", st.CheckedAt)
	if err != nil {
		return err
	}
	driftAt, err := nanosPtr("drift_at", st.DriftAt)
	if err != nil {
		return err
	}
	_, err = q.w.ExecContext(ctx,
		`INSERT INTO ssh_keys_status (node, applied_revision, path, error, written_at, checked_at, drift, drift_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET applied_revision = excluded.applied_revision, path = excluded.path, error = excluded.error,
			written_at = excluded.written_at, checked_at = excluded.checked_at, drift = excluded.drift, drift_at = excluded.drift_at`,
		node, st.AppliedRevision, st.Path, st.Error, written, checked, st.Drift, driftAt)
	if err != nil {
		return fmt.Errorf("write the SSH keys status of node %s: %w", node, err)
	}
	return nil
}

func scanSSHKey(s scanner) (*rampart.SSHKey, error) {
	var (
		k       rampart.SSHKey
		created int64
	)
	if err := s.Scan(&k.ID, &k.Node, &k.Title, &k.Type, &k.Bits, &k.Fingerprint, &k.PublicKey, &k.Comment, &k.AddedBy, &k.AddedByID, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = fromNanos(created)
	return &k, nil
}
