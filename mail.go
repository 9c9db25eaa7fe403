package rampart

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// MailStatus is where a message (or one of its recipients) stands in the
// SMTP relay: accepted and waiting, delivered, waiting for a retry after a
// temporary failure, given up on, or refused at the door (over quota,
// suspended, a forbidden sender).
type MailStatus string

// The statuses of relayed mail.
const (
	MailQueued   MailStatus = "queued"
	MailSent     MailStatus = "sent"
	MailDeferred MailStatus = "deferred"
	MailBounced  MailStatus = "bounced"
	MailRefused  MailStatus = "refused"
)

// Valid reports whether s is one of the statuses above.
func (s MailStatus) Valid() bool {
	switch s {
	case MailQueued, MailSent, MailDeferred, MailBounced, MailRefused:
		return true
	}
	return false
}

// MailRecipient is one envelope recipient of a message and what the
// receiving server last said about it (Code and Reply: its SMTP answer).
type MailRecipient struct {
	Addr   string     `json:"addr"`
	Status MailStatus `json:"status"`
	Code   int        `json:"code,omitempty"`
	Reply  string     `json:"reply,omitempty"`
}

// MailMessage is one row of a service's mail log: a message the relay
// queued, or one it refused. The body is never kept, and neither is the
// subject: SubjectHash (hex SHA-256) lets a person match a complaint to a
// row without the log holding what tenants wrote.
type MailMessage struct {
	ID          int64           `json:"id"`
	QueueID     string          `json:"queue_id"`
	ServiceID   int64           `json:"service_id"`
	Service     string          `json:"service"`
	At          time.Time       `json:"at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	From        string          `json:"from"`
	Recipients  []MailRecipient `json:"recipients"`
	Size        int64           `json:"size"`
	SubjectHash string          `json:"subject_hash,omitempty"`
	Status      MailStatus      `json:"status"`
	Reason      string          `json:"reason,omitempty"`
}

// MailSettings is what GET /services/{name}/mail shows: how a service
// sends mail through the relay, and where its quota and standing are.
type MailSettings struct {
	Service string `json:"service"`
	// Address is <service>@<mail domain>, the one sender the service may
	// use; empty while the relay is off.
	Address string `json:"address"`
	// Enabled is true when the relay runs on this node (mail.domain set).
	Enabled bool `json:"enabled"`
	// Host and Port are where the service submits, from the relay.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// Username is the SMTP login: the Address.
	Username string `json:"username,omitempty"`
	// CredentialsSetAt is nil while the service has no credentials yet.
	CredentialsSetAt *time.Time `json:"credentials_set_at,omitempty"`
	// PerHour is the effective quota in recipients per sliding hour;
	// PerHourDefault is true when no per-service value is set.
	PerHour        int  `json:"per_hour"`
	PerHourDefault bool `json:"per_hour_default"`
	// Used is how many recipients were sent in the sliding hour;
	// ResumesAt, when the next one frees up if at the limit.
	Used      int        `json:"used"`
	ResumesAt *time.Time `json:"resumes_at,omitempty"`
	// Suspended services cannot send until an admin resumes them.
	Suspended       bool       `json:"suspended"`
	SuspendedReason string     `json:"suspended_reason,omitempty"`
	SuspendedAt     *time.Time `json:"suspended_at,omitempty"`
	// Violations24h counts the service's policy violations (a forged
	// sender, going over quota) in the last 24 hours.
	Violations24h int `json:"violations_24h"`
}

// MailCredentials is the SMTP login of a service. Password is set only in
// the response that created it: rampart keeps only its hash.
type MailCredentials struct {
	Username string `json:"username"`
	Password string `json:"password,omitempty"`
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
}

// MailAccount is what the relay needs to know of one service: its login
// (hash only), its quota (0: the default) and whether it may send. The
// relay's reconciler reads them all (store.Mail.ListMailAccounts).
type MailAccount struct {
	ServiceID       int64  `json:"service_id"`
	Service         string `json:"service"`
	PasswordHash    []byte `json:"-"`
	PerHour         int    `json:"per_hour"`
	Suspended       bool   `json:"suspended"`
	SuspendedReason string `json:"suspended_reason,omitempty"`
}

// DKIMKey is a signing key of the mail domain. PrivatePEM is the plain key
// in memory; the store keeps it sealed with rampart's secret key.
type DKIMKey struct {
	Domain     string    `json:"domain"`
	Selector   string    `json:"selector"`
	Algorithm  string    `json:"algorithm"`
	PrivatePEM []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
}

// MailDNSRecord is one DNS record the mail domain needs for receivers to
// trust its mail, and whether it is published: Found is what DNS answers
// now, Error why the lookup failed.
type MailDNSRecord struct {
	Purpose   string   `json:"purpose"` // "dkim" | "spf"
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	Value     string   `json:"value"`
	Published bool     `json:"published"`
	Found     []string `json:"found,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Bounds of the per-service mail quota, in recipients per sliding hour.
// The upper one keeps a typo from making a service a spam cannon.
const (
	MinMailPerHour = 1
	MaxMailPerHour = 100000
)

// MaxMailSuspendReason bounds the reason an admin gives for a suspension;
// it ends up in an email to the owner.
const MaxMailSuspendReason = 500

// DefaultMailPerHour is the quota of a service without its own: recipients
// per sliding hour (SPEC §8).
const DefaultMailPerHour = 300

// ValidateMailPerHour checks a per-service quota (0, "the default", is the
// caller's business: it is not a quota).
func ValidateMailPerHour(n int) error {
	if n < MinMailPerHour || n > MaxMailPerHour {
		return FieldError("per_hour", Errorf(EINVALID,
			"the mail quota must be between %d and %d recipients per hour (0 returns to the default), not %d", MinMailPerHour, MaxMailPerHour, n))
	}
	return nil
}

// ValidateMailReason checks the reason of a suspension or violation: one
// line of text, bounded, since it is mailed to the owner.
func ValidateMailReason(reason string) error {
	if len(reason) > MaxMailSuspendReason {
		return FieldError("reason", Errorf(EINVALID, "the reason is %d bytes long; keep it under %d", len(reason), MaxMailSuspendReason))
	}
	if !utf8.ValidString(reason) {
		return FieldError("reason", Errorf(EINVALID, "the reason must be UTF-8 text"))
	}
	for _, r := range reason {
		if r < 0x20 || r == 0x7f {
			return FieldError("reason", Errorf(EINVALID, "the reason must be one line of text without control characters (found %q)", r))
		}
	}
	return nil
}

// MailAddress is the one sender address a service may use.
func MailAddress(service, domain string) string {
	if domain == "" {
		return ""
	}
	return fmt.Sprintf("%s@%s", service, domain)
}

// MailCredentialsInput is the body of POST /services/{name}/mail/credentials.
type MailCredentialsInput struct {
	// Rotate replaces an existing password; without it a service that
	// has one gets its login back without a password.
	Rotate bool `json:"rotate,omitempty"`
}

// MailSuspendInput is the body of POST /services/{name}/mail/suspend.
type MailSuspendInput struct {
	Reason string `json:"reason,omitempty"`
}

// MailQuotaInput is the body of PUT /services/{name}/mail/quota.
type MailQuotaInput struct {
	// PerHour is recipients per sliding hour; 0 returns to the default.
	PerHour *int `json:"per_hour"`
}

// MailMessageList is the answer to GET /services/{name}/mail/messages:
// oldest first.
type MailMessageList struct {
	Messages []*MailMessage `json:"messages"`
}

// MailQueue is the relay's queue at a glance: the answer to POST
// /mail/flush, which retries every deferred message now.
type MailQueue struct {
	// Depth is the number of messages with recipients still to deliver.
	Depth int `json:"depth"`
	// Oldest is when the oldest of them was accepted; absent when empty.
	Oldest *time.Time `json:"oldest,omitempty"`
}

// MailDNSList is the answer to GET /mail/dns.
type MailDNSList struct {
	Records []MailDNSRecord `json:"records"`
}
