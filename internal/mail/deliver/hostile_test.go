package deliver

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
)

// rawServer accepts connections and hands each to serve, until the test ends.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestEndlessReplyIsCutOff(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		line := []byte("220-" + strings.Repeat("x", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	w := newWorld(t)
	w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx.one.test"})
	w.dns.Set("mx.one.test", "192.0.2.1")
	w.hosts["192.0.2.1:25"] = addr
	res := deliver(t, w.transport(t), "x@one.test")
	check(t, res, temp)
	if !strings.Contains(res[0].Reply, "1 MiB") {
		t.Errorf("reason %q does not name the limit", res[0].Reply)
	}
}

func TestFailedStartTLSRetriesInClear(t *testing.T) {
	var afterHandshake atomic.Int32
	fake := rawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		c.Write([]byte("220 fake\r\n"))
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(line, "EHLO"):
				c.Write([]byte("250-fake\r\n250 STARTTLS\r\n"))
			case strings.HasPrefix(line, "STARTTLS"):
				c.Write([]byte("220 go ahead\r\n"))
				// Not a TLS server: answer the ClientHello with garbage.
				buf := make([]byte, 512)
				r.Read(buf)
				c.Write([]byte("this is not TLS\r\n"))
				// A command now would be sent in clear on the connection
				// whose handshake failed (a TLS alert record is fine).
				var rest []byte
				for len(rest) < 4096 {
					n, err := r.Read(buf)
					rest = append(rest, buf[:n]...)
					for _, cmd := range []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"} {
						if strings.Contains(string(rest), cmd) {
							afterHandshake.Add(1)
							return
						}
					}
					if err != nil {
						return
					}
				}
				return
			}
		}
	})
	real := smtptest.New(t, smtptest.Options{})
	w := newWorld(t)
	w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx.one.test"})
	w.dns.Set("mx.one.test", "192.0.2.1")
	var dials atomic.Int32
	tr := w.transport(t)
	tr.cfg.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		to := real.Addr()
		if dials.Add(1) == 1 {
			to = fake
		}
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
	check(t, deliver(t, tr, "x@one.test"), ok)
	if m := real.Messages(); len(m) != 1 || m[0].TLS {
		t.Errorf("received %+v, want one message in clear on a new connection", m)
	}
	if afterHandshake.Load() != 0 {
		t.Error("a command was sent on the connection whose TLS handshake failed")
	}
}

func TestGreetingRefusalTriesNextMX(t *testing.T) {
	busy := rawServer(t, func(c net.Conn) { c.Write([]byte("421 too busy\r\n")) })
	good := smtptest.New(t, smtptest.Options{})
	w := newWorld(t)
	w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx1.one.test"}, dnstest.MX{Pref: 20, Host: "mx2.one.test"})
	w.dns.Set("mx1.one.test", "192.0.2.1")
	w.hosts["192.0.2.1:25"] = busy
	w.mx("mx2.one.test", "192.0.2.2", good)
	check(t, deliver(t, w.transport(t), "x@one.test"), ok)

	// Every MX busy: temporary, with the last server's words.
	w.hosts["192.0.2.2:25"] = busy
	res := deliver(t, w.transport(t), "x@one.test")
	check(t, res, temp)
	if res[0].Code != 421 {
		t.Errorf("code %d, want 421", res[0].Code)
	}
}

func TestCancelledContext(t *testing.T) {
	// A server that greets and then says nothing more.
	silent := rawServer(t, func(c net.Conn) {
		c.Write([]byte("220 hello\r\n"))
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	w := newWorld(t)
	w.dns.SetMX("one.test", dnstest.MX{Pref: 10, Host: "mx.one.test"})
	w.dns.Set("mx.one.test", "192.0.2.1")
	w.hosts["192.0.2.1:25"] = silent
	tr := w.transport(t)
	ctx, cancel := context.WithCancel(t.Context())
	// Cancel once the server has been reached: the conversation must end
	// with a temporary failure rather than wait for its deadline.
	dial := tr.cfg.Dial
	tr.cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		cancel()
		return c, err
	}
	res := tr.Deliver(ctx, "a@relay.test", []string{"x@one.test"}, []byte(msg))
	check(t, res, temp)
}

func TestDomainOf(t *testing.T) {
	for in, want := range map[string]string{
		"a@Example.COM": "example.com", "a@b@example.com": "example.com", "x@example.com.": "example.com",
		"a@[1.2.3.4]": "", "@example.com": "", "a@": "", "noat": "", "a@localhost": "", "a@ex ample.com": "",
	} {
		got, err := domainOf(in)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("domainOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"250 ok":                  "250 ok",
		"550 no\r\nsuch\x00user":  "550 no  such user",
		"bad \xff utf8":           "bad \uFFFD utf8",
		strings.Repeat("é", 1000): strings.Repeat("é", maxReply/2) + "…",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHasExtension(t *testing.T) {
	for _, tc := range []struct {
		ehlo string
		want bool
	}{
		{"mx.example\nPIPELINING\nSTARTTLS", true},
		{"mx.example\nstarttls", true},
		{"mx.example\nSIZE 100\n8BITMIME", false},
		{"STARTTLS greets you", false}, // the greeting line is not an extension
		{"mx\nSTARTTLSX", false},
	} {
		if got := hasExtension(tc.ehlo, "STARTTLS"); got != tc.want {
			t.Errorf("hasExtension(%q) = %v", tc.ehlo, got)
		}
	}
}

func FuzzClean(f *testing.F) {
	f.Add("550 5.1.1 no such user\r\n")
	f.Add(strings.Repeat("\xff", 600))
	f.Fuzz(func(t *testing.T, s string) {
		got := clean(s)
		if !utf8.ValidString(got) || len(got) > maxReply+len("…") || strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("clean(%q) = %q", s, got)
		}
	})
}

func FuzzDomainOf(f *testing.F) {
	for _, s := range []string{"a@example.com", "a@[1.2.3.4]", "@", "a@b@c.d", "a@xn--nxa.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := domainOf(s)
		if err != nil {
			return
		}
		if d == "" || d != strings.ToLower(d) || strings.ContainsAny(d, "@[] \r\n") {
			t.Fatalf("domainOf(%q) = %q", s, d)
		}
	})
}

func FuzzHasExtension(f *testing.F) {
	f.Add("mx\nSTARTTLS\nSIZE 10")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if hasExtension(s, "STARTTLS") && !strings.Contains(strings.ToUpper(s), "STARTTLS") {
			t.Fatalf("hasExtension(%q) invented STARTTLS", s)
		}
	})
}
