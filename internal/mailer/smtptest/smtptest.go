// Package smtptest runs a real SMTP receiver in the test process, so that
// tests of the mailer and of what sends mail (login codes, notices) go
// through a real SMTP conversation — TLS, AUTH, DATA — and can read what
// arrived, instead of trusting a fake Mailer.
//
// It is stricter than a real server where that catches a sender's bugs: it
// refuses a message it cannot parse and, in STARTTLS mode, any mail before
// STARTTLS.
package smtptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rampart-dev/rampart/internal/mailer"
)

// Limits of the receiver: enough for any mail the platform sends, small
// enough that a runaway test fails instead of filling memory.
const (
	MaxMessageBytes = 1 << 20
	MaxRecipients   = 10
)

// Options configures a Server. The zero value is a plain-text receiver
// without AUTH.
type Options struct {
	// TLS is mailer.TLSNone (or empty), mailer.TLSStartTLS or
	// mailer.TLSImplicit: the same words as the mailer's configuration.
	TLS mailer.TLSMode
	// When Username is set, AUTH PLAIN with these credentials is required
	// before MAIL.
	Username, Password string
}

// Received is one message as the receiver got it.
type Received struct {
	From    string   // the envelope sender (MAIL FROM)
	To      []string // the envelope recipients (RCPT TO)
	Subject string   // the Subject header, RFC 2047 words decoded
	// Text is the body with its transfer encoding (quoted-printable or
	// base64) undone and CRLF turned into "\n".
	Text string
	Raw  []byte // the message as transmitted, headers included
	TLS  bool   // whether the message came over TLS (implicit or STARTTLS)
}

// Server is a running receiver on 127.0.0.1.
type Server struct {
	opts    Options
	srv     *smtp.Server
	ln      net.Listener
	cert    *x509.Certificate
	roots   *x509.CertPool
	served  chan struct{}
	closing sync.Once

	mu        sync.Mutex
	msgs      []Received
	rcptReply map[string]int // recipient → refusal code set by RejectRcpt
	dataReply int            // refusal code at the end of DATA, 0: accept
	changed   chan struct{}  // closed and replaced when a message arrives
}

// New starts a receiver that is closed when the test ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Start starts a receiver on a free loopback port. The caller must Close it.
func Start(o Options) (*Server, error) {
	if o.TLS == "" {
		o.TLS = mailer.TLSNone
	}
	s := &Server{opts: o, served: make(chan struct{}), changed: make(chan struct{})}
	s.srv = smtp.NewServer(smtp.BackendFunc(s.newSession))
	s.srv.Domain = "localhost"
	s.srv.MaxMessageBytes = MaxMessageBytes
	s.srv.MaxRecipients = MaxRecipients
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	// The client in each test sees what went wrong; the server's own log
	// would mostly report connections dropped by Close.
	s.srv.ErrorLog = log.New(io.Discard, "", 0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: %w", err)
	}
	switch o.TLS {
	case mailer.TLSNone:
		// Only this process can reach a loopback receiver, and the mailer
		// itself allows AUTH in clear text only to loopback.
		s.srv.AllowInsecureAuth = true
	case mailer.TLSStartTLS, mailer.TLSImplicit:
		cfg, cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.cert = cert
		s.roots = x509.NewCertPool()
		s.roots.AddCert(cert)
		if o.TLS == mailer.TLSStartTLS {
			s.srv.TLSConfig = cfg
		} else {
			ln = tls.NewListener(ln, cfg)
		}
	default:
		ln.Close()
		return nil, fmt.Errorf("smtptest: unknown TLS mode %q", o.TLS)
	}
	s.ln = ln
	go func() {
		defer close(s.served)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// RejectRcpt makes the receiver answer RCPT TO:<rcpt> with code (a 4xx or
// 5xx); code 0 makes it accept rcpt again.
func (s *Server) RejectRcpt(rcpt string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rcptReply == nil {
		s.rcptReply = map[string]int{}
	}
	if code == 0 {
		delete(s.rcptReply, strings.ToLower(rcpt))
		return
	}
	s.rcptReply[strings.ToLower(rcpt)] = code
}

// RejectData makes the receiver refuse every message at the end of DATA
// with code (a 4xx or 5xx); code 0 makes it accept messages again.
func (s *Server) RejectData(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataReply = code
}

// refusal is the error a receiver told to refuse answers with.
func refusal(code int, what string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "smtptest: refusing " + what + " as told"}
}

// Addr is the receiver's "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the port the receiver listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// RootCAs holds the receiver's self-signed certificate (valid for 127.0.0.1
// and localhost), or is nil in TLSNone mode.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Certificate is the receiver's self-signed certificate, for clients that
// take a CA file (write it out with encoding/pem), or nil in TLSNone mode.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// Config returns a mailer configuration that sends to this receiver from
// the given address, with its TLS mode, certificate and credentials.
func (s *Server) Config(from string) mailer.Config {
	return mailer.Config{From: from, SMTP: mailer.SMTPConfig{
		Host:     s.Host(),
		Port:     s.Port(),
		TLS:      s.opts.TLS,
		Username: s.opts.Username,
		Password: s.opts.Password,
		RootCAs:  s.roots,
	}}
}

// Messages returns the messages received so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Wait returns the first n messages once they have arrived.
func (s *Server) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		msgs, changed := s.msgs, s.changed
		s.mu.Unlock()
		if len(msgs) >= n {
			return slices.Clone(msgs[:n]), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("smtptest: %d of %d messages received: %w", len(msgs), n, ctx.Err())
		}
	}
}

// WaitFor returns the first message received for the recipient to, waiting
// for it if needed. To read a second mail to the same address, use Wait.
func (s *Server) WaitFor(ctx context.Context, to string) (Received, error) {
	for {
		s.mu.Lock()
		msgs, changed := s.msgs, s.changed
		s.mu.Unlock()
		for _, m := range msgs {
			if slices.ContainsFunc(m.To, func(r string) bool { return strings.EqualFold(r, to) }) {
				return m, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Received{}, fmt.Errorf("smtptest: no message for %s among %d: %w", to, len(msgs), ctx.Err())
		}
	}
}

// Close stops the receiver and drops open connections. It may be called
// more than once.
func (s *Server) Close() error {
	var err error
	s.closing.Do(func() {
		err = s.srv.Close()
		// go-smtp only closes the listeners Serve has registered: one
		// closed before Serve started would be left accepting.
		s.ln.Close()
		<-s.served
	})
	return err
}

func (s *Server) add(m Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Code returns the first run of exactly six digits in text, such as a login
// code in a mail, or "" if there is none. Longer runs of digits (a date, a
// phone number) are skipped.
func Code(text string) string {
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		if j-i == 6 {
			return text[i:j]
		}
		i = j
	}
	return ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// session is one SMTP connection.
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

var (
	errTLSRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
	errBadAuth     = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
)

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.opts.Username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if (identity != "" && identity != username) || username != ss.s.opts.Username || password != ss.s.opts.Password {
			return errBadAuth
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if _, isTLS := ss.conn.TLSConnectionState(); ss.s.opts.TLS != mailer.TLSNone && !isTLS {
		return errTLSRequired
	}
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	code := ss.s.rcptReply[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if code != 0 {
		return refusal(code, to)
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // go-smtp's ErrDataTooLarge past MaxMessageBytes
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	ss.s.mu.Lock()
	code := ss.s.dataReply
	ss.s.mu.Unlock()
	if code != 0 {
		return refusal(code, "the message")
	}
	_, m.TLS = ss.conn.TLSConnectionState()
	m.From, m.To = ss.from, slices.Clone(ss.to)
	ss.s.add(m)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse decodes the subject and body of a received message.
func parse(raw []byte) (Received, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, fmt.Errorf("unreadable header: %w", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Received{}, fmt.Errorf("subject: %w", err)
	}
	var body io.Reader = msg.Body
	switch cte := strings.ToLower(strings.TrimSpace(msg.Header.Get("Content-Transfer-Encoding"))); cte {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, &stripNewlines{body})
	case "", "7bit", "8bit", "binary":
	default:
		return Received{}, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		return Received{}, fmt.Errorf("body: %w", err)
	}
	return Received{
		Subject: subject,
		Text:    strings.ReplaceAll(string(text), "\r\n", "\n"),
		Raw:     raw,
	}, nil
}

// stripNewlines drops line breaks, which base64 bodies carry every 76
// characters but the decoder refuses.
type stripNewlines struct{ r io.Reader }

func (s *stripNewlines) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	k := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[k] = c
			k++
		}
	}
	return k, err
}

// selfSigned makes a fresh ECDSA certificate for 127.0.0.1 and localhost,
// so that TLS tests verify a certificate as the mailer does in production,
// instead of turning verification off.
func selfSigned() (*tls.Config, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("smtptest: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("smtptest: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("smtptest: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, errors.New("smtptest: " + err.Error())
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, cert, nil
}
