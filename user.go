package rampart

import (
	"net/mail"
	"strings"
	"time"
)

// Role decides what a user may see and change.
type Role string

const (
	// RoleAdmin sees and changes every service and user, and reads the whole audit log.
	RoleAdmin Role = "admin"
	// RoleMember sees and changes only the services it owns.
	RoleMember Role = "member"
)

// User is a person who logs in to the dashboard or holds API tokens.
type User struct {
	ID           int64     `json:"id"`
	Email        string    `json:"email"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"` // argon2id, PHC string format
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`

	// MFA is the second factor every login asks for (MFAEmail for a new
	// account).
	MFA MFAMethod `json:"mfa"`
	// TOTPSecret is the authenticator app's seed, sealed with the key kept
	// outside the database (package sealed); nil without an app.
	TOTPSecret []byte `json:"-"`
	// TOTPPending is a seed shown during enrolment and not yet validated.
	TOTPPending []byte `json:"-"`
	// TOTPLastStep is the time step of the last accepted app code: a code
	// of that step or an earlier one is refused, so none works twice.
	TOTPLastStep int64 `json:"-"`
}

// IsAdmin reports whether u may act on everything.
func (u *User) IsAdmin() bool { return u != nil && u.Role == RoleAdmin }

// MinPasswordLength follows NIST SP 800-63B's floor for user-chosen secrets.
const MinPasswordLength = 10

// NormalizeEmail lower-cases and trims an address so that lookups by email
// do not depend on how a person typed it.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateEmail checks that s is a bare address (no display name).
func ValidateEmail(s string) error {
	if s == "" {
		return Errorf(EINVALID, "email is required")
	}
	if len(s) > 254 {
		return Errorf(EINVALID, "email %.20q… is longer than 254 characters", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return Errorf(EINVALID, "email %q is not a valid address: use the form name@example.com", s)
	}
	return nil
}

// ValidatePassword checks a new password against the length rules.
func ValidatePassword(p string) error {
	if n := len([]rune(p)); n < MinPasswordLength {
		return Errorf(EINVALID, "password is too short: use at least %d characters (a passphrase of a few words works well)", MinPasswordLength)
	}
	if len(p) > 1024 {
		return Errorf(EINVALID, "password is longer than 1024 bytes")
	}
	return nil
}

// ValidateRole checks r is a known role.
func ValidateRole(r Role) error {
	switch r {
	case RoleAdmin, RoleMember:
		return nil
	}
	return Errorf(EINVALID, "role %q is unknown: use %q or %q", r, RoleAdmin, RoleMember)
}

// UserInput is what a caller gives to create an account.
type UserInput struct {
	Email    string
	Password string
	Role     Role
}

// LoginInput is a password login from IP.
type LoginInput struct {
	Email    string
	Password string
	IP       string // the client's address, for throttling and the audit log
	// Device is the browser's device cookie (Accounts.DeviceToken), if
	// any: proof that it completed a login before.
	Device string
}
