package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Page sizes of ListAudit.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// AddAudit appends e and sets e.ID, and e.At if it is zero.
func (q queries) AddAudit(ctx context.Context, e *rampart.AuditEvent) error {
	at := e.At
	if at.IsZero() {
		at = now()
	}
	n, err := nanos("audit event time", at)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx,
		`INSERT INTO audit_events (at, actor_id, actor, ip, action, service, service_id, owner_id, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n, e.ActorID, e.Actor, e.IP, e.Action, e.Service, e.ServiceID, e.OwnerID, e.Detail)
	if err != nil {
		return fmt.Errorf("add audit event %q: %w", e.Action, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("add audit event %q: %w", e.Action, err)
	}
	e.ID, e.At = id, at
	return nil
}

// ListAudit returns the events f selects, newest first.
func (q queries) ListAudit(ctx context.Context, f store.AuditFilter) ([]*rampart.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	if f.VisibleTo != 0 {
		where = append(where, `(actor_id = ? OR owner_id = ?)`)
		args = append(args, f.VisibleTo, f.VisibleTo)
	}
	if f.Service != "" {
		where = append(where, `service = ?`)
		args = append(args, f.Service)
	}
	if f.BeforeID > 0 {
		where = append(where, `id < ?`)
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}

	query := `SELECT id, at, actor_id, actor, ip, action, service, service_id, owner_id, detail FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)

	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	events := []*rampart.AuditEvent{}
	for rows.Next() {
		var (
			e  rampart.AuditEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.Actor, &e.IP, &e.Action, &e.Service, &e.ServiceID, &e.OwnerID, &e.Detail); err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		e.At = fromNanos(at)
		events = append(events, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return events, nil
}
