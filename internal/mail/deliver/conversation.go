package deliver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rampart-dev/rampart/internal/mailer"
)

// modeOpportunistic encrypts when the server offers STARTTLS and goes on
// in clear text when it does not (Postfix's "may" level): how MX hosts are
// spoken to.
const modeOpportunistic mailer.TLSMode = "opportunistic"

// maxReadBytes bounds what one connection may send us. Replies are short;
// a server that streams endless continuation lines is cut off here rather
// than filling memory until the deadline.
const maxReadBytes = 1 << 20

// target is one server to hold a conversation with.
type target struct {
	addr string // ip:port or host:port to dial
	name string // the host name, for logs and TLS
	mode mailer.TLSMode
	tls  *tls.Config
}

// tlsError is a failed STARTTLS handshake: the connection it happened on
// is unusable, and the caller may retry in clear text on a new one.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "STARTTLS: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// converse holds one SMTP conversation with tg for the recipients in idx.
// final reports whether the outcome is decided for this destination: once
// MAIL FROM is answered, what the server said stands, and the recipients'
// results are filled in (or err applies to them all). Before that, err
// says why this server could not be used, and the caller tries the next.
func (t *Transport) converse(ctx context.Context, tg target, from string, rcpts []string, idx []int, data []byte, results []Result) (final bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	conn, err := t.cfg.Dial(ctx, "tcp", tg.addr)
	if err != nil {
		return false, fmt.Errorf("connecting to %s (%s): %w", tg.name, tg.addr, err)
	}
	defer conn.Close()
	// Closing the connection is what stops a client blocked in a read
	// when the context ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var nc net.Conn = &limitConn{Conn: conn, left: maxReadBytes}

	var c *smtp.Client
	switch tg.mode {
	case mailer.TLSImplicit:
		tc := tls.Client(nc, tg.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return false, fmt.Errorf("TLS with %s: %w", tg.name, err)
		}
		c = smtp.NewClient(tc)
	case mailer.TLSStartTLS, modeOpportunistic:
		sc, err := t.startTLS(ctx, nc, tg)
		if err != nil {
			return false, err
		}
		c = smtp.NewClient(sc)
	default:
		c = smtp.NewClient(nc)
	}
	defer c.Close()
	c.CommandTimeout = commandTimeout
	c.SubmissionTimeout = t.cfg.Timeout
	step := func(what string, err error) error {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return err // the server's own words say enough
		}
		return fmt.Errorf("%s with %s: %w", what, tg.name, err)
	}

	if err := c.Hello(t.cfg.HELO); err != nil {
		return false, step("EHLO", err)
	}
	if sh := t.cfg.Smarthost; sh != nil && sh.Username != "" {
		if !c.SupportsAuth(sasl.Plain) {
			return false, &permanentError{fmt.Sprintf("smarthost %s does not offer AUTH PLAIN", tg.name)}
		}
		if err := c.Auth(sasl.NewPlainClient("", sh.Username, sh.Password)); err != nil {
			return false, step("AUTH", err)
		}
	}
	var opts *smtp.MailOptions
	utf8 := !isASCII(from)
	for _, i := range idx {
		utf8 = utf8 || !isASCII(rcpts[i])
	}
	if utf8 {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(from, opts); err != nil {
		var se *smtp.SMTPError
		// A 4xx here may be this host's trouble: let the next MX try.
		return errors.As(err, &se) && se.Code >= 500, step("MAIL FROM", err)
	}

	var accepted []int
	for _, i := range idx {
		if err := c.Rcpt(rcpts[i], nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return true, step("RCPT TO", err) // the connection broke: all temporary
			}
			fail(results, []int{i}, err)
			continue
		}
		accepted = append(accepted, i)
	}
	if len(accepted) == 0 {
		_ = c.Quit()
		return true, nil
	}
	w, err := c.Data()
	if err != nil {
		fail(results, accepted, step("DATA", err))
		return true, nil
	}
	if _, err := w.Write(data); err != nil {
		fail(results, accepted, step("DATA", err))
		return true, nil
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		fail(results, accepted, step("DATA", err))
		return true, nil
	}
	for _, i := range accepted {
		results[i].OK, results[i].Permanent = true, false
		results[i].Code, results[i].Reply = 250, clean("250 "+resp.StatusText)
	}
	// The message is accepted: a failed QUIT changes nothing.
	_ = c.Quit()
	return true, nil
}

// startTLS reads the greeting, says EHLO and upgrades to TLS when the
// server offers it, by hand: go-smtp only offers STARTTLS after an EHLO
// with its default name, and this way we also learn whether STARTTLS was
// offered without spending a connection. The returned connection replays a
// greeting so that go-smtp's client starts as on a fresh connection (its
// second EHLO is the one RFC 3207 asks for after TLS).
func (t *Transport) startTLS(ctx context.Context, conn net.Conn, tg target) (net.Conn, error) {
	if err := conn.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	tp := textproto.NewConn(conn)
	reply := func(what string, expect int) (string, error) {
		_, msg, err := tp.ReadResponse(expect)
		if err != nil {
			var te *textproto.Error
			if errors.As(err, &te) {
				return "", &smtp.SMTPError{Code: te.Code, Message: what + ": " + te.Msg}
			}
			return "", fmt.Errorf("%s with %s: %w", what, tg.name, err)
		}
		return msg, nil
	}
	if _, err := reply("greeting", 220); err != nil {
		return nil, err
	}
	if err := tp.PrintfLine("EHLO %s", t.cfg.HELO); err != nil {
		return nil, fmt.Errorf("EHLO with %s: %w", tg.name, err)
	}
	msg, err := reply("EHLO", 250)
	if err != nil {
		return nil, err
	}
	if !hasExtension(msg, "STARTTLS") {
		if tg.mode == mailer.TLSStartTLS {
			return nil, &permanentError{fmt.Sprintf("smarthost %s does not offer STARTTLS; refusing to send in clear text (set its TLS to %q if it expects TLS from the first byte)", tg.name, mailer.TLSImplicit)}
		}
		return greeted(conn), conn.SetDeadline(time.Time{})
	}
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		return nil, fmt.Errorf("STARTTLS with %s: %w", tg.name, err)
	}
	if _, err := reply("STARTTLS", 220); err != nil {
		if tg.mode == modeOpportunistic {
			return nil, &tlsError{err}
		}
		return nil, err
	}
	tc := tls.Client(conn, tg.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		if tg.mode == modeOpportunistic {
			return nil, &tlsError{err}
		}
		return nil, fmt.Errorf("STARTTLS with %s: %w", tg.name, err)
	}
	return greeted(tc), conn.SetDeadline(time.Time{})
}

// hasExtension reports whether an EHLO reply (its lines joined by "\n",
// the first being the server's greeting) announces ext.
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		word, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if strings.EqualFold(word, ext) {
			return true
		}
	}
	return false
}

// greeted returns conn with a 220 greeting to be read before anything it
// receives, for a go-smtp client started mid-conversation.
func greeted(conn net.Conn) net.Conn {
	return &prefixConn{Conn: conn, r: io.MultiReader(strings.NewReader("220 continuing\r\n"), conn)}
}

type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// limitConn fails reads once left bytes have been read.
type limitConn struct {
	net.Conn
	left int
}

var errTooMuch = errors.New("the server sent more than 1 MiB of replies; giving up")

func (c *limitConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooMuch
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
