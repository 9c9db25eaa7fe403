// Package mailertest has an in-memory Mailer for the tests of the packages
// that send mail: it keeps every message, so a test reads the login code a
// user would have found in their mailbox. (smtptest is the real SMTP
// receiver, for tests of the sending itself.)
package mailertest

import (
	"context"
	"regexp"
	"sync"
	"testing"

	"github.com/rampart-dev/rampart/internal/mailer"
)

// Outbox is a mailer.Mailer that keeps what it is given. Err, when set,
// is returned by Send instead, as a mail server that is down would.
type Outbox struct {
	mu   sync.Mutex
	msgs []mailer.Message
	Err  error
}

// Send checks m as a real mailer would and keeps it.
func (o *Outbox) Send(_ context.Context, m mailer.Message) error {
	if err := m.Check(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Err != nil {
		return o.Err
	}
	o.msgs = append(o.msgs, m)
	return nil
}

// All returns the messages sent to to, oldest first; every message when to
// is empty.
func (o *Outbox) All(to string) []mailer.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []mailer.Message
	for _, m := range o.msgs {
		if to == "" || m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the last message sent to to, failing the test when there
// is none.
func (o *Outbox) Last(t testing.TB, to string) mailer.Message {
	t.Helper()
	msgs := o.All(to)
	if len(msgs) == 0 {
		t.Fatalf("no mail to %s", to)
	}
	return msgs[len(msgs)-1]
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// Code returns the 6-digit login code of the last mail to to.
func (o *Outbox) Code(t testing.TB, to string) string {
	t.Helper()
	m := o.Last(t, to)
	c := codeRE.FindString(m.Text)
	if c == "" {
		t.Fatalf("the last mail to %s has no code:\n%s", to, m.Text)
	}
	return c
}

// Count returns how many messages were sent.
func (o *Outbox) Count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}
