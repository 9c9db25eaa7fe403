package sshkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
)

// This file holds the key material the tests share: every key is made
// here, at test time, by crypto/* or by building the SSH wire format by
// hand for the types no library here generates (DSA, security keys).

// need returns the path of a program the test drives. Without it the test
// is skipped on a developer's machine but fails under CI=true, where a
// missing tool means a broken environment, not an optional test.
func need(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (scripts/test-deps.sh installs what the tests need): %v", prog, err)
		}
		t.Skipf("%s not installed (scripts/test-deps.sh installs it): %v", prog, err)
	}
	return p
}

// needRoot: chown to another user and sshd's privilege separation need
// root; CI runs the tests as root.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (to chown files to another user); CI runs the tests as root")
		}
		t.Skip("needs root (to chown files to another user)")
	}
}

// owner returns a file's uid and gid.
func owner(fi os.FileInfo) (uid, gid int) {
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// authLine is the authorized_keys line of a public key, without newline.
func authLine(t testing.TB, pub any, comment string) string {
	t.Helper()
	pk, ok := pub.(ssh.PublicKey)
	if !ok {
		var err error
		if pk, err = ssh.NewPublicKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	if comment != "" {
		line += " " + comment
	}
	return line
}

func newEd25519(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func newECDSA(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RSA keys are slow to make; the tests share one of each size.
var rsaKeys sync.Map // bits → *rsa.PrivateKey

func newRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	if k, ok := rsaKeys.Load(bits); ok {
		return k.(*rsa.PrivateKey)
	}
	// crypto/rsa refuses keys under 1024 bits unless GODEBUG allows them;
	// 1024 is as small as the tests need.
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	rsaKeys.Store(bits, k)
	return k
}

// dsaLine builds an ssh-dss public key line (RFC 4253: p, q, g, y). The
// numbers only need the right shape: the parser must refuse the type
// before anything checks the group.
func dsaLine(t testing.TB) string {
	t.Helper()
	n := func(bits int) *big.Int {
		v, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		if err != nil {
			t.Fatal(err)
		}
		return v.SetBit(v, bits-1, 1)
	}
	blob := ssh.Marshal(struct {
		Name       string
		P, Q, G, Y *big.Int
	}{"ssh-dss", n(1024), n(160), n(1023), n(1023)})
	return "ssh-dss " + base64.StdEncoding.EncodeToString(blob) + " old@dsa"
}

// skEd25519Line builds a FIDO security-key Ed25519 public key (OpenSSH
// PROTOCOL.u2f: key, application).
func skEd25519Line(t testing.TB) string {
	t.Helper()
	pub, _ := newEd25519(t)
	blob := ssh.Marshal(struct {
		Name        string
		Key         []byte
		Application string
	}{ssh.KeyAlgoSKED25519, pub, "ssh:"})
	return ssh.KeyAlgoSKED25519 + " " + base64.StdEncoding.EncodeToString(blob) + " yubi@desk"
}

// skECDSALine builds a FIDO security-key ECDSA P-256 public key (curve,
// uncompressed point, application).
func skECDSALine(t testing.TB) string {
	t.Helper()
	k := newECDSA(t, elliptic.P256())
	point, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	blob := ssh.Marshal(struct {
		Name        string
		Curve       string
		Point       []byte
		Application string
	}{ssh.KeyAlgoSKECDSA256, "nistp256", point.Bytes(), "ssh:"})
	return ssh.KeyAlgoSKECDSA256 + " " + base64.StdEncoding.EncodeToString(blob) + " yubi@desk"
}

// certLine builds an OpenSSH user certificate for a fresh key, signed by a
// fresh CA.
func certLine(t testing.TB) string {
	t.Helper()
	pub, _ := newEd25519(t)
	spk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	_, caPriv := newEd25519(t)
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: spk, CertType: ssh.UserCert, ValidPrincipals: []string{"root"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return authLine(t, cert, "cert@ca")
}

// privateKeys are private keys in every format someone might paste by
// mistake, keyed by a name for the subtest.
func privateKeys(t testing.TB) map[string]string {
	t.Helper()
	_, edPriv := newEd25519(t)
	openssh, err := ssh.MarshalPrivateKey(crypto.PrivateKey(edPriv), "me@laptop")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(crypto.PrivateKey(edPriv), "me@laptop", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	rk := newRSA(t, 2048)
	ek := newECDSA(t, elliptic.P256())
	ecDER, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	opensshText := string(pem.EncodeToMemory(openssh))
	body := strings.Join(strings.Split(strings.TrimSpace(opensshText), "\n")[1:2], "")
	return map[string]string{
		"openssh":           opensshText,
		"openssh encrypted": string(pem.EncodeToMemory(enc)),
		"pkcs1 rsa":         string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})),
		"sec1 ec":           string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})),
		"pkcs8":             string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		// A PuTTY .ppk's layout (the MAC and private blob are not checked,
		// only recognised).
		"putty ppk": "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: me@laptop\nPublic-Lines: 2\n" +
			base64.StdEncoding.EncodeToString(edPriv.Public().(ed25519.PublicKey)) + "\n" +
			"Private-Lines: 1\n" + base64.StdEncoding.EncodeToString(edPriv.Seed()) + "\nPrivate-MAC: 0011223344556677\n",
		// An OpenSSH key's first body line, pasted without the armour,
		// after a public key.
		"openssh body only": authLine(t, edPriv.Public(), "me") + "\n" + body + "\n",
	}
}
