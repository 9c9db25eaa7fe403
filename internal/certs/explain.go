package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/mholt/acmez/v3/acme"
)

// explain turns an error from certmagic, acmez or the network into a
// sentence a person can act on. The sentence says who failed (the CA, the
// validation of this server, the network to the CA) and what to check; the
// CA's own words follow in parentheses, because they are often the most
// precise part.
func explain(err error, name, directory string) string {
	var p acme.Problem
	if errors.As(err, &p) {
		return explainProblem(p, name)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not qualify for a public certificate"):
		return fmt.Sprintf("%s is a local name that no public CA will certify; give it TLS mode internal (or upload a certificate)", name)
	case strings.HasPrefix(msg, "internal CA:") || strings.HasPrefix(msg, "the uploaded certificate"):
		return msg
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	if errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) {
		return fmt.Sprintf("the CA at %s presented an HTTPS certificate this server does not trust (%v); if it is a private CA, add its root to the ACME CA roots", directory, innermost(err))
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("the CA at %s is unreachable: its name does not resolve (%v); check this server's DNS resolver and the directory URL", directory, dnsErr)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Sprintf("the CA at %s is unreachable (%v)", directory, innermost(err))
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("the CA at %s did not answer in time (%v)", directory, innermost(err))
	}
	return msg
}

func explainProblem(p acme.Problem, name string) string {
	detail := p.Detail
	for _, s := range p.Subproblems {
		if s.Detail != "" && !strings.Contains(detail, s.Detail) {
			detail += "; " + s.Detail
		}
	}
	if detail == "" {
		detail = p.Title
	}
	kind := strings.TrimPrefix(p.Type, acme.ProblemTypeNamespace)
	// CAs differ in the type they give a failed lookup or connection
	// (Pebble: "malformed", "unauthorized"); the detail says which it was.
	typ := p.Type
	switch d := strings.ToLower(detail); {
	case containsAny(d, "dns problem", "nxdomain", "could not resolve", "no valid a records", "servfail", "no such host"):
		typ = acme.ProblemTypeDNS
	case containsAny(d, "failed to connect", "connection refused", "timeout", "timed out", "connection reset", "no route to host"):
		typ = acme.ProblemTypeConnection
	}
	switch typ {
	case acme.ProblemTypeConnection, acme.ProblemTypeTLS:
		return fmt.Sprintf("the CA could not connect to this server to validate %s (%s: %s); check that the domain's DNS points here and that ports 80 and 443 are open to the internet (firewall, cloud security group)", name, kind, detail)
	case acme.ProblemTypeDNS:
		return fmt.Sprintf("the CA could not look up %s in DNS (%s); check the domain's A/AAAA or CNAME record", name, detail)
	case acme.ProblemTypeUnauthorized, acme.ProblemTypeIncorrectResponse:
		return fmt.Sprintf("the CA reached a server for %s that did not answer its validation request correctly (%s); the domain's DNS may point at another server, or a proxy (such as Cloudflare's orange cloud) may be in front — point DNS here directly while the certificate is issued", name, detail)
	case acme.ProblemTypeCAA:
		return fmt.Sprintf("a CAA DNS record forbids this CA from issuing for %s (%s); add the CA to the record or remove the record", name, detail)
	case acme.ProblemTypeRateLimited:
		return fmt.Sprintf("the CA refused: rate limit reached (%s)", detail)
	case acme.ProblemTypeRejectedIdentifier, acme.ProblemTypeUnsupportedIdentifier:
		return fmt.Sprintf("the CA refused to issue for %s (%s)", name, detail)
	case acme.ProblemTypeExternalAccountRequired:
		return fmt.Sprintf("the CA requires External Account Binding; configure the EAB key ID and MAC key the CA issued (%s)", detail)
	case acme.ProblemTypeUserActionRequired:
		return fmt.Sprintf("the CA requires action on the account (%s) %s", detail, p.Instance)
	}
	if kind == "" {
		kind = fmt.Sprintf("HTTP %d", p.Status)
	}
	return fmt.Sprintf("the CA refused: %s (%s)", detail, kind)
}

// innermost returns the deepest wrapped error, usually the one that names
// the actual failure ("connect: connection refused").
func innermost(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
