package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// domainSelect reads domains with their service's name and challenge token.
const domainSelect = `SELECT d.id, d.service_id, s.name, d.name, d.tls_mode, d.state, d.reason, d.verified_at, COALESCE(c.token, ''), d.cert_pem, d.key_pem, d.created_at, d.updated_at
FROM domains d JOIN services s ON s.id = d.service_id LEFT JOIN domain_challenges c ON c.service_id = d.service_id`

// newChallengeToken makes a service's challenge token: 128 random bits, as
// 32 hex digits (short enough for any DNS panel, and nothing to escape).
func newChallengeToken() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b)
}

// CreateDomain inserts d and sets d.ID, Service, Challenge, CreatedAt and
// UpdatedAt. The service gets its challenge token with its first domain;
// later domains share it. A new domain is never proven: VerifiedAt is left
// to VerifyDomain.
func (q queries) CreateDomain(ctx context.Context, d *rampart.Domain) error {
	t := now()
	var id int64
	var service string
	// An unknown service inserts nothing here and fails below on the
	// domain's foreign key, with the error that says so.
	if _, err := q.w.ExecContext(ctx,
		`INSERT INTO domain_challenges (service_id, token) SELECT id, ? FROM services WHERE id = ? ON CONFLICT (service_id) DO NOTHING`,
		newChallengeToken(), d.ServiceID); err != nil {
		return fmt.Errorf("create the challenge token of service %d: %w", d.ServiceID, err)
	}
	var token string
	err := q.w.QueryRowContext(ctx,
		`INSERT INTO domains (service_id, name, tls_mode, state, reason, cert_pem, key_pem, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id, (SELECT name FROM services WHERE services.id = domains.service_id),
			(SELECT token FROM domain_challenges c WHERE c.service_id = domains.service_id)`,
		d.ServiceID, d.Name, string(d.TLSMode), string(d.State), d.Reason, nonNil(d.CertPEM), nonNil(d.KeyPEM),
		t.UnixNano(), t.UnixNano()).Scan(&id, &service, &token)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "%s is already used by another service: remove it there first", d.Name)
	case isForeignKey(err):
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found: a domain must belong to an existing service", d.ServiceID)
	case err != nil:
		return fmt.Errorf("create domain %q: %w", d.Name, err)
	}
	d.ID, d.Service, d.CreatedAt, d.UpdatedAt = id, service, t, t
	d.VerifiedAt = nil
	d.Challenge = challenge(d.Name, token)
	q.changed(store.KindDomains)
	return nil
}

// DomainByName returns the domain with the given name.
func (q queries) DomainByName(ctx context.Context, name string) (*rampart.Domain, error) {
	d, err := scanDomain(q.r.QueryRowContext(ctx, domainSelect+` WHERE d.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "domain %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read domain %q: %w", name, err)
	}
	return d, nil
}

// ListDomains returns the domains f selects, ordered by name.
func (q queries) ListDomains(ctx context.Context, f store.DomainFilter) ([]*rampart.Domain, error) {
	query, args := domainSelect, []any{}
	if f.ServiceID != 0 {
		query += ` WHERE d.service_id = ?`
		args = append(args, f.ServiceID)
	}
	rows, err := q.r.QueryContext(ctx, query+` ORDER BY d.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	list := []*rampart.Domain{}
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
		list = append(list, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	return list, nil
}

// UpdateDomainStatus writes the state and reason of a domain.
func (q queries) UpdateDomainStatus(ctx context.Context, id int64, state rampart.DomainState, reason string) error {
	res, err := q.w.ExecContext(ctx, `UPDATE domains SET state = ?, reason = ?, updated_at = ? WHERE id = ?`,
		string(state), reason, now().UnixNano(), id)
	return oneRow(res, err, "update", "domain", id)
}

// VerifyDomain records that DNS proved the domain belongs to its service,
// at the time given, unless it was proven before (the first proof stands).
// It moves the domains revision: a proven name joins its service's route.
func (q queries) VerifyDomain(ctx context.Context, id int64, at time.Time) error {
	n, err := nanos("verified_at", at)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE domains SET verified_at = COALESCE(verified_at, ?) WHERE id = ?`, n, id)
	if err := oneRow(res, err, "verify", "domain", id); err != nil {
		return err
	}
	q.changed(store.KindDomains)
	return nil
}

// UpdateDomainTLS writes the TLS mode, certificate, key, state and reason
// of d and sets d.UpdatedAt.
func (q queries) UpdateDomainTLS(ctx context.Context, d *rampart.Domain) error {
	t := now()
	res, err := q.w.ExecContext(ctx,
		`UPDATE domains SET tls_mode = ?, cert_pem = ?, key_pem = ?, state = ?, reason = ?, updated_at = ? WHERE id = ?`,
		string(d.TLSMode), nonNil(d.CertPEM), nonNil(d.KeyPEM), string(d.State), d.Reason, t.UnixNano(), d.ID)
	if err := oneRow(res, err, "update", "domain", d.ID); err != nil {
		return err
	}
	d.UpdatedAt = t
	q.changed(store.KindDomains)
	return nil
}

// DeleteDomain deletes the domain with the given ID.
func (q queries) DeleteDomain(ctx context.Context, id int64) error {
	res, err := q.w.ExecContext(ctx, `DELETE FROM domains WHERE id = ?`, id)
	if err := oneRow(res, err, "delete", "domain", id); err != nil {
		return err
	}
	q.changed(store.KindDomains)
	return nil
}

func scanDomain(s scanner) (*rampart.Domain, error) {
	var (
		d                rampart.Domain
		mode, state      string
		verified         *int64
		token            string
		created, updated int64
	)
	if err := s.Scan(&d.ID, &d.ServiceID, &d.Service, &d.Name, &mode, &state, &d.Reason, &verified, &token, &d.CertPEM, &d.KeyPEM, &created, &updated); err != nil {
		return nil, err
	}
	d.VerifiedAt = fromNullNanos(verified)
	d.Challenge = challenge(d.Name, token)
	d.TLSMode, d.State = rampart.TLSMode(mode), rampart.DomainState(state)
	d.Display = rampart.DisplayDomain(d.Name)
	if len(d.CertPEM) == 0 {
		d.CertPEM = nil
	}
	if len(d.KeyPEM) == 0 {
		d.KeyPEM = nil
	}
	d.CreatedAt, d.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &d, nil
}

// challenge is the TXT record that proves name for the service whose token
// this is.
func challenge(name, token string) rampart.DomainChallenge {
	return rampart.DomainChallenge{Name: rampart.ChallengeName(name), Value: token}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
