package relay

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestNetSMTPStartTLSPlain(t *testing.T) {
	h := start(t, nil)
	c, err := smtp.Dial(h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "shop", testPassword, "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("shop@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@elsewhere.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "From: Shop <shop@EXAMPLE.org>\nSubject: your order\n\nThanks!\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if h.q.count() != 1 {
		t.Fatalf("queued %d messages, want 1", h.q.count())
	}
	env, msg := h.q.envs[0], string(h.q.msgs[0])
	if env.Service != "shop" || env.From != "shop@example.org" || len(env.To) != 1 || env.To[0] != "alice@elsewhere.test" {
		t.Errorf("envelope %+v", env)
	}
	if !strings.HasPrefix(msg, "Received: from client") && !strings.HasPrefix(msg, "Received: from localhost") {
		t.Errorf("message does not start with Received: %q", msg[:min(80, len(msg))])
	}
	contains(t, msg, "with ESMTPSA", "\r\nDate: ", "\r\nMessage-ID: <", "@example.org>", "\r\nSubject: your order\r\n\r\nThanks!\r\n")
	if strings.Contains(msg, "\n") && strings.Count(msg, "\n") != strings.Count(msg, "\r\n") {
		t.Error("message has bare LF line endings")
	}
	used, limit, resumes := h.r.Usage("shop")
	if used != 1 || limit != 300 || !resumes.Equal(h.clock.Now().Add(time.Hour)) {
		t.Errorf("Usage = %d, %d, %v", used, limit, resumes)
	}
	if len(h.ev.accepted) != 1 || h.ev.accepted[0] != "shop Q1" {
		t.Errorf("accepted events %v", h.ev.accepted)
	}
}

func TestReplyNamesQueueID(t *testing.T) {
	h := start(t, nil)
	c := h.login(t, "shop")
	stage, code, text := c.send("shop@example.org", []string{"a@elsewhere.test"}, message("shop@example.org", "hi", "", "body"))
	if stage != "data" || code != 250 || text != "2.0.0 queued as Q1" {
		t.Fatalf("%s: %d %s", stage, code, text)
	}
}

func TestSwaks(t *testing.T) {
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Fatal("swaks is required for this test (Debian package swaks)")
	}
	h := start(t, nil)
	run := func(args ...string) (string, error) {
		base := []string{"--server", "127.0.0.1", "--port", h.port, "--from", "shop@example.org",
			"--to", "bob@elsewhere.test", "--header", "From: shop@example.org", "--timeout", "10"}
		out, err := exec.Command("swaks", append(base, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Run("login", func(t *testing.T) {
		out, err := run("--tls", "--auth", "LOGIN", "--auth-user", "shop", "--auth-password", testPassword)
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		contains(t, out, "235 2.0.0", "250 2.0.0 queued as Q")
	})
	t.Run("bad password", func(t *testing.T) {
		out, err := run("--tls", "--auth", "LOGIN", "--auth-user", "shop", "--auth-password", "wrong")
		if err == nil {
			t.Fatalf("swaks succeeded with a wrong password:\n%s", out)
		}
		contains(t, out, "535 5.7.8")
	})
	t.Run("AUTH without TLS", func(t *testing.T) {
		out, err := run("--auth", "LOGIN", "--auth-user", "shop", "--auth-password", testPassword)
		if err == nil {
			t.Fatalf("swaks authenticated without TLS:\n%s", out)
		}
		if strings.Contains(out, "235 ") || strings.Contains(out, "queued as") {
			t.Errorf("accepted without TLS:\n%s", out)
		}
	})
	t.Run("not allowed address", func(t *testing.T) {
		out, err := run("--local-interface", "127.0.0.2")
		if err == nil {
			t.Fatalf("swaks succeeded from 127.0.0.2:\n%s", out)
		}
		contains(t, out, "554 5.7.1")
	})
	if h.q.count() != 1 {
		t.Errorf("queued %d, want 1 (only the LOGIN run)", h.q.count())
	}
}

func TestRefusedAtConnect(t *testing.T) {
	h := start(t, nil)
	c := h.dial(t, "127.0.0.2")
	if !strings.HasPrefix(c.greeting, "554 5.7.1") || !strings.Contains(c.greeting, "127.0.0.2") {
		t.Fatalf("greeting %q, want 554 5.7.1 naming the peer", c.greeting)
	}
	if code, _ := c.do("EHLO x"); code != 0 {
		t.Errorf("connection still answers after refusal: %d", code)
	}
}

func TestConnectionLimits(t *testing.T) {
	h := start(t, func(c *Config) { c.MaxConnectionsPerIP = 1 })
	first := h.dial(t, "")
	if !strings.HasPrefix(first.greeting, "220 ") {
		t.Fatalf("first greeting %q", first.greeting)
	}
	second := h.dial(t, "")
	if !strings.HasPrefix(second.greeting, "421 4.7.0") {
		t.Fatalf("second greeting %q, want 421", second.greeting)
	}
	first.must("QUIT", 221)
	first.c.Close()
	// The slot is released when the server closes its side; retry until then
	// (bounded by attempts, not time).
	for i := 0; ; i++ {
		third := h.dial(t, "")
		if strings.HasPrefix(third.greeting, "220 ") {
			break
		}
		if i > 1000 {
			t.Fatalf("slot never released: %q", third.greeting)
		}
	}
}

func TestAuth(t *testing.T) {
	h := start(t, nil)
	t.Run("not offered or accepted before STARTTLS", func(t *testing.T) {
		c := h.dial(t, "")
		if msg := c.must("EHLO client.test", 250); strings.Contains(msg, "AUTH") {
			t.Errorf("AUTH offered without TLS: %q", msg)
		}
		if code, msg := c.do("AUTH PLAIN " + plain("shop", testPassword)); code < 500 {
			t.Errorf("AUTH without TLS: %d %s", code, msg)
		}
		if code, _ := c.do("MAIL FROM:<shop@example.org>"); code != 530 {
			t.Errorf("MAIL after refused AUTH: %d, want 530", code)
		}
	})
	cases := []struct {
		name, line string
		want       int
	}{
		{"plain bad password", "AUTH PLAIN " + plain("shop", "nope"), 535},
		{"plain unknown service", "AUTH PLAIN " + plain("nobody", testPassword), 535},
		{"plain other identity", "AUTH PLAIN " + b64("blog\x00shop\x00"+testPassword), 535},
		{"plain the address", "AUTH PLAIN " + plain("shop@EXAMPLE.org", testPassword), 235},
		{"plain the address as identity", "AUTH PLAIN " + b64("shop@example.org\x00shop\x00"+testPassword), 235},
		{"plain another domain's address", "AUTH PLAIN " + plain("shop@example.com", testPassword), 535},
		{"plain garbage", "AUTH PLAIN " + b64("no-nuls"), 454},
		{"bad base64", "AUTH PLAIN !!!", 454},
		{"unknown mechanism", "AUTH CRAM-MD5", 504},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.dial(t, "")
			c.startTLS()
			if code, msg := c.do(tc.line); code != tc.want {
				t.Errorf("got %d %s, want %d", code, msg, tc.want)
			}
		})
	}
	t.Run("login", func(t *testing.T) {
		c := h.dial(t, "")
		c.startTLS()
		if code, msg := c.do("AUTH LOGIN"); code != 334 || msg != b64("Username:") {
			t.Fatalf("%d %s", code, msg)
		}
		c.must(b64("shop"), 334)
		c.must(b64(testPassword), 235)
		if stage, code, text := c.send("shop@example.org", []string{"x@elsewhere.test"}, message("shop@example.org", "s", "", "b")); code != 250 {
			t.Errorf("%s: %d %s", stage, code, text)
		}
	})
}

func TestAuthFailuresThrottled(t *testing.T) {
	h := start(t, nil)
	c := h.dial(t, "")
	c.startTLS()
	for i := range authFailLimit - 1 {
		if code, _ := c.do("AUTH PLAIN " + plain("shop", "guess")); code != 535 {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	if code, msg := c.do("AUTH PLAIN " + plain("shop", "guess")); code != 421 {
		t.Fatalf("failure %d: %d %s, want 421", authFailLimit, code, msg)
	}
	if code, _ := c.do("NOOP"); code != 0 {
		t.Errorf("connection still open after 421: %d", code)
	}
	// A new connection from the same address cannot even try the right password.
	c2 := h.dial(t, "")
	c2.startTLS()
	if code, _ := c2.do("AUTH PLAIN " + plain("shop", testPassword)); code != 421 {
		t.Errorf("throttled address got %d", code)
	}
	h.clock.Add(authFailWindow + time.Second)
	c3 := h.dial(t, "")
	c3.startTLS()
	c3.must("AUTH PLAIN "+plain("shop", testPassword), 235)
}

func TestTransactionRefusals(t *testing.T) {
	const me = "shop@example.org"
	ok := message(me, "ok", "", "body")
	cases := []struct {
		name      string
		mod       func(*Config)
		noAuth    bool
		service   string
		from      string
		to        []string
		msg       string
		stage     string
		code      int
		text      []string
		violation bool
	}{
		{name: "open relay", noAuth: true, from: "anyone@elsewhere.test", to: []string{"victim@elsewhere.test"}, msg: ok,
			stage: "mail", code: 530, text: []string{"5.7.0 authentication required"}},
		{name: "unauthenticated own domain", noAuth: true, from: me, to: []string{"a@elsewhere.test"}, msg: ok,
			stage: "mail", code: 530},
		{name: "wrong envelope sender", from: "admin@example.org", to: []string{"a@elsewhere.test"}, msg: ok,
			stage: "mail", code: 550, text: []string{"5.7.1", "<shop@example.org>"}},
		{name: "other domain", from: "shop@example.org.evil.test", to: []string{"a@elsewhere.test"}, msg: ok,
			stage: "mail", code: 550, text: []string{"<shop@example.org>"}},
		{name: "null sender", from: "", to: []string{"a@elsewhere.test"}, msg: ok, stage: "mail", code: 550},
		{name: "wrong From header", from: me, to: []string{"a@elsewhere.test"}, msg: message("ceo@example.org", "s", "", "b"),
			stage: "data", code: 550, text: []string{"5.7.1", "From header", "shop@example.org"}},
		{name: "two From addresses", from: me, to: []string{"a@elsewhere.test"}, msg: message(me+", ceo@example.org", "s", "", "b"),
			stage: "data", code: 550, text: []string{"From header", "2 addresses"}},
		{name: "two From fields", from: me, to: []string{"a@elsewhere.test"}, msg: message(me, "s", "From: ceo@example.org\r\n", "b"),
			stage: "data", code: 550, text: []string{"From header", "appears 2 times"}},
		{name: "no From", from: me, to: []string{"a@elsewhere.test"}, msg: "Subject: x\r\n\r\nbody\r\n",
			stage: "data", code: 550, text: []string{"no From header", me}},
		{name: "foreign Sender", from: me, to: []string{"a@elsewhere.test"}, msg: message(me, "s", "Sender: ceo@example.org\r\n", "b"),
			stage: "data", code: 550, text: []string{"Sender header", me}},
		{name: "no header block", from: me, to: []string{"a@elsewhere.test"}, msg: "just text without any header",
			stage: "data", code: 550, text: []string{"5.6.0"}},
		{name: "malformed header", from: me, to: []string{"a@elsewhere.test"}, msg: "From " + me + "\r\n\r\nbody\r\n",
			stage: "data", code: 550, text: []string{"5.6.0"}},
		{name: "suspended", service: "blog", from: "blog@example.org", to: []string{"a@elsewhere.test"}, msg: ok,
			stage: "mail", code: 550, text: []string{"suspended", "3 bulk-mail violations", "admin must lift"}},
		{name: "too large", mod: func(c *Config) { c.MaxMessageBytes = 2000 }, from: me, to: []string{"a@elsewhere.test"},
			msg: message(me, "s", "", strings.Repeat(strings.Repeat("x", 70)+"\r\n", 50)), stage: "data", code: 552},
		{name: "endless line", from: me, to: []string{"a@elsewhere.test"},
			msg: message(me, "s", "", strings.Repeat("x", 5000)), stage: "data", code: 500, text: []string{"longer than 2000"}},
		{name: "too many recipients", mod: func(c *Config) { c.MaxRecipients = 3 }, from: me, to: rcpts(4), msg: ok,
			stage: "rcpt", code: 452},
		{name: "List-Unsubscribe", from: me, to: []string{"a@elsewhere.test"}, msg: message(me, "news", "List-Unsubscribe: <mailto:u@example.org>\r\n", "b"),
			stage: "data", code: 550, text: []string{"bulk", "List-Unsubscribe"}, violation: true},
		{name: "Precedence bulk", from: me, to: []string{"a@elsewhere.test"}, msg: message(me, "news", "Precedence:  Bulk \r\n", "b"),
			stage: "data", code: 550, text: []string{"bulk", "Precedence"}, violation: true},
		{name: "Precedence junk", from: me, to: []string{"a@elsewhere.test"}, msg: message(me, "news", "precedence: junk\r\n", "b"),
			stage: "data", code: 550, violation: true},
		{name: "bulk recipients", mod: func(c *Config) { c.BulkRecipients = 2 }, from: me, to: rcpts(3), msg: ok,
			stage: "data", code: 550, text: []string{"bulk", "3 recipients"}, violation: true},
		{name: "huge header block", from: me, to: []string{"a@elsewhere.test"},
			msg: message(me, "s", strings.Repeat("X-Pad: "+strings.Repeat("y", 900)+"\r\n", 80), "b"), stage: "data", code: 552},
		{name: "too many header fields", from: me, to: []string{"a@elsewhere.test"},
			msg: message(me, "s", strings.Repeat("X-A: b\r\n", maxHeaderFields+1), "b"), stage: "data", code: 552},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.mod)
			var c *client
			if tc.noAuth {
				c = h.dial(t, "")
				c.must("EHLO client.test", 250)
			} else {
				svc := tc.service
				if svc == "" {
					svc = "shop"
				}
				c = h.login(t, svc)
			}
			stage, code, text := c.send(tc.from, tc.to, tc.msg)
			if stage != tc.stage || code != tc.code {
				t.Fatalf("got %s %d %s, want %s %d", stage, code, text, tc.stage, tc.code)
			}
			contains(t, text, tc.text...)
			if got := h.ev.nViolations(); (got > 0) != tc.violation {
				t.Errorf("violations %v", h.ev.violations)
			}
			if h.q.count() != 0 {
				t.Errorf("a refused message was queued")
			}
			if len(h.ev.refused) == 0 && tc.code != 452 && tc.code != 552 {
				t.Errorf("no Refused event")
			}
			// The session stays usable for a proper message.
			if tc.stage != "mail" || tc.code != 530 {
				c.do("RSET")
			}
		})
	}
}

func TestSameBody(t *testing.T) {
	h := start(t, func(c *Config) { c.SameBodyLimit = 3 })
	c := h.login(t, "shop")
	body := "Dear customer,\r\nour   big sale starts now.\r\n"
	if _, code, text := c.send("shop@example.org", rcpts(2), message("shop@example.org", "sale", "", body)); code != 250 {
		t.Fatalf("first: %d %s", code, text)
	}
	rewrapped := "Dear customer, our big\r\n\tsale starts now."
	_, code, text := c.send("shop@example.org", rcpts(2), message("shop@example.org", "sale", "", rewrapped))
	if code != 550 || !strings.Contains(text, "same body") {
		t.Fatalf("second: %d %s", code, text)
	}
	if h.ev.nViolations() != 1 {
		t.Errorf("violations %v", h.ev.violations)
	}
	if _, code, text := c.send("shop@example.org", rcpts(2), message("shop@example.org", "other", "", "a different body")); code != 250 {
		t.Fatalf("different body: %d %s", code, text)
	}
	h.clock.Add(time.Hour + time.Second)
	if _, code, text := c.send("shop@example.org", rcpts(2), message("shop@example.org", "sale", "", body)); code != 250 {
		t.Fatalf("after the hour: %d %s", code, text)
	}
}

func TestQuota(t *testing.T) {
	h := start(t, nil)
	c := h.login(t, "shop")
	start := h.clock.Now()
	for i := range 6 { // 6 × 50 = 300 recipients, a minute apart, each a different body
		_, code, text := c.send("shop@example.org", rcpts(50), message("shop@example.org", "receipt", "", fmt.Sprintf("receipt %d", i)))
		if code != 250 {
			t.Fatalf("message %d: %d %s", i, code, text)
		}
		h.clock.Add(time.Minute)
	}
	stage, code, text := c.send("shop@example.org", []string{"one-too-many@elsewhere.test"}, message("shop@example.org", "r", "", "301"))
	resume := start.Add(time.Hour).Format(time.RFC3339)
	if stage != "rcpt" || code != 451 {
		t.Fatalf("301st recipient: %s %d %s", stage, code, text)
	}
	contains(t, text, "4.7.1", "quota of 300 recipients per hour reached", "sending resumes at "+resume)
	if used, limit, at := h.r.Usage("shop"); used != 300 || limit != 300 || at.Format(time.RFC3339) != resume {
		t.Errorf("Usage = %d, %d, %v", used, limit, at)
	}
	h.clock.t = start.Add(time.Hour + time.Second) // the first 50 leave the window
	if _, code, text := c.send("shop@example.org", rcpts(50), message("shop@example.org", "r", "", "again")); code != 250 {
		t.Fatalf("after the window: %d %s", code, text)
	}
	if _, code, _ := c.send("shop@example.org", []string{"x@elsewhere.test"}, message("shop@example.org", "r", "", "full again")); code != 451 {
		t.Fatalf("window full again: %d", code)
	}
}

func TestQuotaPerAccountAndSeed(t *testing.T) {
	acct := Account{Service: "shop", PasswordHash: sha256.Sum256([]byte(testPassword)), PerHour: 3}
	h := start(t, nil, acct)
	now := h.clock.Now()
	h.r.Seed("shop", []time.Time{now.Add(-10 * time.Minute), now.Add(-50 * time.Minute), now.Add(-2 * time.Hour)})
	if used, limit, at := h.r.Usage("shop"); used != 2 || limit != 3 || !at.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("Usage after Seed = %d, %d, %v", used, limit, at)
	}
	c := h.login(t, "shop")
	stage, code, text := c.send("shop@example.org", rcpts(2), message("shop@example.org", "r", "", "b"))
	if stage != "rcpt" || code != 451 || !strings.Contains(text, now.Add(10*time.Minute).Format(time.RFC3339)) {
		t.Fatalf("%s %d %s", stage, code, text)
	}
	if _, code, text := c.send("shop@example.org", rcpts(1), message("shop@example.org", "r", "", "b")); code != 250 {
		t.Fatalf("within quota: %d %s", code, text)
	}
}

func TestQueueFailureAcceptsNothing(t *testing.T) {
	h := start(t, nil)
	h.q.err = errors.New("disk full")
	c := h.login(t, "shop")
	_, code, text := c.send("shop@example.org", rcpts(1), message("shop@example.org", "r", "", "b"))
	if code != 451 || !strings.Contains(text, "4.3.0") {
		t.Fatalf("%d %s", code, text)
	}
	if used, _, _ := h.r.Usage("shop"); used != 0 {
		t.Errorf("a failed Put used %d of the quota", used)
	}
	if len(h.ev.accepted) != 0 {
		t.Errorf("accepted %v", h.ev.accepted)
	}
}

func TestIdentifyByAddress(t *testing.T) {
	mod := func(c *Config) {
		c.TLS = nil
		c.Allowed = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.IdentifyByAddress = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/24")}
	}
	h := start(t, mod,
		Account{Service: "shop", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.3")}},
		Account{Service: "a", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.4")}},
		Account{Service: "b", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.4")}},
	)
	c := h.dial(t, "127.0.0.3")
	if msg := c.must("EHLO shop.internal", 250); strings.Contains(msg, "AUTH") || strings.Contains(msg, "STARTTLS") {
		t.Errorf("EHLO without TLS config offers %q", msg)
	}
	if _, code, text := c.send("shop@example.org", rcpts(1), message("shop@example.org", "r", "", "b")); code != 250 {
		t.Fatalf("by address: %d %s", code, text)
	}
	contains(t, string(h.q.msgs[0]), "(shop [127.0.0.3])", "with ESMTP;")
	for _, ip := range []string{"127.0.0.4", "127.0.0.5"} { // shared and unknown addresses
		c := h.dial(t, ip)
		c.must("EHLO x", 250)
		if code, text := c.do("MAIL FROM:<a@example.org>"); code != 530 {
			t.Errorf("%s: %d %s, want 530", ip, code, text)
		}
	}
}

func TestSetAccountsWhileServing(t *testing.T) {
	h := start(t, nil)
	c := h.login(t, "shop")
	accts := defaultAccounts()
	accts[0].Suspended, accts[0].SuspendedReason = true, "bulk mail"
	h.r.SetAccounts(accts)
	if code, text := c.do("MAIL FROM:<shop@example.org>"); code != 550 || !strings.Contains(text, "bulk mail") {
		t.Fatalf("%d %s", code, text)
	}
}

func TestCloseStopsServe(t *testing.T) {
	h := start(t, nil)
	c := h.login(t, "shop")
	if err := h.r.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.do("NOOP"); code != 0 {
		t.Errorf("idle connection survives Close: %d", code)
	}
	h.served <- <-h.served // leave the result for the cleanup
}

func b64(s string) string { return base64Std(s) }

// blockingQueue holds Put until released, to catch Close in the middle of DATA.
type blockingQueue struct {
	entered, release chan struct{}
}

func (q blockingQueue) Put(context.Context, Envelope, []byte) (string, error) {
	close(q.entered)
	<-q.release
	return "B1", nil
}

func TestCloseFinishesInFlightData(t *testing.T) {
	q := blockingQueue{entered: make(chan struct{}), release: make(chan struct{})}
	r, err := New(Config{Domain: "example.org", TLS: selfSigned(t), Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetAccounts(defaultAccounts())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.Serve(ln) }()
	h := &harness{r: r, addr: ln.Addr().String()}
	c := h.login(t, "shop")
	reply := make(chan string, 1)
	go func() {
		_, code, text := c.send("shop@example.org", []string{"a@elsewhere.test"}, message("shop@example.org", "s", "", "b"))
		reply <- fmt.Sprint(code, " ", text)
	}()
	<-q.entered
	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	for { // wait until Close is waiting for the message (no sleeping)
		r.mu.Lock()
		closing := r.closing
		r.mu.Unlock()
		if closing {
			break
		}
		runtime.Gosched()
	}
	close(q.release)
	if got := <-reply; got != "250 2.0.0 queued as B1" {
		t.Errorf("in-flight message got %q", got)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if c, err := net.Dial("tcp", h.addr); err == nil {
		c.Close()
		t.Error("still accepting connections after Close")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// Concurrent sessions of one service cannot together exceed its quota.
func TestQuotaConcurrentSessions(t *testing.T) {
	const sessions, perHour = 8, 5
	acct := Account{Service: "shop", PasswordHash: sha256.Sum256([]byte(testPassword)), PerHour: perHour}
	h := start(t, func(c *Config) { c.MaxConnectionsPerIP = sessions }, acct)
	clients := make([]*client, sessions)
	for i := range clients {
		clients[i] = h.login(t, "shop")
	}
	codes := make(chan int, sessions)
	for i, c := range clients {
		go func() {
			_, code, _ := c.send("shop@example.org", rcpts(1), message("shop@example.org", "r", "", fmt.Sprint("body ", i)))
			codes <- code
		}()
	}
	accepted := 0
	for range sessions {
		if code := <-codes; code == 250 {
			accepted++
		} else if code != 451 {
			t.Errorf("code %d", code)
		}
	}
	if accepted != perHour || h.q.count() != perHour {
		t.Fatalf("accepted %d, queued %d, want %d", accepted, h.q.count(), perHour)
	}
}
