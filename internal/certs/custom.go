package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// ParseCustom checks an uploaded certificate chain and key for name and
// returns them ready to serve. The API calls it when the upload arrives, so
// that a mistake is reported to the person who made it; SetDomains calls it
// again and puts any problem into the domain's Status.
//
// The chain is not required to lead to a public root: a Cloudflare origin
// certificate is only trusted by Cloudflare, and that is the point of it.
// An expired certificate is accepted here (the Status says it expired) so
// that an operator replacing it in two steps is not blocked.
func ParseCustom(name string, certPEM, keyPEM []byte) (*tls.Certificate, error) {
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return nil, errors.New("both the certificate (PEM) and its private key (PEM) are needed")
	}
	if b, _ := pem.Decode(certPEM); b == nil {
		return nil, errors.New("the certificate is not PEM (it should start with -----BEGIN CERTIFICATE-----)")
	} else if b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("the certificate field holds a %q block; paste the certificate (-----BEGIN CERTIFICATE-----) there and the key in the key field", b.Type)
	}
	if b, _ := pem.Decode(keyPEM); b == nil {
		return nil, errors.New("the private key is not PEM (it should start with -----BEGIN PRIVATE KEY----- or similar)")
	} else if !strings.Contains(b.Type, "PRIVATE KEY") {
		return nil, fmt.Errorf("the key field holds a %q block, not a private key", b.Type)
	} else if strings.Contains(b.Type, "ENCRYPTED") {
		return nil, errors.New("the private key is encrypted; upload it without a passphrase (openssl pkey -in key.pem -out plain.pem)")
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, errors.New("the private key does not belong to the certificate (the first certificate in the chain must be the one for the domain)")
		}
		return nil, fmt.Errorf("the certificate or key cannot be read: %v", err)
	}
	leaf := c.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("the certificate cannot be read: %v", err)
		}
		c.Leaf = leaf
	}
	if leaf.IsCA {
		return nil, errors.New("the first certificate is a CA certificate; put the domain's own certificate first, then the intermediates")
	}
	if n := strings.TrimPrefix(name, "*."); n != name {
		// A wildcard domain needs a wildcard certificate.
		if !covers(leaf, name) {
			return nil, fmt.Errorf("the certificate is for %s, not %s", names(leaf), name)
		}
	} else if err := leaf.VerifyHostname(name); err != nil {
		return nil, fmt.Errorf("the certificate is for %s, not %s", names(leaf), name)
	}
	return &c, nil
}

func covers(leaf *x509.Certificate, wildcard string) bool {
	for _, n := range leaf.DNSNames {
		if strings.EqualFold(n, wildcard) {
			return true
		}
	}
	return false
}

func names(leaf *x509.Certificate) string {
	var out []string
	out = append(out, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 && leaf.Subject.CommonName != "" {
		out = append(out, leaf.Subject.CommonName)
	}
	if len(out) == 0 {
		return "no names"
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return strings.Join(out, ", ")
}
