package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

const (
	// TLSStartTLS (the default, port 587) connects in clear text and
	// upgrades with STARTTLS. A server that does not offer STARTTLS is
	// refused rather than used in clear text: an attacker on the path can
	// strip the offer, so falling back silently would protect nothing.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit (port 465) speaks TLS from the first byte.
	TLSImplicit TLSMode = "tls"
	// TLSNone (port 25) never encrypts. It is meant for a relay on the same
	// machine; AUTH over it is refused unless the host is a loopback address.
	TLSNone TLSMode = "none"
)

// defaultTimeout bounds one Send when neither Config nor the context say
// otherwise, so that a stalled server cannot hold a login request forever.
const defaultTimeout = 30 * time.Second

// Config is the configuration of the SMTP mailer.
type Config struct {
	// From is the sender of every message, one plain address such as
	// "rampart@example.com" (no display name): it is both the envelope
	// sender and the From header.
	From string
	SMTP SMTPConfig
}

// SMTPConfig says which submission server to hand messages to and how.
type SMTPConfig struct {
	Host string
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int
	// TLS defaults to TLSStartTLS.
	TLS TLSMode
	// Username, when set, makes the mailer authenticate with AUTH PLAIN,
	// with the password given inline or, better, in PasswordFile (read once
	// by NewSMTP, a trailing newline removed) so that it stays out of the
	// configuration file.
	Username     string
	Password     string
	PasswordFile string
	// Timeout bounds one Send, connection included (default 30s). A
	// deadline on the context passed to Send is honoured if sooner.
	Timeout time.Duration
	// RootCAs verifies the server's certificate; nil means the system's
	// roots. Tests set it to their receiver's self-signed certificate.
	RootCAs *x509.CertPool
	// ServerName is the name expected in the server's certificate when it
	// differs from Host (for instance when Host is an IP address).
	ServerName string
}

// withDefaults fills in the zero values that have a default.
func (c Config) withDefaults() Config {
	if c.SMTP.TLS == "" {
		c.SMTP.TLS = TLSStartTLS
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.TLS {
		case TLSStartTLS:
			c.SMTP.Port = 587
		case TLSImplicit:
			c.SMTP.Port = 465
		case TLSNone:
			c.SMTP.Port = 25
		}
	}
	if c.SMTP.Timeout == 0 {
		c.SMTP.Timeout = defaultTimeout
	}
	return c
}

// Validate reports the first setting that cannot work, saying how to fix it.
// Zero values that have a default are accepted.
func (c Config) Validate() error {
	c = c.withDefaults()
	s := c.SMTP
	if a, err := mail.ParseAddress(c.From); err != nil || a.Address != c.From || a.Name != "" {
		return fmt.Errorf("mailer: mail.from %q must be one plain address such as rampart@example.com, without a display name", c.From)
	}
	switch {
	case s.Host == "":
		return errors.New("mailer: mail.smtp.host is required: the name of the submission server, such as smtp.example.com")
	case strings.ContainsAny(s.Host, " \t\r\n/[]"):
		return fmt.Errorf("mailer: mail.smtp.host %q must be a bare host name or IP address (no scheme, no brackets)", s.Host)
	}
	if _, _, err := net.SplitHostPort(s.Host); err == nil {
		return fmt.Errorf("mailer: mail.smtp.host %q contains a port: put the port in mail.smtp.port", s.Host)
	}
	switch s.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("mailer: mail.smtp.tls %q is unknown: use %q (port 587), %q (port 465) or %q (a relay on this machine)", s.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("mailer: mail.smtp.port %d is out of range: use 1 to 65535, or leave it out for the default of the TLS mode", s.Port)
	}
	if s.Password != "" && s.PasswordFile != "" {
		return errors.New("mailer: mail.smtp.password and mail.smtp.password_file are both set: keep one (the file is better)")
	}
	hasPassword := s.Password != "" || s.PasswordFile != ""
	if s.Username != "" && !hasPassword {
		return errors.New("mailer: mail.smtp.username is set without a password: set mail.smtp.password_file (or mail.smtp.password)")
	}
	if s.Username == "" && hasPassword {
		return errors.New("mailer: a password is set without mail.smtp.username: set the username too")
	}
	if s.Username != "" && s.TLS == TLSNone && !isLoopback(s.Host) {
		return fmt.Errorf("mailer: mail.smtp.tls is %q with a username: the password would cross the network in clear text; use %q or %q", TLSNone, TLSStartTLS, TLSImplicit)
	}
	if s.Timeout < 0 {
		return fmt.Errorf("mailer: mail.smtp.timeout %v is negative: leave it out for %v", s.Timeout, defaultTimeout)
	}
	return nil
}

// isLoopback reports whether host names this machine without asking DNS,
// which an attacker might answer.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTP is a Mailer that hands each message to an SMTP submission server on
// a new connection. A connection per message keeps it simple and costs
// little at the rate a platform sends login codes.
type SMTP struct {
	cfg      Config
	password string
	tls      *tls.Config
}

var _ Mailer = (*SMTP)(nil)

// ReadPassword is the password to authenticate with: Password, or the
// contents of PasswordFile without a trailing newline.
func (s SMTPConfig) ReadPassword() (string, error) {
	f := s.PasswordFile
	if f == "" {
		return s.Password, nil
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("mailer: reading mail.smtp.password_file: %w", err)
	}
	password := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if password == "" {
		return "", fmt.Errorf("mailer: mail.smtp.password_file %s is empty", f)
	}
	return password, nil
}

// EffectivePort is Port, or the default for the TLS mode when it is zero.
func (s SMTPConfig) EffectivePort() int {
	return Config{SMTP: s}.withDefaults().SMTP.Port
}

// NewSMTP validates c and reads the password file, so that a mistake shows
// when the node starts, not when the first user asks for a login code.
func NewSMTP(c Config) (*SMTP, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	password, err := c.SMTP.ReadPassword()
	if err != nil {
		return nil, err
	}
	s := &SMTP{cfg: c, password: password}
	name := c.SMTP.ServerName
	if name == "" {
		name = c.SMTP.Host
	}
	s.tls = &tls.Config{ServerName: name, RootCAs: c.SMTP.RootCAs, MinVersion: tls.VersionTLS12}
	return s, nil
}

// Send delivers m to the SMTP server. It returns once the server has
// accepted the message (or refused it), within the Timeout or the context's
// deadline, whichever is sooner.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := m.Check(); err != nil {
		return err
	}
	body, err := s.cfg.Compose(m, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SMTP.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.SMTP.Host, fmt.Sprint(s.cfg.SMTP.Port))
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			// The connection was closed under the client: the context
			// says why, better than "use of closed network connection".
			err = ctx.Err()
		}
		return &stepError{addr: addr, step: step, err: err}
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fail("connect", err)
	}
	defer conn.Close()
	// go-smtp sets its own deadline on every command; closing the
	// connection is what makes cancellation stop a client in mid-read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *smtp.Client
	switch s.cfg.SMTP.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake", err)
		}
		c = smtp.NewClient(tc)
	case TLSStartTLS:
		// NewClientStartTLS fails if the server does not offer STARTTLS:
		// that is the refusal to downgrade.
		c, err = smtp.NewClientStartTLS(conn, s.tls)
		if err != nil {
			return fail("STARTTLS", err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	// The context bounds the whole conversation; go-smtp's per-command
	// timeouts (minutes by default) are only a backstop, set past the
	// context's deadline so that an expiry always reports as one.
	c.CommandTimeout = s.cfg.SMTP.Timeout + time.Second
	c.SubmissionTimeout = c.CommandTimeout

	// Greeting explicitly (again, after STARTTLS) names the step when a
	// server fails there, rather than blaming AUTH or MAIL FROM.
	if err := c.Hello("localhost"); err != nil {
		return fail("EHLO", err)
	}
	if s.cfg.SMTP.Username != "" {
		if !c.SupportsAuth(sasl.Plain) {
			return fail("AUTH", errors.New("the server does not offer AUTH PLAIN"))
		}
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.SMTP.Username, s.password)); err != nil {
			return fail("AUTH", err)
		}
	}
	// Addresses outside ASCII need SMTPUTF8; asking for it makes a server
	// without it refuse clearly instead of mangling the address.
	var opts *smtp.MailOptions
	if !isASCII(s.cfg.From) || !isASCII(m.To) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(s.cfg.From, opts); err != nil {
		return fail("MAIL FROM", err)
	}
	if err := c.Rcpt(m.To, nil); err != nil {
		return fail("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return fail("DATA", err)
	}
	if _, err := w.Write(body); err != nil {
		return fail("DATA", err)
	}
	if err := w.Close(); err != nil {
		return fail("DATA", err)
	}
	// The message is accepted: a failed QUIT must not make the caller send
	// it twice.
	_ = c.Quit()
	return nil
}

// Compose renders m, from c.From and dated now, as an RFC 5322 message
// with CRLF line ends, in 7-bit ASCII whatever the text, so that any server
// carries it unchanged. The SMTP mailer sends these bytes; the relay signs
// and queues them when it carries the platform's own mail.
func (c Config) Compose(m Message, now time.Time) ([]byte, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	if a, err := mail.ParseAddress(c.From); err != nil || a.Address != c.From || a.Name != "" {
		return nil, fmt.Errorf("mailer: mail.from %q must be one plain address such as rampart@example.com, without a display name", c.From)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("mailer: Message-ID: %w", err)
	}
	domain := c.From[strings.LastIndexByte(c.From, '@')+1:]

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(name + ": " + value + "\r\n")
	}
	header("From", c.From)
	header("To", m.To)
	header("Subject", fold(mime.QEncoding.Encode("utf-8", m.Subject), len("Subject: ")))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	// The writer turns each "\n" into CRLF and keeps lines under 76 bytes.
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fold breaks a header value at spaces so that lines stay near 78
// characters: a long subject becomes many encoded words, and servers may
// refuse lines over 998 bytes.
func fold(v string, used int) string {
	var b strings.Builder
	n := used
	for i, w := range strings.Split(v, " ") {
		if i > 0 {
			if n+1+len(w) > 78 {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// stepError names the server and the step of the conversation that failed,
// and keeps the server's reply (a *smtp.SMTPError, whose Temporary method
// says whether trying later may help) for errors.As.
type stepError struct {
	addr, step string
	err        error
}

func (e *stepError) Error() string {
	reply := e.err.Error()
	var se *smtp.SMTPError
	if errors.As(e.err, &se) {
		reply = fmt.Sprint(se.Code)
		if c := se.EnhancedCode; c != smtp.EnhancedCodeNotSet && c != smtp.NoEnhancedCode {
			reply += fmt.Sprintf(" %d.%d.%d", c[0], c[1], c[2])
		}
		reply += " " + strings.ReplaceAll(se.Message, "\n", " ")
	}
	return "mailer: " + e.addr + ": " + e.step + ": " + reply
}

func (e *stepError) Unwrap() error { return e.err }
