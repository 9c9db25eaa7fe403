package rampart

import "time"

// MFAMethod is the second factor a login asks for after the password.
type MFAMethod string

const (
	// MFAEmail sends a 6-digit code to the account's address at each
	// login: the default, since every account has an address.
	MFAEmail MFAMethod = "email"
	// MFATOTP asks for a code from an authenticator app (RFC 6238).
	MFATOTP MFAMethod = "totp"
	// MFANone asks for nothing after the password. Only the user can
	// choose it, by typing "disable" and confirming with the current factor.
	MFANone MFAMethod = "none"
)

// Valid reports whether m is a known method.
func (m MFAMethod) Valid() bool { return m == MFAEmail || m == MFATOTP || m == MFANone }

// Login codes sent by email: the seed's 10 minutes, a handful of tries.
const (
	EmailCodeTTL      = 10 * time.Minute
	EmailCodeAttempts = 5                // wrong codes before the challenge is spent
	EmailCodeResend   = 30 * time.Second // between two sends of one challenge
	EmailCodeSends    = 5                // sends per challenge, the first included
	// RecoveryCodeCount is how many one-time recovery codes a set holds.
	RecoveryCodeCount = 10
)

// LoginChallenge is a login that passed the password and waits for its
// second factor. Like a session, only a hash of its secret is stored; for
// an email code, only a MAC of the code keyed by that secret, so a copy of
// the database reveals neither the code nor a way to finish the login.
type LoginChallenge struct {
	ID        int64
	UserID    int64
	Hash      []byte    // SHA-256 of the challenge secret (the browser's cookie)
	Method    MFAMethod // what was asked for when the password was accepted
	CodeMAC   []byte    // HMAC-SHA256(secret, code) of the emailed code; nil for TOTP
	Attempts  int       // wrong second factors so far
	Sends     int       // emails sent
	SentAt    time.Time // last email; zero if none
	IP        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RecoveryCode is one of a user's one-time recovery codes, stored as the
// SHA-256 of its 80 random bits.
type RecoveryCode struct {
	ID     int64
	UserID int64
	Hash   []byte
	UsedAt *time.Time
}

// LoginStep tells a client what the login it started needs next.
type LoginStep struct {
	// Challenge is the secret that continues this login (a cookie in the
	// dashboard, a field for the CLI); empty once the login is complete.
	Challenge string    `json:"challenge,omitempty"`
	Method    MFAMethod `json:"method"`
	// SentTo is the masked address an email code went to ("a•••@example.com").
	SentTo    string    `json:"sent_to,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LoginRequest is the first step of a login through the API (what
// `rampart login --email` sends).
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginCodeRequest finishes a login through the API with its second
// factor, and names the API token it creates.
type LoginCodeRequest struct {
	Challenge string `json:"challenge"`
	// Code is the emailed code, the authenticator app's code or a
	// recovery code.
	Code string `json:"code"`
	// TokenName labels the token the login creates ("cli" when empty).
	TokenName string `json:"token_name,omitempty"`
}

// LoginTokenTTL is how long a token made by a login through the API lives:
// a laptop's CLI logs in again after that, a script uses a token of its own.
const LoginTokenTTL = 30 * 24 * time.Hour

// LoginResponse answers a step of an API login: the next step, or the new
// token once every factor passed (shown only this once).
type LoginResponse struct {
	Step  *LoginStep `json:"step,omitempty"`
	Token string     `json:"token,omitempty"`
	// TokenInfo describes Token.
	TokenInfo *APIToken `json:"token_info,omitempty"`
}

// LoginResendRequest asks for a new emailed code for a login.
type LoginResendRequest struct {
	Challenge string `json:"challenge"`
}
