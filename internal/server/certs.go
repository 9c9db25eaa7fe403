package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/config"
)

// newCertManager builds the certificate manager from the acme.* settings.
// The CA's validation connections arrive on the edge's own listeners, so
// the alternate challenge ports default to their ports: certmagic then
// finds them taken and leaves the answers to the handlers the listeners
// run (HTTPHandler on HTTP, the TLS config's acme-tls/1 on HTTPS).
func newCertManager(cfg config.Config, log *slog.Logger, httpLn, httpsLn net.Listener, onStatus func()) (*certs.Manager, error) {
	acme := certs.ACME{
		Directory:      cfg.ACME.Directory,
		Email:          cfg.ACME.Email,
		AltHTTPPort:    cfg.ACME.AltHTTPPort,
		AltTLSALPNPort: cfg.ACME.AltTLSALPNPort,
	}
	if acme.AltHTTPPort == 0 {
		acme.AltHTTPPort = port(httpLn)
	}
	if acme.AltTLSALPNPort == 0 && httpsLn != nil {
		acme.AltTLSALPNPort = port(httpsLn)
	}
	if httpsLn == nil {
		// No HTTPS listener: the CA cannot reach a TLS-ALPN-01 answer.
		acme.DisableTLSALPN01 = true
	}
	if cfg.ACME.EABKeyID != "" {
		acme.EAB = &certs.EAB{KeyID: cfg.ACME.EABKeyID, MACKey: cfg.ACME.EABMACKey}
	}
	if cfg.ACME.TrustedRoots != "" {
		b, err := os.ReadFile(cfg.ACME.TrustedRoots)
		if err != nil {
			return nil, fmt.Errorf("acme.trusted_roots: %w", err)
		}
		acme.TrustedRootsPEM = b
	}
	redirect := 0
	if httpsLn != nil {
		redirect = port(httpsLn)
	}
	m, err := certs.New(certs.Config{
		Dir:          filepath.Join(cfg.Data, "certs"),
		ACME:         acme,
		Logger:       log.With("log", "certs"),
		OnStatus:     func(certs.Status) { onStatus() },
		RedirectPort: redirect,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the certificate manager: %w", err)
	}
	return m, nil
}

func port(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// parseIPs parses node.public_ips (validated already); unparsable entries
// are skipped.
func parseIPs(ips []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// platformOnHTTP sends requests for the platform's own hostnames
// (<service>.<platform domain>) straight to the edge and everything else
// to withCerts. Platform hostnames never need an ACME challenge (they are
// certified by the internal CA or not at all), and they keep answering on
// plain HTTP: with the demo's platform domain localhost they do have a
// certificate, but one that browsers and scripts do not trust until the
// internal root is imported, so a redirect would break
// http://demo.localhost:8080/.
func platformOnHTTP(platformDomain string, edge, withCerts http.Handler) http.Handler {
	suffix := "." + strings.ToLower(strings.TrimSuffix(platformDomain, "."))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := withoutPort(r.Host)
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if strings.HasSuffix(host, suffix) && !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			edge.ServeHTTP(w, r)
			return
		}
		withCerts.ServeHTTP(w, r)
	})
}

// withoutPort is host without its port, if it has one. Most Host fields
// have none, and SplitHostPort would build an error for each of them.
func withoutPort(host string) string {
	if strings.IndexByte(host, ':') < 0 {
		return host
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// adminOnHTTPS sends the requests for admin.domain to the dashboard and
// API, and everything else to the edge. Without an admin domain it is the
// edge itself.
func adminOnHTTPS(adminDomain string, admin, edge http.Handler) http.Handler {
	if adminDomain == "" || admin == nil {
		return edge
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := withoutPort(r.Host)
		if strings.EqualFold(strings.TrimSuffix(host, "."), adminDomain) {
			admin.ServeHTTP(w, r)
			return
		}
		edge.ServeHTTP(w, r)
	})
}
