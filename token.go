package rampart

import "time"

// APIToken is a bearer credential for the REST API. Only a SHA-256 hash of
// the secret is stored; the plaintext is shown once, when it is created.
type APIToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Hash       []byte     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"` // nil: never expires
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Expired reports whether t is past its expiry at now.
func (t *APIToken) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}

// Session is a logged-in dashboard browser. Like tokens, only a hash of the
// cookie value is stored, so a leaked database does not leak live sessions.
type Session struct {
	ID        int64
	UserID    int64
	Hash      []byte
	CSRFToken string // random per session; every form carries it
	IP        string
	CreatedAt time.Time
	SeenAt    time.Time // last request; for idle expiry
	ExpiresAt time.Time // absolute expiry
}

// DefaultTokenTTL is the lifetime of a token created through the API or
// the dashboard without one: a forgotten token stops working by itself.
const DefaultTokenTTL = 90 * 24 * time.Hour

// TokenInput asks for a new API token for the account Email.
type TokenInput struct {
	Email string
	Name  string        // what the token is for, up to 100 characters
	TTL   time.Duration // 0: the token never expires
}

// TokenRequest asks POST /api/v1/tokens for a new token: for the caller,
// or for Email (admins). TTL 0 or absent: DefaultTokenTTL.
type TokenRequest struct {
	Email string    `json:"email,omitempty"`
	Name  string    `json:"name"`
	TTL   *Duration `json:"ttl,omitempty"`
}

// TokenCreated answers POST /api/v1/tokens: the token, shown this once,
// and what is kept of it.
type TokenCreated struct {
	Token     string    `json:"token"`
	TokenInfo *APIToken `json:"token_info"`
}

// TokenList is what GET /api/v1/tokens answers.
type TokenList struct {
	Tokens []*APIToken `json:"tokens"`
}
