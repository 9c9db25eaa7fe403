package certs_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/certs/pebbletest"
)

// Integration tests against a real Pebble. Every test runs its own Pebble
// and uses its own names: certmagic keeps challenge state per name in
// process-wide memory.

func fromPebble(leaf *x509.Certificate) bool {
	return strings.Contains(leaf.Issuer.CommonName, "Pebble")
}

// TestPebbleHTTP01: a domain whose DNS points here gets a certificate over
// HTTP-01, the HTTPS page is served with it over HTTP/2, and plain HTTP
// redirects to HTTPS.
func TestPebbleHTTP01(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort})
	acme := acmeConfig(pb, e)
	acme.DisableTLSALPN01 = true
	var mu sync.Mutex
	var statuses []certs.State
	m := newManager(t, certs.Config{ACME: acme, RedirectPort: e.httpsPort, OnStatus: func(s certs.Status) {
		mu.Lock()
		defer mu.Unlock()
		if s.Name == "blog.http01.test" {
			statuses = append(statuses, s.State)
		}
	}})
	e.serve(m)
	const name = "blog.http01.test"
	pb.DNS.Set(name, "127.0.0.1")
	roots := pb.Roots(t)

	start := time.Now()
	if err := m.SetDomains([]certs.Domain{{Name: name, Mode: certs.ModeManaged}}); err != nil {
		t.Fatal(err)
	}
	body, leaf := e.waitHTTPS(t, name, func() *x509.CertPool { return roots }, 30*time.Second, nil)
	t.Logf("HTTP-01: domain added → first HTTPS response in %v", time.Since(start).Round(time.Millisecond))

	if !strings.Contains(body, "over HTTP/2.0") {
		t.Errorf("body %q: want the page served over HTTP/2", body)
	}
	if !fromPebble(leaf) || leaf.VerifyHostname(name) != nil {
		t.Errorf("served certificate: issuer %q, names %v", leaf.Issuer.CommonName, leaf.DNSNames)
	}
	st := m.Status(name)
	if st.State != certs.StateActive || st.Error != "" || !strings.Contains(st.Issuer, "Pebble") || st.NotAfter.IsZero() {
		t.Errorf("status %+v: want active, issued by Pebble, no error", st)
	}
	// OnStatus runs on the manager's notifier goroutine, which may not have
	// delivered the last change yet when the first handshake succeeds.
	seen := func() []certs.State { mu.Lock(); defer mu.Unlock(); return slices.Clone(statuses) }
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got := seen(); len(got) >= 2 && got[len(got)-1] == certs.StateActive {
			break
		}
	}
	if got := seen(); len(got) < 2 || !slices.Contains(got, certs.StateIssuing) || got[len(got)-1] != certs.StateActive {
		t.Errorf("OnStatus saw %v: want issuing … active", got)
	}
	if !strings.Contains(pb.Log(), "validate w/ HTTP") {
		t.Errorf("pebble log shows no HTTP-01 validation")
	}

	// Plain HTTP: 308 to HTTPS, path and query kept.
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.httpAddr+"/a/b?c=d", strings.NewReader("x"))
	req.Host = name
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := "https://" + name + ":" + strconv.Itoa(e.httpsPort) + "/a/b?c=d"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("HTTP request: %s, Location %q; want 308 to %s", resp.Status, resp.Header.Get("Location"), want)
	}
}

// TestPebbleTLSALPN01 issues over TLS-ALPN-01 alone (no HTTP listener at
// all), from a CA that requires External Account Binding.
func TestPebbleTLSALPN01(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	e.httpLn.Close() // nothing answers HTTP: only TLS-ALPN-01 can work
	mac := make([]byte, 32)
	rand.Read(mac)
	macKey := base64.RawURLEncoding.EncodeToString(mac)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort, EAB: map[string]string{"kid-1": macKey}})
	acme := acmeConfig(pb, e)
	acme.DisableHTTP01 = true
	acme.EAB = &certs.EAB{KeyID: "kid-1", MACKey: macKey}
	m := newManager(t, certs.Config{ACME: acme})
	e.httpsSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("shop page"))
	}), TLSConfig: m.TLSConfig(), ErrorLog: quietLog()}
	go func() { _ = e.httpsSrv.ServeTLS(e.httpsLn, "", "") }()
	t.Cleanup(func() { e.httpsSrv.Close() })

	const name = "shop.alpn.test"
	pb.DNS.Set(name, "127.0.0.1")
	roots := pb.Roots(t)
	start := time.Now()
	if err := m.SetDomains([]certs.Domain{{Name: name, Mode: certs.ModeManaged}}); err != nil {
		t.Fatal(err)
	}
	body, leaf := e.waitHTTPS(t, name, func() *x509.CertPool { return roots }, 30*time.Second, nil)
	t.Logf("TLS-ALPN-01: domain added → first HTTPS response in %v", time.Since(start).Round(time.Millisecond))
	if body != "shop page" || !fromPebble(leaf) {
		t.Errorf("got %q from a certificate by %q", body, leaf.Issuer.CommonName)
	}
	if st := m.Status(name); st.State != certs.StateActive {
		t.Errorf("status %+v, want active", st)
	}
	if strings.Contains(pb.Log(), "validate w/ HTTP") || !strings.Contains(pb.Log(), "set VALID by completed challenge") {
		t.Error("pebble log: want a completed challenge and no HTTP-01 validation")
	}
}

// TestPebbleNoCATraffic: handshakes for names that are not listed, that
// are listed with TLS off, or that only ask for an ACME challenge, get no
// certificate and cause no traffic to the CA at all.
func TestPebbleNoCATraffic(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort})
	m := newManager(t, certs.Config{ACME: acmeConfig(pb, e)})
	e.serve(m)
	// DNS for every one of these points here: only the list decides.
	for _, n := range []string{"stranger.refuse.test", "off.refuse.test", "elsewhere.refuse.test"} {
		pb.DNS.Set(n, "127.0.0.1")
	}
	if err := m.SetDomains([]certs.Domain{{Name: "off.refuse.test", Mode: certs.ModeOff}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sni   string
		alpn  []string
		wantE string
	}{
		{"stranger.refuse.test", nil, "internal error"},
		{"off.refuse.test", nil, "internal error"},
		{"stranger.refuse.test", []string{"acme-tls/1"}, "internal error"},
	} {
		conn, err := tls.Dial("tcp", e.httpsAddr, &tls.Config{ServerName: c.sni, NextProtos: c.alpn, InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Errorf("handshake for %q %v succeeded; want it refused", c.sni, c.alpn)
			continue
		}
		if !strings.Contains(err.Error(), c.wantE) {
			t.Errorf("handshake for %q: %v; want a TLS alert (%s)", c.sni, err, c.wantE)
		}
	}
	// Plain HTTP for those names is not redirected (they have no
	// certificate); the challenge path is not answered either.
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.httpAddr+"/.well-known/acme-challenge/abc", nil)
	req.Host = "stranger.refuse.test"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HTTP for an unlisted host: %s; want it passed to the app", resp.Status)
	}
	// Give any stray background attempt the chance to show up.
	time.Sleep(300 * time.Millisecond)
	if n := pb.Connections(); n != 0 {
		t.Errorf("%d connections to the CA; want none", n)
	}
	if n := pb.Orders(); n != 0 {
		t.Errorf("pebble created %d orders; want none", n)
	}
	if st := m.Status("stranger.refuse.test"); st.State != certs.StateNone {
		t.Errorf("status of an unlisted name: %+v", st)
	}
}

// TestPebbleRenewal: a short-lived certificate is renewed by itself; with
// the CA down the site keeps serving the current certificate and the
// status shows the error; when the CA is back (a reinstalled CA that lost
// every account) renewal succeeds.
func TestPebbleRenewal(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort, Validity: 20 * time.Second})
	m := newManager(t, certs.Config{
		ACME:               acmeConfig(pb, e),
		RenewalWindowRatio: 0.75, // renew 5 s into a 20 s life
		CheckInterval:      time.Second,
		RetryBackoff:       []time.Duration{200 * time.Millisecond, 500 * time.Millisecond},
	})
	e.serve(m)
	const name = "api.renew.test"
	pb.DNS.Set(name, "127.0.0.1")
	roots := pb.Roots(t)
	rootsNow := func() *x509.CertPool { return roots }
	if err := m.SetDomains([]certs.Domain{{Name: name, Mode: certs.ModeManaged}}); err != nil {
		t.Fatal(err)
	}
	_, first := e.waitHTTPS(t, name, rootsNow, 30*time.Second, nil)

	// Renewed by itself.
	_, second := e.waitHTTPS(t, name, rootsNow, 30*time.Second, func(c *x509.Certificate) bool {
		return c.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	t.Logf("renewed by itself: serial %x → %x", first.SerialNumber, second.SerialNumber)

	// CA down: renewal fails, the status says so, the site keeps working.
	pb.Stop()
	st := waitStatus(t, m, name, 30*time.Second, func(s certs.Status) bool { return s.Error != "" })
	if st.State != certs.StateActive || !strings.Contains(st.Error, "unreachable") || st.NextAttempt.IsZero() {
		t.Errorf("status with the CA down: %+v; want active with an 'unreachable' error and a next attempt", st)
	}
	t.Logf("status with the CA down: %s", st.Error)
	_, during := e.waitHTTPS(t, name, rootsNow, 5*time.Second, nil)
	if during.NotAfter.Before(time.Now()) {
		t.Errorf("served an expired certificate")
	}

	// CA back, with a new root and no memory of our account.
	pb.Restart()
	roots2 := pb.Roots(t)
	_, third := e.waitHTTPS(t, name, func() *x509.CertPool { return roots2 }, 30*time.Second, nil)
	st = waitStatus(t, m, name, 10*time.Second, func(s certs.Status) bool { return s.Error == "" })
	if st.State != certs.StateActive {
		t.Errorf("status after the CA came back: %+v", st)
	}
	t.Logf("renewed after the CA came back: serial %x", third.SerialNumber)
}

// TestPebbleReset: `ssl reset` for one name and for everything moves the
// storage aside and ends with a new working certificate each time.
func TestPebbleReset(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort})
	dir := t.TempDir()
	m := newManager(t, certs.Config{Dir: dir, ACME: acmeConfig(pb, e)})
	e.serve(m)
	const name = "www.reset.test"
	pb.DNS.Set(name, "127.0.0.1")
	roots := pb.Roots(t)
	rootsNow := func() *x509.CertPool { return roots }
	if err := m.SetDomains([]certs.Domain{{Name: name, Mode: certs.ModeManaged}, {Name: "demo.localhost", Mode: certs.ModeInternal}}); err != nil {
		t.Fatal(err)
	}
	_, before := e.waitHTTPS(t, name, rootsNow, 30*time.Second, nil)

	for _, target := range []string{name, ""} {
		moved, err := m.Reset(t.Context(), target)
		if err != nil {
			t.Fatalf("Reset(%q): %v", target, err)
		}
		if moved == "" || !strings.HasPrefix(moved, filepath.Join(dir, "storage.old-")) {
			t.Fatalf("Reset(%q) moved files to %q", target, moved)
		}
		if found, _ := filepath.Glob(filepath.Join(moved, "certificates", "*", name, name+".crt")); len(found) != 1 {
			t.Errorf("Reset(%q): the old certificate is not under %s", target, moved)
		}
		_, after := e.waitHTTPS(t, name, rootsNow, 30*time.Second, func(c *x509.Certificate) bool {
			return c.SerialNumber.Cmp(before.SerialNumber) != 0
		})
		if st := m.Status(name); st.State != certs.StateActive {
			t.Errorf("after Reset(%q): %+v", target, st)
		}
		before = after
	}
	// The internal domain was re-issued too, by the same root.
	_, leaf := e.waitHTTPS(t, "demo.localhost", func() *x509.CertPool { return poolOf(m.InternalRootPEM()) }, 10*time.Second, nil)
	if leaf.VerifyHostname("demo.localhost") != nil {
		t.Error("internal certificate after reset does not cover demo.localhost")
	}
}

// TestPebbleCorruptFile: a certificate file found corrupt when the manager
// starts is quarantined and replaced, and the status says so.
func TestPebbleCorruptFile(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort})
	dir := t.TempDir()
	const name = "cms.corrupt.test"
	pb.DNS.Set(name, "127.0.0.1")
	roots := pb.Roots(t)
	rootsNow := func() *x509.CertPool { return roots }
	list := []certs.Domain{{Name: name, Mode: certs.ModeManaged}}

	// First run: obtain, then stop.
	m1, err := certs.New(certs.Config{Dir: dir, ACME: acmeConfig(pb, e), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(m1)
	m1.SetDomains(list)
	waitStatus(t, m1, name, 30*time.Second, func(s certs.Status) bool { return s.State == certs.StateActive })
	m1.Close()

	files, _ := filepath.Glob(filepath.Join(dir, "storage", "certificates", "*", name, name+".crt"))
	if len(files) != 1 {
		t.Fatalf("stored certificate not found: %v", files)
	}
	old, _ := os.ReadFile(files[0])
	garbage := append(old[:len(old)/2:len(old)/2], []byte("\n-----END CERTIFICATE-----\n")...)
	if err := os.WriteFile(files[0], garbage, 0o600); err != nil {
		t.Fatal(err)
	}

	// Second run: the corrupt file is quarantined and a new certificate
	// obtained.
	m2 := newManager(t, certs.Config{Dir: dir, ACME: acmeConfig(pb, e)})
	e.serve(m2)
	m2.SetDomains(list)
	st := waitStatus(t, m2, name, 30*time.Second, func(s certs.Status) bool { return s.State == certs.StateActive })
	if !st.Quarantined || !strings.HasPrefix(st.QuarantinePath, filepath.Join(dir, "quarantine")) {
		t.Fatalf("status %+v: want quarantined under %s", st, filepath.Join(dir, "quarantine"))
	}
	q, err := os.ReadFile(filepath.Join(st.QuarantinePath, name+".crt"))
	if err != nil || !bytes.Equal(q, garbage) {
		t.Errorf("the quarantined file is not the corrupt one: %v", err)
	}
	_, leaf := e.waitHTTPS(t, name, rootsNow, 10*time.Second, nil)
	if !fromPebble(leaf) {
		t.Errorf("served %q", leaf.Issuer.CommonName)
	}
}

// TestPebbleValidationErrors: when validation fails, the status says what
// to fix, and the next attempt is scheduled.
func TestPebbleValidationErrors(t *testing.T) {
	t.Parallel()
	e := newEdge(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: e.httpPort, TLSPort: e.httpsPort})
	m := newManager(t, certs.Config{ACME: acmeConfig(pb, e), RetryBackoff: []time.Duration{time.Hour}})
	e.serve(m)
	pb.DNS.Set("elsewhere.fail.test", "127.0.0.2") // nothing of ours listens there
	// nodns.fail.test has no record at all.
	m.SetDomains([]certs.Domain{
		{Name: "nodns.fail.test", Mode: certs.ModeManaged},
		{Name: "elsewhere.fail.test", Mode: certs.ModeManaged},
	})
	for name, want := range map[string]string{
		"nodns.fail.test":     "could not look up nodns.fail.test in DNS",
		"elsewhere.fail.test": "could not connect to this server to validate elsewhere.fail.test",
	} {
		st := waitStatus(t, m, name, 30*time.Second, func(s certs.Status) bool { return s.State == certs.StateError })
		if !strings.Contains(st.Error, want) || !strings.Contains(st.Error, "; next attempt in 1h") || time.Until(st.NextAttempt) < 50*time.Minute {
			t.Errorf("%s: %q (next %v); want %q and a retry in an hour", name, st.Error, st.NextAttempt, want)
		}
		t.Logf("%s: %s", name, st.Error)
	}
}
