package mailer_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
)

const from = "rampart@example.com"

func newSMTP(t *testing.T, c mailer.Config) *mailer.SMTP {
	t.Helper()
	m, err := mailer.NewSMTP(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSendModes(t *testing.T) {
	for _, mode := range []mailer.TLSMode{mailer.TLSNone, mailer.TLSStartTLS, mailer.TLSImplicit} {
		for _, auth := range []bool{false, true} {
			name := string(mode)
			o := smtptest.Options{TLS: mode}
			if auth {
				name += "+auth"
				o.Username, o.Password = "relay", "s3cret pass"
			}
			t.Run(name, func(t *testing.T) {
				srv := smtptest.New(t, o)
				m := newSMTP(t, srv.Config(from))
				msg := mailer.Message{To: "alice@example.org", Subject: "Your login code", Text: "Your code is 123456.\nIt expires in 10 minutes."}
				if err := m.Send(context.Background(), msg); err != nil {
					t.Fatal(err)
				}
				got := srv.Messages()
				if len(got) != 1 {
					t.Fatalf("received %d messages, want 1", len(got))
				}
				r := got[0]
				if r.From != from || len(r.To) != 1 || r.To[0] != msg.To {
					t.Errorf("envelope %s -> %v, want %s -> [%s]", r.From, r.To, from, msg.To)
				}
				if r.Subject != msg.Subject || r.Text != msg.Text+"\n" {
					t.Errorf("got subject %q text %q", r.Subject, r.Text)
				}
				if c := smtptest.Code(r.Text); c != "123456" {
					t.Errorf("Code = %q", c)
				}
				raw := string(r.Raw)
				for _, h := range []string{
					"From: " + from + "\r\n", "To: " + msg.To + "\r\n", "MIME-Version: 1.0\r\n",
					"Content-Type: text/plain; charset=utf-8\r\n", "Content-Transfer-Encoding: quoted-printable\r\n",
					"@example.com>\r\n", "Date: ",
				} {
					if !strings.Contains(raw, h) {
						t.Errorf("raw message lacks %q:\n%s", h, raw)
					}
				}
				if strings.Contains(strings.ReplaceAll(raw, "\r\n", ""), "\n") {
					t.Errorf("raw message has a bare LF:\n%q", raw)
				}
			})
		}
	}
}

// The receiver in plain mode does not offer STARTTLS: the mailer must give
// up rather than send in clear text.
func TestStartTLSRequired(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSNone})
	c := srv.Config(from)
	c.SMTP.TLS = mailer.TLSStartTLS
	err := newSMTP(t, c).Send(context.Background(), mailer.Message{To: "a@example.org", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("err = %v, want a refusal naming STARTTLS and the server", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages went through in clear text", n)
	}
}

func TestWrongCertificateRefused(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSImplicit})
	c := srv.Config(from)
	c.SMTP.RootCAs = nil // the system's roots do not know the receiver
	err := newSMTP(t, c).Send(context.Background(), mailer.Message{To: "a@example.org", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("err = %v, want a TLS handshake failure", err)
	}
}

func TestServerName(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSStartTLS})
	msg := mailer.Message{To: "a@example.org", Subject: "s", Text: "t"}
	c := srv.Config(from)
	c.SMTP.ServerName = "localhost"
	if err := newSMTP(t, c).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	c.SMTP.ServerName = "smtp.example.com"
	if err := newSMTP(t, c).Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "smtp.example.com") {
		t.Fatalf("err = %v, want a certificate not valid for smtp.example.com", err)
	}
}

func TestAuthNotOffered(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSImplicit})
	c := srv.Config(from)
	c.SMTP.Username, c.SMTP.Password = "relay", "secret"
	err := newSMTP(t, c).Send(context.Background(), mailer.Message{To: "a@example.org", Subject: "s", Text: "t"})
	if err == nil || !strings.Contains(err.Error(), ": AUTH: the server does not offer AUTH PLAIN") {
		t.Fatalf("err = %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSStartTLS, Username: "relay", Password: "right"})
	c := srv.Config(from)
	c.SMTP.Password = "wrong"
	err := newSMTP(t, c).Send(context.Background(), mailer.Message{To: "a@example.org", Subject: "s", Text: "t"})
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 || !strings.Contains(err.Error(), ": AUTH: 535 5.7.8 ") {
		t.Fatalf("err = %v, want AUTH refused with 535", err)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("a message went through without authentication")
	}
}

func TestPasswordFile(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSImplicit, Username: "relay", Password: "from a file"})
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := srv.Config(from)
	c.SMTP.Password, c.SMTP.PasswordFile = "", f
	if err := newSMTP(t, c).Send(context.Background(), mailer.Message{To: "a@example.org", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	c.SMTP.PasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := mailer.NewSMTP(c); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("missing password file: err = %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{})
	m := newSMTP(t, srv.Config(from))
	big := mailer.Message{To: "a@example.org", Subject: "big", Text: strings.Repeat("x", smtptest.MaxMessageBytes)}
	err := m.Send(context.Background(), big)
	if err == nil || !strings.Contains(err.Error(), ": DATA: 552 ") {
		t.Fatalf("err = %v, want DATA refused with 552", err)
	}
}

// Check is the only guard against header injection: Send must apply it.
func TestHeaderInjectionRefused(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{})
	m := newSMTP(t, srv.Config(from))
	for _, msg := range []mailer.Message{
		{To: "a@example.org", Subject: "hi\r\nBcc: victim@example.org", Text: "t"},
		{To: "a@example.org\r\nBcc: victim@example.org", Subject: "hi", Text: "t"},
		{To: "a@example.org, b@example.org", Subject: "hi", Text: "t"},
		{To: "Alice <a@example.org>", Subject: "hi", Text: "t"},
	} {
		if err := m.Send(context.Background(), msg); err == nil {
			t.Errorf("Send(%q) succeeded", msg)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages went through", n)
	}
}

func TestNonASCIIRoundTrip(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: mailer.TLSStartTLS})
	m := newSMTP(t, srv.Config(from))
	msg := mailer.Message{
		To:      "zoe@example.org",
		Subject: "Code de connexion : 654321 — « Zoë » " + strings.Repeat("très long ", 20),
		Text:    "Bonjour Zoë,\r\nvotre code : 654321.\n\n.\nUne ligne = " + strings.Repeat("é", 100) + "\n",
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	r, err := srv.WaitFor(context.Background(), msg.To)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != msg.Subject {
		t.Errorf("subject %q, want %q", r.Subject, msg.Subject)
	}
	if want := strings.ReplaceAll(msg.Text, "\r\n", "\n"); r.Text != want {
		t.Errorf("text %q, want %q", r.Text, want)
	}
	// Encoded words are up to 75 bytes, so "Subject: " and the first word
	// may pass the recommended 78; all lines must stay far below 998.
	for i, line := range strings.Split(string(r.Raw), "\r\n") {
		if len(line) > 90 {
			t.Errorf("line %d is %d bytes long: %q", i, len(line), line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("line %d is not 7-bit: %q", i, line)
			}
		}
	}
}

// silent accepts connections and never answers, like a server behind a
// black-holing firewall.
func silent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestSilentServer(t *testing.T) {
	host, port, _ := net.SplitHostPort(silent(t))
	p, _ := net.LookupPort("tcp", port)
	msg := mailer.Message{To: "a@example.org", Subject: "s", Text: "t"}
	for _, mode := range []mailer.TLSMode{mailer.TLSNone, mailer.TLSStartTLS, mailer.TLSImplicit} {
		c := mailer.Config{From: from, SMTP: mailer.SMTPConfig{Host: host, Port: p, TLS: mode}}

		t.Run(string(mode)+"/timeout", func(t *testing.T) {
			c := c
			c.SMTP.Timeout = 100 * time.Millisecond
			err := within(t, func() error { return newSMTP(t, c).Send(context.Background(), msg) })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want the deadline", err)
			}
		})
		t.Run(string(mode)+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			err := within(t, func() error { return newSMTP(t, c).Send(ctx, msg) })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want cancellation", err)
			}
		})
	}
}

// within fails the test if f has not returned long after the 100ms it was
// given: the bound only detects a hang, it does not measure speed.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its deadline")
		return nil
	}
}

func TestValidate(t *testing.T) {
	ok := mailer.Config{From: from, SMTP: mailer.SMTPConfig{Host: "smtp.example.com"}}
	tests := []struct {
		name string
		edit func(c *mailer.Config)
		want string // in the error; "" for valid
	}{
		{"defaults", func(c *mailer.Config) {}, ""},
		{"auth over starttls", func(c *mailer.Config) { c.SMTP.Username, c.SMTP.Password = "u", "p" }, ""},
		{"auth over tls", func(c *mailer.Config) { c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = mailer.TLSImplicit, "u", "p" }, ""},
		{"auth in clear to loopback", func(c *mailer.Config) {
			c.SMTP.Host, c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = "127.0.0.1", mailer.TLSNone, "u", "p"
		}, ""},
		{"auth in clear to localhost", func(c *mailer.Config) {
			c.SMTP.Host, c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = "localhost", mailer.TLSNone, "u", "p"
		}, ""},
		{"auth in clear to ::1", func(c *mailer.Config) {
			c.SMTP.Host, c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = "::1", mailer.TLSNone, "u", "p"
		}, ""},
		{"ipv6 host", func(c *mailer.Config) { c.SMTP.Host = "2001:db8::25" }, ""},
		{"port", func(c *mailer.Config) { c.SMTP.Port = 2525 }, ""},

		{"no from", func(c *mailer.Config) { c.From = "" }, "mail.from"},
		{"from with name", func(c *mailer.Config) { c.From = "Rampart <rampart@example.com>" }, "without a display name"},
		{"two froms", func(c *mailer.Config) { c.From = "a@example.com, b@example.com" }, "one plain address"},
		{"from without domain", func(c *mailer.Config) { c.From = "rampart" }, "mail.from"},
		{"no host", func(c *mailer.Config) { c.SMTP.Host = "" }, "mail.smtp.host is required"},
		{"host with port", func(c *mailer.Config) { c.SMTP.Host = "smtp.example.com:587" }, "mail.smtp.port"},
		{"host as url", func(c *mailer.Config) { c.SMTP.Host = "smtp://smtp.example.com" }, "bare host name"},
		{"port too big", func(c *mailer.Config) { c.SMTP.Port = 65536 }, "1 to 65535"},
		{"negative port", func(c *mailer.Config) { c.SMTP.Port = -1 }, "1 to 65535"},
		{"unknown tls", func(c *mailer.Config) { c.SMTP.TLS = "ssl" }, `mail.smtp.tls "ssl" is unknown`},
		{"two passwords", func(c *mailer.Config) { c.SMTP.Username, c.SMTP.Password, c.SMTP.PasswordFile = "u", "p", "/f" }, "keep one"},
		{"username without password", func(c *mailer.Config) { c.SMTP.Username = "u" }, "without a password"},
		{"password without username", func(c *mailer.Config) { c.SMTP.Password = "p" }, "without mail.smtp.username"},
		{"auth in clear over the network", func(c *mailer.Config) { c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = mailer.TLSNone, "u", "p" }, "clear text"},
		{"auth in clear to a name resolving anywhere", func(c *mailer.Config) {
			c.SMTP.Host, c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = "localhost.example.com", mailer.TLSNone, "u", "p"
		}, "clear text"},
		{"negative timeout", func(c *mailer.Config) { c.SMTP.Timeout = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if _, nerr := mailer.NewSMTP(c); (nerr == nil) != (err == nil) {
				t.Fatalf("NewSMTP err = %v, Validate err = %v", nerr, err)
			}
		})
	}
}
