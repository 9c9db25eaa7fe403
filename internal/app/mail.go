package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/store"
)

// MailRelay is what the service layer reads live from the SMTP relay
// (internal/mail/relay, wired by serve). The settings themselves are
// desired state in the store; this is only what the relay observes.
type MailRelay interface {
	// Usage is the service's sliding-hour count of sent recipients, its
	// effective limit, and when the next recipient frees up (zero when
	// not at the limit).
	Usage(service string) (used, limit int, resumesAt time.Time)
	// Endpoint is where services submit mail; enabled is false when the
	// relay does not run.
	Endpoint() (host string, port int, enabled bool)
	// DNS returns the records the mail domain needs, each looked up now.
	DNS(ctx context.Context) ([]rampart.MailDNSRecord, error)
	// Flush retries every deferred message now (a receiver that was down
	// is back) and returns the queue as it is.
	Flush() rampart.MailQueue
}

// DefaultMailViolationsToSuspend is how many policy violations within
// MailViolationWindow suspend a service's mail.
const DefaultMailViolationsToSuspend = 3

// MailViolationWindow is the window violations are counted over.
const MailViolationWindow = 24 * time.Hour

// Mail log pages: DefaultMailLogLimit rows when the caller names none,
// and never more than store.MaxMailLogPage.
const (
	DefaultMailLogLimit = 100
	MaxMailLogLimit     = store.MaxMailLogPage
)

// Mail is the control plane of the SMTP relay: a service's login, quota,
// suspension and log. Owners see and use their services' mail; only admins
// change quotas and suspensions, because those are the platform's defence
// against a tenant that spams, and the tenant is who they restrain.
type Mail struct{ *core }

// mailPasswordBytes is the entropy of an SMTP password: 256 bits, so that
// a fast unsalted SHA-256 is safe to store (no dictionary reaches it).
const mailPasswordBytes = 32

// newMailPassword draws an SMTP password from random. One that starts with
// '-' would read as an option to the command-line tools it is pasted into
// (swaks --auth-password -x… fails with "Unknown option"), so it draws
// again: one password in 64 would otherwise.
func newMailPassword(random io.Reader) string {
	b := make([]byte, mailPasswordBytes)
	for {
		_, _ = io.ReadFull(random, b) // crypto/rand never fails
		if p := base64.RawURLEncoding.EncodeToString(b); p[0] != '-' {
			return p
		}
	}
}

// Settings returns how service sends mail and where its quota stands.
func (m *Mail) Settings(ctx context.Context, actor Actor, service string) (*rampart.MailSettings, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := m.visibleService(ctx, m.store, actor, service)
	if err != nil {
		return nil, err
	}
	st, err := m.store.MailState(ctx, svc.ID)
	if err != nil {
		return nil, err
	}
	violations, err := m.store.CountMailViolations(ctx, svc.ID, m.now().Add(-MailViolationWindow))
	if err != nil {
		return nil, err
	}
	s := &rampart.MailSettings{
		Service:          svc.Name,
		Address:          rampart.MailAddress(svc.Name, m.opts.MailDomain),
		CredentialsSetAt: st.PasswordSetAt,
		PerHour:          st.PerHour,
		PerHourDefault:   st.PerHour == 0,
		Suspended:        st.Suspended,
		SuspendedReason:  st.SuspendedReason,
		SuspendedAt:      st.SuspendedAt,
		Violations24h:    violations,
	}
	if s.PerHourDefault {
		s.PerHour = m.opts.MailPerHourDefault
	}
	if st.PasswordHash != nil {
		s.Username = s.Address
	}
	if r := m.opts.MailRelay; r != nil {
		s.Host, s.Port, s.Enabled = r.Endpoint()
		if s.Enabled {
			used, limit, resumes := r.Usage(svc.Name)
			s.Used = used
			if used >= limit && !resumes.IsZero() {
				at := resumes.UTC()
				s.ResumesAt = &at
			}
		}
	}
	return s, nil
}

// Credentials returns the service's SMTP login. It creates a password when
// the service has none, or a new one when rotate is set (the old one stops
// working once the relay reconciles); new reports that Password is set.
// Otherwise Password is empty: rampart keeps only its hash.
func (m *Mail) Credentials(ctx context.Context, actor Actor, service string, rotate bool) (*rampart.MailCredentials, bool, error) {
	if err := actor.check(); err != nil {
		return nil, false, err
	}
	if m.opts.MailDomain == "" {
		return nil, false, errRelayOff()
	}
	var (
		creds = &rampart.MailCredentials{}
		isNew bool
	)
	err := m.store.InTx(ctx, func(st store.Store) error {
		svc, err := m.liveService(ctx, st, actor, service)
		if err != nil {
			return err
		}
		creds.Username = rampart.MailAddress(svc.Name, m.opts.MailDomain)
		cur, err := st.MailState(ctx, svc.ID)
		if err != nil {
			return err
		}
		if cur.PasswordHash != nil && !rotate {
			return nil
		}
		creds.Password = newMailPassword(rand.Reader)
		h := sha256.Sum256([]byte(creds.Password))
		if err := st.SetMailPassword(ctx, svc.ID, h[:], m.now().UTC()); err != nil {
			return err
		}
		isNew = true
		action := "mail.credentials.create"
		if cur.PasswordHash != nil {
			action = "mail.credentials.rotate"
		}
		return m.audit(ctx, st, actor, action, svc, "SMTP login "+creds.Username)
	})
	if err != nil {
		return nil, false, err
	}
	if r := m.opts.MailRelay; r != nil {
		creds.Host, creds.Port, _ = r.Endpoint()
	}
	return creds, isNew, nil
}

// Suspend stops the service's mail until an admin resumes it. It works
// while the relay is off: a suspension is desired state.
func (m *Mail) Suspend(ctx context.Context, actor Actor, service, reason string) error {
	if err := actor.requireAdmin(); err != nil {
		return err
	}
	if err := rampart.ValidateMailReason(reason); err != nil {
		return err
	}
	if reason == "" {
		reason = "suspended by an admin"
	}
	return m.store.InTx(ctx, func(st store.Store) error {
		svc, err := m.liveService(ctx, st, actor, service)
		if err != nil {
			return err
		}
		if err := st.SetMailSuspended(ctx, svc.ID, true, reason, m.now().UTC()); err != nil {
			return err
		}
		return m.audit(ctx, st, actor, "mail.suspend", svc, reason)
	})
}

// Resume lifts a suspension and forgets the service's violations, so that
// the next one does not suspend it again at once.
func (m *Mail) Resume(ctx context.Context, actor Actor, service string) error {
	if err := actor.requireAdmin(); err != nil {
		return err
	}
	return m.store.InTx(ctx, func(st store.Store) error {
		svc, err := m.liveService(ctx, st, actor, service)
		if err != nil {
			return err
		}
		if err := st.SetMailSuspended(ctx, svc.ID, false, "", m.now().UTC()); err != nil {
			return err
		}
		if err := st.ClearMailViolations(ctx, svc.ID); err != nil {
			return err
		}
		return m.audit(ctx, st, actor, "mail.resume", svc, "")
	})
}

// SetQuota sets the service's quota in recipients per hour; 0 returns it
// to the default.
func (m *Mail) SetQuota(ctx context.Context, actor Actor, service string, perHour int) error {
	if err := actor.requireAdmin(); err != nil {
		return err
	}
	if perHour != 0 {
		if err := rampart.ValidateMailPerHour(perHour); err != nil {
			return err
		}
	}
	return m.store.InTx(ctx, func(st store.Store) error {
		svc, err := m.liveService(ctx, st, actor, service)
		if err != nil {
			return err
		}
		if err := st.SetMailPerHour(ctx, svc.ID, perHour); err != nil {
			return err
		}
		detail := fmt.Sprintf("%d recipients per hour", perHour)
		if perHour == 0 {
			detail = fmt.Sprintf("the default (%d recipients per hour)", m.opts.MailPerHourDefault)
		}
		return m.audit(ctx, st, actor, "mail.quota", svc, detail)
	})
}

// Log returns a page of the service's mail log, oldest first: the newest
// rows when after is 0, else the rows after that ID (see
// store.Mail.ListMailMessages). A limit of 0 means DefaultMailLogLimit.
func (m *Mail) Log(ctx context.Context, actor Actor, service string, after int64, limit int) ([]*rampart.MailMessage, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	if after < 0 {
		return nil, rampart.FieldError("after", rampart.Errorf(rampart.EINVALID, "after must be a message ID (0 or more), not %d", after))
	}
	if limit < 0 || limit > MaxMailLogLimit {
		return nil, rampart.FieldError("limit", rampart.Errorf(rampart.EINVALID, "limit must be between 1 and %d, not %d", MaxMailLogLimit, limit))
	}
	if limit == 0 {
		limit = DefaultMailLogLimit
	}
	svc, err := m.visibleService(ctx, m.store, actor, service)
	if err != nil {
		return nil, err
	}
	return m.store.ListMailMessages(ctx, svc.ID, after, limit)
}

// DNS returns the records the mail domain needs and whether each is
// published.
func (m *Mail) DNS(ctx context.Context, actor Actor) ([]rampart.MailDNSRecord, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	if m.opts.MailRelay == nil {
		return nil, errRelayOff()
	}
	if _, _, enabled := m.opts.MailRelay.Endpoint(); !enabled {
		return nil, errRelayOff()
	}
	recs, err := m.opts.MailRelay.DNS(ctx)
	if err != nil {
		return nil, err
	}
	if recs == nil {
		recs = []rampart.MailDNSRecord{}
	}
	return recs, nil
}

// Flush retries every deferred message of the relay's queue now, as
// `postqueue -f` does; admins only, since the queue holds every service's
// mail.
func (m *Mail) Flush(ctx context.Context, actor Actor) (rampart.MailQueue, error) {
	if err := actor.requireAdmin(); err != nil {
		return rampart.MailQueue{}, err
	}
	if m.opts.MailRelay == nil {
		return rampart.MailQueue{}, errRelayOff()
	}
	if _, _, enabled := m.opts.MailRelay.Endpoint(); !enabled {
		return rampart.MailQueue{}, errRelayOff()
	}
	return m.opts.MailRelay.Flush(), nil
}

func errRelayOff() error {
	return rampart.Errorf(rampart.EUNAVAILABLE, "the mail relay is off: set mail.domain in rampart's configuration and restart it")
}

// RecordViolation stores a policy violation of service (the relay calls
// it). The Nth within MailViolationWindow (Options.MailViolationsToSuspend)
// suspends the service's mail, is audited, and is mailed to the owner;
// suspended reports that this call suspended it.
func (m *Mail) RecordViolation(ctx context.Context, service, reason string) (suspended bool, err error) {
	reason = oneLine(reason, rampart.MaxMailSuspendReason)
	var (
		svc   *rampart.Service
		count int
	)
	err = m.store.InTx(ctx, func(st store.Store) error {
		found, err := st.ServiceByName(ctx, service)
		if err != nil {
			return err
		}
		svc = found
		now := m.now().UTC()
		if err := st.AddMailViolation(ctx, svc.ID, now, reason); err != nil {
			return err
		}
		cur, err := st.MailState(ctx, svc.ID)
		if err != nil {
			return err
		}
		if count, err = st.CountMailViolations(ctx, svc.ID, now.Add(-MailViolationWindow)); err != nil {
			return err
		}
		if cur.Suspended || count < m.opts.MailViolationsToSuspend {
			return nil
		}
		why := fmt.Sprintf("%d policy violations within %s, the last: %s", count, MailViolationWindow, reason)
		if err := st.SetMailSuspended(ctx, svc.ID, true, why, now); err != nil {
			return err
		}
		suspended = true
		return st.AddAudit(ctx, &rampart.AuditEvent{At: now, Actor: "system", Action: "mail.suspend",
			Service: svc.Name, ServiceID: svc.ID, OwnerID: svc.OwnerID, Detail: why})
	})
	if err != nil || !suspended {
		return false, err
	}
	m.noticeSuspended(ctx, svc, count, reason)
	return true, nil
}

// noticeSuspended tells the owner; a failure is logged, not returned: the
// suspension stands either way.
func (m *Mail) noticeSuspended(ctx context.Context, svc *rampart.Service, count int, reason string) {
	if m.opts.Mailer == nil {
		m.log.Warn("mail suspended; no mailer to tell the owner", "service", svc.Name)
		return
	}
	owner, err := m.store.UserByID(ctx, svc.OwnerID)
	if err != nil {
		m.log.Warn("mail suspended; owner not found", "service", svc.Name, "err", err)
		return
	}
	msg := mailer.Message{
		To:      owner.Email,
		Subject: fmt.Sprintf("Mail of your service %s is suspended", svc.Name),
		Text: fmt.Sprintf("Your service %s's mail is suspended because it broke the relay's rules %d times within %s; the last time: %s.\n\n"+
			"Mail from the service is refused until an admin lifts the suspension (rampart mail resume %s). "+
			"Bulk and marketing mail is not permitted through the relay; fix what sent it before asking.\n",
			svc.Name, count, MailViolationWindow, reason, svc.Name),
	}
	if err := m.opts.Mailer.Send(ctx, msg); err != nil {
		m.log.Warn("emailing a mail suspension notice", "service", svc.Name, "to", owner.Email, "err", err)
	}
}

// DKIMKeys returns the mail domain's signing keys, unsealed. When it has
// none it calls generate, seals and stores what it returns, and returns
// that; two processes racing here store one set (the second gets
// ECONFLICT and reads the first's).
func (m *Mail) DKIMKeys(ctx context.Context, domain string, generate func() ([]rampart.DKIMKey, error)) ([]rampart.DKIMKey, error) {
	if m.opts.Secrets == nil {
		return nil, rampart.Errorf(rampart.EUNAVAILABLE, "DKIM keys need rampart's secret key, which this process does not have")
	}
	stored, err := m.store.DKIMKeys(ctx, domain)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		fresh, err := generate()
		if err != nil {
			return nil, fmt.Errorf("generate DKIM keys for %s: %w", domain, err)
		}
		err = m.store.InTx(ctx, func(st store.Store) error {
			for _, k := range fresh {
				k.Domain = domain
				k.PrivatePEM = m.opts.Secrets.Seal(k.PrivatePEM, dkimAD(domain, k.Selector))
				if err := st.CreateDKIMKey(ctx, &k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && rampart.ErrorCode(err) != rampart.ECONFLICT {
			return nil, err
		}
		if stored, err = m.store.DKIMKeys(ctx, domain); err != nil {
			return nil, err
		}
	}
	keys := make([]rampart.DKIMKey, len(stored))
	for i, k := range stored {
		plain, err := m.opts.Secrets.Open(k.PrivatePEM, dkimAD(domain, k.Selector))
		if err != nil {
			return nil, fmt.Errorf("open the DKIM key %s of %s (is this the data directory's own secret key?): %w", k.Selector, domain, err)
		}
		keys[i] = *k
		keys[i].PrivatePEM = plain
	}
	return keys, nil
}

// oneLine makes text from outside (the relay quotes what a client sent)
// fit for the audit log and an email: control characters become spaces,
// invalid UTF-8 is replaced, and it is cut to at most max bytes on a
// character boundary.
func oneLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// dkimAD binds a sealed key to its domain and selector.
func dkimAD(domain, selector string) []byte { return []byte("dkim-key:" + domain + ":" + selector) }
