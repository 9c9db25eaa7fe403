// Package dkim signs the relay's outgoing mail for its mail domain and
// says which DNS records make receivers trust it: the DKIM keys' TXT
// records and an SPF suggestion, and whether they are published.
//
// Every message gets two signatures, ed25519-sha256 (small, modern) and
// rsa-sha256 (what every verifier understands, RFC 8463 §1): a receiver
// that knows only one ignores the other. Canonicalization is
// relaxed/relaxed, because relays on the way re-fold headers and change
// trailing whitespace, and simple/simple signatures break on that.
package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// Algorithms of a Key.
const (
	Ed25519 = "ed25519"
	RSA     = "rsa"
)

// rsaBits is the size of generated RSA keys: 2048 is what RFC 8301 asks
// verifiers to accept and still fits a TXT record with two strings.
const rsaBits = 2048

// Key is one DKIM signing key, stored as PKCS #8 PEM.
type Key struct {
	Selector   string
	Algorithm  string // Ed25519 or RSA
	PrivatePEM []byte
}

// Generate makes a new ed25519 key and a new RSA-2048 key, with selectors
// that name the month (rampart-ed-202612, rampart-rsa-202612) so that a
// rotation publishes new records beside the old ones instead of replacing
// them while signed mail is still in flight.
func Generate(now time.Time) ([]Key, error) {
	month := now.UTC().Format("200601")
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dkim: generating the ed25519 key: %w", err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, fmt.Errorf("dkim: generating the RSA key: %w", err)
	}
	var keys []Key
	for _, k := range []struct {
		sel, alg string
		key      any
	}{{"rampart-ed-" + month, Ed25519, edKey}, {"rampart-rsa-" + month, RSA, rsaKey}} {
		der, err := x509.MarshalPKCS8PrivateKey(k.key)
		if err != nil {
			return nil, fmt.Errorf("dkim: encoding the %s key: %w", k.alg, err)
		}
		keys = append(keys, Key{Selector: k.sel, Algorithm: k.alg, PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})})
	}
	return keys, nil
}

// signer parses k, checking that it is what it says it is.
func (k Key) signer() (crypto.Signer, error) {
	if !isLabel(k.Selector) {
		return nil, fmt.Errorf("dkim: selector %q must be letters, digits and hyphens", k.Selector)
	}
	b, _ := pem.Decode(k.PrivatePEM)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("dkim: key %s is not a PEM \"PRIVATE KEY\" (PKCS #8) block", k.Selector)
	}
	key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dkim: key %s: %w", k.Selector, err)
	}
	switch key := key.(type) {
	case ed25519.PrivateKey:
		if k.Algorithm == Ed25519 {
			return key, nil
		}
	case *rsa.PrivateKey:
		if k.Algorithm == RSA {
			if key.N.BitLen() < rsaBits {
				return nil, fmt.Errorf("dkim: key %s has %d bits; RSA keys need at least %d", k.Selector, key.N.BitLen(), rsaBits)
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("dkim: key %s is a %T, not the %q its algorithm says", k.Selector, key, k.Algorithm)
}

// signedHeaders are the headers each signature covers: those a reader sees
// and those that change how the body is read. From is listed twice
// (oversigned) so that a From added in transit breaks the signature; the
// others, when absent, are signed as absent, which has the same effect.
var signedHeaders = []string{"From", "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding"}

// Signer signs messages for one domain with one or more keys.
type Signer struct {
	domain string
	keys   []Key
	crypto []crypto.Signer
}

// NewSigner checks domain and keys, so that a broken key is reported when
// the relay starts rather than on the first message.
func NewSigner(domain string, keys []Key) (*Signer, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !isDomain(domain) {
		return nil, fmt.Errorf("dkim: %q is not a domain name such as example.com", domain)
	}
	if len(keys) == 0 {
		return nil, errors.New("dkim: no keys: generate them with dkim.Generate")
	}
	s := &Signer{domain: domain, keys: keys}
	for _, k := range keys {
		c, err := k.signer()
		if err != nil {
			return nil, err
		}
		s.crypto = append(s.crypto, c)
	}
	return s, nil
}

// Sign returns msg with one DKIM-Signature header per key prepended, and
// its line ends made CRLF (what goes on the wire, and so what a verifier
// hashes).
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	msg = crlf(msg)
	if !bytes.Contains(msg, []byte("\r\n\r\n")) && !bytes.HasPrefix(msg, []byte("\r\n")) {
		return nil, errors.New("dkim: the message has no blank line between header and body")
	}
	var sigs bytes.Buffer
	for i, k := range s.keys {
		sg, err := msgdkim.NewSigner(&msgdkim.SignOptions{
			Domain: s.domain, Selector: k.Selector, Signer: s.crypto[i], Hash: crypto.SHA256,
			HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
			BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
			HeaderKeys:             signedHeaders,
		})
		if err != nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
		if _, err := io.Copy(sg, bytes.NewReader(msg)); err != nil {
			sg.Close()
			return nil, fmt.Errorf("dkim: signing with %s: %w", k.Selector, err)
		}
		if err := sg.Close(); err != nil {
			return nil, fmt.Errorf("dkim: signing with %s: %w", k.Selector, err)
		}
		sigs.WriteString(sg.Signature())
	}
	return append(sigs.Bytes(), msg...), nil
}

// crlf turns lone "\n" into "\r\n".
func crlf(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) || bytes.Count(b, []byte("\n")) == bytes.Count(b, []byte("\r\n")) {
		return b
	}
	out := make([]byte, 0, len(b)+bytes.Count(b, []byte("\n")))
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// publicKey returns the p= value of k's record: the base64 of the raw
// ed25519 key (RFC 8463) or of the RSA key's SubjectPublicKeyInfo.
func publicKey(c crypto.Signer) (string, error) {
	switch pub := c.Public().(type) {
	case ed25519.PublicKey:
		return base64.StdEncoding.EncodeToString(pub), nil
	default:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(der), nil
	}
}

func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('a' <= c && c <= 'z' || '0' <= s[i] && s[i] <= '9' || s[i] == '-') {
			return false
		}
	}
	return true
}

func isDomain(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if !isLabel(l) {
			return false
		}
	}
	return true
}
