// Package internalca is rampart's own certificate authority, for names that
// no public CA will certify: demo.localhost, app.test, the loopback address
// a benchmark dials without SNI.
//
// It is one ECDSA P-256 root, kept under its directory (the key 0600) and
// valid for ten years, that signs short-lived leaves directly. There is no
// intermediate: the root key lives on the same disk as the leaves' keys, so
// an intermediate would add a certificate to every handshake and protect
// nothing.
//
// A person is asked to trust this root in their browser, so the root carries
// X.509 name constraints: it can only vouch for names under .localhost,
// .test, .internal, .local and .home.arpa and for loopback and private IP
// addresses. Even if its key leaked, a browser that trusts it would still
// reject a certificate it signed for a real domain.
//
// The CA is a [certmagic.Issuer], so storage, renewal and caching of its
// leaves are certmagic's, exactly as for certificates from an ACME CA.
package internalca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/rampart-dev/rampart"
)

// Defaults.
const (
	// DefaultLeafLifetime is how long a leaf is valid. Short, because
	// renewal is local and free; certmagic renews at two thirds of it.
	DefaultLeafLifetime = 7 * 24 * time.Hour
	rootLifetime        = 10 * 365 * 24 * time.Hour
	// backdate absorbs clock skew between this machine and its clients.
	backdate = 5 * time.Minute
)

// File names under the CA's directory.
const (
	RootCertFile = "root.crt"
	RootKeyFile  = "root.key"
)

// PermittedDomains are the DNS suffixes the root may certify: names reserved
// for local use that no public CA can issue for. They, and the networks
// below, are the root package's definition of an internal name, so that
// the service layer and this CA never disagree about one.
var PermittedDomains = rampart.InternalDomains

// permittedNets are the IP ranges the root may certify: loopback and
// private networks, in the form x509 name constraints take.
var permittedNets = func() []*net.IPNet {
	nets := make([]*net.IPNet, len(rampart.InternalNetworks))
	for i, p := range rampart.InternalNetworks {
		nets[i] = &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
	}
	return nets
}()

// Permitted reports whether name (a DNS name or an IP address) is one the
// internal CA can certify.
func Permitted(name string) bool { return rampart.IsInternalName(name) }

func permittedIP(ip net.IP) bool { return rampart.IsInternalName(ip.String()) }

// CA signs leaves with a persisted root. Its methods are safe for
// concurrent use.
type CA struct {
	root     *x509.Certificate
	rootPEM  []byte
	key      crypto.Signer
	key16    string
	lifetime time.Duration
}

// Load reads the root from dir, creating the directory and a new root if
// there is none. A root whose files cannot be parsed, or whose key does not
// match its certificate, is moved to dir/quarantine-<time> and replaced by a
// new one (logged at warning level, since browsers that trusted the old
// root must trust the new one). leafLifetime 0 means DefaultLeafLifetime.
func Load(dir string, leafLifetime time.Duration, log *slog.Logger) (*CA, error) {
	if log == nil {
		log = slog.Default()
	}
	if leafLifetime <= 0 {
		leafLifetime = DefaultLeafLifetime
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("internal CA: creating %s: %w", dir, err)
	}
	certPath, keyPath := filepath.Join(dir, RootCertFile), filepath.Join(dir, RootKeyFile)
	certPEM, cerr := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	switch {
	case cerr == nil && kerr == nil:
		ca, err := parse(certPEM, keyPEM)
		if err == nil {
			ca.lifetime = leafLifetime
			return ca, nil
		}
		q := filepath.Join(dir, "quarantine-"+time.Now().UTC().Format("20060102T150405Z"))
		if mkErr := os.MkdirAll(q, 0o700); mkErr != nil {
			return nil, fmt.Errorf("internal CA: the root in %s is unusable (%v) and cannot be moved aside: %w", dir, err, mkErr)
		}
		for _, f := range []string{RootCertFile, RootKeyFile} {
			if mvErr := os.Rename(filepath.Join(dir, f), filepath.Join(q, f)); mvErr != nil {
				return nil, fmt.Errorf("internal CA: the root in %s is unusable (%v) and cannot be moved aside: %w", dir, err, mvErr)
			}
		}
		log.Warn("internal CA: the root certificate or key was unusable; moved it aside and created a new root — browsers that trusted the old root must trust the new one",
			"problem", err.Error(), "moved_to", q)
	case errors.Is(cerr, fs.ErrNotExist) && errors.Is(kerr, fs.ErrNotExist):
	case cerr != nil && !errors.Is(cerr, fs.ErrNotExist):
		return nil, fmt.Errorf("internal CA: reading %s: %w", certPath, cerr)
	case kerr != nil && !errors.Is(kerr, fs.ErrNotExist):
		return nil, fmt.Errorf("internal CA: reading %s: %w", keyPath, kerr)
	default:
		// One of the two files is missing: the pair cannot be used, and
		// there is nothing to keep the other for.
		log.Warn("internal CA: root certificate or key missing; creating a new root", "dir", dir)
	}
	ca, certPEM, keyPEM, err := create()
	if err != nil {
		return nil, err
	}
	ca.lifetime = leafLifetime
	// The key first, so that a crash between the writes leaves a key
	// without a certificate (replaced at next start) rather than a
	// certificate clients might trust whose key is gone.
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("internal CA: writing %s: %w", keyPath, err)
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("internal CA: writing %s: %w", certPath, err)
	}
	log.Info("internal CA: created a new root", "certificate", certPath, "fingerprint_sha256", fingerprint(ca.root))
	return ca, nil
}

func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func parse(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	root := pair.Leaf
	if !root.IsCA {
		return nil, errors.New("the root certificate is not a CA certificate")
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported root key type %T", pair.PrivateKey)
	}
	return newCA(root, key), nil
}

func newCA(root *x509.Certificate, key crypto.Signer) *CA {
	sum := sha256.Sum256(root.RawSubjectPublicKeyInfo)
	return &CA{
		root:    root,
		rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		key:     key,
		key16:   hex.EncodeToString(sum[:8]),
	}
}

func create() (*CA, []byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	host, _ := os.Hostname()
	cn := "rampart internal CA"
	if host != "" {
		cn += " (" + host + ")"
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:                serial(),
		Subject:                     pkix.Name{CommonName: cn, Organization: []string{"rampart"}},
		NotBefore:                   now.Add(-backdate),
		NotAfter:                    now.Add(rootLifetime),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         PermittedDomains,
		PermittedIPRanges:           permittedNets,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("internal CA: creating root: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return newCA(root, key), certPEM, keyPEM, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// RootPEM returns the root certificate, PEM-encoded: what a person imports
// into a browser or passes to curl --cacert.
func (ca *CA) RootPEM() []byte { return append([]byte(nil), ca.rootPEM...) }

// Root returns the parsed root certificate.
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Fingerprint is the SHA-256 fingerprint of the root, hex-encoded, as
// browsers show it.
func (ca *CA) Fingerprint() string { return fingerprint(ca.root) }

// IssuerKey implements [certmagic.Issuer]. It names the root, so leaves of
// an earlier root (one replaced after it was lost or corrupted) are stored
// apart and never served again.
func (ca *CA) IssuerKey() string { return "rampart-internal-" + ca.key16 }

// Issue implements [certmagic.Issuer]: it signs a leaf for the names in
// csr, all of which must be [Permitted].
func (ca *CA) Issue(_ context.Context, csr *x509.CertificateRequest) (*certmagic.IssuedCertificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("internal CA: invalid certificate request: %w", err)
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, errors.New("internal CA: only DNS names and IP addresses can be certified")
	}
	der, err := ca.sign(csr.PublicKey, csr.DNSNames, csr.IPAddresses, true)
	if err != nil {
		return nil, err
	}
	return &certmagic.IssuedCertificate{
		Certificate: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Metadata:    map[string]string{"issuer": "rampart internal CA", "root_sha256": ca.Fingerprint()},
	}, nil
}

// Leaf returns a new in-memory certificate and key for one name or IP
// address. It is for the default certificate that answers handshakes
// without SNI; such a certificate is never stored. Unlike Issue it also
// signs for an address outside the permitted ranges (a public IP): clients
// will not trust that certificate, but the handshake completes, which is
// all a client that sends no server name can expect.
func (ca *CA) Leaf(name string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	var dns []string
	var ips []net.IP
	if ip := net.ParseIP(name); ip != nil {
		ips = []net.IP{ip}
	} else {
		dns = []string{name}
	}
	der, err := ca.sign(key.Public(), dns, ips, false)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func (ca *CA) sign(pub crypto.PublicKey, dns []string, ips []net.IP, strict bool) ([]byte, error) {
	if len(dns) == 0 && len(ips) == 0 {
		return nil, errors.New("internal CA: the request names no DNS name or IP address")
	}
	if strict {
		for _, n := range dns {
			if !Permitted(n) {
				return nil, fmt.Errorf("internal CA: %q is not a local name; the internal CA only certifies names under .%s and loopback or private IP addresses — use an ACME (managed) or uploaded (custom) certificate for it", n, strings.Join(PermittedDomains, ", ."))
			}
		}
		for _, ip := range ips {
			if !permittedIP(ip) {
				return nil, fmt.Errorf("internal CA: %s is not a loopback or private IP address", ip)
			}
		}
	}
	now := time.Now()
	notAfter := now.Add(ca.lifetime)
	if notAfter.After(ca.root.NotAfter) {
		notAfter = ca.root.NotAfter
	}
	ku := x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA {
		ku |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     ku,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("internal CA: signing: %w", err)
	}
	return der, nil
}

// Interface guard.
var _ certmagic.Issuer = (*CA)(nil)
