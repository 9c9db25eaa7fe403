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
	DeleteService(ctx context.Context, id int64) error
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
