package certs_test

import (
	"crypto/tls"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/certs/certstest"
)

// TestOneBadEntry: a refused entry and an unusable upload among good
// entries cost only themselves; the error names only the refused one.
func TestOneBadEntry(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1, so the managed name is listed and tried
	// without any CA being contacted.
	m := newManager(t, certs.Config{HandshakeWait: -1, ACME: certs.ACME{Directory: "https://127.0.0.1:1/directory"}})
	goodPEM, goodKey := certstest.SelfSigned(t, "shop.example", time.Now().Add(90*24*time.Hour))
	wrongPEM, wrongKey := certstest.SelfSigned(t, "other.example", time.Now().Add(90*24*time.Hour))
	err := m.SetDomains([]certs.Domain{
		{Name: "app.test", Mode: certs.ModeInternal},
		{Name: "bad name.example", Mode: certs.ModeOff},
		{Name: "shop.example", Mode: certs.ModeCustom, CertPEM: goodPEM, KeyPEM: goodKey},
		{Name: "wrong.example", Mode: certs.ModeCustom, CertPEM: wrongPEM, KeyPEM: wrongKey},
		{Name: "www.example.com", Mode: certs.ModeManaged},
	})
	byName := certs.DomainErrors(err)
	if got := slices.Sorted(maps.Keys(byName)); !slices.Equal(got, []string{"bad name.example"}) {
		t.Fatalf("DomainErrors names %q; want only the invalid name (error: %v)", got, err)
	}
	if !strings.Contains(byName["bad name.example"].Error(), "not a valid domain name") {
		t.Errorf("reason %q", byName["bad name.example"])
	}
	var de *certs.DomainError
	if !errors.As(err, &de) || de.Name != "bad name.example" || !strings.Contains(err.Error(), `domain "bad name.example": not a valid domain name`) {
		t.Errorf("error %q: want a *DomainError naming the domain", err)
	}

	for _, name := range []string{"app.test", "shop.example"} {
		waitStatus(t, m, name, 10*time.Second, func(s certs.Status) bool { return s.State == certs.StateActive })
		if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: name}); err != nil {
			t.Errorf("%s not served: %v", name, err)
		}
	}
	waitStatus(t, m, "wrong.example", 10*time.Second, func(s certs.Status) bool { return s.State == certs.StateError })
	if st := m.Status("www.example.com"); st.Mode != certs.ModeManaged {
		t.Errorf("managed name not listed: %+v", st)
	}
}
