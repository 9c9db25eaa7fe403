package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
)

// customTag marks uploaded certificates in certmagic's cache, so that they
// are never mistaken for a managed certificate of the same name.
const customTag = "rampart:custom"

// TLSConfig returns the configuration for the edge's HTTPS listener:
// certificates from GetCertificate, TLS 1.2 or newer, only forward-secret
// AEAD cipher suites for TLS 1.2 (TLS 1.3's are all fine and not
// configurable), HTTP/2 and HTTP/1.1 plus acme-tls/1 for the TLS-ALPN-01
// challenge. Key exchange groups are Go's defaults, which include the
// post-quantum hybrid X25519MLKEM768. Session tickets are on, with keys Go
// rotates itself.
//
// Each call returns a new copy. For HTTP/2, set it as the http.Server's
// TLSConfig and call ServeTLS(ln, "", "") (net/http only configures HTTP/2
// for a TLSConfig it can see).
func (m *Manager) TLSConfig() *tls.Config { return m.tlsConf.Clone() }

func (m *Manager) newTLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: []string{"h2", "http/1.1", acmez.ACMETLS1Protocol},
	}
}

// Handshake errors. net/http logs them per connection ("TLS handshake
// error from …"), so they say what happened in a few words.
var (
	errNoSuchDomain = errors.New("not a domain of any service")
	errTLSOff       = errors.New("TLS is off for this domain")
)

// GetCertificate picks the certificate for a TLS handshake. It is the
// GetCertificate of TLSConfig, exported for callers that build their own
// tls.Config.
//
// A name that is not listed gets no certificate, and neither does a name
// with mode off; neither ever reaches a CA, since certificates are only
// obtained by the scheduler for listed names. A handshake without SNI (a
// client dialing an IP address) gets a certificate from the internal CA
// for the local address it connected to. A TLS-ALPN-01 validation
// handshake is answered with certmagic's challenge certificate while that
// challenge is in progress.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	table := *m.table.Load()
	// RFC 6066 forbids IP literals in SNI, but some clients (wrk, older
	// libraries) send the address they dialed: treat that as no SNI.
	if name != "" && net.ParseIP(name) != nil {
		name = ""
	}
	if name == "" {
		ip := localIP(hello)
		// An address listed as a domain of its own is served like one.
		if d := table[ip]; d != nil && (d.mode == ModeInternal || d.mode == ModeCustom) {
			return m.serve(hello, d, ip)
		}
		return m.defaultCert(ip)
	}
	d := table[name]
	if d == nil {
		if i := strings.IndexByte(name, '.'); i > 0 {
			if w := table["*"+name[i:]]; w != nil && w.mode == ModeCustom {
				d = w
			}
		}
		if d == nil {
			return nil, fmt.Errorf("%s: %w", name, errNoSuchDomain)
		}
	}
	if len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol {
		if d.mode != ModeManaged {
			return nil, fmt.Errorf("%s: no ACME challenge for a domain with mode %s", name, d.mode)
		}
		return m.acme.GetCertificate(hello)
	}
	return m.serve(hello, d, name)
}

// serve returns d's certificate, waiting up to HandshakeWait while its
// first one is being obtained.
func (m *Manager) serve(hello *tls.ClientHelloInfo, d *domain, name string) (*tls.Certificate, error) {
	switch d.mode {
	case ModeOff:
		return nil, fmt.Errorf("%s: %w", name, errTLSOff)
	case ModeCustom:
		if c, ok := m.lookupServed(d); ok {
			return &c.Certificate, nil
		}
		if d.custom == nil {
			return nil, fmt.Errorf("%s: the uploaded certificate is unusable: %v", name, d.customErr)
		}
		return d.custom, nil
	}
	if c, ok := m.lookupServed(d); ok {
		return &c.Certificate, nil
	}
	if c, ok := m.fallback(d); ok {
		return &c.Certificate, nil
	}
	if p := d.pending.Load(); p != nil && m.cfg.HandshakeWait > 0 {
		ctx := hello.Context()
		if ctx == nil { // a ClientHelloInfo not made by crypto/tls
			ctx = context.Background()
		}
		t := time.NewTimer(m.cfg.HandshakeWait)
		defer t.Stop()
		select {
		case <-*p:
		case <-t.C:
		case <-ctx.Done():
		}
		if c, ok := m.lookupServed(d); ok {
			return &c.Certificate, nil
		}
	}
	return nil, fmt.Errorf("%s: no certificate yet", name)
}

// lookupServed finds the certificate d serves in certmagic's cache, where
// OCSP staples are kept fresh.
func (m *Manager) lookupServed(d *domain) (certmagic.Certificate, bool) {
	s := d.served.Load()
	if s == nil {
		return certmagic.Certificate{}, false
	}
	for _, c := range m.cache.AllMatchingCertificates(d.name) {
		if c.Hash() == s.hash {
			return c, true
		}
	}
	return certmagic.Certificate{}, false
}

// fallback finds a certificate for d that certmagic put into its cache on
// its own: after an OCSP response said "revoked", certmagic replaces the
// certificate itself. It pokes the scheduler so that the domain's record
// catches up.
func (m *Manager) fallback(d *domain) (certmagic.Certificate, bool) {
	if d.served.Load() == nil {
		return certmagic.Certificate{}, false
	}
	now := time.Now()
	for _, c := range m.cache.AllMatchingCertificates(d.name) {
		if c.HasTag(customTag) || c.Leaf == nil || now.After(c.Leaf.NotAfter) || c.Leaf.VerifyHostname(d.name) != nil {
			continue
		}
		if m.isInternal(c.Leaf) != (d.mode == ModeInternal) {
			continue
		}
		m.mu.Lock()
		if !d.retired && !d.running {
			d.next = now
		}
		m.mu.Unlock()
		m.poke()
		return c, true
	}
	return certmagic.Certificate{}, false
}

// maxDefaultCerts bounds the default certificates kept in memory, one per
// local address clients dial.
const maxDefaultCerts = 64

// localIP is the address the client connected to (127.0.0.1 if unknown).
func localIP(hello *tls.ClientHelloInfo) string {
	if hello.Conn != nil {
		if host, _, err := net.SplitHostPort(hello.Conn.LocalAddr().String()); err == nil {
			if i := strings.IndexByte(host, '%'); i >= 0 {
				host = host[:i] // IPv6 zone
			}
			if ip := net.ParseIP(host); ip != nil {
				return ip.String()
			}
		}
	}
	return "127.0.0.1"
}

// defaultCert answers a handshake without SNI with an internal-CA
// certificate for the local address the client connected to.
func (m *Manager) defaultCert(ip string) (*tls.Certificate, error) {
	m.defMu.Lock()
	defer m.defMu.Unlock()
	c := m.defaults[ip]
	if c != nil && time.Until(c.Leaf.NotAfter) > c.Leaf.NotAfter.Sub(c.Leaf.NotBefore)/3 {
		return c, nil
	}
	c, err := m.ca.Leaf(ip)
	if err != nil {
		return nil, fmt.Errorf("default certificate for %s: %w", ip, err)
	}
	if len(m.defaults) >= maxDefaultCerts {
		clear(m.defaults)
	}
	m.defaults[ip] = c
	return c, nil
}

// HasCertificate reports whether host (a Host header value; a port is
// ignored) has a certificate to serve right now: the condition for
// redirecting its HTTP requests to HTTPS.
func (m *Manager) HasCertificate(host string) bool {
	name := hostname(host)
	d := (*m.table.Load())[name]
	if d == nil {
		if i := strings.IndexByte(name, '.'); i > 0 {
			if w := (*m.table.Load())["*"+name[i:]]; w != nil && w.mode == ModeCustom {
				d = w
			}
		}
	}
	if d == nil {
		return false
	}
	switch d.mode {
	case ModeCustom:
		return d.custom != nil && time.Now().Before(d.custom.Leaf.NotAfter)
	case ModeManaged, ModeInternal:
		s := d.served.Load()
		return s != nil && time.Now().Before(s.leaf.NotAfter)
	}
	return false
}

// hostname strips the port and brackets from a Host header value and
// lower-cases it.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

func issuerName(c *x509.Certificate) string {
	if cn := c.Issuer.CommonName; cn != "" {
		return cn
	}
	if len(c.Issuer.Organization) > 0 {
		return c.Issuer.Organization[0]
	}
	return c.Issuer.String()
}
