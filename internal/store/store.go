// Package store defines what rampart persists and how the rest of the program
// reaches it. The interface is small and speaks only in domain types, so the
// embedded SQLite implementation (store/sqlite) can later be joined by a
// PostgreSQL one that passes the same test suite (store/storetest).
//
// Stores report "no such row" as a *rampart.Error with code ENOTFOUND and
// unique-constraint clashes as ECONFLICT, so callers never inspect driver
// errors. Beyond the method docs, every implementation (and storetest) keeps
// these rules: lists are never nil; touching or deleting a missing ID is
// ENOTFOUND, and so is creating a row for a user that does not exist; touch
// times never move backwards; IDs are never reused, so history never attaches
// to a newer row of the same name; emails are matched exactly (callers
// normalize them). Stores stamp CreatedAt/UpdatedAt of users and services
// themselves, from their own clock.
package store

import (
	"context"
	"time"

	"github.com/rampart-dev/rampart"
)

// Store is the persistence of desired state and accounts. Every method is
// safe for concurrent use.
type Store interface {
	// InTx runs fn in one transaction: it commits if fn returns nil and rolls
	// back otherwise. The Store handed to fn must be used for all work inside
	// it. Nested InTx calls on that Store join the outer transaction.
	InTx(ctx context.Context, fn func(Store) error) error

	Users
	AccountLinks
	Tokens
	Sessions
	MFA
	Services
	Domains
	Firewall
	Audit
	Changes
	SSHKeys
	Passkeys
	Backups
	Mail

	Close() error
}

// Users persists accounts.
type Users interface {
	// CreateUser inserts u and sets u.ID, CreatedAt and UpdatedAt.
	// ECONFLICT when the email is taken.
	CreateUser(ctx context.Context, u *rampart.User) error
	UserByID(ctx context.Context, id int64) (*rampart.User, error)
	// UserByEmail looks up a normalized (lower-case) email.
	UserByEmail(ctx context.Context, email string) (*rampart.User, error)
	ListUsers(ctx context.Context) ([]*rampart.User, error)
	// UpdateUser writes Email, Role, PasswordHash and DisabledAt and bumps
	// UpdatedAt.
	UpdateUser(ctx context.Context, u *rampart.User) error
	// DeleteUser deletes a user with their tokens, sessions, logins in
	// progress, recovery codes and links. ECONFLICT while they own a
	// service: services are never orphaned.
	DeleteUser(ctx context.Context, id int64) error
	// SetUserMFA writes MFA, TOTPSecret, TOTPPending and TOTPLastStep.
	SetUserMFA(ctx context.Context, u *rampart.User) error
	// AdvanceTOTPStep sets the last accepted app-code step to step if it
	// is later than the stored one, atomically; it reports whether it was.
	AdvanceTOTPStep(ctx context.Context, id, step int64) (bool, error)
	// CountUsers is used at start-up to know whether a first admin is needed.
	CountUsers(ctx context.Context) (int, error)
}

// AccountLinks persists one-time invitation and password-reset links
// (hashes only).
type AccountLinks interface {
	// CreateAccountLink inserts l and sets l.ID (and CreatedAt if zero); ENOTFOUND
	// when the user does not exist.
	CreateAccountLink(ctx context.Context, l *rampart.AccountLink) error
	// AccountLinkByHash finds a link by the SHA-256 of its secret.
	AccountLinkByHash(ctx context.Context, hash []byte) (*rampart.AccountLink, error)
	// DeleteAccountLink spends a link; ENOTFOUND if already spent.
	DeleteAccountLink(ctx context.Context, id int64) error
	// DeleteUserAccountLinks voids every link of a user.
	DeleteUserAccountLinks(ctx context.Context, userID int64) error
	// DeleteExpiredAccountLinks removes links that expired before now and
	// returns how many.
	DeleteExpiredAccountLinks(ctx context.Context, now time.Time) (int64, error)
}

// Tokens persists API tokens (hashes only).
type Tokens interface {
	// CreateToken inserts t and sets t.ID and CreatedAt.
	CreateToken(ctx context.Context, t *rampart.APIToken) error
	// TokenByHash finds a token by the SHA-256 of its secret (ENOTFOUND if none).
	TokenByHash(ctx context.Context, hash []byte) (*rampart.APIToken, error)
	TokenByID(ctx context.Context, id int64) (*rampart.APIToken, error)
	ListTokens(ctx context.Context, userID int64) ([]*rampart.APIToken, error)
	// TouchToken records a use; it may be called on every API request.
	TouchToken(ctx context.Context, id int64, at time.Time) error
	DeleteToken(ctx context.Context, id int64) error
}

// Sessions persists dashboard sessions (hashes only).
type Sessions interface {
	// CreateSession inserts s and sets s.ID.
	CreateSession(ctx context.Context, s *rampart.Session) error
	SessionByHash(ctx context.Context, hash []byte) (*rampart.Session, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
	DeleteSession(ctx context.Context, id int64) error
	// DeleteExpiredSessions removes sessions whose absolute expiry is before
	// now or that were last seen before idleBefore; it returns how many.
	DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int64, error)
	// DeleteUserSessions signs out all of a user's sessions but except.
	DeleteUserSessions(ctx context.Context, userID, except int64) (int64, error)
}

// MFA persists logins waiting for their second factor and recovery codes
// (hashes and MACs only).
type MFA interface {
	CreateLoginChallenge(ctx context.Context, c *rampart.LoginChallenge) error
	LoginChallengeByHash(ctx context.Context, hash []byte) (*rampart.LoginChallenge, error)
	// CountLoginAttempt adds one attempt and returns the new count.
	CountLoginAttempt(ctx context.Context, id int64) (int, error)
	RecordCodeSent(ctx context.Context, id int64, mac []byte, at time.Time) error
	// DeleteLoginChallenge spends a challenge; ENOTFOUND if already spent.
	DeleteLoginChallenge(ctx context.Context, id int64) error
	DeleteUserLoginChallenges(ctx context.Context, userID int64) error
	DeleteExpiredLoginChallenges(ctx context.Context, now time.Time) (int64, error)
	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte) error
	// UseRecoveryCode spends an unused code; ENOTFOUND otherwise.
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte, at time.Time) error
	CountRecoveryCodes(ctx context.Context, userID int64) (unused, total int, err error)
}

// ServiceFilter narrows ListServices. The zero value lists all.
type ServiceFilter struct {
	OwnerID int64 // 0: any owner
}

// Services persists services.
type Services interface {
	// CreateService inserts s and sets s.ID, CreatedAt and UpdatedAt.
	// ECONFLICT when the name is taken.
	CreateService(ctx context.Context, s *rampart.Service) error
	ServiceByName(ctx context.Context, name string) (*rampart.Service, error)
	ServiceByID(ctx context.Context, id int64) (*rampart.Service, error)
	// ListServices returns services ordered by name, with Owner filled in.
	ListServices(ctx context.Context, f ServiceFilter) ([]*rampart.Service, error)
	// UpdateService writes Upstreams, State and OwnerID and bumps UpdatedAt.
	UpdateService(ctx context.Context, s *rampart.Service) error
	// DeleteService deletes a service with its domains. A service that
	// had custom domains leaves its name retired, for RetiredName, in the
	// same write.
	DeleteService(ctx context.Context, id int64) error
	// RetiredName says who last owned a name retired by DeleteService
	// and which domains its service had; ENOTFOUND when the name is not
	// retired. Creating a service does not check it: the service layer
	// decides who may have the name.
	RetiredName(ctx context.Context, name string) (*rampart.RetiredName, error)
	// SetServiceCondition records one reconciler's report on a service
	// (by ID), replacing its earlier report of the same Type; reads of the
	// service then carry it in Status. It does not change the services
	// revision: status is not desired state. ENOTFOUND when the service is
	// gone.
	SetServiceCondition(ctx context.Context, serviceID int64, c rampart.Condition) error
	// SetServiceRunState records what the runtime observed of a service
	// (nil clears it); observed state: no revision change. ENOTFOUND when
	// the service is gone.
	SetServiceRunState(ctx context.Context, serviceID int64, rs *rampart.RunState) error
}

// Backups persists the records of backup archives; the archives
// themselves live in a backup store (internal/backup). A record is written
// only after its archive is whole, and goes with its service.
type Backups interface {
	// CreateBackup inserts b and sets b.ID (and CreatedAt if zero).
	// ENOTFOUND when the service does not exist; ECONFLICT when the key
	// is taken.
	CreateBackup(ctx context.Context, b *rampart.Backup) error
	BackupByID(ctx context.Context, id int64) (*rampart.Backup, error)
	// ListBackups returns a service's backups, newest first (serviceID 0:
	// every service's).
	ListBackups(ctx context.Context, serviceID int64) ([]*rampart.Backup, error)
	DeleteBackup(ctx context.Context, id int64) error
}

// DomainFilter narrows ListDomains. The zero value lists all.
type DomainFilter struct {
	ServiceID int64 // 0: every service
}

// Domains persists the custom domains (allow lists) of services. Adding or
// deleting a domain (also by deleting its service) changes the domains
// revision, and so does UpdateDomainTLS; UpdateDomainStatus does not.
type Domains interface {
	// CreateDomain inserts d (Name, ServiceID, TLSMode, State, Reason,
	// CertPEM, KeyPEM) and sets d.ID, Service, CreatedAt and UpdatedAt.
	// ECONFLICT when any service already has the name; ENOTFOUND when the
	// service does not exist.
	CreateDomain(ctx context.Context, d *rampart.Domain) error
	// DomainByName looks up a normalized name (across all services).
	DomainByName(ctx context.Context, name string) (*rampart.Domain, error)
	// ListDomains returns domains ordered by name, with Service filled in.
	ListDomains(ctx context.Context, f DomainFilter) ([]*rampart.Domain, error)
	// UpdateDomainStatus writes State and Reason and bumps UpdatedAt.
	UpdateDomainStatus(ctx context.Context, id int64, state rampart.DomainState, reason string) error
	// VerifyDomain sets VerifiedAt, once: DNS proved the name belongs to
	// its service. Unlike the rest of the status it moves the domains
	// revision, since a proven name is routed.
	VerifyDomain(ctx context.Context, id int64, at time.Time) error
	// UpdateDomainTLS writes TLSMode, CertPEM, KeyPEM, State and Reason of
	// d (by ID) and sets d.UpdatedAt; it changes the domains revision,
	// because the certificate manager's list changes with it.
	UpdateDomainTLS(ctx context.Context, d *rampart.Domain) error
	DeleteDomain(ctx context.Context, id int64) error
}

// Firewall persists each node's firewall rules (desired state, the firewall
// revision), its open confirm window and whether enforcement is suspended
// (desired state too: a change wakes the firewall reconciler), and its
// status (observed state: no revision change).
type Firewall interface {
	// ListFirewallRules returns the node's rules ordered by protocol and
	// first port.
	ListFirewallRules(ctx context.Context, node string) ([]*rampart.FirewallRule, error)
	FirewallRuleByID(ctx context.Context, id int64) (*rampart.FirewallRule, error)
	// CreateFirewallRule inserts r and sets r.ID, CreatedAt and UpdatedAt.
	CreateFirewallRule(ctx context.Context, r *rampart.FirewallRule) error
	// UpdateFirewallRule writes Proto, ports, Sources and Comment of r (by
	// ID) and bumps UpdatedAt.
	UpdateFirewallRule(ctx context.Context, r *rampart.FirewallRule) error
	DeleteFirewallRule(ctx context.Context, id int64) error
	// ReplaceFirewallRules makes the node's rules exactly rs, keeping their
	// IDs and times: a rollback to a snapshot.
	ReplaceFirewallRules(ctx context.Context, node string, rs []*rampart.FirewallRule) error
	// FirewallNode returns the node's pending window, suspension and
	// status; a node never written has the zero value, not ENOTFOUND.
	FirewallNode(ctx context.Context, node string) (*rampart.FirewallNode, error)
	// SetFirewallPending opens (p != nil) or closes (nil) the node's
	// confirm window.
	SetFirewallPending(ctx context.Context, node string, p *rampart.FirewallPending) error
	// SetFirewallSuspended records whether enforcement is suspended, and
	// moves the firewall revision even when it did not change, so that
	// the reconciler re-applies (POST /firewall/apply).
	SetFirewallSuspended(ctx context.Context, node string, suspended bool) error
	// SetFirewallStatus records the reconciler's report; it does not move
	// the revision.
	SetFirewallStatus(ctx context.Context, node string, st rampart.FirewallStatus) error
}

// AuditFilter narrows ListAudit; the service layer and the API share it.
type AuditFilter = rampart.AuditFilter

// Audit persists the append-only audit log.
type Audit interface {
	// AddAudit inserts e and sets e.ID (and e.At if zero).
	AddAudit(ctx context.Context, e *rampart.AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]*rampart.AuditEvent, error)
}

// SSHKeys persists the public keys of each node's managed authorized_keys
// block, and the authorized_keys reconciler's report on it. Creating or
// deleting a key changes the ssh_keys revision; the report does not.
type SSHKeys interface {
	// CreateSSHKey inserts k (every field but ID and CreatedAt) and sets
	// k.ID and CreatedAt. ECONFLICT when the node already has a key with
	// k's fingerprint.
	CreateSSHKey(ctx context.Context, k *rampart.SSHKey) error
	// ListSSHKeys returns the node's keys, oldest first.
	ListSSHKeys(ctx context.Context, node string) ([]*rampart.SSHKey, error)
	SSHKeyByID(ctx context.Context, id int64) (*rampart.SSHKey, error)
	SSHKeyByFingerprint(ctx context.Context, node, fingerprint string) (*rampart.SSHKey, error)
	DeleteSSHKey(ctx context.Context, id int64) error
	// SSHKeysStatus returns the reconciler's last report for the node
	// (AppliedRevision, Path, Error, the times, Drift); the zero value
	// when there is none yet.
	SSHKeysStatus(ctx context.Context, node string) (rampart.SSHKeysStatus, error)
	// SetSSHKeysStatus replaces the node's report with st's observed
	// fields.
	SetSSHKeysStatus(ctx context.Context, node string, st rampart.SSHKeysStatus) error
}

// Passkeys persists users' WebAuthn credentials (public keys only) and
// each user's WebAuthn user handle.
type Passkeys interface {
	// PasskeyHandle returns the user's handle, storing fresh as it when the
	// user has none; ENOTFOUND when the user does not exist.
	PasskeyHandle(ctx context.Context, userID int64, fresh []byte) ([]byte, error)
	// CreatePasskey inserts p and sets p.ID (and CreatedAt when zero).
	// ECONFLICT when the credential is registered already or the user has
	// a passkey of that name.
	CreatePasskey(ctx context.Context, p *rampart.Passkey) error
	// ListPasskeys returns the user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID int64) ([]*rampart.Passkey, error)
	PasskeyByID(ctx context.Context, id int64) (*rampart.Passkey, error)
	// UsePasskey records a login: the new signature counter and flags, and
	// LastUsedAt (which never moves backwards).
	UsePasskey(ctx context.Context, id int64, signCount uint32, flags uint8, at time.Time) error
	DeletePasskey(ctx context.Context, id int64) error
	// DeleteUserPasskeys removes all of a user's passkeys and the handle.
	DeleteUserPasskeys(ctx context.Context, userID int64) error
}

// Bounds of the mail log: a service keeps its last MailLogKeep messages,
// none older than MailLogMaxAge. Stores prune on insert, so the log never
// needs a sweeper and one noisy service cannot grow the file without end.
const (
	MailLogKeep   = 1000
	MailLogMaxAge = 30 * 24 * time.Hour
)

// MaxMailLogPage is the most rows one ListMailMessages returns.
const MaxMailLogPage = 500

// MailState is a service's stored mail settings: desired state (the mail
// revision moves with it). A service never written has the zero value.
type MailState struct {
	ServiceID int64
	// PasswordHash is the SHA-256 of the SMTP password; nil: none yet.
	PasswordHash  []byte
	PasswordSetAt *time.Time
	// PerHour is the service's quota; 0: the relay's default.
	PerHour         int
	Suspended       bool
	SuspendedReason string
	SuspendedAt     *time.Time
}

// Mail persists the SMTP relay's control plane: each service's login,
// quota and suspension (desired state, the mail revision), its policy
// violations and its mail log (observed, no revision), and the DKIM keys
// of the mail domain. Every row of a service goes with it when it is
// purged.
type Mail interface {
	// MailState returns the service's settings; the zero value (with
	// ServiceID) when none were written. ENOTFOUND when the service does
	// not exist.
	MailState(ctx context.Context, serviceID int64) (*MailState, error)
	// SetMailPassword stores the hash of a new SMTP password.
	// ENOTFOUND when the service does not exist.
	SetMailPassword(ctx context.Context, serviceID int64, hash []byte, at time.Time) error
	// SetMailPerHour sets the quota; 0 returns to the default.
	SetMailPerHour(ctx context.Context, serviceID int64, perHour int) error
	// SetMailSuspended suspends (with reason, at) or resumes the service.
	SetMailSuspended(ctx context.Context, serviceID int64, suspended bool, reason string, at time.Time) error
	// ListMailAccounts returns what the relay needs of every live (not
	// deleted) service with mail settings, ordered by service name.
	ListMailAccounts(ctx context.Context) ([]*rampart.MailAccount, error)

	// AddMailViolation records one policy violation.
	AddMailViolation(ctx context.Context, serviceID int64, at time.Time, reason string) error
	// CountMailViolations counts the service's violations at or after since.
	CountMailViolations(ctx context.Context, serviceID int64, since time.Time) (int, error)
	// ClearMailViolations forgets the service's violations (a resume).
	ClearMailViolations(ctx context.Context, serviceID int64) error

	// AddMailMessage inserts m (every field but ID and Service) and sets
	// m.ID; UpdatedAt defaults to At. ECONFLICT when the queue ID is
	// taken; ENOTFOUND when the service does not exist. It prunes the
	// service's log to MailLogKeep rows and MailLogMaxAge.
	AddMailMessage(ctx context.Context, m *rampart.MailMessage) error
	// AddMailMessages is AddMailMessage for many rows in one
	// transaction, which is what a busy relay should call: all or none
	// are stored.
	AddMailMessages(ctx context.Context, ms []*rampart.MailMessage) error
	// UpdateMailMessage writes the status, reason and recipients of the
	// row with queueID and sets its UpdatedAt to at. ENOTFOUND when there
	// is no such row (or it was pruned).
	UpdateMailMessage(ctx context.Context, queueID string, status rampart.MailStatus, reason string, recipients []rampart.MailRecipient, at time.Time) error
	// MailMessage returns the log row of the message with queueID, with
	// Service filled in; ENOTFOUND when there is none (or it was pruned).
	MailMessage(ctx context.Context, queueID string) (*rampart.MailMessage, error)
	// ListMailMessages returns up to limit (at most MaxMailLogPage) rows
	// of the service's log, oldest first, with Service filled in. With
	// after > 0 they are the first rows with an ID above after (follow a
	// log by passing the last ID seen); with after == 0 the newest rows.
	ListMailMessages(ctx context.Context, serviceID, after int64, limit int) ([]*rampart.MailMessage, error)

	// DKIMKeys returns the domain's keys, oldest first. PrivatePEM holds
	// what was stored: the app stores it sealed.
	DKIMKeys(ctx context.Context, domain string) ([]*rampart.DKIMKey, error)
	// CreateDKIMKey stores k (CreatedAt set when zero). ECONFLICT when the
	// domain has the selector already.
	CreateDKIMKey(ctx context.Context, k *rampart.DKIMKey) error
}
