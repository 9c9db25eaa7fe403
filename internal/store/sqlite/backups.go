package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rampart-dev/rampart"
)

const backupSelect = `SELECT id, service_id, service_name, kind, key, size, data_bytes, files, sha256, created_at FROM backups`

// CreateBackup inserts b and sets b.ID (and CreatedAt when zero).
func (q queries) CreateBackup(ctx context.Context, b *rampart.Backup) error {
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now()
	}
	created, err := nanos("created_at", b.CreatedAt)
	if err != nil {
		return err
	}
	err = q.w.QueryRowContext(ctx,
		`INSERT INTO backups (service_id, service_name, kind, key, size, data_bytes, files, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		b.ServiceID, b.Service, string(b.Kind), b.Key, b.Size, b.DataBytes, b.Files, b.SHA256, created).Scan(&b.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "a backup with key %q exists already", b.Key)
	case isForeignKey(err):
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found: a backup belongs to an existing service", b.ServiceID)
	case err != nil:
		return fmt.Errorf("record backup %q: %w", b.Key, err)
	}
	return nil
}

// BackupByID returns one backup record.
func (q queries) BackupByID(ctx context.Context, id int64) (*rampart.Backup, error) {
	b, err := scanBackup(q.r.QueryRowContext(ctx, backupSelect+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "backup %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read backup %d: %w", id, err)
	}
	return b, nil
}

// ListBackups returns a service's backups (or all), newest first.
func (q queries) ListBackups(ctx context.Context, serviceID int64) ([]*rampart.Backup, error) {
	query, args := backupSelect, []any{}
	if serviceID != 0 {
		query += ` WHERE service_id = ?`
		args = append(args, serviceID)
	}
	rows, err := q.r.QueryContext(ctx, query+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	defer rows.Close()
	out := []*rampart.Backup{}
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// DeleteBackup deletes one backup record (not its archive).
func (q queries) DeleteBackup(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM backups WHERE id = ?`, id)
	return oneRow(res, err, "delete", "backup", id)
}

func scanBackup(s scanner) (*rampart.Backup, error) {
	var (
		b       rampart.Backup
		kind    string
		created int64
	)
	if err := s.Scan(&b.ID, &b.ServiceID, &b.Service, &kind, &b.Key, &b.Size, &b.DataBytes, &b.Files, &b.SHA256, &created); err != nil {
		return nil, err
	}
	b.Kind = rampart.BackupKind(kind)
	b.CreatedAt = fromNanos(created)
	return &b, nil
}
