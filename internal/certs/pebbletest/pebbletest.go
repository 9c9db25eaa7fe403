// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, for
// integration tests: a real CA doing real HTTP-01 and TLS-ALPN-01
// validation, on loopback.
//
//   - Names resolve only through a DNS server the test controls ([dnstest.DNS],
//     Pebble's -dnsserver), so nothing touches /etc/hosts.
//   - The ACME API is reached through a small TCP proxy that counts
//     connections ([Pebble.Connections]), so a test can assert that
//     something caused no CA traffic at all; [Pebble.Stop] closes it too,
//     so clients get "connection refused" as from a CA that is down.
//   - Pebble's own HTTPS certificate comes from a throwaway CA made per
//     instance ([Pebble.APIRootPEM]); the root that signs issued
//     certificates is new at every (re)start ([Pebble.Roots]).
//
// Typical use, with the edge's listeners opened first so that their ports
// are known:
//
//	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: httpsPort})
//	pb.DNS.Set("blog.example.test", "127.0.0.1")
//	// certs.Config{ACME: certs.ACME{Directory: pb.Directory,
//	//     TrustedRootsPEM: pb.APIRootPEM, AltHTTPPort: httpPort, AltTLSALPNPort: httpsPort}}
//	// … then verify the site with pb.Roots(t).
//
// The binary comes from `go install
// github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1`. When it is missing
// the test is skipped with that command, or fails if CI=true.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/testport"
)

// Version is the Pebble release these helpers are written for.
const Version = "v2.10.1"

// Binary returns the path of the named Pebble command ("pebble" or
// "pebble-challtestsrv"), looked up in PATH, $GOBIN and $GOPATH/bin. If it
// is not installed the test is skipped with the install command, or fails
// when the environment variable CI is "true".
func Binary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	msg := fmt.Sprintf("%s is not installed; install it with: go install github.com/letsencrypt/pebble/v2/cmd/%s@%s", name, name, Version)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Options configure a Pebble instance.
type Options struct {
	// HTTPPort and TLSPort are the ports on the resolved address where
	// Pebble's validation authority connects for HTTP-01 and TLS-ALPN-01:
	// the test's HTTP and HTTPS listeners.
	HTTPPort, TLSPort int
	// Validity is the lifetime of issued certificates, in whole seconds.
	// Zero: Pebble's default (90 days).
	Validity time.Duration
	// EAB, if not empty, makes External Account Binding mandatory, with
	// these key IDs and base64url MAC keys.
	EAB map[string]string
	// OCSPResponderURL is put into issued certificates (Pebble does not
	// answer OCSP itself).
	OCSPResponderURL string
}

// Pebble is a running Pebble.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// APIRootPEM is the root to trust for the ACME API's HTTPS.
	APIRootPEM []byte
	// DNS answers the validation authority's lookups.
	DNS *dnstest.DNS

	t         testing.TB
	bin, conf string
	apiAddr   string
	mgmtAddr  string
	proxyAddr string
	client    *http.Client
	out       *syncBuffer
	conns     atomic.Int64

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	proxy net.Listener
}

// Start runs Pebble and its DNS server until the test ends.
func Start(t testing.TB, opts Options) *Pebble {
	t.Helper()
	bin := Binary(t, "pebble")
	dir := t.TempDir()

	apiRoot, certFile, keyFile := apiCertificate(t, dir)
	p := &Pebble{
		APIRootPEM: apiRoot,
		DNS:        dnstest.Start(t),
		t:          t,
		bin:        bin,
		conf:       filepath.Join(dir, "pebble.json"),
		apiAddr:    testport.Addr(t),
		mgmtAddr:   testport.Addr(t),
		out:        &syncBuffer{},
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(apiRoot)
	p.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	type profile struct {
		Description    string `json:"description"`
		ValidityPeriod uint64 `json:"validityPeriod"`
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  p.apiAddr,
		"managementListenAddress":        p.mgmtAddr,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               opts.OCSPResponderURL,
		"externalAccountBindingRequired": len(opts.EAB) > 0,
		"externalAccountMACKeys":         opts.EAB,
		"keyAlgorithm":                   "ecdsa",
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"profiles": map[string]profile{
			"default": {Description: "test profile", ValidityPeriod: uint64(opts.Validity / time.Second)},
		},
	}}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.conf, b, 0o600); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.proxyAddr = ln.Addr().String()
	p.Directory = "https://" + p.proxyAddr + "/dir"
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pebble output (last 4 KiB):\n%s", p.out.tail(4096))
		}
	})
	p.start(ln)
	return p
}

func (p *Pebble) start(proxy net.Listener) {
	p.t.Helper()
	cmd := exec.Command(p.bin, "-config", p.conf, "-dnsserver", p.DNS.Addr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		proxy.Close()
		p.t.Fatalf("starting pebble: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done, p.proxy = cmd, done, proxy
	p.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := p.client.Get("https://" + p.apiAddr + "/dir")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			p.t.Fatalf("pebble exited at start:\n%s", p.out.tail(4096))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pebble did not answer within 15s (%v):\n%s", err, p.out.tail(4096))
		}
		time.Sleep(20 * time.Millisecond)
	}
	go p.serveProxy(proxy)
}

func (p *Pebble) serveProxy(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		go func() {
			defer c.Close()
			up, err := net.DialTimeout("tcp", p.apiAddr, 5*time.Second)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			_, _ = io.Copy(c, up)
		}()
	}
}

// Stop kills Pebble and closes the ACME address, so that clients get
// "connection refused" as from a CA that is down. Stopping twice is fine.
func (p *Pebble) Stop() {
	p.mu.Lock()
	cmd, done, proxy := p.cmd, p.done, p.proxy
	p.cmd, p.proxy = nil, nil
	p.mu.Unlock()
	if proxy != nil {
		proxy.Close()
	}
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts a stopped Pebble again on the same addresses. Like a
// reinstalled CA it has forgotten every account and order, and signs with
// a new root (see Roots).
func (p *Pebble) Restart() {
	p.t.Helper()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.proxyAddr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("reopening the ACME address %s: %v", p.proxyAddr, err)
	}
	p.start(ln)
}

// Roots returns the root that signs Pebble's certificates now (new at
// every start), for verifying what it issued.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	pem := p.RootPEM(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("pebble returned no PEM root: %q", pem)
	}
	return pool
}

// RootPEM is Roots, PEM-encoded.
func (p *Pebble) RootPEM(t testing.TB) []byte {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmtAddr + "/roots/0")
	if err != nil {
		t.Fatalf("fetching pebble's root: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fetching pebble's root: %s %v", resp.Status, err)
	}
	return b
}

// Connections counts the TCP connections made to the ACME API so far.
func (p *Pebble) Connections() int64 { return p.conns.Load() }

// Orders counts the orders Pebble created so far (since the first start).
func (p *Pebble) Orders() int { return strings.Count(p.out.String(), "Added order") }

// Log returns Pebble's output so far.
func (p *Pebble) Log() string { return p.out.String() }

// apiCertificate makes a throwaway CA and a certificate for localhost and
// 127.0.0.1 signed by it, for Pebble's HTTPS listeners.
func apiCertificate(t testing.TB, dir string) (rootPEM []byte, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest API root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost", "pebble"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), certFile, keyFile
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) tail(n int) string {
	str := s.String()
	if len(str) > n {
		str = "…" + str[len(str)-n:]
	}
	return str
}

// WaitFor polls cond every 20 ms until it returns true or d passes; it
// reports whether cond became true. For bounded waits in tests.
func WaitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
}
