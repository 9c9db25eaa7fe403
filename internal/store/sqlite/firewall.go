package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

const firewallRuleSelect = `SELECT id, node, proto, port_from, port_to, sources, comment, created_by, created_at, updated_at FROM firewall_rules`

func scanFirewallRule(row interface{ Scan(...any) error }) (*rampart.FirewallRule, error) {
	var (
		r                rampart.FirewallRule
		sources          string
		created, updated int64
	)
	if err := row.Scan(&r.ID, &r.Node, &r.Proto, &r.PortFrom, &r.PortTo, &sources, &r.Comment, &r.CreatedBy, &created, &updated); err != nil {
		return nil, err
	}
	r.Sources = splitSources(sources)
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &r, nil
}

// Sources are stored one per line: they never hold a newline (the service
// layer stores only parsed prefixes).
func joinSources(s []string) string { return strings.Join(s, "\n") }

func splitSources(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// ListFirewallRules returns the node's rules by protocol and first port.
func (q queries) ListFirewallRules(ctx context.Context, node string) ([]*rampart.FirewallRule, error) {
	rows, err := q.r.QueryContext(ctx, firewallRuleSelect+` WHERE node = ? ORDER BY proto, port_from, id`, node)
	if err != nil {
		return nil, fmt.Errorf("list the firewall rules of node %q: %w", node, err)
	}
	defer rows.Close()
	out := []*rampart.FirewallRule{}
	for rows.Next() {
		r, err := scanFirewallRule(rows)
		if err != nil {
			return nil, fmt.Errorf("list the firewall rules of node %q: %w", node, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the firewall rules of node %q: %w", node, err)
	}
	return out, nil
}

// FirewallRuleByID returns one rule.
func (q queries) FirewallRuleByID(ctx context.Context, id int64) (*rampart.FirewallRule, error) {
	r, err := scanFirewallRule(q.r.QueryRowContext(ctx, firewallRuleSelect+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "firewall rule %d not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read firewall rule %d: %w", id, err)
	}
	return r, nil
}

// CreateFirewallRule inserts r and sets its ID and times.
func (q queries) CreateFirewallRule(ctx context.Context, r *rampart.FirewallRule) error {
	t := now()
	err := q.w.QueryRowContext(ctx,
		`INSERT INTO firewall_rules (node, proto, port_from, port_to, sources, comment, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Node, r.Proto, r.PortFrom, r.PortTo, joinSources(r.Sources), r.Comment, r.CreatedBy, t.UnixNano(), t.UnixNano()).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("create firewall rule %s/%s: %w", r.Ports(), r.Proto, err)
	}
	r.CreatedAt, r.UpdatedAt = t, t
	if r.Sources == nil {
		r.Sources = []string{}
	}
	q.changed(store.KindFirewall)
	return nil
}

// UpdateFirewallRule writes the rule's fields and bumps UpdatedAt.
func (q queries) UpdateFirewallRule(ctx context.Context, r *rampart.FirewallRule) error {
	t := now()
	res, err := q.w.ExecContext(ctx,
		`UPDATE firewall_rules SET proto = ?, port_from = ?, port_to = ?, sources = ?, comment = ?, updated_at = ? WHERE id = ?`,
		r.Proto, r.PortFrom, r.PortTo, joinSources(r.Sources), r.Comment, t.UnixNano(), r.ID)
	if err != nil {
		return fmt.Errorf("update firewall rule %d: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "firewall rule %d not found", r.ID)
	}
	r.UpdatedAt = t
	q.changed(store.KindFirewall)
	return nil
}

// DeleteFirewallRule deletes one rule.
func (q queries) DeleteFirewallRule(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM firewall_rules WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete firewall rule %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "firewall rule %d not found", id)
	}
	q.changed(store.KindFirewall)
	return nil
}

// ReplaceFirewallRules deletes the node's rules and inserts rs with their
// own IDs and times. Reinserting an ID that was deleted is fine with
// AUTOINCREMENT: it is the same rule coming back, not a new one.
func (q queries) ReplaceFirewallRules(ctx context.Context, node string, rs []*rampart.FirewallRule) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM firewall_rules WHERE node = ?`, node); err != nil {
		return fmt.Errorf("replace the firewall rules of node %q: %w", node, err)
	}
	for _, r := range rs {
		created, err := nanos("created_at", r.CreatedAt)
		if err != nil {
			return err
		}
		updated, err := nanos("updated_at", r.UpdatedAt)
		if err != nil {
			return err
		}
		if _, err := q.w.ExecContext(ctx,
			`INSERT INTO firewall_rules (id, node, proto, port_from, port_to, sources, comment, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, node, r.Proto, r.PortFrom, r.PortTo, joinSources(r.Sources), r.Comment, r.CreatedBy, created, updated); err != nil {
			if isUnique(err) {
				return rampart.Errorf(rampart.ECONFLICT, "firewall rule %d exists on another node", r.ID)
			}
			return fmt.Errorf("restore firewall rule %d: %w", r.ID, err)
		}
	}
	q.changed(store.KindFirewall)
	return nil
}

// FirewallNode returns the node's window, suspension and status.
func (q queries) FirewallNode(ctx context.Context, node string) (*rampart.FirewallNode, error) {
	n := &rampart.FirewallNode{Node: node}
	var (
		suspended bool
		pending   sql.NullString
	)
	err := q.r.QueryRowContext(ctx, `SELECT suspended, pending FROM firewall_nodes WHERE node = ?`, node).Scan(&suspended, &pending)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read the firewall state of node %q: %w", node, err)
	default:
		n.Suspended = suspended
		if pending.Valid {
			n.Pending = new(rampart.FirewallPending)
			if err := json.Unmarshal([]byte(pending.String), n.Pending); err != nil {
				return nil, fmt.Errorf("read the confirm window of node %q: %w", node, err)
			}
		}
	}
	var status string
	err = q.r.QueryRowContext(ctx, `SELECT status FROM firewall_status WHERE node = ?`, node).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read the firewall status of node %q: %w", node, err)
	default:
		if err := json.Unmarshal([]byte(status), &n.Status); err != nil {
			return nil, fmt.Errorf("read the firewall status of node %q: %w", node, err)
		}
	}
	return n, nil
}

// SetFirewallPending opens or closes the node's confirm window.
func (q queries) SetFirewallPending(ctx context.Context, node string, p *rampart.FirewallPending) error {
	var (
		text     *string
		deadline *int64
	)
	if p != nil {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("write the confirm window of node %q: %w", node, err)
		}
		s := string(b)
		text = &s
		if deadline, err = nanosPtr("deadline", &p.Deadline); err != nil {
			return err
		}
	}
	if _, err := q.w.ExecContext(ctx,
		`INSERT INTO firewall_nodes (node, pending, pending_deadline, touched_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET pending = excluded.pending, pending_deadline = excluded.pending_deadline, touched_at = excluded.touched_at`,
		node, text, deadline, now().UnixNano()); err != nil {
		return fmt.Errorf("write the confirm window of node %q: %w", node, err)
	}
	q.changed(store.KindFirewall)
	return nil
}

// SetFirewallSuspended records the suspension; touched_at changes every
// time, so the row's update moves the revision even when suspended does
// not.
func (q queries) SetFirewallSuspended(ctx context.Context, node string, suspended bool) error {
	if _, err := q.w.ExecContext(ctx,
		`INSERT INTO firewall_nodes (node, suspended, touched_at) VALUES (?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET suspended = excluded.suspended, touched_at = excluded.touched_at`,
		node, suspended, now().UnixNano()); err != nil {
		return fmt.Errorf("write the firewall state of node %q: %w", node, err)
	}
	q.changed(store.KindFirewall)
	return nil
}

// SetFirewallStatus records the reconciler's report.
func (q queries) SetFirewallStatus(ctx context.Context, node string, st rampart.FirewallStatus) error {
	if st.UpdatedAt == nil {
		t := now()
		st.UpdatedAt = &t
	}
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("write the firewall status of node %q: %w", node, err)
	}
	if _, err := q.w.ExecContext(ctx,
		`INSERT INTO firewall_status (node, status) VALUES (?, ?) ON CONFLICT (node) DO UPDATE SET status = excluded.status`,
		node, string(b)); err != nil {
		return fmt.Errorf("write the firewall status of node %q: %w", node, err)
	}
	return nil
}
