package deliver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
)

const msg = "From: a@relay.test\r\nTo: x@one.test\r\nSubject: hi\r\nMessage-ID: <1@relay.test>\r\n\r\nhello\r\n"

// world is a DNS server and a dialer that maps made-up MX addresses to
// local receivers, so that several "hosts" can share port 25.
type world struct {
	dns   *dnstest.DNS
	hosts map[string]string // "ip:25" → receiver address
}

func newWorld(t *testing.T) *world {
	return &world{dns: dnstest.Start(t), hosts: map[string]string{}}
}

// mx publishes host at ip, served by receiver s (nil: nothing listens).
func (w *world) mx(host, ip string, s *smtptest.Server) {
	w.dns.Set(host, ip)
	addr := "127.0.0.1:1" // refused
	if s != nil {
		addr = s.Addr()
	}
	w.hosts[net.JoinHostPort(ip, "25")] = addr
}

func (w *world) transport(t *testing.T) *Transport {
	tr, err := New(Config{
		Resolvers: []string{w.dns.Addr}, HELO: "relay.test", AllowPrivate: true,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			if to, ok := w.hosts[addr]; ok {
				addr = to
			}
			return d.DialContext(ctx, network, addr)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func deliver(t *testing.T, tr *Transport, rcpts ...string) []Result {
	t.Helper()
	res := tr.Deliver(t.Context(), "a@relay.test", rcpts, []byte(msg))
	if len(res) != len(rcpts) {
		t.Fatalf("%d results for %d recipients", len(res), len(rcpts))
	}
	for i, r := range res {
		if r.Rcpt != rcpts[i] {
			t.Fatalf("result %d is for %q, want %q", i, r.Rcpt, rcpts[i])
		}
	}
	return res
}

type want int

const (
	ok want = iota
	temp
	perm
)

func check(t *testing.T, res []Result, wants ...want) {
	t.Helper()
	for i, r := range res {
		got := temp
		switch {
		case r.OK:
			got = ok
		case r.Permanent:
			got = perm
		}
		if got != wants[i] {
			t.Errorf("%s: got %+v, want outcome %d", r.Rcpt, r, wants[i])
		}
		if !r.OK && r.Reply == "" {
			t.Errorf("%s: failure without a reason", r.Rcpt)
		}
	}
}

func TestTwoDomainsTwoReceivers(t *testing.T) {
	w := newWorld(t)
	r1, r2 := smtptest.New(t, smtptest.Options{}), smtptest.New(t, smtptest.Options{})
	w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx.one.test"})
	w.dns.SetMX("two.test", dnstest.MX{Pref: 10, Host: "mx.two.test"})
	w.mx("mx.one.test", "192.0.2.1", r1)
	w.mx("mx.two.test", "192.0.2.2", r2)
	res := deliver(t, w.transport(t), "x@one.test", "y@two.test", "z@ONE.test")
	check(t, res, ok, ok, ok)
	m1, m2 := r1.Messages(), r2.Messages()
	if len(m1) != 1 || strings.Join(m1[0].To, ",") != "x@one.test,z@ONE.test" {
		t.Errorf("one.test got %+v, want one transaction for both recipients", m1)
	}
	if len(m2) != 1 || strings.Join(m2[0].To, ",") != "y@two.test" {
		t.Errorf("two.test got %+v", m2)
	}
	if res[0].Code != 250 || !strings.HasPrefix(res[0].Reply, "250 ") {
		t.Errorf("reply %d %q, want the 250 kept", res[0].Code, res[0].Reply)
	}
}

func TestMXPreferenceAndFallback(t *testing.T) {
	w := newWorld(t)
	good, backup := smtptest.New(t, smtptest.Options{}), smtptest.New(t, smtptest.Options{})
	// Listed out of order: 5 (down) must be tried first, then 10, never 20.
	w.dns.SetMX("one.test",
		dnstest.MX{Pref: 20, Host: "mx3.one.test"},
		dnstest.MX{Pref: 5, Host: "mx1.one.test"},
		dnstest.MX{Pref: 10, Host: "mx2.one.test"})
	w.mx("mx1.one.test", "192.0.2.1", nil)
	w.mx("mx2.one.test", "192.0.2.2", good)
	w.mx("mx3.one.test", "192.0.2.3", backup)
	check(t, deliver(t, w.transport(t), "x@one.test"), ok)
	if len(good.Messages()) != 1 || len(backup.Messages()) != 0 {
		t.Errorf("pref 10 got %d, pref 20 got %d; want 1 and 0", len(good.Messages()), len(backup.Messages()))
	}
}

func TestAddressLimit(t *testing.T) {
	w := newWorld(t)
	last := smtptest.New(t, smtptest.Options{})
	var mxs []dnstest.MX
	for i := range maxAddresses + 1 {
		host := fmt.Sprintf("mx%d.one.test", i)
		mxs = append(mxs, dnstest.MX{Pref: uint16(i), Host: host})
		var s *smtptest.Server
		if i == maxAddresses {
			s = last // beyond the limit: never reached
		}
		w.mx(host, fmt.Sprintf("192.0.2.%d", i+1), s)
	}
	w.dns.SetMX("one.test", mxs...)
	check(t, deliver(t, w.transport(t), "x@one.test"), temp)
	if len(last.Messages()) != 0 {
		t.Errorf("an address past the limit of %d was tried", maxAddresses)
	}
}

func TestRefusals(t *testing.T) {
	w := newWorld(t)
	r := smtptest.New(t, smtptest.Options{})
	w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx.one.test"})
	w.mx("mx.one.test", "192.0.2.1", r)
	tr := w.transport(t)

	r.RejectRcpt("bad@one.test", 550)
	r.RejectRcpt("busy@one.test", 451)
	res := deliver(t, tr, "bad@one.test", "good@one.test", "busy@one.test")
	check(t, res, perm, ok, temp)
	if res[0].Code != 550 || !strings.Contains(res[0].Reply, "refusing bad@one.test") {
		t.Errorf("the remote reply is not kept verbatim: %+v", res[0])
	}
	if m := r.Messages(); len(m) != 1 || strings.Join(m[0].To, ",") != "good@one.test" {
		t.Errorf("received %+v, want the message for good@ only", m)
	}

	// A refusal at DATA applies to every accepted recipient, not to
	// those already refused.
	r.RejectData(554)
	check(t, deliver(t, tr, "bad@one.test", "good@one.test"), perm, perm)
	r.RejectData(452)
	check(t, deliver(t, tr, "good@one.test", "other@one.test"), temp, temp)

	// And back to accepting.
	r.RejectData(0)
	r.RejectRcpt("busy@one.test", 0)
	check(t, deliver(t, tr, "busy@one.test"), ok)
}

func TestDNSOutcomes(t *testing.T) {
	w := newWorld(t)
	r := smtptest.New(t, smtptest.Options{})
	w.dns.SetNullMX("nomail.test")
	w.mx("bare.test", "192.0.2.9", r) // no MX: its A record takes mail
	w.dns.SetMX("private.test", dnstest.MX{Pref: 10, Host: "mx.private.test"})
	w.dns.Set("mx.private.test", "10.1.2.3")
	w.dns.SetMX("gone.test", dnstest.MX{Pref: 10, Host: "mx.gone.test"}) // MX host does not resolve
	tr := w.transport(t)
	res := deliver(t, tr, "a@nomail.test", "b@bare.test", "c@nxdomain.test", "d@[192.0.2.1]", "not-an-address", "e@gone.test")
	check(t, res, perm, ok, perm, perm, perm, perm)
	if !strings.Contains(res[0].Reply, "null MX") {
		t.Errorf("null MX reason %q", res[0].Reply)
	}

	// Without AllowPrivate, an MX inside our network is refused.
	strict, err := New(Config{Resolvers: []string{w.dns.Addr}, HELO: "relay.test", Dial: tr.cfg.Dial})
	if err != nil {
		t.Fatal(err)
	}
	w.dns.Set("loop.test", "127.0.0.1", "::1")
	res = deliver(t, strict, "x@private.test", "y@loop.test")
	check(t, res, perm, perm)
	if !strings.Contains(res[0].Reply, "private") {
		t.Errorf("reason %q does not say why", res[0].Reply)
	}
	// A private MX after one that is down: temporary, not a bounce.
	w.dns.SetMX("mixed.test", dnstest.MX{Pref: 10, Host: "mx.down.test"}, dnstest.MX{Pref: 20, Host: "mx.private.test"})
	w.mx("mx.down.test", "192.0.2.77", nil)
	check(t, deliver(t, strict, "z@mixed.test"), temp)
	if n := len(r.Messages()); n != 1 {
		t.Errorf("receiver got %d messages, want 1 (the strict transport must not connect)", n)
	}
}

func TestDNSFailureIsTemporary(t *testing.T) {
	// A DNS server that does not answer: nothing listens on this UDP port.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	tr, err := New(Config{Resolvers: []string{addr}, HELO: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, deliver(t, tr, "x@one.test"), temp)
}

func TestOpportunisticTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    mailer.TLSMode
		wantTLS bool
	}{
		{"offered", mailer.TLSStartTLS, true},
		{"not offered", mailer.TLSNone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := smtptest.New(t, smtptest.Options{TLS: tc.mode})
			w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx.one.test"})
			w.mx("mx.one.test", "192.0.2.1", r)
			check(t, deliver(t, w.transport(t), "x@one.test"), ok)
			m := r.Messages()
			if len(m) != 1 || m[0].TLS != tc.wantTLS {
				t.Errorf("received %+v, want one message with TLS=%v", m, tc.wantTLS)
			}
		})
	}
}

func TestSmarthost(t *testing.T) {
	r := smtptest.New(t, smtptest.Options{TLS: mailer.TLSStartTLS, Username: "u", Password: "p"})
	cfg := func(pw string) Config {
		return Config{HELO: "relay.test", RootCAs: r.RootCAs(),
			Smarthost: &Smarthost{Host: "127.0.0.1", Port: r.Port(), TLS: mailer.TLSStartTLS, Username: "u", Password: pw}}
	}
	tr, err := New(cfg("p"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, deliver(t, tr, "x@one.test", "y@two.test"), ok, ok)
	if m := r.Messages(); len(m) != 1 || !m[0].TLS || len(m[0].To) != 2 {
		t.Errorf("received %+v, want one message over TLS for both", m)
	}

	// A wrong password is the operator's to fix: the mail stays queued.
	bad, _ := New(cfg("wrong"))
	res := deliver(t, bad, "x@one.test")
	check(t, res, temp)
	if res[0].Code != 535 {
		t.Errorf("reply %d %q, want the server's 535", res[0].Code, res[0].Reply)
	}

	// The smarthost's certificate is verified: without its root, nothing is sent.
	c := cfg("p")
	c.RootCAs = nil
	unverified, _ := New(c)
	check(t, deliver(t, unverified, "x@one.test"), temp)

	// A smarthost without STARTTLS is not used in clear text.
	plain := smtptest.New(t, smtptest.Options{})
	c = cfg("p")
	c.Smarthost.Port = plain.Port()
	c.Smarthost.Username = ""
	strict, _ := New(c)
	res = deliver(t, strict, "x@one.test")
	check(t, res, temp)
	if !strings.Contains(res[0].Reply, "STARTTLS") {
		t.Errorf("reason %q does not say why", res[0].Reply)
	}
	if len(plain.Messages()) != 0 {
		t.Error("a message went out in clear text")
	}
}

func TestNewRefuses(t *testing.T) {
	for name, c := range map[string]Config{
		"no HELO":            {Resolvers: []string{"127.0.0.1:53"}},
		"HELO with space":    {HELO: "a b", Resolvers: []string{"127.0.0.1:53"}},
		"smarthost no host":  {HELO: "h", Smarthost: &Smarthost{}},
		"smarthost bad TLS":  {HELO: "h", Smarthost: &Smarthost{Host: "smtp.example.com", TLS: "maybe"}},
		"password in clear":  {HELO: "h", Smarthost: &Smarthost{Host: "smtp.example.com", TLS: mailer.TLSNone, Username: "u"}},
		"host with a scheme": {HELO: "h", Smarthost: &Smarthost{Host: "smtp://x"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"192.0.2.1": true, "8.8.8.8": true, "2a00:1450::1": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"64:ff9b::808:808": true, "64:ff9b::a00:1": false,
		"fd00::1": false, "fe80::1": false, "::ffff:127.0.0.1": false, "224.0.0.1": false,
	} {
		if got := isPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestSmarthostImplicitTLS(t *testing.T) {
	r := smtptest.New(t, smtptest.Options{TLS: mailer.TLSImplicit})
	tr, err := New(Config{HELO: "relay.test", RootCAs: r.RootCAs(),
		Smarthost: &Smarthost{Host: "127.0.0.1", Port: r.Port(), TLS: mailer.TLSImplicit}})
	if err != nil {
		t.Fatal(err)
	}
	r.RejectRcpt("no@two.test", 550)
	check(t, deliver(t, tr, "x@one.test", "no@two.test"), ok, perm)
	if m := r.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("received %+v, want one message over TLS", m)
	}
}
