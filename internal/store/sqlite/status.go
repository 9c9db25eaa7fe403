package sqlite

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Revision returns the counter the triggers of the sixth migration bump for
// kind. It is read from the file, so changes made by other processes show
// up as soon as they commit.
func (q queries) Revision(ctx context.Context, kind store.Kind) (int64, error) {
	var v int64
	if err := q.r.QueryRowContext(ctx, `SELECT revision FROM revisions WHERE kind = ?`, string(kind)).Scan(&v); err != nil {
		return 0, fmt.Errorf("read the %s revision: %w", kind, err)
	}
	return v, nil
}

// SetServiceCondition records c for the service, replacing the earlier
// condition of the same type. The conditions table has no trigger: status
// never moves a revision.
func (q queries) SetServiceCondition(ctx context.Context, serviceID int64, c rampart.Condition) error {
	if c.Type == "" {
		return rampart.Errorf(rampart.EINVALID, "a condition needs a type: name the reconciler that reports it")
	}
	at := c.UpdatedAt
	if at.IsZero() {
		at = now()
	}
	_, err := q.w.ExecContext(ctx,
		`INSERT INTO service_conditions (service_id, type, ok, message, revision, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (service_id, type) DO UPDATE SET ok = excluded.ok, message = excluded.message,
			revision = excluded.revision, updated_at = excluded.updated_at`,
		serviceID, c.Type, c.OK, c.Message, c.Revision, at.UnixNano())
	switch {
	case isForeignKey(err):
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found", serviceID)
	case err != nil:
		return fmt.Errorf("write the %s condition of service %d: %w", c.Type, serviceID, err)
	}
	return nil
}

// loadConditions fills in the Status of svcs with one query.
func (q queries) loadConditions(ctx context.Context, svcs ...*rampart.Service) error {
	if len(svcs) == 0 {
		return nil
	}
	byID := make(map[int64][]rampart.Condition, len(svcs))
	query := `SELECT service_id, type, ok, message, revision, updated_at FROM service_conditions`
	var args []any
	if len(svcs) <= 100 {
		query += ` WHERE service_id IN (?` + strings.Repeat(",?", len(svcs)-1) + `)`
		for _, s := range svcs {
			args = append(args, s.ID)
		}
	}
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read service conditions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id int64
			c  rampart.Condition
			at int64
		)
		if err := rows.Scan(&id, &c.Type, &c.OK, &c.Message, &c.Revision, &at); err != nil {
			return fmt.Errorf("read service conditions: %w", err)
		}
		c.UpdatedAt = fromNanos(at)
		byID[id] = append(byID[id], c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read service conditions: %w", err)
	}
	for _, s := range svcs {
		conds := byID[s.ID]
		sort.Slice(conds, func(i, j int) bool { return conds[i].Type < conds[j].Type })
		s.Status = rampart.NewStatus(conds)
	}
	return nil
}
