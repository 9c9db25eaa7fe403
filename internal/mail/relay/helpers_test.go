package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// memQueue records what was Put; err makes Put fail.
type memQueue struct {
	mu   sync.Mutex
	envs []Envelope
	msgs [][]byte
	err  error
	// discard makes Put succeed without recording (for benchmarks).
	discard bool
}

func (q *memQueue) Put(_ context.Context, env Envelope, data []byte) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return "", q.err
	}
	if q.discard {
		return "D", nil
	}
	q.envs = append(q.envs, env)
	q.msgs = append(q.msgs, append([]byte(nil), data...))
	return fmt.Sprintf("Q%d", len(q.msgs)), nil
}

func (q *memQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

type recEvents struct {
	mu         sync.Mutex
	accepted   []string
	refused    []int
	violations []string
}

func (e *recEvents) Accepted(service, id string, _ Envelope, _ int, _ string) {
	e.mu.Lock()
	e.accepted = append(e.accepted, service+" "+id)
	e.mu.Unlock()
}
func (e *recEvents) Refused(_ string, _ Envelope, code int, _ string) {
	e.mu.Lock()
	e.refused = append(e.refused, code)
	e.mu.Unlock()
}
func (e *recEvents) Violation(service, reason string) {
	e.mu.Lock()
	e.violations = append(e.violations, service+": "+reason)
	e.mu.Unlock()
}
func (e *recEvents) nViolations() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.violations)
}

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testPassword = "correct-horse-battery-staple-0123456789"

var certOnce sync.Once
var testCert tls.Certificate

func selfSigned(t testing.TB) *tls.Config {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			DNSNames: []string{"relay.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}}
}

type harness struct {
	r      *Relay
	addr   string
	port   string
	q      *memQueue
	ev     *recEvents
	clock  *clock
	served chan error
}

func defaultAccounts() []Account {
	return []Account{
		{Service: "shop", PasswordHash: sha256.Sum256([]byte(testPassword))},
		{Service: "blog", PasswordHash: sha256.Sum256([]byte(testPassword)), Suspended: true, SuspendedReason: "3 bulk-mail violations"},
	}
}

// start runs a relay on 127.0.0.1:0 with STARTTLS and the default accounts.
func start(t testing.TB, mod func(*Config), accts ...Account) *harness {
	t.Helper()
	h := &harness{q: &memQueue{}, ev: &recEvents{}, clock: &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)}}
	cfg := Config{
		Domain: "example.org", Hostname: "relay.example.org", TLS: selfSigned(t),
		Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Now:     h.clock.Now, Timeout: 10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg, h.q, h.ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) == 0 {
		accts = defaultAccounts()
	}
	r.SetAccounts(accts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.r, h.addr = r, ln.Addr().String()
	_, h.port, _ = net.SplitHostPort(h.addr)
	h.served = make(chan error, 1)
	go func() { h.served <- r.Serve(ln) }()
	t.Cleanup(func() {
		r.Close()
		if err := <-h.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

// client is a minimal line-level SMTP client, to see every reply exactly.
type client struct {
	t        testing.TB
	c        net.Conn
	tp       *textproto.Conn
	greeting string
}

func (h *harness) dial(t testing.TB, local string) *client {
	t.Helper()
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, c: c, tp: textproto.NewConn(c)}
	t.Cleanup(func() { c.Close() })
	code, msg, err := cl.tp.ReadResponse(0)
	if err != nil && code == 0 {
		t.Fatalf("greeting: %v", err)
	}
	cl.greeting = fmt.Sprintf("%d %s", code, msg)
	return cl
}

// do sends one command line and returns the reply code and text.
func (c *client) do(line string) (int, string) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		return 0, err.Error()
	}
	code, msg, err := c.tp.ReadResponse(0)
	var pe textproto.ProtocolError
	if err != nil && (code == 0 || errors.As(err, &pe)) {
		return 0, err.Error()
	}
	return code, msg
}

func (c *client) must(line string, want int) string {
	c.t.Helper()
	code, msg := c.do(line)
	if code != want {
		c.t.Fatalf("%q: got %d %s, want %d", line, code, msg, want)
	}
	return msg
}

func (c *client) startTLS() {
	c.t.Helper()
	c.must("EHLO client.test", 250)
	c.must("STARTTLS", 220)
	tc := tls.Client(c.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.c, c.tp = tc, textproto.NewConn(tc)
	c.must("EHLO client.test", 250)
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// login is STARTTLS + AUTH PLAIN as service.
func (h *harness) login(t testing.TB, service string) *client {
	t.Helper()
	c := h.dial(t, "")
	c.startTLS()
	c.must("AUTH PLAIN "+plain(service, testPassword), 235)
	return c
}

// data sends DATA and the message, returning the final reply.
func (c *client) data(msg string) (int, string) {
	c.t.Helper()
	c.must("DATA", 354)
	w := c.tp.DotWriter()
	w.Write([]byte(msg))
	w.Close()
	code, text, err := c.tp.ReadResponse(0)
	if err != nil && code == 0 {
		return 0, err.Error()
	}
	return code, text
}

// send runs one whole transaction and returns the stage and reply that ended it.
func (c *client) send(from string, to []string, msg string) (stage string, code int, text string) {
	c.t.Helper()
	if code, text := c.do("MAIL FROM:<" + from + ">"); code != 250 {
		return "mail", code, text
	}
	for _, r := range to {
		if code, text := c.do("RCPT TO:<" + r + ">"); code != 250 {
			c.do("RSET")
			return "rcpt", code, text
		}
	}
	code, text = c.data(msg)
	return "data", code, text
}

func message(from, subject, extra, body string) string {
	return "From: " + from + "\r\nTo: someone@elsewhere.test\r\nSubject: " + subject + "\r\n" + extra + "\r\n" + body + "\r\n"
}

func rcpts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%d@elsewhere.test", i)
	}
	return out
}

func contains(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q does not contain %q", s, sub)
		}
	}
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
