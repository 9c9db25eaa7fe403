package smtptest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
)

const raw = "From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n"

// send runs one transaction and returns the codes of RCPT (per recipient)
// and DATA; 250 when accepted.
func send(t *testing.T, srv *smtptest.Server, rcpts ...string) (rcptCodes []int, dataCode int) {
	t.Helper()
	c, err := smtp.Dial(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	code := func(err error) int {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se.Code
		}
		if err != nil {
			t.Fatal(err)
		}
		return 250
	}
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, r := range rcpts {
		rcptCodes = append(rcptCodes, code(c.Rcpt(r, nil)))
		if rcptCodes[len(rcptCodes)-1] == 250 {
			accepted++
		}
	}
	if accepted == 0 {
		return rcptCodes, 0
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	return rcptCodes, code(w.Close())
}

func TestRejectAndRecover(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{})
	srv.RejectRcpt("No@Example.com", 550)
	srv.RejectRcpt("later@example.com", 451)
	rc, dc := send(t, srv, "no@example.com", "yes@example.com", "later@example.com")
	if !slices.Equal(rc, []int{550, 250, 451}) || dc != 250 {
		t.Errorf("RCPT codes %v, DATA %d; want 550 250 451, then 250", rc, dc)
	}
	m := srv.Messages()
	if len(m) != 1 || strings.Join(m[0].To, ",") != "yes@example.com" || m[0].TLS {
		t.Errorf("received %+v", m)
	}

	srv.RejectData(452)
	if _, dc := send(t, srv, "yes@example.com"); dc != 452 {
		t.Errorf("DATA %d, want 452", dc)
	}
	srv.RejectData(0)
	srv.RejectRcpt("no@example.com", 0)
	if rc, dc := send(t, srv, "no@example.com"); rc[0] != 250 || dc != 250 {
		t.Errorf("after recovery: RCPT %v DATA %d", rc, dc)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages kept, want 2 (refused ones are not)", n)
	}
}
