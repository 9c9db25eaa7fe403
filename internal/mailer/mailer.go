// Package mailer sends the platform's own mail: login codes and notices
// about an account. It is deliberately small — one message type, one method —
// so that the SMTP relay can later put the same messages on its durable queue
// without the callers changing.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
)

// Message is one plain-text mail to one recipient. The sender is the
// mailer's (Config.From): callers never choose it.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Mailer sends a Message. Send returns once the message is handed on (to the
// SMTP server, or to the log): a nil error is not proof of delivery.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Check refuses a message that would be malformed or could smuggle headers:
// one address in To, no line breaks in the subject, a body.
func (m Message) Check() error {
	if strings.ContainsAny(m.To, "\r\n") {
		return errors.New("mailer: the recipient contains a line break")
	}
	a, err := mail.ParseAddress(m.To)
	if err != nil || a.Address != m.To {
		return fmt.Errorf("mailer: %q is not one plain email address", m.To)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mailer: the subject contains a line break")
	}
	if m.Subject == "" || m.Text == "" {
		return errors.New("mailer: a message needs a subject and a body")
	}
	return nil
}

// Log is the mailer of `rampart serve --demo` and of a node with no SMTP
// server configured: it writes each message, body included, to the log at
// warning level. Anyone who reads the log can read login codes, which is why
// a real node must configure mail.smtp.
type Log struct {
	Logger *slog.Logger
}

// Send logs m.
func (l Log) Send(_ context.Context, m Message) error {
	if err := m.Check(); err != nil {
		return err
	}
	lg := l.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.Warn("mail (not sent: no SMTP server configured)", "to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}
