package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// MailState returns the service's mail settings, the zero value when none
// were written.
func (q queries) MailState(ctx context.Context, serviceID int64) (*store.MailState, error) {
	m := &store.MailState{ServiceID: serviceID}
	var (
		perHour            *int64
		setAt, suspendedAt *int64
	)
	err := q.r.QueryRowContext(ctx,
		`SELECT m.password_hash, m.password_set_at, m.per_hour, coalesce(m.suspended, 0), coalesce(m.suspended_reason, ''), m.suspended_at
		FROM services s LEFT JOIN mail_accounts m ON m.service_id = s.id WHERE s.id = ?`, serviceID).
		Scan(&m.PasswordHash, &setAt, &perHour, &m.Suspended, &m.SuspendedReason, &suspendedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "service %d not found", serviceID)
	}
	if err != nil {
		return nil, fmt.Errorf("read the mail settings of service %d: %w", serviceID, err)
	}
	if perHour != nil {
		m.PerHour = int(*perHour)
	}
	m.PasswordSetAt, m.SuspendedAt = fromNullNanos(setAt), fromNullNanos(suspendedAt)
	return m, nil
}

// upsertMail writes one column set of a service's mail_accounts row,
// creating the row when it is missing.
func (q queries) upsertMail(ctx context.Context, serviceID int64, doing, set string, args ...any) error {
	cols := strings.Split(set, ",")
	names := make([]string, len(cols))
	updates := make([]string, len(cols))
	for i, c := range cols {
		names[i] = strings.TrimSpace(c)
		updates[i] = names[i] + " = excluded." + names[i]
	}
	query := `INSERT INTO mail_accounts (service_id, ` + strings.Join(names, ", ") + `) VALUES (?` + strings.Repeat(", ?", len(names)) + `)
		ON CONFLICT (service_id) DO UPDATE SET ` + strings.Join(updates, ", ")
	_, err := q.w.ExecContext(ctx, query, append([]any{serviceID}, args...)...)
	switch {
	case isForeignKey(err):
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found", serviceID)
	case err != nil:
		return fmt.Errorf("%s of service %d: %w", doing, serviceID, err)
	}
	q.changed(store.KindMail)
	return nil
}

// SetMailPassword stores the hash of a new SMTP password.
func (q queries) SetMailPassword(ctx context.Context, serviceID int64, hash []byte, at time.Time) error {
	n, err := nanos("password_set_at", at)
	if err != nil {
		return err
	}
	return q.upsertMail(ctx, serviceID, "set the mail password", "password_hash, password_set_at", hash, n)
}

// SetMailPerHour sets the quota; 0 stores NULL, the default.
func (q queries) SetMailPerHour(ctx context.Context, serviceID int64, perHour int) error {
	var v *int
	if perHour != 0 {
		v = &perHour
	}
	return q.upsertMail(ctx, serviceID, "set the mail quota", "per_hour", v)
}

// SetMailSuspended suspends or resumes a service's mail.
func (q queries) SetMailSuspended(ctx context.Context, serviceID int64, suspended bool, reason string, at time.Time) error {
	var n *int64
	if suspended {
		v, err := nanos("suspended_at", at)
		if err != nil {
			return err
		}
		n = &v
	} else {
		reason = ""
	}
	return q.upsertMail(ctx, serviceID, "set the mail suspension", "suspended, suspended_reason, suspended_at", suspended, reason, n)
}

// ListMailAccounts returns the mail accounts of live services.
func (q queries) ListMailAccounts(ctx context.Context) ([]*rampart.MailAccount, error) {
	rows, err := q.r.QueryContext(ctx,
		`SELECT s.id, s.name, m.password_hash, coalesce(m.per_hour, 0), m.suspended, m.suspended_reason
		FROM mail_accounts m JOIN services s ON s.id = m.service_id WHERE s.state != ? ORDER BY s.name`, string(rampart.StateDeleted))
	if err != nil {
		return nil, fmt.Errorf("list mail accounts: %w", err)
	}
	defer rows.Close()
	list := []*rampart.MailAccount{}
	for rows.Next() {
		a := &rampart.MailAccount{}
		if err := rows.Scan(&a.ServiceID, &a.Service, &a.PasswordHash, &a.PerHour, &a.Suspended, &a.SuspendedReason); err != nil {
			return nil, fmt.Errorf("list mail accounts: %w", err)
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list mail accounts: %w", err)
	}
	return list, nil
}

// AddMailViolation records a violation. It moves no revision: only its
// consequence (a suspension) is desired state.
func (q queries) AddMailViolation(ctx context.Context, serviceID int64, at time.Time, reason string) error {
	n, err := nanos("at", at)
	if err != nil {
		return err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO mail_violations (service_id, at, reason) VALUES (?, ?, ?)`, serviceID, n, reason)
	switch {
	case isForeignKey(err):
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found", serviceID)
	case err != nil:
		return fmt.Errorf("record a mail violation of service %d: %w", serviceID, err)
	}
	// Old violations count for nothing; dropping them here keeps the table
	// as small as the window.
	if _, err := q.w.ExecContext(ctx, `DELETE FROM mail_violations WHERE service_id = ? AND at < ?`, serviceID, n-int64(7*24*time.Hour)); err != nil {
		return fmt.Errorf("prune the mail violations of service %d: %w", serviceID, err)
	}
	return nil
}

// CountMailViolations counts violations at or after since.
func (q queries) CountMailViolations(ctx context.Context, serviceID int64, since time.Time) (int, error) {
	n, err := nanos("since", since)
	if err != nil {
		return 0, err
	}
	var c int
	if err := q.r.QueryRowContext(ctx, `SELECT count(*) FROM mail_violations WHERE service_id = ? AND at >= ?`, serviceID, n).Scan(&c); err != nil {
		return 0, fmt.Errorf("count the mail violations of service %d: %w", serviceID, err)
	}
	return c, nil
}

// ClearMailViolations forgets a service's violations.
func (q queries) ClearMailViolations(ctx context.Context, serviceID int64) error {
	if _, err := q.w.ExecContext(ctx, `DELETE FROM mail_violations WHERE service_id = ?`, serviceID); err != nil {
		return fmt.Errorf("clear the mail violations of service %d: %w", serviceID, err)
	}
	return nil
}

// AddMailMessage inserts one log row and prunes the service's log.
func (q queries) AddMailMessage(ctx context.Context, m *rampart.MailMessage) error {
	if err := q.insertMailMessage(ctx, m); err != nil {
		return err
	}
	return q.pruneMailLog(ctx, m.ServiceID)
}

// AddMailMessages runs the batch in a transaction of its own: one commit
// (one WAL sync) for the lot.
func (db *DB) AddMailMessages(ctx context.Context, ms []*rampart.MailMessage) error {
	if len(ms) == 0 {
		return nil
	}
	return db.InTx(ctx, func(s store.Store) error { return s.AddMailMessages(ctx, ms) })
}

// AddMailMessages inside a transaction joins it.
func (t *txStore) AddMailMessages(ctx context.Context, ms []*rampart.MailMessage) error {
	services := map[int64]bool{}
	for _, m := range ms {
		if err := t.insertMailMessage(ctx, m); err != nil {
			return err
		}
		services[m.ServiceID] = true
	}
	// One prune per service, not per row.
	for id := range services {
		if err := t.pruneMailLog(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (q queries) insertMailMessage(ctx context.Context, m *rampart.MailMessage) error {
	if !m.Status.Valid() {
		return rampart.Errorf(rampart.EINVALID, "mail status %q is not one of queued, sent, deferred, bounced, refused", m.Status)
	}
	if m.At.IsZero() {
		m.At = now()
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = m.At
	}
	at, err := nanos("at", m.At)
	if err != nil {
		return err
	}
	updated, err := nanos("updated_at", m.UpdatedAt)
	if err != nil {
		return err
	}
	rcpts, err := encodeRecipients(m.Recipients)
	if err != nil {
		return err
	}
	err = q.w.QueryRowContext(ctx,
		`INSERT INTO mail_messages (queue_id, service_id, at, updated_at, sender, recipients, size, subject_hash, status, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.QueueID, m.ServiceID, at, updated, m.From, rcpts, m.Size, m.SubjectHash, string(m.Status), m.Reason).Scan(&m.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "the mail log has a message with queue ID %q already", m.QueueID)
	case isForeignKey(err):
		return rampart.Errorf(rampart.ENOTFOUND, "service %d not found: mail is logged for an existing service", m.ServiceID)
	case err != nil:
		return fmt.Errorf("log mail message %q: %w", m.QueueID, err)
	}
	return nil
}

// pruneMailLog keeps the service's newest MailLogKeep rows younger than
// MailLogMaxAge. Both deletes walk the service's index
// only, so the cost is bounded by MailLogKeep, not by the table.
func (q queries) pruneMailLog(ctx context.Context, serviceID int64) error {
	cutoff := now().Add(-store.MailLogMaxAge).UnixNano()
	if _, err := q.w.ExecContext(ctx,
		`DELETE FROM mail_messages WHERE service_id = ?1 AND id <= (SELECT id FROM mail_messages WHERE service_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
		serviceID, store.MailLogKeep); err != nil {
		return fmt.Errorf("prune the mail log of service %d: %w", serviceID, err)
	}
	if _, err := q.w.ExecContext(ctx, `DELETE FROM mail_messages WHERE service_id = ? AND at < ?`, serviceID, cutoff); err != nil {
		return fmt.Errorf("prune the mail log of service %d: %w", serviceID, err)
	}
	return nil
}

// UpdateMailMessage records what became of a queued message.
func (q queries) UpdateMailMessage(ctx context.Context, queueID string, status rampart.MailStatus, reason string, recipients []rampart.MailRecipient, at time.Time) error {
	if !status.Valid() {
		return rampart.Errorf(rampart.EINVALID, "mail status %q is not one of queued, sent, deferred, bounced, refused", status)
	}
	n, err := nanos("updated_at", at)
	if err != nil {
		return err
	}
	rcpts, err := encodeRecipients(recipients)
	if err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE mail_messages SET status = ?, reason = ?, recipients = ?, updated_at = ? WHERE queue_id = ?`,
		string(status), reason, rcpts, n, queueID)
	c, err := affected(res, err)
	if err != nil {
		return fmt.Errorf("update mail message %q: %w", queueID, err)
	}
	if c == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "mail message %q not found (it may have been pruned from the log)", queueID)
	}
	return nil
}

// mailMessageCols selects a log row with its service's name, in the order
// scanMailMessage reads it.
const mailMessageCols = `m.id, m.queue_id, m.service_id, s.name, m.at, m.updated_at, m.sender, m.recipients, m.size, m.subject_hash, m.status, m.reason
		FROM mail_messages m JOIN services s ON s.id = m.service_id`

func scanMailMessage(row interface{ Scan(...any) error }) (*rampart.MailMessage, error) {
	var (
		m           rampart.MailMessage
		at, updated int64
		rcpts       string
		status      string
	)
	if err := row.Scan(&m.ID, &m.QueueID, &m.ServiceID, &m.Service, &at, &updated, &m.From, &rcpts, &m.Size, &m.SubjectHash, &status, &m.Reason); err != nil {
		return nil, err
	}
	m.At, m.UpdatedAt, m.Status = fromNanos(at), fromNanos(updated), rampart.MailStatus(status)
	if err := json.Unmarshal([]byte(rcpts), &m.Recipients); err != nil {
		return nil, fmt.Errorf("read the recipients of mail message %d: %w", m.ID, err)
	}
	return &m, nil
}

// MailMessage returns the log row of the message with queueID.
func (q queries) MailMessage(ctx context.Context, queueID string) (*rampart.MailMessage, error) {
	m, err := scanMailMessage(q.r.QueryRowContext(ctx, `SELECT `+mailMessageCols+` WHERE m.queue_id = ?`, queueID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "mail message %q not found (it may have been pruned from the log)", queueID)
	}
	if err != nil {
		return nil, fmt.Errorf("read mail message %q: %w", queueID, err)
	}
	return m, nil
}

// ListMailMessages pages through a service's log, oldest first.
func (q queries) ListMailMessages(ctx context.Context, serviceID, after int64, limit int) ([]*rampart.MailMessage, error) {
	if limit <= 0 || limit > store.MaxMailLogPage {
		limit = store.MaxMailLogPage
	}
	const cols = mailMessageCols
	var query string
	if after > 0 {
		query = `SELECT ` + cols + ` WHERE m.service_id = ? AND m.id > ? ORDER BY m.id LIMIT ?`
	} else {
		// The newest rows, turned back into reading order.
		query = `SELECT * FROM (SELECT ` + cols + ` WHERE m.service_id = ? AND m.id > ? ORDER BY m.id DESC LIMIT ?) ORDER BY id`
	}
	rows, err := q.r.QueryContext(ctx, query, serviceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list the mail log of service %d: %w", serviceID, err)
	}
	defer rows.Close()
	list := []*rampart.MailMessage{}
	for rows.Next() {
		m, err := scanMailMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("list the mail log of service %d: %w", serviceID, err)
		}
		list = append(list, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the mail log of service %d: %w", serviceID, err)
	}
	return list, nil
}

func encodeRecipients(rs []rampart.MailRecipient) (string, error) {
	if rs == nil {
		rs = []rampart.MailRecipient{}
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return "", fmt.Errorf("encode mail recipients: %w", err)
	}
	return string(b), nil
}

// DKIMKeys returns the domain's keys, oldest first.
func (q queries) DKIMKeys(ctx context.Context, domain string) ([]*rampart.DKIMKey, error) {
	rows, err := q.r.QueryContext(ctx,
		`SELECT domain, selector, algorithm, private_sealed, created_at FROM dkim_keys WHERE domain = ? ORDER BY created_at, selector`, domain)
	if err != nil {
		return nil, fmt.Errorf("list the DKIM keys of %s: %w", domain, err)
	}
	defer rows.Close()
	list := []*rampart.DKIMKey{}
	for rows.Next() {
		var (
			k       rampart.DKIMKey
			created int64
		)
		if err := rows.Scan(&k.Domain, &k.Selector, &k.Algorithm, &k.PrivatePEM, &created); err != nil {
			return nil, fmt.Errorf("list the DKIM keys of %s: %w", domain, err)
		}
		k.CreatedAt = fromNanos(created)
		list = append(list, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the DKIM keys of %s: %w", domain, err)
	}
	return list, nil
}

// CreateDKIMKey stores a (sealed) key.
func (q queries) CreateDKIMKey(ctx context.Context, k *rampart.DKIMKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	created, err := nanos("created_at", k.CreatedAt)
	if err != nil {
		return err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO dkim_keys (domain, selector, algorithm, private_sealed, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.Domain, k.Selector, k.Algorithm, k.PrivatePEM, created)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "the mail domain %s has a DKIM key with selector %q already", k.Domain, k.Selector)
	case err != nil:
		return fmt.Errorf("store the DKIM key %s of %s: %w", k.Selector, k.Domain, err)
	}
	return nil
}
