package dkim

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/mailer"
)

var (
	keysOnce sync.Once
	keys     []Key
	keysErr  error
)

// testKeys generates one key pair for the whole package: RSA-2048 takes a
// while.
func testKeys(t *testing.T) []Key {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = Generate(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)) })
	if keysErr != nil {
		t.Fatal(keysErr)
	}
	return keys
}

const message = "From: Rampart <noreply@mail.example.com>\r\n" +
	"To: user@example.org\r\n" +
	"Subject: Your login code\r\n" +
	"Date: Sat, 05 Dec 2026 20:00:00 +0000\r\n" +
	"Message-ID: <abc@mail.example.com>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Your code is 123456.\r\n"

// verify checks every signature of msg against the records.
func verify(t *testing.T, msg []byte, recs []Record) []*msgdkim.Verification {
	t.Helper()
	zone := map[string][]string{}
	for _, r := range recs {
		zone[r.Name] = append(zone[r.Name], r.Value)
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := zone[strings.TrimSuffix(name, ".")]; ok {
				return v, nil
			}
			return nil, fmt.Errorf("no TXT at %s", name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestGenerate(t *testing.T) {
	ks := testKeys(t)
	if len(ks) != 2 || ks[0].Selector != "rampart-ed-202612" || ks[0].Algorithm != Ed25519 ||
		ks[1].Selector != "rampart-rsa-202612" || ks[1].Algorithm != RSA {
		t.Fatalf("keys %+v", ks)
	}
}

func TestSignVerify(t *testing.T) {
	ks := testKeys(t)
	s, err := NewSigner("Mail.Example.com.", ks)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Records("mail.example.com", ks)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign([]byte(message))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(signed, []byte("DKIM-Signature:")); n != 2 {
		t.Fatalf("%d signatures, want 2", n)
	}
	for _, want := range []string{"a=ed25519-sha256", "a=rsa-sha256", "c=relaxed/relaxed", "d=mail.example.com", "from:from:to:cc"} {
		if !bytes.Contains(bytes.ToLower(signed), []byte(strings.ToLower(want))) {
			t.Errorf("signed message lacks %q", want)
		}
	}

	for _, tc := range []struct {
		name   string
		change func(string) string
		valid  bool
	}{
		{"as signed", func(s string) string { return s }, true},
		{"headers re-spaced", func(s string) string {
			return strings.Replace(s, "Subject: Your login code", "Subject:   Your  login code  ", 1)
		}, true},
		{"header folded", func(s string) string {
			return strings.Replace(s, "To: user@example.org", "To:\r\n user@example.org", 1)
		}, true},
		{"trailing space in body", func(s string) string { return strings.Replace(s, "123456.\r\n", "123456.   \r\n", 1) }, true},
		{"body changed", func(s string) string { return strings.Replace(s, "123456", "654321", 1) }, false},
		{"subject changed", func(s string) string { return strings.Replace(s, "login code", "password", 1) }, false},
		{"second From added", func(s string) string {
			return strings.Replace(s, "To: ", "From: evil@attacker.example\r\nTo: ", 1)
		}, false},
		{"Reply-To added", func(s string) string {
			return strings.Replace(s, "To: ", "Reply-To: evil@attacker.example\r\nTo: ", 1)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := verify(t, []byte(tc.change(string(signed))), recs)
			if len(vs) != 2 {
				t.Fatalf("%d verifications, want 2", len(vs))
			}
			for _, v := range vs {
				if (v.Err == nil) != tc.valid {
					t.Errorf("%s: err %v, want valid=%v", v.Domain, v.Err, tc.valid)
				}
			}
		})
	}
}

func TestSignLF(t *testing.T) {
	ks := testKeys(t)
	s, _ := NewSigner("mail.example.com", ks)
	recs, _ := Records("mail.example.com", ks)
	signed, err := s.Sign([]byte(strings.ReplaceAll(message, "\r\n", "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(signed, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("a bare LF survived")
	}
	for _, v := range verify(t, signed, recs) {
		if v.Err != nil {
			t.Error(v.Err)
		}
	}
	if _, err := s.Sign([]byte("no blank line")); err == nil {
		t.Error("a message without a body separator was signed")
	}
}

func TestNewSignerRefuses(t *testing.T) {
	ks := testKeys(t)
	_, small, _ := ed25519.GenerateKey(rand.Reader)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for name, tc := range map[string]struct {
		domain string
		keys   []Key
	}{
		"no keys":         {"example.com", nil},
		"bad domain":      {"exa mple.com", ks},
		"single label":    {"localhost", ks},
		"bad selector":    {"example.com", []Key{{Selector: "a.b", Algorithm: Ed25519, PrivatePEM: ks[0].PrivatePEM}}},
		"wrong algorithm": {"example.com", []Key{{Selector: "s", Algorithm: RSA, PrivatePEM: ks[0].PrivatePEM}}},
		"weak RSA":        {"example.com", []Key{{Selector: "s", Algorithm: RSA, PrivatePEM: pemOf(weak)}}},
		"not PEM":         {"example.com", []Key{{Selector: "s", Algorithm: Ed25519, PrivatePEM: []byte("junk")}}},
		"PKCS1 block":     {"example.com", []Key{{Selector: "s", Algorithm: Ed25519, PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1}})}}},
		"garbage DER":     {"example.com", []Key{{Selector: "s", Algorithm: Ed25519, PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2}})}}},
	} {
		if _, err := NewSigner(tc.domain, tc.keys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewSigner("example.com", []Key{{Selector: "s", Algorithm: Ed25519, PrivatePEM: pemOf(small)}}); err != nil {
		t.Errorf("a valid ed25519 key alone: %v", err)
	}
}

func TestRecordStrings(t *testing.T) {
	recs, err := Records("mail.example.com", testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Name != "rampart-ed-202612._domainkey.mail.example.com" || !strings.HasPrefix(recs[0].Value, "v=DKIM1; k=ed25519; p=") {
		t.Errorf("ed25519 record %+v", recs[0])
	}
	rsaParts := recs[1].Strings()
	if len(recs[1].Value) <= 255 || len(rsaParts) != 2 {
		t.Fatalf("RSA record of %d bytes split into %d strings", len(recs[1].Value), len(rsaParts))
	}
	for _, p := range rsaParts {
		if len(p) > 255 || p == "" {
			t.Errorf("string of %d bytes", len(p))
		}
	}
	if strings.Join(rsaParts, "") != recs[1].Value {
		t.Error("the strings do not join back to the value")
	}
	if got := (Record{Value: strings.Repeat("x", 510)}).Strings(); len(got) != 2 || len(got[1]) != 255 {
		t.Errorf("510 bytes split as %d strings", len(got))
	}
}

func TestSPF(t *testing.T) {
	got := SPF("Mail.Example.com.", []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.51.100.2")})
	want := Record{Name: "mail.example.com", Type: "TXT", Value: "v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 ip4:198.51.100.2 ~all"}
	if got != want {
		t.Errorf("SPF = %+v, want %+v", got, want)
	}
}

func TestCheckRecords(t *testing.T) {
	d := dnstest.Start(t)
	recs, err := Records("mail.example.com", testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	spf := SPF("mail.example.com", []netip.Addr{netip.MustParseAddr("192.0.2.1")})
	recs = append(recs, spf)
	d.SetTXT(recs[0].Name, strings.ReplaceAll(recs[0].Value, "; ", ";")) // a panel that drops spaces
	d.SetTXT(recs[1].Name, recs[1].Value)                                // long: served as two strings
	d.SetTXT(spf.Name, "v=spf1 include:other.example -all", "google-site-verification=x")

	checks := CheckRecords(t.Context(), []string{d.Addr}, recs)
	for i, want := range []bool{true, true, false} {
		c := checks[i]
		if c.Published != want || c.Error != "" {
			t.Errorf("%s: %+v, want published=%v", c.Record.Name, c, want)
		}
	}
	if len(checks[2].Found) != 2 {
		t.Errorf("found %q, want both TXT values", checks[2].Found)
	}

	// Not published yet: no error, nothing found.
	d.SetTXT(recs[0].Name)
	if c := CheckRecords(t.Context(), []string{d.Addr}, recs[:1])[0]; c.Published || c.Error != "" || len(c.Found) != 0 {
		t.Errorf("absent record: %+v", c)
	}
	// No DNS server: an error that says so.
	if c := CheckRecords(t.Context(), nil, recs[:1])[0]; c.Error == "" {
		t.Error("no resolvers: no error")
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`plain`: "plain", `a\;b`: "a;b", `q\"q`: `q"q`, `back\\slash`: `back\slash`, `\065BC`: "ABC", `end\`: `end\`, `\999`: "999",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\;b`, `\065`, `\`, `\\\`, "v=DKIM1; p=abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := unescape(s)
		if len(got) > len(s) {
			t.Fatalf("unescape(%q) grew to %q", s, got)
		}
		if !strings.Contains(s, `\`) && got != s {
			t.Fatalf("unescape(%q) = %q changed a string without escapes", s, got)
		}
	})
}

func FuzzSign(f *testing.F) {
	f.Add([]byte(message))
	f.Add([]byte("\r\n"))
	f.Add([]byte("From: a\n\nb"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ks := testKeys(t)
		s, err := NewSigner("mail.example.com", ks[:1]) // ed25519: fast
		if err != nil {
			t.Fatal(err)
		}
		signed, err := s.Sign(msg)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(signed, []byte("DKIM-Signature:")) {
			t.Fatalf("signed message starts %q", signed[:min(len(signed), 40)])
		}
	})
}

// The platform's own mail, as the mailer composes it, signs and verifies.
func TestSignComposed(t *testing.T) {
	ks := testKeys(t)
	raw, err := mailer.Config{From: "noreply@mail.example.com"}.Compose(
		mailer.Message{To: "user@example.org", Subject: "Votre code : 123456", Text: "Bonjour,\nvotre code est 123456.\n"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSigner("mail.example.com", ks)
	recs, _ := Records("mail.example.com", ks)
	signed, err := s.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range verify(t, signed, recs) {
		if v.Err != nil {
			t.Errorf("%s: %v", v.Domain, v.Err)
		}
	}
}
