package relay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

const sender = "shop@example.org"

func TestCheckMessage(t *testing.T) {
	cases := []struct {
		name     string
		msg      string
		wantCode int // 0: accepted
		bulk     bool
	}{
		{"plain", "From: shop@example.org\r\n\r\nhi\r\n", 0, false},
		{"display name, domain case", "From: \"The Shop\" <shop@Example.ORG>\r\n\r\nhi\r\n", 0, false},
		{"headers only", "From: shop@example.org\r\nSubject: x\r\n", 0, false},
		{"local part case", "From: SHOP@example.org\r\n\r\nhi\r\n", 550, false},
		{"lowercase field name", "from: shop@example.org\r\n\r\nb\r\n", 0, false},
		{"two fields differing in case", "From: shop@example.org\r\nFROM: ceo@example.org\r\n\r\nb\r\n", 550, false},
		{"group syntax", "From: g: shop@example.org, ceo@example.org;\r\n\r\nb\r\n", 550, false},
		{"comment trick", "From: shop@example.org (ceo@example.org)\r\n\r\nb\r\n", 0, false},
		{"spoof in display name", "From: \"shop@example.org\" <ceo@example.org>\r\n\r\nb\r\n", 550, false},
		{"empty From", "From: \r\n\r\nb\r\n", 550, false},
		{"Sender ok", "From: shop@example.org\r\nSender: shop@example.org\r\n\r\nb\r\n", 0, false},
		{"Sender foreign", "From: shop@example.org\r\nSender: x@example.org\r\n\r\nb\r\n", 550, false},
		{"List-Id", "From: shop@example.org\r\nList-ID: <news.example.org>\r\n\r\nb\r\n", 550, true},
		{"Precedence list", "From: shop@example.org\r\nPrecedence: list\r\n\r\nb\r\n", 550, true},
		{"Precedence first-class", "From: shop@example.org\r\nPrecedence: first-class\r\n\r\nb\r\n", 0, false},
		{"no blank line", "From: shop@example.org", 550, false},
		{"empty", "", 550, false},
		{"binary", "\x00\x01\x02\r\n\r\n", 550, false},
		{"continuation first", " folded\r\nFrom: shop@example.org\r\n\r\nb\r\n", 550, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chk, ref := checkMessage(normalizeCRLF([]byte(tc.msg)), sender)
			switch {
			case tc.wantCode == 0 && ref != nil:
				t.Fatalf("refused: %d %s", ref.code, ref.msg)
			case tc.wantCode == 0 && chk == nil:
				t.Fatal("no result")
			case tc.wantCode != 0 && ref == nil:
				t.Fatal("accepted")
			case tc.wantCode != 0 && (ref.code != tc.wantCode || ref.bulk != tc.bulk):
				t.Fatalf("got %d bulk=%v (%s), want %d bulk=%v", ref.code, ref.bulk, ref.msg, tc.wantCode, tc.bulk)
			}
		})
	}
}

func TestNormalizeCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"a\nb\r\nc\rd": "a\r\nb\r\nc\r\nd",
		"none":         "none",
		"\r\n\r\n":     "\r\n\r\n",
		"\n\r":         "\r\n\r\n",
	} {
		if got := string(normalizeCRLF([]byte(in))); got != want {
			t.Errorf("normalizeCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBodyHashFoldsWhitespace(t *testing.T) {
	a := bodyHash([]byte("  Hello,\r\n  world  \r\n"))
	b := bodyHash([]byte("Hello, world"))
	c := bodyHash([]byte("Hello,world"))
	if a != b {
		t.Error("whitespace variants hash differently")
	}
	if a == c {
		t.Error("removing a word break does not change the hash")
	}
}

// FuzzHeaders: the header check never panics and never accepts a message
// whose From (or Sender) is anything but the allowed address.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{
		"From: shop@example.org\r\n\r\nbody",
		"From: \"x\" <shop@EXAMPLE.org>\r\nSender: shop@example.org\r\n\r\n",
		"From: shop@example.org, ceo@example.org\r\n\r\n",
		"From: =?utf-8?q?shop?= <ceo@example.org>\n\nx",
		"From: shop@example.org\r\nList-Unsubscribe: <x>\r\n\r\n",
		"from:shop@example.org\n from:ceo@example.org\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg := normalizeCRLF(data)
		chk, ref := checkMessage(msg, sender)
		if ref != nil {
			return
		}
		if chk == nil || chk.headerEnd > len(msg) {
			t.Fatal("accepted without a valid result")
		}
		// Whatever the check accepted, every From/Sender value, parsed
		// independently, is exactly the allowed mailbox.
		hdr := string(msg[:chk.headerEnd])
		for _, line := range unfold(hdr) {
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			name = strings.TrimSpace(name)
			if strings.EqualFold(name, "From") || strings.EqualFold(name, "Sender") {
				if err := sameAddress([]string{value}, sender); err != nil {
					t.Fatalf("accepted %s: %q (%v)", name, value, err)
				}
			}
		}
	})
}

// unfold splits a CRLF header block into logical fields.
func unfold(hdr string) []string {
	var out []string
	for _, l := range strings.Split(hdr, "\r\n") {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += l
			continue
		}
		out = append(out, l)
	}
	return out
}

func TestLoginServer(t *testing.T) {
	var gotUser, gotPass string
	auth := func(_, u, p string) error {
		gotUser, gotPass = u, p
		if p != "pw" {
			return errors.New("bad")
		}
		return nil
	}
	t.Run("challenges", func(t *testing.T) {
		s := newLoginServer(auth)
		ch, done, err := s.Next(nil)
		if string(ch) != "Username:" || done || err != nil {
			t.Fatalf("%q %v %v", ch, done, err)
		}
		if ch, done, err = s.Next([]byte("shop")); string(ch) != "Password:" || done || err != nil {
			t.Fatalf("%q %v %v", ch, done, err)
		}
		if _, done, err = s.Next([]byte("pw")); !done || err != nil || gotUser != "shop" || gotPass != "pw" {
			t.Fatalf("%v %v %q %q", done, err, gotUser, gotPass)
		}
		if _, _, err = s.Next([]byte("more")); err == nil {
			t.Fatal("accepted a response after completion")
		}
	})
	t.Run("initial response", func(t *testing.T) {
		s := newLoginServer(auth)
		if ch, _, _ := s.Next([]byte("shop")); string(ch) != "Password:" {
			t.Fatalf("%q", ch)
		}
		if _, done, err := s.Next([]byte("wrong")); !done || err == nil {
			t.Fatal("wrong password accepted")
		}
	})
}

func TestWindow(t *testing.T) {
	w := newWindow(time.Hour)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.add("k", t0.Add(20*time.Minute), 2)
	w.add("k", t0, 1) // out of order, as Seed may pass
	w.add("k", t0.Add(40*time.Minute), 3)
	now := t0.Add(50 * time.Minute)
	cases := []struct {
		limit, want int
		at          time.Time
	}{
		{10, 4, now},
		{6, 1, t0.Add(time.Hour)},
		{6, 2, t0.Add(80 * time.Minute)},
		{6, 6, t0.Add(100 * time.Minute)},
		{2, 5, t0.Add(100 * time.Minute)}, // more than the limit: when the window is empty
	}
	for _, tc := range cases {
		if got := w.freeAt("k", now, tc.limit, tc.want); !got.Equal(tc.at) {
			t.Errorf("freeAt(limit %d, want %d) = %v, want %v", tc.limit, tc.want, got, tc.at)
		}
	}
	if n, oldest := w.count("k", t0.Add(61*time.Minute)); n != 5 || !oldest.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("count = %d, %v", n, oldest)
	}
	for i := range 100 { // keys touched once are swept once they expire
		w.add(string(rune('a'+i%26))+strings.Repeat("x", i), t0.Add(2*time.Hour), 1)
	}
	w.add("late", t0.Add(4*time.Hour), 1)
	if len(w.m) != 1 {
		t.Errorf("%d keys kept after their entries expired", len(w.m))
	}
}

func TestWindowReserve(t *testing.T) {
	w := newWindow(time.Hour)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, _ := w.reserve("k", t0, 3, 2); !ok {
		t.Fatal("2 of 3 refused")
	}
	if ok, at := w.reserve("k", t0.Add(time.Minute), 3, 2); ok || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("4 of 3: ok=%v at=%v", ok, at)
	}
	w.undo("k", t0, 2)
	if ok, _ := w.reserve("k", t0.Add(time.Minute), 3, 3); !ok {
		t.Fatal("undo did not give the reservation back")
	}
	w.undo("k", t0, 9) // no such entry: nothing changes
	if n, _ := w.count("k", t0.Add(time.Minute)); n != 3 {
		t.Fatalf("count %d", n)
	}
}

type nopQueue struct{}

func (nopQueue) Put(context.Context, Envelope, []byte) (string, error) { return "x", nil }

func TestNewValidates(t *testing.T) {
	good := Config{Domain: "example.org", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, TLS: selfSigned(t)}
	cases := []struct {
		name string
		mod  func(*Config)
		q    Queue
		want string // "" for valid
	}{
		{"valid", func(*Config) {}, nopQueue{}, ""},
		{"no domain", func(c *Config) { c.Domain = "" }, nopQueue{}, "mail.domain"},
		{"address as domain", func(c *Config) { c.Domain = "a@b" }, nopQueue{}, "mail.domain"},
		{"no networks", func(c *Config) { c.Allowed = nil }, nopQueue{}, "allowed_networks"},
		{"invalid prefix", func(c *Config) { c.Allowed = []netip.Prefix{{}} }, nopQueue{}, "not a valid prefix"},
		{"no identification", func(c *Config) { c.TLS = nil }, nopQueue{}, "no way to identify"},
		{"negative", func(c *Config) { c.MaxRecipients = -1 }, nopQueue{}, "MaxRecipients is negative"},
		{"no queue", func(*Config) {}, nil, "Queue is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mod(&cfg)
			r, err := New(cfg, tc.q, nil)
			if tc.want == "" {
				if err != nil || r.cfg.DefaultPerHour != 300 || r.cfg.MaxMessageBytes != 10<<20 || r.cfg.Hostname != "example.org" {
					t.Fatalf("err %v, cfg %+v", err, r.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func BenchmarkAccepted(b *testing.B) {
	h := start(b, func(c *Config) { c.SameBodyLimit = 1 << 30; c.DefaultPerHour = 1 << 30 },
		Account{Service: "shop", PasswordHash: sha256.Sum256([]byte(testPassword))})
	h.q.discard = true // a no-op queue: measure the server, not memory growth
	c := h.login(b, "shop")
	msg := message(sender, "receipt", "", strings.Repeat("line of a receipt\r\n", 50))
	b.ResetTimer()
	for range b.N {
		if _, code, text := c.send(sender, []string{"a@elsewhere.test"}, msg); code != 250 {
			b.Fatalf("%d %s", code, text)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkAcceptedParallel: accepted messages/s with concurrent clients, one
// connection each (the queue is a no-op: this measures the SMTP side).
func BenchmarkAcceptedParallel(b *testing.B) {
	for _, clients := range []int{1, 8, 64} {
		b.Run(fmt.Sprint(clients, "clients"), func(b *testing.B) {
			h := start(b, func(c *Config) {
				c.SameBodyLimit, c.DefaultPerHour = 1<<30, 1<<30
				c.MaxConnectionsPerIP, c.MaxConnections = clients, clients
			}, Account{Service: "shop", PasswordHash: sha256.Sum256([]byte(testPassword))})
			h.q.discard = true
			conns := make(chan *client, clients)
			for range clients {
				conns <- h.login(b, "shop")
			}
			msg := message(sender, "receipt", "", strings.Repeat("line of a receipt\r\n", 50))
			b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() { // goroutines may outnumber connections: take one per message
					c := <-conns
					_, code, text := c.send(sender, []string{"a@elsewhere.test"}, msg)
					conns <- c
					if code != 250 {
						b.Errorf("%d %s", code, text)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
