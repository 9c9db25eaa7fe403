package rampart

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Passkey is a WebAuthn credential a user registered as a second factor:
// at a login, after the password, the browser signs the server's challenge
// with it instead of the user typing a code. Only public material is kept.
type Passkey struct {
	ID     int64
	UserID int64
	// CredentialID is the authenticator's name for the key, unique across
	// all users.
	CredentialID []byte
	PublicKey    []byte // COSE-encoded
	// SignCount is the authenticator's signature counter at the last use;
	// a later login must show a higher one (0 forever means no counter).
	SignCount  uint32
	Transports []string // "internal", "usb", "hybrid"…, as the browser reported
	AAGUID     []byte   // the authenticator model, 16 bytes (zeros when not told)
	// Flags are the WebAuthn credential flags (backup eligibility and
	// state, user verified) as their byte in authenticator data.
	Flags uint8
	// RPID is the host name the passkey was made for: it works only on
	// the dashboard opened at that name.
	RPID       string
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Passkey bounds.
const (
	MaxPasskeys        = 10 // per user
	PasskeyNameMaxLen  = 64 // characters
	PasskeyCeremonyTTL = 5 * time.Minute
)

// NormalizePasskeyName trims the name a user gave a passkey.
func NormalizePasskeyName(name string) string { return strings.TrimSpace(name) }

// ValidatePasskeyName checks a (normalized) passkey name.
func ValidatePasskeyName(name string) error {
	switch {
	case name == "":
		return Errorf(EINVALID, "give the passkey a name, such as the device it lives on (\"laptop\")")
	case !utf8.ValidString(name):
		return Errorf(EINVALID, "the passkey name is not valid text")
	case utf8.RuneCountInString(name) > PasskeyNameMaxLen:
		return Errorf(EINVALID, "the passkey name is longer than %d characters", PasskeyNameMaxLen)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return Errorf(EINVALID, "the passkey name must be one line of text")
		}
	}
	return nil
}
