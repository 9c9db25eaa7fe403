package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gosmtp "github.com/emersion/go-smtp"

	rampart "github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/testport"
)

// mx is a recipient domain's mail server in the mail tests: a real SMTP
// server (go-smtp) on its own loopback address, whose answer the test
// switches between accepting, a temporary and a permanent refusal.
type mx struct {
	t    *testing.T
	addr string // ip:port

	mu     sync.Mutex
	srv    *gosmtp.Server
	answer int // 250, 4xx or 5xx at RCPT
	got    []mxMessage
}

type mxMessage struct {
	From string
	To   []string
	Data []byte
}

// newMX reserves addr; the server runs once up() is called.
func newMX(t *testing.T, addr string) *mx {
	m := &mx{t: t, addr: addr, answer: 250}
	t.Cleanup(m.down)
	return m
}

func (m *mx) up() {
	m.t.Helper()
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		m.t.Fatalf("mx %s: %v", m.addr, err)
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &mxSession{m: m}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	go srv.Serve(ln)
}

func (m *mx) down() {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

func (m *mx) setAnswer(code int) {
	m.mu.Lock()
	m.answer = code
	m.mu.Unlock()
}

func (m *mx) messages() []mxMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mxMessage(nil), m.got...)
}

type mxSession struct {
	m    *mx
	from string
	to   []string
}

func (s *mxSession) Reset()        { s.from, s.to = "", nil }
func (s *mxSession) Logout() error { return nil }
func (s *mxSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *mxSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.m.mu.Lock()
	code := s.m.answer
	s.m.mu.Unlock()
	if code != 250 {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 0, 0}, Message: "test receiver says " + strconv.Itoa(code)}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *mxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.got = append(s.m.got, mxMessage{From: s.from, To: s.to, Data: b})
	s.m.mu.Unlock()
	return nil
}

// mailNode is a node with the relay on, two recipient domains whose MX
// records (in a test DNS server) point at two test receivers.
type mailNode struct {
	*node
	relay  string // the relay's address
	dns    *dnstest.DNS
	a, b   *mx    // a.example's and b.example's mail servers
	domain string // the mail domain
}

func startMailNode(t *testing.T, extra ...string) *mailNode {
	t.Helper()
	mxPort := testport.Number(t)
	d := dnstest.Start(t)
	d.SetMX("a.example", dnstest.MX{Pref: 10, Host: "mx.a.example"})
	d.SetMX("b.example", dnstest.MX{Pref: 10, Host: "mx.b.example"})
	d.Set("mx.a.example", "127.0.0.12")
	d.Set("mx.b.example", "127.0.0.13")
	m := &mailNode{dns: d, domain: "mail.test", relay: testport.Addr(t),
		a: newMX(t, "127.0.0.12:"+strconv.Itoa(mxPort)), b: newMX(t, "127.0.0.13:"+strconv.Itoa(mxPort))}
	m.a.up()
	m.b.up()
	args := append([]string{"--platform-domain", domain, "--mail-domain", m.domain, "--mail-hostname", "relay.test",
		"--mail-listen", m.relay, "--mail-allowed-networks", "127.0.0.1/32",
		"--mail-resolvers", d.Addr, "--mail-mx-port", strconv.Itoa(mxPort), "--mail-allow-private-mx"}, extra...)
	m.node = startNode(t, args...)
	m.adminSetup()
	return m
}

// credentials makes the service's SMTP password (shown once).
func (m *mailNode) credentials(service string) rampart.MailCredentials {
	m.t.Helper()
	var c rampart.MailCredentials
	if err := json.Unmarshal([]byte(m.must("", "mail", "credentials", service, "-o", "json")), &c); err != nil {
		m.t.Fatal(err)
	}
	if c.Password == "" {
		m.t.Fatalf("no password in the new credentials: %+v", c)
	}
	return c
}

// relayTLS trusts only the node's internal CA, which certifies the
// relay's name (relay.test) for STARTTLS.
func (m *mailNode) relayTLS() *tls.Config {
	m.t.Helper()
	root, err := os.ReadFile(filepath.Join(m.data, "certs", "internal-ca", "root.crt"))
	if err != nil {
		m.t.Fatalf("reading the internal CA root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		m.t.Fatal("the internal CA root does not parse")
	}
	return &tls.Config{ServerName: "relay.test", RootCAs: pool}
}

// send submits one message as a service would: STARTTLS, AUTH PLAIN.
func (m *mailNode) send(c rampart.MailCredentials, from string, to []string, msg string) error {
	conn, err := net.DialTimeout("tcp", m.relay, 5*time.Second)
	if err != nil {
		return err
	}
	// The client names the relay as its certificate does: net/smtp sends
	// AUTH PLAIN only to the host it was told it is talking to.
	cl, err := smtp.NewClient(conn, "relay.test")
	if err != nil {
		conn.Close()
		return err
	}
	defer cl.Close()
	if err := cl.StartTLS(m.relayTLS()); err != nil {
		return err
	}
	if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, "relay.test")); err != nil {
		return err
	}
	if err := cl.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := cl.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(msg, "\n", "\r\n")); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

func message(from, to, subject, id string) string {
	return fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s@shop.example>\nDate: %s\n\nHello from the shop, %s.\n",
		from, to, subject, id, time.Now().Format(time.RFC1123Z), id)
}

func (m *mailNode) log(service string) []rampart.MailMessage {
	m.t.Helper()
	// -o json prints one message per line, as -f does.
	var msgs []rampart.MailMessage
	dec := json.NewDecoder(strings.NewReader(m.must("", "mail", "log", service, "-o", "json")))
	for dec.More() {
		var msg rampart.MailMessage
		if err := dec.Decode(&msg); err != nil {
			m.t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// TestMailRelay: a service sends through the relay with real clients
// (net/smtp, swaks); the mail reaches both recipient domains' MX hosts
// signed with DKIM that verifies against the records `rampart mail dns`
// shows; wrong senders, strangers and clients without TLS are refused.
func TestMailRelay(t *testing.T) {
	m := startMailNode(t)
	m.must("", "service", "create", "shop", "--upstream", "http://127.0.0.1:9")
	c := m.credentials("shop")
	from := "shop@" + m.domain
	if c.Username != from {
		t.Errorf("username %q, want %q", c.Username, from)
	}

	if err := m.send(c, from, []string{"ann@a.example", "bob@b.example"}, message(from, "ann@a.example, bob@b.example", "Your order", "order-1")); err != nil {
		t.Fatalf("sending: %v", err)
	}
	waitFor(t, "the message at both domains' MX hosts", 20*time.Second, func() bool {
		return len(m.a.messages()) == 1 && len(m.b.messages()) == 1
	})
	got := m.a.messages()[0]
	if got.From != from || len(got.To) != 1 || got.To[0] != "ann@a.example" {
		t.Errorf("a.example got from %q to %v", got.From, got.To)
	}

	// DKIM: both signatures verify against the published records.
	var records []rampart.MailDNSRecord
	if err := json.Unmarshal([]byte(m.must("", "mail", "dns", "-o", "json")), &records); err != nil {
		t.Fatal(err)
	}
	txt := map[string][]string{}
	for _, r := range records {
		txt[r.Name] = append(txt[r.Name], r.Value)
	}
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(got.Data), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if v, ok := txt[strings.TrimSuffix(name, ".")]; ok {
			return v, nil
		}
		return nil, errors.New("no such record: " + name)
	}})
	if err != nil || len(verifications) < 2 {
		t.Fatalf("DKIM: %v, %d signatures", err, len(verifications))
	}
	for _, v := range verifications {
		if v.Err != nil || v.Domain != m.domain {
			t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
		}
	}

	// swaks, AUTH LOGIN after STARTTLS.
	out, err := exec.Command("swaks", "--server", m.relay, "--tls", "--auth", "LOGIN", "--auth-user", c.Username, "--auth-password", c.Password,
		"--from", from, "--to", "cy@a.example", "--header", "From: "+from, "--header", "Subject: swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	waitFor(t, "swaks's message at a.example", 20*time.Second, func() bool { return len(m.a.messages()) == 2 })

	// Another sender: 550 naming the allowed address.
	err = m.send(c, "ceo@bank.example", []string{"ann@a.example"}, message("ceo@bank.example", "ann@a.example", "Wire", "x"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), from) {
		t.Errorf("a forged envelope sender: %v, want 550 naming %s", err, from)
	}
	err = m.send(c, from, []string{"ann@a.example"}, message("ceo@bank.example", "ann@a.example", "Wire", "y"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), from) {
		t.Errorf("a forged From header: %v, want 550 naming %s", err, from)
	}

	// A client from an address outside mail.allowed_networks: 554 at connect.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", m.relay)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	greeting, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.HasPrefix(string(greeting), "554 5.7.1") {
		t.Errorf("a stranger's greeting: %q, want 554 5.7.1", greeting)
	}

	// No TLS: no AUTH, and without AUTH no mail (no open relay).
	cl, err := smtp.Dial(m.relay)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, "127.0.0.1")); err == nil {
		t.Error("AUTH in clear text was accepted")
	}
	cl.Close()
	cl, _ = smtp.Dial(m.relay)
	if err := cl.Mail(from); err == nil || !strings.Contains(err.Error(), "530") {
		t.Errorf("MAIL without AUTH: %v, want 530", err)
	}
	cl.Close()
	bad := c
	bad.Password = "guess"
	if err := m.send(bad, from, []string{"ann@a.example"}, message(from, "ann@a.example", "x", "z")); err == nil || !strings.Contains(err.Error(), "535") {
		t.Errorf("a wrong password: %v, want 535", err)
	}

	// The log: the sent messages with their recipients, and the refusals.
	// The log is written a moment after the reply.
	var sent, refused int
	ok := waitUntil(10*time.Second, func() bool {
		sent, refused = 0, 0
		for _, e := range m.log("shop") {
			switch e.Status {
			case rampart.MailSent:
				sent++
			case rampart.MailRefused:
				refused++
			}
		}
		return sent == 2 && refused >= 2
	})
	if !ok {
		t.Errorf("mail log: %d sent, %d refused; want 2 and at least 2:\n%s", sent, refused, m.must("", "mail", "log", "shop"))
	}
	if out := m.must("", "mail", "show", "shop"); !strings.Contains(out, from) {
		t.Errorf("mail show does not name the address:\n%s", out)
	}
}

// TestMailBounceAndRetry: one domain's server refuses for good, the other
// for now; the first bounces into the log with the remote reply, the second
// is delivered once it recovers, and the recipient that got the message is
// never sent it again.
func TestMailBounceAndRetry(t *testing.T) {
	m := startMailNode(t)
	m.must("", "service", "create", "shop", "--upstream", "http://127.0.0.1:9")
	c := m.credentials("shop")
	from := "shop@" + m.domain
	m.b.setAnswer(550)
	if err := m.send(c, from, []string{"ann@a.example", "bob@b.example"}, message(from, "ann@a.example", "Invoice", "inv-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bounce in the log", 20*time.Second, func() bool {
		for _, e := range m.log("shop") {
			for _, r := range e.Recipients {
				if r.Addr == "bob@b.example" && r.Status == rampart.MailBounced && strings.Contains(r.Reply, "test receiver says 550") {
					return true
				}
			}
		}
		return false
	})
	if n := len(m.a.messages()); n != 1 {
		t.Errorf("a.example got %d messages, want 1", n)
	}

	m.a.setAnswer(451)
	if err := m.send(c, from, []string{"cy@a.example"}, message(from, "cy@a.example", "Later", "later-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deferral in the log", 20*time.Second, func() bool {
		for _, e := range m.log("shop") {
			if e.Status == rampart.MailDeferred {
				return true
			}
		}
		return false
	})
	m.a.setAnswer(250)
	m.must("", "mail", "flush")
	waitFor(t, "the deferred message delivered", 20*time.Second, func() bool { return len(m.a.messages()) == 2 })
	time.Sleep(time.Second)
	if n, nb := len(m.a.messages()), len(m.b.messages()); n != 2 || nb != 0 {
		t.Errorf("a.example got %d messages (want 2), b.example %d (want 0)", n, nb)
	}
}

// TestMailSurvivesKill: rampart is killed with SIGKILL after it said 250
// and before the message could be delivered; after the restart the message
// arrives exactly once.
func TestMailSurvivesKill(t *testing.T) {
	m := startMailNode(t)
	m.must("", "service", "create", "shop", "--upstream", "http://127.0.0.1:9")
	c := m.credentials("shop")
	from := "shop@" + m.domain
	m.a.down() // nothing listens: every attempt fails for now
	if err := m.send(c, from, []string{"ann@a.example"}, message(from, "ann@a.example", "Receipt", "receipt-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed attempt", 20*time.Second, func() bool {
		for _, e := range m.log("shop") {
			if e.Status == rampart.MailDeferred {
				return true
			}
		}
		return false
	})
	m.stop() // SIGKILL
	m.a.up()
	m.start()
	waitFor(t, "the message after the restart", 20*time.Second, func() bool { return len(m.a.messages()) >= 1 })
	time.Sleep(2 * time.Second) // a second delivery would come now
	got := m.a.messages()
	if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("receipt-1@shop.example")) {
		t.Errorf("after the kill: %d messages at a.example, want exactly 1", len(got))
	}
}

// TestMailBulkSuspends: bulk mail is refused and counted; the second
// violation (mail.violations_to_suspend 2) suspends the service's mail until
// an admin lifts it.
func TestMailBulkSuspends(t *testing.T) {
	m := startMailNode(t, "--mail-violations-to-suspend", "2")
	m.must("", "service", "create", "shop", "--upstream", "http://127.0.0.1:9")
	c := m.credentials("shop")
	from := "shop@" + m.domain
	bulk := "List-Unsubscribe: <mailto:stop@shop.example>\n" + message(from, "ann@a.example", "Our newsletter", "news-1")
	for i := range 2 {
		err := m.send(c, from, []string{"ann@a.example"}, bulk)
		if err == nil || !strings.HasPrefix(strings.TrimSpace(err.Error()), "5") || !strings.Contains(strings.ToLower(err.Error()), "bulk") {
			t.Errorf("bulk message %d: %v, want a 5xx that says bulk", i+1, err)
		}
	}
	var s rampart.MailSettings
	waitFor(t, "the suspension", 10*time.Second, func() bool {
		json.Unmarshal([]byte(m.must("", "mail", "show", "shop", "-o", "json")), &s)
		return s.Suspended
	})
	err := m.send(c, from, []string{"ann@a.example"}, message(from, "ann@a.example", "Receipt", "r-1"))
	if err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "suspended") {
		t.Errorf("a suspended service's message: %v, want 550 suspended", err)
	}
	m.must("", "mail", "resume", "shop")
	waitFor(t, "mail resumed", 10*time.Second, func() bool {
		return m.send(c, from, []string{"ann@a.example"}, message(from, "ann@a.example", "Receipt", "r-2")) == nil
	})
	if n := len(m.a.messages()); n > 1 {
		t.Errorf("a.example got %d messages, want at most the one after the resume", n)
	}
}

// waitUntil polls f until it holds or within passes; it reports whether f
// held.
func waitUntil(within time.Duration, f func() bool) bool {
	for end := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
