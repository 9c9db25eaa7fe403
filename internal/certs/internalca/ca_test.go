package internalca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() != b.Fingerprint() || a.IssuerKey() != b.IssuerKey() {
		t.Error("a second Load made a new root")
	}
	fi, err := os.Stat(filepath.Join(dir, RootKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("root key mode %v, %v; want 0600", fi.Mode(), err)
	}
	root := a.Root()
	if !root.IsCA || !root.MaxPathLenZero || !root.PermittedDNSDomainsCritical {
		t.Errorf("root: CA %v, max path 0 %v, constraints critical %v", root.IsCA, root.MaxPathLenZero, root.PermittedDNSDomainsCritical)
	}
}

func TestCorruptRootIsReplaced(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, RootKeyFile), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() == b.Fingerprint() || a.IssuerKey() == b.IssuerKey() {
		t.Error("corrupt root was not replaced by a new one with a new issuer key")
	}
	q, _ := filepath.Glob(filepath.Join(dir, "quarantine-*", RootCertFile))
	if len(q) != 1 {
		t.Errorf("old root not kept in quarantine: %v", q)
	}
}

func TestIssue(t *testing.T) {
	ca, err := Load(t.TempDir(), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.RootPEM())

	issue := func(dns []string, ips []net.IP) (*x509.Certificate, error) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dns, IPAddresses: ips}, key)
		if err != nil {
			t.Fatal(err)
		}
		csr, _ := x509.ParseCertificateRequest(der)
		ic, err := ca.Issue(context.Background(), csr)
		if err != nil {
			return nil, err
		}
		b, _ := pem.Decode(ic.Certificate)
		return x509.ParseCertificate(b.Bytes)
	}

	leaf, err := issue([]string{"demo.localhost", "app.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo.localhost", "app.test", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if life := time.Until(leaf.NotAfter); life > time.Hour || life < 50*time.Minute {
		t.Errorf("leaf lifetime %v; want the configured hour", life)
	}

	for _, bad := range []string{"example.com", "localhost.example.com", "evil.test.example.org"} {
		if _, err := issue([]string{bad}, nil); err == nil || !strings.Contains(err.Error(), "not a local name") {
			t.Errorf("%s: err %v; want a refusal", bad, err)
		}
	}
	if _, err := issue(nil, []net.IP{net.ParseIP("8.8.8.8")}); err == nil {
		t.Error("issued for a public IP")
	}
}

// TestNameConstraints: even a certificate the root's key signed for a real
// domain does not verify: the constraints are in the root itself.
func TestNameConstraints(t *testing.T) {
	ca, err := Load(t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.RootPEM())
	c, err := ca.Leaf("bank.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "bank.example.com", Roots: roots}); err == nil {
		t.Error("a leaf for bank.example.com verified against the internal root")
	}
	c, err = ca.Leaf("10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: "10.1.2.3", Roots: roots}); err != nil {
		t.Errorf("private IP leaf: %v", err)
	}
}

func TestPermitted(t *testing.T) {
	for name, want := range map[string]bool{
		"localhost": true, "demo.localhost": true, "a.b.test": true, "test": true,
		"nas.home.arpa": true, "printer.local": true, "svc.internal": true,
		"127.0.0.1": true, "::1": true, "192.168.1.2": true,
		"example.com": false, "localhost.com": false, "mytest": false, "8.8.8.8": false, "2001:db8::1": false,
	} {
		if got := Permitted(name); got != want {
			t.Errorf("Permitted(%q) = %v", name, got)
		}
	}
}
