package smtptest_test

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
)

func TestCode(t *testing.T) {
	for text, want := range map[string]string{
		"Your code is 123456.":              "123456",
		"123456":                            "123456",
		"on 20261205: code 654321, not 111": "654321",
		"call +33 1234567, code 000042":     "000042",
		"12345 and 1234567":                 "",
		"":                                  "",
		"code: ١٢٣٤٥٦ (Arabic digits)":      "",
		"a123456b":                          "123456",
	} {
		if got := smtptest.Code(text); got != want {
			t.Errorf("Code(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestWait(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{})
	m, err := mailer.NewSMTP(srv.Config("rampart@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, to := range []string{"a@example.org", "b@example.org"} {
			if err := m.Send(context.Background(), mailer.Message{To: to, Subject: "hi", Text: "code 123456"}); err != nil {
				t.Error(err)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := srv.WaitFor(ctx, "B@example.org")
	if err != nil || r.To[0] != "b@example.org" {
		t.Fatalf("WaitFor: %v, %v", r.To, err)
	}
	msgs, err := srv.Wait(ctx, 2)
	if err != nil || len(msgs) != 2 || msgs[0].To[0] != "a@example.org" {
		t.Fatalf("Wait: %v, %v", msgs, err)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	if _, err := srv.Wait(short, 3); err == nil {
		t.Fatal("Wait for a third message returned without one")
	}
	if _, err := srv.WaitFor(short, "c@example.org"); err == nil {
		t.Fatal("WaitFor a message never sent returned without one")
	}
}

// TestSwaks sends with a real, independent SMTP client, so that the
// receiver is not only tested against the mailer written alongside it.
func TestSwaks(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("swaks is required in CI: apt-get install swaks")
		}
		t.Skip("swaks not installed (apt-get install swaks)")
	}
	for _, mode := range []mailer.TLSMode{mailer.TLSNone, mailer.TLSStartTLS, mailer.TLSImplicit} {
		t.Run(string(mode), func(t *testing.T) {
			srv := smtptest.New(t, smtptest.Options{TLS: mode, Username: "relay", Password: "pa ss"})
			args := []string{
				"--server", srv.Host(), "--port", strconv.Itoa(srv.Port()),
				"--from", "sender@example.com", "--to", "zoe@example.org",
				"--auth", "PLAIN", "--auth-user", "relay", "--auth-password", "pa ss",
				"--header", "Subject: =?utf-8?q?Code_pour_Zo=C3=AB?=",
				"--header", "Content-Type: text/plain; charset=utf-8",
				"--header", "Content-Transfer-Encoding: quoted-printable",
				"--body", "Votre code : 987654 =C3=A9t=C3=A9",
				"--silent", "2",
			}
			if mode != mailer.TLSNone {
				// Verify the receiver's certificate as a real client would.
				ca := filepath.Join(t.TempDir(), "ca.pem")
				pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
				if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--tls-verify", "--tls-ca-path", ca)
				if mode == mailer.TLSStartTLS {
					args = append(args, "--tls")
				} else {
					args = append(args, "--tls-on-connect")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, swaks, args...).CombinedOutput(); err != nil {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			r, err := srv.WaitFor(ctx, "zoe@example.org")
			if err != nil {
				t.Fatal(err)
			}
			if r.From != "sender@example.com" || r.Subject != "Code pour Zoë" || !strings.Contains(r.Text, "987654 été") {
				t.Fatalf("received %+v", r)
			}
			if smtptest.Code(r.Text) != "987654" {
				t.Fatalf("Code(%q) = %q", r.Text, smtptest.Code(r.Text))
			}
		})
	}
}

// Without the password, swaks is refused: AUTH is required.
func TestSwaksWithoutAuth(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("swaks is required in CI: apt-get install swaks")
		}
		t.Skip("swaks not installed (apt-get install swaks)")
	}
	srv := smtptest.New(t, smtptest.Options{Username: "relay", Password: "secret"})
	out, err := exec.Command(swaks, "--server", srv.Host(), "--port", strconv.Itoa(srv.Port()),
		"--from", "sender@example.com", "--to", "zoe@example.org", "--silent", "2").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "502") {
		t.Fatalf("swaks without AUTH: %v\n%s", err, out)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("a message went through without AUTH")
	}
}
