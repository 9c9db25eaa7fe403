package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// serviceSelect reads services with their owner's email; every read of a
// service fills in Owner.
const serviceSelect = `SELECT s.id, s.name, s.owner_id, u.email, s.upstreams, s.state, s.rate_limit, s.cache, s.hsts, s.env, s.allow_private_upstreams, s.termination_protection, s.runtime, s.generation, s.deleted_at, s.purge_after, r.run_state, s.created_at, s.updated_at
FROM services s JOIN users u ON u.id = s.owner_id LEFT JOIN service_run_states r ON r.service_id = s.id`

// ownerEmail is the owner's email as a scalar subquery, for RETURNING.
const ownerEmail = `(SELECT email FROM users WHERE users.id = services.owner_id)`

// CreateService inserts s and sets s.ID, Owner, CreatedAt and UpdatedAt.
func (q queries) CreateService(ctx context.Context, s *rampart.Service) error {
	ups, rl, cache, hsts, env, err := serviceJSON(s)
	if err != nil {
		return err
	}
	rt, deletedAt, purgeAfter, err := lifecycleColumns(s)
	if err != nil {
		return err
	}
	t := now()
	var id int64
	var owner string
	err = q.w.QueryRowContext(ctx,
		`INSERT INTO services (name, owner_id, upstreams, state, rate_limit, cache, hsts, env, allow_private_upstreams, termination_protection, runtime, generation, deleted_at, purge_after, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id, `+ownerEmail,
		s.Name, s.OwnerID, ups, string(s.State), rl, cache, hsts, env, s.AllowPrivateUpstreams, s.TerminationProtection, rt, s.Generation, deletedAt, purgeAfter, t.UnixNano(), t.UnixNano()).Scan(&id, &owner)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "a service named %q already exists: choose another name", s.Name)
	case isForeignKey(err):
		return userNotFound(s.OwnerID, "a service's owner must be an existing user")
	case err != nil:
		return fmt.Errorf("create service %q: %w", s.Name, err)
	}
	s.ID, s.Owner, s.CreatedAt, s.UpdatedAt = id, owner, t, t
	q.changed(store.KindServices)
	return nil
}

// ServiceByName returns the service with the given name.
func (q queries) ServiceByName(ctx context.Context, name string) (*rampart.Service, error) {
	return q.serviceWhere(ctx, `s.name = ?`, name, strconv.Quote(name))
}

// ServiceByID returns the service with the given ID.
func (q queries) ServiceByID(ctx context.Context, id int64) (*rampart.Service, error) {
	return q.serviceWhere(ctx, `s.id = ?`, id, strconv.FormatInt(id, 10))
}

// serviceWhere reads the one service that where selects; named is how
// errors name it.
func (q queries) serviceWhere(ctx context.Context, where string, arg any, named string) (*rampart.Service, error) {
	s, err := scanService(q.r.QueryRowContext(ctx, serviceSelect+` WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "service %s not found", named)
	}
	if err != nil {
		return nil, fmt.Errorf("read service %s: %w", named, err)
	}
	return s, q.loadConditions(ctx, s)
}

// ListServices returns the services f selects, ordered by name.
func (q queries) ListServices(ctx context.Context, f store.ServiceFilter) ([]*rampart.Service, error) {
	query, args := serviceSelect, []any{}
	if f.OwnerID != 0 {
		query += ` WHERE s.owner_id = ?`
		args = append(args, f.OwnerID)
	}
	rows, err := q.r.QueryContext(ctx, query+` ORDER BY s.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	services := []*rampart.Service{}
	for rows.Next() {
		s, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		services = append(services, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return services, q.loadConditions(ctx, services...)
}

// UpdateService writes Upstreams, State, RateLimit, Cache, HSTS, Env,
// AllowPrivateUpstreams, TerminationProtection, Runtime, Generation,
// DeletedAt, PurgeAfter and OwnerID, and sets s.UpdatedAt and s.Owner (the
// owner may have changed).
func (q queries) UpdateService(ctx context.Context, s *rampart.Service) error {
	ups, rl, cache, hsts, env, err := serviceJSON(s)
	if err != nil {
		return err
	}
	rt, deletedAt, purgeAfter, err := lifecycleColumns(s)
	if err != nil {
		return err
	}
	t := now()
	var owner string
	err = q.w.QueryRowContext(ctx,
		`UPDATE services SET upstreams = ?, state = ?, rate_limit = ?, cache = ?, hsts = ?, env = ?, allow_private_upstreams = ?, termination_protection = ?, runtime = ?, generation = ?, deleted_at = ?, purge_after = ?, owner_id = ?, updated_at = ? WHERE id = ?
		RETURNING `+ownerEmail,
		ups, string(s.State), rl, cache, hsts, env, s.AllowPrivateUpstreams, s.TerminationProtection, rt, s.Generation, deletedAt, purgeAfter, s.OwnerID, t.UnixNano(), s.ID).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return rampart.Errorf(rampart.ENOTFOUND, "service %q (ID %d) not found", s.Name, s.ID)
	case isForeignKey(err):
		return userNotFound(s.OwnerID, "a service's owner must be an existing user")
	case err != nil:
		return fmt.Errorf("update service %q: %w", s.Name, err)
	}
	s.Owner, s.UpdatedAt = owner, t
	q.changed(store.KindServices)
	return nil
}

// DeleteService deletes the service with the given ID. A service with
// custom domains leaves its name retired (see RetiredName).
func (q queries) DeleteService(ctx context.Context, id int64) error {
	// The upsert's SELECT needs a WHERE for SQLite to tell its ON CONFLICT
	// from a join's ON.
	if _, err := q.w.ExecContext(ctx, `INSERT INTO retired_names (name, owner_id, domains, retired_at)
		SELECT s.name, s.owner_id, json_group_array(d.name), ? FROM services s JOIN domains d ON d.service_id = s.id
		WHERE s.id = ? GROUP BY s.id
		ON CONFLICT (name) DO UPDATE SET owner_id = excluded.owner_id, domains = excluded.domains, retired_at = excluded.retired_at`,
		now().UnixNano(), id); err != nil {
		return fmt.Errorf("retire the name of service %d: %w", id, err)
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM services WHERE id = ?`, id)
	if err := oneRow(res, err, "delete", "service", id); err != nil {
		return err
	}
	// Its domains went with it.
	q.changed(store.KindServices, store.KindDomains)
	return nil
}

// RetiredName returns the record of a name retired by DeleteService;
// ENOTFOUND when the name is not retired.
func (q queries) RetiredName(ctx context.Context, name string) (*rampart.RetiredName, error) {
	var (
		rn      = rampart.RetiredName{Name: name}
		domains string
		at      int64
	)
	err := q.r.QueryRowContext(ctx, `SELECT owner_id, domains, retired_at FROM retired_names WHERE name = ?`, name).Scan(&rn.OwnerID, &domains, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "the name %q is not retired", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read retired name %q: %w", name, err)
	}
	if err := json.Unmarshal([]byte(domains), &rn.Domains); err != nil {
		return nil, fmt.Errorf("decode the domains of retired name %q: %w", name, err)
	}
	rn.RetiredAt = fromNanos(at)
	return &rn, nil
}

// serviceJSON encodes the JSON columns of a service; empty lists and maps
// are stored as [] and {}, never null.
func serviceJSON(s *rampart.Service) (ups, rateLimit, cache, hsts, env string, err error) {
	u := s.Upstreams
	if u == nil {
		u = []string{}
	}
	rl := s.RateLimit
	if rl.Allow == nil {
		rl.Allow = []string{}
	}
	e := s.Env
	if e == nil {
		e = rampart.Env{}
	}
	var b [5][]byte
	for i, v := range []any{u, rl, s.Cache, s.HSTS, e} {
		if b[i], err = json.Marshal(v); err != nil {
			return "", "", "", "", "", fmt.Errorf("encode service %q: %w", s.Name, err)
		}
	}
	return string(b[0]), string(b[1]), string(b[2]), string(b[3]), string(b[4]), nil
}

// lifecycleColumns encodes the runtime (the zero runtime is proxy) and
// the grace period's times of a service.
func lifecycleColumns(s *rampart.Service) (runtime string, deletedAt, purgeAfter *int64, err error) {
	rt := s.Runtime
	if rt.Kind == "" {
		rt.Kind = rampart.RuntimeProxy
	}
	b, err := json.Marshal(rt)
	if err != nil {
		return "", nil, nil, fmt.Errorf("encode service %q: %w", s.Name, err)
	}
	if deletedAt, err = nanosPtr("deleted_at", s.DeletedAt); err != nil {
		return "", nil, nil, err
	}
	if purgeAfter, err = nanosPtr("purge_after", s.PurgeAfter); err != nil {
		return "", nil, nil, err
	}
	return string(b), deletedAt, purgeAfter, nil
}

// SetServiceRunState records what the runtime observed of a service; like
// a condition it is observed state and moves no revision.
func (q queries) SetServiceRunState(ctx context.Context, id int64, rs *rampart.RunState) error {
	if rs == nil {
		_, err := q.w.ExecContext(ctx, `DELETE FROM service_run_states WHERE service_id = ?`, id)
		return err
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return fmt.Errorf("encode run state: %w", err)
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO service_run_states (service_id, run_state) VALUES (?, ?)
		ON CONFLICT (service_id) DO UPDATE SET run_state = excluded.run_state`, id, string(b))
	if isForeignKey(err) {
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found", id)
	}
	return err
}

func scanService(s scanner) (*rampart.Service, error) {
	var (
		svc                              rampart.Service
		ups, state, rl, cache, hsts, env string
		rt                               string
		runState                         sql.NullString
		deleted, purge                   sql.NullInt64
		created, updated                 int64
	)
	if err := s.Scan(&svc.ID, &svc.Name, &svc.OwnerID, &svc.Owner, &ups, &state, &rl, &cache, &hsts, &env, &svc.AllowPrivateUpstreams, &svc.TerminationProtection, &rt, &svc.Generation, &deleted, &purge, &runState, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(rt), &svc.Runtime); err != nil {
		return nil, fmt.Errorf("service %q has an unreadable runtime column %q: %w", svc.Name, rt, err)
	}
	if runState.Valid {
		svc.Run = new(rampart.RunState)
		if err := json.Unmarshal([]byte(runState.String), svc.Run); err != nil {
			return nil, fmt.Errorf("service %q has an unreadable run_state column: %w", svc.Name, err)
		}
	}
	if deleted.Valid {
		t := fromNanos(deleted.Int64)
		svc.DeletedAt = &t
	}
	if purge.Valid {
		t := fromNanos(purge.Int64)
		svc.PurgeAfter = &t
	}
	for _, col := range []struct {
		name, text string
		into       any
	}{{"upstreams", ups, &svc.Upstreams}, {"rate_limit", rl, &svc.RateLimit}, {"cache", cache, &svc.Cache}, {"hsts", hsts, &svc.HSTS}, {"env", env, &svc.Env}} {
		if err := json.Unmarshal([]byte(col.text), col.into); err != nil {
			return nil, fmt.Errorf("service %q has an unreadable %s column %q: %w", svc.Name, col.name, col.text, err)
		}
	}
	if svc.Env == nil {
		svc.Env = rampart.Env{}
	}
	svc.State = rampart.ServiceState(state)
	svc.CreatedAt, svc.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &svc, nil
}
