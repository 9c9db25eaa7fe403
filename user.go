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

	// DisabledAt is when an admin disabled the account: from then on it
	// cannot log in and its tokens and sessions are refused. nil: enabled.
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	// Status sums up the account for the People page and the CLI. The
	// store sets it on every read (see ComputeStatus) and the service layer
	// after each change, so that clients, which never see the password
	// hash, can read it from JSON.
	Status UserStatus `json:"status"`
}

// UserStatus is whether an account can be used.
type UserStatus string

const (
	// UserActive can log in.
	UserActive UserStatus = "active"
	// UserInvited was invited and has not yet set a password through the
	// emailed link.
	UserInvited UserStatus = "invited"
	// UserDisabled was disabled by an admin.
	UserDisabled UserStatus = "disabled"
)

// ComputeStatus derives the account's status from DisabledAt and whether it
// has a password.
func (u *User) ComputeStatus() UserStatus {
	switch {
	case u.DisabledAt != nil:
		return UserDisabled
	case u.PasswordHash == "":
		return UserInvited
	}
	return UserActive
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

// InviteInput asks for a new account whose owner chooses their own
// password, through a link emailed to Email.
type InviteInput struct {
	Email string `json:"email"`
	Role  Role   `json:"role"`
}

// LinkKind is what a one-time account link is for.
type LinkKind string

const (
	// LinkInvite lets an invited person set their first password.
	LinkInvite LinkKind = "invite"
	// LinkReset lets a user whose password an admin reset choose a new one.
	LinkReset LinkKind = "reset"
)

// How long an emailed account link works: an invitation waits for someone
// to read their mail, a reset is wanted now.
const (
	InviteLinkTTL = 7 * 24 * time.Hour
	ResetLinkTTL  = time.Hour
)

// AccountLink is a one-time link emailed to a user (an invitation or a
// password reset). Only the SHA-256 of its 256-bit secret is stored.
type AccountLink struct {
	ID        int64
	Kind      LinkKind
	UserID    int64
	Hash      []byte
	CreatedBy string // the actor's name, as in the audit log
	CreatedAt time.Time
	ExpiresAt time.Time
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

// UserList is what GET /api/v1/users answers.
type UserList struct {
	Users []*User `json:"users"`
}

// UserPatch changes an account through PATCH /api/v1/users/{email}: its
// role, whether it is disabled, or both. Absent fields stay as they are.
type UserPatch struct {
	Role     *Role `json:"role,omitempty"`
	Disabled *bool `json:"disabled,omitempty"`
}

// PasswordChange is a user's change of their own password. Challenge and
// Code confirm it with the current second factor (POST /api/v1/me/confirm
// opens the challenge); both are empty when the account has none.
type PasswordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
	Challenge       string `json:"challenge,omitempty"`
	Code            string `json:"code,omitempty"`
}
