package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/mholt/acmez/v3/acme"
	"go.uber.org/zap"
)

func TestExplain(t *testing.T) {
	const dir = "https://ca.example/dir"
	refused := &url.Error{Op: "Head", URL: dir, Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	problem := func(typ, detail string) error {
		return fmt.Errorf("[x] Obtain: solving challenges: %w (order=…)", acme.Problem{Type: acme.ProblemTypeNamespace + typ, Detail: detail, Status: 400})
	}
	for _, c := range []struct {
		err  error
		want []string
	}{
		{fmt.Errorf("[blog.example] Obtain: creating new order: %w", refused), []string{"the CA at " + dir + " is unreachable", "connection refused"}},
		{problem("connection", "Connection refused"), []string{"could not connect to this server to validate blog.example", "ports 80 and 443", "Connection refused"}},
		{problem("dns", "NXDOMAIN"), []string{"could not look up blog.example in DNS", "NXDOMAIN"}},
		{problem("unauthorized", "404"), []string{"did not answer its validation request", "Cloudflare"}},
		{problem("rateLimited", "too many certificates"), []string{"rate limit", "too many certificates"}},
		{problem("caa", "CAA forbids"), []string{"CAA DNS record"}},
		{problem("externalAccountRequired", "eab please"), []string{"External Account Binding"}},
		{problem("serverInternal", "boom"), []string{"the CA refused: boom"}},
		{problem("malformed", `Could not resolve URL "blog.example"`), []string{"could not look up blog.example in DNS"}},
		{problem("unauthorized", "Failed to connect to 127.0.0.2:443 for the tls-alpn-01 challenge"), []string{"could not connect to this server"}},
		{problem("unauthorized", "Invalid response from http://blog.example/.well-known/acme-challenge/x: 404"), []string{"did not answer its validation request correctly"}},
		{fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), []string{"does not trust", "ACME CA roots"}},
		{fmt.Errorf("x: %w", &net.DNSError{Err: "no such host", Name: "ca.example"}), []string{"unreachable", "does not resolve"}},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), []string{"did not answer in time"}},
		{errors.New("subject 'demo.localhost' does not qualify for a public certificate"), []string{"local name", "mode internal"}},
	} {
		got := explain(c.err, "blog.example", dir)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("explain(%v)\n = %q\nwant it to contain %q", c.err, got, w)
			}
		}
	}
}

func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	z := zapToSlog(h).Named("renew").With(zap.String("identifier", "a.example"))
	z.Info("acquiring lock")
	z.Error("could not get certificate", zap.Error(errors.New("nope")), zap.Int("attempt", 2))
	z.Debug("too chatty")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="acquiring lock" component=certmagic identifier=a.example logger=renew`,
		`level=WARN msg="could not get certificate" component=certmagic identifier=a.example logger=renew attempt=2 error=nope`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output:\n%s\nwant a line containing %s", out, want)
		}
	}
	if strings.Contains(out, "too chatty") {
		t.Error("certmagic debug lines should sit below slog's debug level")
	}
}
