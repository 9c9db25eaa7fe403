package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/mail/queue"
	"github.com/rampart-dev/rampart/internal/mail/relay"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
	"github.com/rampart-dev/rampart/internal/store"
)

// mailServer is a running node with the relay on, delivering directly to
// rcpt.example, whose MX (in a test DNS server) is a test receiver.
type mailServer struct {
	srv  *Server
	mx   *smtptest.Server
	addr string // the relay
}

func startMailServer(tb testing.TB) *mailServer {
	tb.Helper()
	mx := smtptest.New(tb, smtptest.Options{TLS: mailer.TLSNone})
	return startMailServerTo(tb, mx.Host(), mx.Port(), mx)
}

// startMailServerTo is startMailServer with rcpt.example's MX at
// host:port; mx may be nil.
func startMailServerTo(tb testing.TB, host string, port int, mx *smtptest.Server) *mailServer {
	tb.Helper()
	d := dnstest.Start(tb)
	d.SetMX("rcpt.example", dnstest.MX{Pref: 10, Host: "mx.rcpt.example"})
	d.Set("mx.rcpt.example", host)

	cfg := config.Default()
	cfg.Data = tb.TempDir()
	cfg.AdminAddr, cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Node.PublicIPs = []string{"127.0.0.1"}
	cfg.Platform.Domain = "apps.localhost"
	cfg.Mail.Domain, cfg.Mail.Hostname = "mail.test", "relay.test"
	cfg.Mail.Listen, cfg.Mail.AllowedNetworks = []string{"127.0.0.1:0"}, []string{"127.0.0.0/8"}
	cfg.Mail.Resolvers, cfg.Mail.MXPort, cfg.Mail.AllowPrivateMX = []string{d.Addr}, port, true
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return &mailServer{srv: srv, mx: mx, addr: srv.mail.lns[0].Addr().String()}
}

// service creates a service with SMTP credentials and the given quota.
func (m *mailServer) service(tb testing.TB, name string, perHour int) rampart.MailCredentials {
	tb.Helper()
	ctx, op := context.Background(), app.OperatorActor()
	if _, err := m.srv.app.Accounts.Create(ctx, op, rampart.UserInput{Email: "admin@example.com", Password: "correct horse battery", Role: rampart.RoleAdmin}); err != nil && rampart.ErrorCode(err) != rampart.ECONFLICT {
		tb.Fatal(err)
	}
	if _, err := m.srv.app.Services.Create(ctx, op, rampart.ServiceInput{Name: name, Upstreams: []string{"http://127.0.0.1:9"}}); err != nil {
		tb.Fatal(err)
	}
	if err := m.srv.app.Mail.SetQuota(ctx, op, name, perHour); err != nil {
		tb.Fatal(err)
	}
	c, _, err := m.srv.app.Mail.Credentials(ctx, op, name, false)
	if err != nil {
		tb.Fatal(err)
	}
	// The relay learns of the new account from the reconciler.
	if err := m.srv.mail.syncAccounts(ctx); err != nil {
		tb.Fatal(err)
	}
	return *c
}

// submit opens an authenticated submission session.
func (m *mailServer) submit(tb testing.TB, c rampart.MailCredentials) *smtp.Client {
	return m.submitFrom(tb, c, "127.0.0.1")
}

// submitFrom is submit from a given loopback address: the relay takes at
// most 10 connections per client address.
func (m *mailServer) submitFrom(tb testing.TB, c rampart.MailCredentials, src string) *smtp.Client {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.Dial("tcp", m.addr)
	if err != nil {
		tb.Fatal(err)
	}
	cl, err := smtp.NewClient(conn, "relay.test")
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(m.srv.certs.InternalRootPEM())
	if err := cl.StartTLS(&tls.Config{ServerName: "relay.test", RootCAs: roots}); err != nil {
		tb.Fatal(err)
	}
	if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, "relay.test")); err != nil {
		tb.Fatal(err)
	}
	return cl
}

func sendOne(cl *smtp.Client, from, to, body string) error {
	if err := cl.Mail(from); err != nil {
		return err
	}
	if err := cl.Rcpt(to); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: %s\r\nTo: %s\r\nSubject: Your receipt\r\n\r\n%s\r\n", from, to, body)
	return w.Close()
}

// TestPlatformMailThroughRelay: with the relay on, the platform's own mail
// (login codes, notices) goes through its queue, DKIM-signed for the mail
// domain, to the recipient's MX host.
func TestPlatformMailThroughRelay(t *testing.T) {
	m := startMailServer(t)
	pm := queueMailer{m: m.srv.mail, conf: mailer.Config{From: platformFrom(m.srv.cfg)}}
	if err := pm.Send(t.Context(), mailer.Message{To: "ada@rcpt.example", Subject: "Your login code", Text: "123456"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	got, err := m.mx.WaitFor(ctx, "ada@rcpt.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.From != "rampart@mail.test" || !strings.Contains(got.Text, "123456") {
		t.Errorf("got from %q: %q", got.From, got.Text)
	}
	recs, err := m.srv.mail.DNS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	verifyDKIM(t, got.Raw, recs, "mail.test")
}

func verifyDKIM(t *testing.T, raw []byte, recs []rampart.MailDNSRecord, domain string) {
	t.Helper()
	txt := map[string][]string{}
	for _, r := range recs {
		txt[r.Name] = append(txt[r.Name], r.Value)
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(raw), &msgdkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
		if v, ok := txt[strings.TrimSuffix(name, ".")]; ok {
			return v, nil
		}
		return nil, errors.New("no record " + name)
	}})
	if err != nil || len(vs) != 2 {
		t.Fatalf("DKIM: %v, %d signatures, want 2 (ed25519 and rsa)", err, len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != domain {
			t.Errorf("signature of %s: %v", v.Domain, v.Err)
		}
	}
}

// TestRelayMetrics: queue depth, the oldest message's age and outcomes are
// on /metrics.
func TestRelayMetrics(t *testing.T) {
	m := startMailServer(t)
	c := m.service(t, "shop", 0)
	cl := m.submit(t, c)
	if err := sendOne(cl, c.Username, "bo@rcpt.example", "metrics"); err != nil {
		t.Fatal(err)
	}
	cl.Quit()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := m.mx.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var body string
	for range 100 {
		resp, err := httpGet("http://" + m.srv.AdminAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body = resp
		if strings.Contains(body, `rampart_mail_messages_total{outcome="sent"} 1`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{`rampart_mail_messages_total{outcome="accepted"} 1`, `rampart_mail_messages_total{outcome="sent"} 1`,
		"rampart_mail_queue_depth 0", "rampart_mail_queue_oldest_seconds 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMailLogAfterRestart: an outcome that arrives after a restart, for a
// message the log stored before it, completes the stored row: recipients
// the outcome is not about keep their status.
func TestMailLogAfterRestart(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, store.DefaultDSN(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := app.New(db, app.Options{})
	if _, err := a.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: "admin@example.com", Password: "correct horse battery", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	svc, err := a.Services.Create(ctx, app.OperatorActor(), rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(f func(l *mailLog)) {
		l := newMailLog(db, log)
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { l.run(lctx); close(done) }()
		f(l)
		cancel()
		<-done
	}
	env := relay.Envelope{Service: "shop", From: "shop@mail.test", To: []string{"a@x.example", "b@y.example"}}
	run(func(l *mailLog) {
		l.accepted(svc.ID, "shop", "q1", env, 1200, "abc")
		l.delivery(svc.ID, queue.Event{ID: "q1", Service: "shop", Kind: queue.EventDeferred, At: time.Now(),
			Recipients: []queue.Recipient{{Addr: "b@y.example", State: queue.Pending, Code: 451, Reply: "451 later"}}})
	})
	// The restart: a new writer that knows nothing of q1.
	run(func(l *mailLog) {
		l.delivery(svc.ID, queue.Event{ID: "q1", Service: "shop", Kind: queue.EventSent, At: time.Now(),
			Recipients: []queue.Recipient{{Addr: "a@x.example", State: queue.Sent, Code: 250, Reply: "250 ok"}}})
	})
	rows, err := db.ListMailMessages(ctx, svc.ID, 0, 10)
	if err != nil || len(rows) != 1 {
		t.Fatalf("rows %d, %v; want 1", len(rows), err)
	}
	r := rows[0]
	st := map[string]rampart.MailStatus{}
	for _, rc := range r.Recipients {
		st[rc.Addr] = rc.Status
	}
	if st["a@x.example"] != rampart.MailSent || st["b@y.example"] != rampart.MailDeferred || r.Status != rampart.MailDeferred || r.Size != 1200 {
		t.Errorf("after the restart: %+v", r)
	}
}

// BenchmarkRelayAccept: messages per second accepted into the durable
// queue through SMTP (STARTTLS, AUTH, checks, DKIM signing with both keys,
// fsync, the log) with 1, 8 and 64 concurrent clients. The recipients'
// MX takes connections and never answers, so that delivery holds its
// workers without taking CPU from acceptance.
func BenchmarkRelayAccept(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		for _, c := range held {
			c.Close()
		}
	})
	m := startMailServerTo(b, "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, nil)
	c := m.service(b, "shop", rampart.MaxMailPerHour)
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			m.sendMany(b, c, clients, fmt.Sprint(clients))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// sendMany sends b.N messages over the given number of connections, each
// with its own body (the same body to many is bulk).
func (m *mailServer) sendMany(b *testing.B, c rampart.MailCredentials, clients int, tag string) {
	conns := make([]*smtp.Client, clients)
	for i := range conns {
		conns[i] = m.submitFrom(b, c, fmt.Sprintf("127.0.1.%d", 1+i/8))
	}
	defer func() {
		for _, cl := range conns {
			cl.Quit()
		}
	}()
	b.ResetTimer()
	var wg sync.WaitGroup
	var next atomic.Int64
	for i := range clients {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				if err := sendOne(conns[i], c.Username, "bo@rcpt.example", fmt.Sprintf("receipt %s-%d", tag, n)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkRelayEndToEnd: messages per second from submission (STARTTLS,
// AUTH, one message after another on each connection) through the queue,
// DKIM signing and direct delivery to a local receiver, with 1, 8 and 64
// concurrent clients. The clock stops when the receiver has them all.
func BenchmarkRelayEndToEnd(b *testing.B) {
	m := startMailServer(b)
	c := m.service(b, "shop", rampart.MaxMailPerHour)
	sent := 0
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			start := time.Now()
			m.sendMany(b, c, clients, fmt.Sprint(clients))
			accepted := time.Since(start)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := m.mx.Wait(ctx, sent+b.N); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			sent += b.N
			b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "delivered/s")
		})
	}
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestRelayFirewall: the firewall opens the relay's ports beyond loopback to
// its allowed networks beyond loopback, and nothing when it has neither.
func TestRelayFirewall(t *testing.T) {
	cfg := config.Default()
	cfg.Mail.Domain = "mail.test"
	cfg.Mail.Listen = []string{"127.0.0.1:587", "10.1.2.3:2525", "10.1.2.4:2525"}
	cfg.Mail.AllowedNetworks = []string{"127.0.0.0/8", "10.1.0.0/16"}
	ports, sources := relayFirewall(cfg)
	if fmt.Sprint(ports) != "[2525]" || fmt.Sprint(sources) != "[10.1.0.0/16]" {
		t.Errorf("ports %v sources %v; want [2525] [10.1.0.0/16]", ports, sources)
	}
	cfg.Mail.Listen = []string{"127.0.0.1:587"}
	if ports, sources := relayFirewall(cfg); ports != nil || sources != nil {
		t.Errorf("loopback only: %v %v", ports, sources)
	}
	cfg.Mail.Domain = ""
	if ports, _ := relayFirewall(cfg); ports != nil {
		t.Errorf("relay off: %v", ports)
	}
}
