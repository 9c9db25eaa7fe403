package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/certs/certstest"
	"github.com/rampart-dev/rampart/internal/certs/pebbletest"
)

// These tests need no CA: the internal CA, uploaded certificates, the
// handshake policy and the HTTP handler. The defaults point at Let's
// Encrypt, which must never be contacted here: no domain is managed.

// TestInternalCA: an internal domain gets a leaf that verifies against the
// root the manager hands out, served over HTTPS; a handshake without SNI
// gets the default certificate for the address dialed.
func TestInternalCA(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	m := newManager(t, certs.Config{})
	e.serve(m)
	roots := poolOf(m.InternalRootPEM())
	if err := m.SetDomains([]certs.Domain{{Name: "Demo.Localhost.", Mode: certs.ModeInternal}}); err != nil {
		t.Fatal(err)
	}
	body, leaf := e.waitHTTPS(t, "demo.localhost", func() *x509.CertPool { return roots }, 10*time.Second, nil)
	if !strings.Contains(body, "demo.localhost") {
		t.Errorf("body %q", body)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 8*24*time.Hour {
		t.Errorf("internal leaf lives %v; want about a week", life)
	}
	st := m.Status("demo.localhost")
	if st.State != certs.StateActive || st.Mode != certs.ModeInternal || !strings.Contains(st.Issuer, "rampart internal CA") {
		t.Errorf("status %+v", st)
	}

	// No SNI: Go sends none when dialing an IP address, and verifies the
	// IP address in the certificate instead.
	_, leaf, err := httpsGet(t.Context(), e.httpsAddr, "127.0.0.1", roots)
	if err != nil {
		t.Fatalf("HTTPS without SNI: %v", err)
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("default certificate names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	// Some clients (wrk) send the IP address they dialed as SNI, which RFC
	// 6066 forbids: they get the same default certificate.
	c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("handshake with an IP address as SNI: %v", err)
	}
	if ips := c.Leaf.IPAddresses; len(ips) != 1 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("with an IP address as SNI the certificate names %v", ips)
	}
}

// TestHandshakePolicy: what a handshake gets for each kind of name.
func TestHandshakePolicy(t *testing.T) {
	t.Parallel()
	m := newManager(t, certs.Config{HandshakeWait: -1})
	customPEM, customKey := certstest.SelfSigned(t, "*.shop.example", time.Now().Add(90*24*time.Hour))
	err := m.SetDomains([]certs.Domain{
		{Name: "off.example", Mode: certs.ModeOff},
		{Name: "*.shop.example", Mode: certs.ModeCustom, CertPEM: customPEM, KeyPEM: customKey},
		{Name: "app.test", Mode: certs.ModeInternal},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, "app.test", 10*time.Second, func(s certs.Status) bool { return s.State == certs.StateActive })
	for _, c := range []struct {
		sni     string
		wantErr string
		wantCN  string
	}{
		{"unlisted.example", "not a domain of any service", ""},
		{"off.example", "TLS is off", ""},
		{"a.shop.example", "", "*.shop.example"},
		{"A.Shop.Example.", "", "*.shop.example"},
		{"a.b.shop.example", "not a domain of any service", ""},
		{"app.test", "", ""},
	} {
		got, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: c.sni})
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v; want %q", c.sni, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.sni, err)
			continue
		}
		if c.wantCN != "" && got.Leaf.Subject.CommonName != c.wantCN {
			t.Errorf("%s: got certificate for %q", c.sni, got.Leaf.Subject.CommonName)
		}
	}
	if st := m.Status("*.shop.example"); st.State != certs.StateActive {
		t.Errorf("custom status %+v", st)
	}
}

// TestSetDomainsValidation: unusable entries are reported and skipped,
// the rest applied.
func TestSetDomainsValidation(t *testing.T) {
	t.Parallel()
	m := newManager(t, certs.Config{})
	err := m.SetDomains([]certs.Domain{
		{Name: "*.wild.example", Mode: certs.ModeManaged},
		{Name: "Real.Example.", Mode: certs.ModeInternal},
		{Name: "x.test", Mode: "sometimes"},
		{Name: "y.test"},
		{Name: "ok.test", Mode: certs.ModeOff},
		{Name: "OK.test", Mode: certs.ModeOff},
		{Name: "ok.test.", Mode: certs.ModeOff},
		{Name: "*.*.Example", Mode: certs.ModeOff},
		{Name: "bücher.test", Mode: certs.ModeOff},
	})
	for _, want := range []string{"DNS-01", "internal CA only certifies local names", "unknown TLS mode", "no TLS mode", "listed twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want it to mention %q", err, want)
		}
	}
	// Names are normalized where that worked and kept as given where not;
	// a caller's wrapping does not hide them.
	byName := certs.DomainErrors(fmt.Errorf("applying domains: %w", err))
	if got := slices.Sorted(maps.Keys(byName)); !slices.Equal(got, []string{"*.*.Example", "*.wild.example", "ok.test", "real.example", "x.test", "y.test"}) {
		t.Errorf("DomainErrors names %q", got)
	}
	if e := byName["ok.test"]; e == nil || strings.Count(e.Error(), "listed twice") != 2 {
		t.Errorf("ok.test: %v; want both duplicates", e)
	}
	if certs.DomainErrors(nil) != nil || len(certs.DomainErrors(io.EOF)) != 0 {
		t.Error("DomainErrors finds domains in nil or a plain error")
	}
	if st := m.Status("ok.test"); st.Mode != certs.ModeOff {
		t.Errorf("ok.test not applied: %+v", st)
	}
	if st := m.Status("xn--bcher-kva.test"); st.Mode != certs.ModeOff {
		t.Errorf("IDN not stored as punycode: %+v", st)
	}
	if st := m.Status("real.example"); st.Mode != "" {
		t.Errorf("rejected entry applied: %+v", st)
	}
}

// TestCustomStatus: problems with uploads show in the status.
func TestCustomStatus(t *testing.T) {
	t.Parallel()
	m := newManager(t, certs.Config{})
	wrongPEM, wrongKey := certstest.SelfSigned(t, "other.example", time.Now().Add(24*time.Hour))
	oldPEM, oldKey := certstest.SelfSigned(t, "old.example", time.Now().Add(-time.Hour))
	soonPEM, soonKey := certstest.SelfSigned(t, "soon.example", time.Now().Add(3*24*time.Hour))
	m.SetDomains([]certs.Domain{
		{Name: "wrong.example", Mode: certs.ModeCustom, CertPEM: wrongPEM, KeyPEM: wrongKey},
		{Name: "old.example", Mode: certs.ModeCustom, CertPEM: oldPEM, KeyPEM: oldKey},
		{Name: "soon.example", Mode: certs.ModeCustom, CertPEM: soonPEM, KeyPEM: soonKey},
	})
	for name, want := range map[string]struct {
		state certs.State
		err   string
	}{
		"wrong.example": {certs.StateError, "is for other.example, not wrong.example"},
		"old.example":   {certs.StateError, "expired on"},
		"soon.example":  {certs.StateActive, "expires on"},
	} {
		st := waitStatus(t, m, name, 5*time.Second, func(s certs.Status) bool { return s.State != certs.StateNone })
		if st.State != want.state || !strings.Contains(st.Error, want.err) {
			t.Errorf("%s: %s %q; want %s with %q", name, st.State, st.Error, want.state, want.err)
		}
	}
}

func TestParseCustom(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := certstest.SelfSigned(t, "a.example", time.Now().Add(time.Hour))
	_, otherKey := certstest.SelfSigned(t, "a.example", time.Now().Add(time.Hour))
	for _, c := range []struct {
		name       string
		cert, key  []byte
		wantSubstr string
	}{
		{"a.example", certPEM, keyPEM, ""},
		{"a.example", nil, keyPEM, "both the certificate"},
		{"a.example", []byte("hello"), keyPEM, "not PEM"},
		{"a.example", keyPEM, certPEM, "holds a"},
		{"a.example", certPEM, otherKey, "does not belong to the certificate"},
		{"b.example", certPEM, keyPEM, "is for a.example, not b.example"},
	} {
		_, err := certs.ParseCustom(c.name, c.cert, c.key)
		if c.wantSubstr == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
			t.Errorf("%s: err %v; want %q", c.name, err, c.wantSubstr)
		}
	}
}

// TestHTTPHandler: redirect only hosts that have a certificate; keep the
// rest on HTTP.
func TestHTTPHandler(t *testing.T) {
	t.Parallel()
	m := newManager(t, certs.Config{RedirectPort: 8443, HandshakeWait: -1})
	m.SetDomains([]certs.Domain{{Name: "demo.localhost", Mode: certs.ModeInternal}, {Name: "plain.example", Mode: certs.ModeOff}})
	waitStatus(t, m, "demo.localhost", 10*time.Second, func(s certs.Status) bool { return s.State == certs.StateActive })
	h := m.HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	for _, c := range []struct {
		host, path   string
		code         int
		wantLocation string
	}{
		{"demo.localhost:8080", "/x?y=1", http.StatusPermanentRedirect, "https://demo.localhost:8443/x?y=1"},
		{"DEMO.localhost", "/", http.StatusPermanentRedirect, "https://demo.localhost:8443/"},
		{"plain.example", "/", http.StatusOK, ""},
		{"unknown.example", "/.well-known/acme-challenge/token", http.StatusOK, ""},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, c.path, nil)
		req.Host = c.host
		h.ServeHTTP(rec, req)
		if rec.Code != c.code || rec.Header().Get("Location") != c.wantLocation {
			t.Errorf("%s%s: %d %q; want %d %q", c.host, c.path, rec.Code, rec.Header().Get("Location"), c.code, c.wantLocation)
		}
	}
}

// TestTLSDefaults: TLS 1.1 is refused; HTTP/2 is offered.
func TestTLSDefaults(t *testing.T) {
	t.Parallel()
	m := newManager(t, certs.Config{})
	cfg := m.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 || cfg.NextProtos[0] != "h2" {
		t.Errorf("min version %x, protocols %v", cfg.MinVersion, cfg.NextProtos)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: poolOf(m.InternalRootPEM()), NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	defer c.Close()
	if st := c.ConnectionState(); st.NegotiatedProtocol != "h2" || st.Version != tls.VersionTLS13 {
		t.Errorf("negotiated %q over %x; want h2 over TLS 1.3", st.NegotiatedProtocol, st.Version)
	}
}

// TestOCSPStapling: a certificate whose CA runs an OCSP responder gets its
// response stapled to handshakes; one whose responder is unreachable is
// served all the same, without a staple.
func TestOCSPStapling(t *testing.T) {
	t.Parallel()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test OCSP CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)

	var asked atomic.Int32
	responder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		asked.Add(1)
		resp, err := ocsp.CreateResponse(ca, ca, ocsp.Response{
			Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour),
		}, caKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	defer responder.Close()

	leaf := func(name, ocspURL string) (certPEM, keyPEM []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(now.UnixNano()), DNSNames: []string{name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			OCSPServer: []string{ocspURL},
		}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		k, _ := x509.MarshalPKCS8PrivateKey(key)
		return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
	}
	goodCert, goodKey := leaf("stapled.example", responder.URL)
	deadCert, deadKey := leaf("unstapled.example", "http://127.0.0.1:1/")

	e := newEdge(t)
	m := newManager(t, certs.Config{CheckInterval: 200 * time.Millisecond})
	e.serve(m)
	m.SetDomains([]certs.Domain{
		{Name: "stapled.example", Mode: certs.ModeCustom, CertPEM: goodCert, KeyPEM: goodKey},
		{Name: "unstapled.example", Mode: certs.ModeCustom, CertPEM: deadCert, KeyPEM: deadKey},
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	handshake := func(name string) tls.ConnectionState {
		c, err := tls.Dial("tcp", e.httpsAddr, &tls.Config{ServerName: name, RootCAs: roots})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer c.Close()
		return c.ConnectionState()
	}
	var staple []byte
	if !pebbletest.WaitFor(t.Context(), 10*time.Second, func() bool { staple = handshake("stapled.example").OCSPResponse; return len(staple) > 0 }) {
		t.Fatalf("no OCSP staple within 10s (responder asked %d times)", asked.Load())
	}
	resp, err := ocsp.ParseResponse(staple, ca)
	if err != nil || resp.Status != ocsp.Good {
		t.Errorf("staple: %v, status %v", err, resp)
	}
	if st := handshake("unstapled.example"); len(st.OCSPResponse) != 0 {
		t.Error("a staple for a certificate whose responder is unreachable")
	}
	if st := m.Status("unstapled.example"); st.State != certs.StateActive {
		t.Errorf("status with an unreachable responder: %+v", st)
	}
}

// TestModeChanges: switching a name between modes serves the right
// certificate each time, and removing it stops serving it.
func TestModeChanges(t *testing.T) {
	t.Parallel()
	m := newManager(t, certs.Config{HandshakeWait: 5 * time.Second})
	const name = "switch.test"
	customPEM, customKey := certstest.SelfSigned(t, name, time.Now().Add(30*24*time.Hour))
	issuer := func() string {
		t.Helper()
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if err != nil {
			return "error: " + err.Error()
		}
		return c.Leaf.Issuer.CommonName
	}
	steps := []struct {
		d    certs.Domain
		want string
	}{
		{certs.Domain{Name: name, Mode: certs.ModeInternal}, "rampart internal CA"},
		{certs.Domain{Name: name, Mode: certs.ModeCustom, CertPEM: customPEM, KeyPEM: customKey}, name},
		{certs.Domain{Name: name, Mode: certs.ModeOff}, "error: " + name + ": TLS is off for this domain"},
		{certs.Domain{Name: name, Mode: certs.ModeInternal}, "rampart internal CA"},
	}
	for i, s := range steps {
		if err := m.SetDomains([]certs.Domain{s.d}); err != nil {
			t.Fatal(err)
		}
		// The first handshake after a change waits for the new certificate.
		if got := issuer(); !strings.HasPrefix(got, s.want) {
			t.Errorf("step %d (%s): served %q; want %q", i, s.d.Mode, got, s.want)
		}
		if st := m.Status(name); st.Mode != s.d.Mode {
			t.Errorf("step %d: status mode %q", i, st.Mode)
		}
	}
	m.SetDomains(nil)
	if got := issuer(); !strings.Contains(got, "not a domain of any service") {
		t.Errorf("after removal: %q", got)
	}
	if st := m.Status(name); st.State != certs.StateNone {
		t.Errorf("after removal: %+v", st)
	}
}
