package storetest

import (
	"regexp"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

var tokenForm = regexp.MustCompile(`^[0-9a-f]{32}$`)

// testDomainChallenge: a service's domains share one random token, which
// every read returns with the record's name; another service has another
// one, and a service deleted and created again under the same name gets a
// new one, so that a TXT record left by the first owner proves nothing.
func testDomainChallenge(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	shop := mustService(t, s, "shop", u.ID)
	blog := mustService(t, s, "blog", u.ID)
	add := func(svc *rampart.Service, name string) *rampart.Domain {
		t.Helper()
		d := &rampart.Domain{ServiceID: svc.ID, Name: name, TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}
		if err := s.CreateDomain(ctx, d); err != nil {
			t.Fatalf("CreateDomain %s: %v", name, err)
		}
		return d
	}
	a := add(shop, "shop.example")
	if !tokenForm.MatchString(a.Challenge.Value) || a.Challenge.Name != "_rampart-challenge.shop.example" {
		t.Fatalf("CreateDomain set Challenge %+v, want _rampart-challenge.shop.example with 32 hex digits", a.Challenge)
	}
	if got, err := s.DomainByName(ctx, "shop.example"); err != nil || got.Challenge != a.Challenge {
		t.Fatalf("DomainByName = %+v, %v; want Challenge %+v", got, err, a.Challenge)
	}
	if b := add(shop, "www.shop.example"); b.Challenge.Value != a.Challenge.Value {
		t.Errorf("a second domain of the service has token %q, want the service's %q", b.Challenge.Value, a.Challenge.Value)
	}
	if c := add(blog, "blog.example"); c.Challenge.Value == a.Challenge.Value {
		t.Errorf("two services share the token %q", a.Challenge.Value)
	}
	// The token outlives the service's domains…
	for _, n := range []string{"shop.example", "www.shop.example"} {
		d, err := s.DomainByName(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDomain(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	if again := add(shop, "shop.example"); again.Challenge.Value != a.Challenge.Value {
		t.Errorf("the token changed from %q to %q with the service still there: a TXT record in place would stop proving", a.Challenge.Value, again.Challenge.Value)
	}
	// …but not the service.
	if err := s.DeleteService(ctx, shop.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	shop2 := mustService(t, s, "shop", u.ID)
	if b := add(shop2, "shop.example"); b.Challenge.Value == a.Challenge.Value || !tokenForm.MatchString(b.Challenge.Value) {
		t.Errorf("service shop created again has token %q, want a new one (the old was %q)", b.Challenge.Value, a.Challenge.Value)
	}
}

// testDomainVerify: VerifyDomain sets VerifiedAt once, moves the domains
// revision (a proven name joins the route), and a new domain of the same
// name starts unproven.
func testDomainVerify(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	svc := mustService(t, s, "shop", u.ID)
	d := &rampart.Domain{ServiceID: svc.ID, Name: "shop.example", TLSMode: rampart.TLSManaged}
	// Whatever a caller puts there, a new domain is not proven.
	at := time.Date(2026, 5, 1, 12, 0, 0, 123, time.UTC)
	d.State, d.VerifiedAt = rampart.DomainWaitingForDNS, &at
	if err := s.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, err := s.DomainByName(ctx, d.Name); err != nil || got.Verified() || d.Verified() {
		t.Fatalf("new domain: %+v, %v; want VerifiedAt nil", got, err)
	}
	v0, _ := s.Revision(ctx, store.KindDomains)
	if err := s.VerifyDomain(ctx, d.ID, at); err != nil {
		t.Fatalf("VerifyDomain: %v", err)
	}
	got, err := s.DomainByName(ctx, d.Name)
	if err != nil {
		t.Fatal(err)
	}
	sameTimePtr(t, "VerifiedAt", got.VerifiedAt, &at)
	v1, _ := s.Revision(ctx, store.KindDomains)
	if v1 == v0 {
		t.Error("VerifyDomain did not change the domains revision: the routes would not pick the name up")
	}
	// The first proof stands, and repeating it moves nothing.
	if err := s.VerifyDomain(ctx, d.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("VerifyDomain again: %v", err)
	}
	got, _ = s.DomainByName(ctx, d.Name)
	sameTimePtr(t, "VerifiedAt after a second proof", got.VerifiedAt, &at)
	if v2, _ := s.Revision(ctx, store.KindDomains); v2 != v1 {
		t.Errorf("a repeated VerifyDomain changed the domains revision %d → %d", v1, v2)
	}
	// A status update keeps the proof.
	if err := s.UpdateDomainStatus(ctx, d.ID, rampart.DomainWaitingForDNS, "DNS moved"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.DomainByName(ctx, d.Name)
	sameTimePtr(t, "VerifiedAt after a status update", got.VerifiedAt, &at)
	wantCode(t, s.VerifyDomain(ctx, 9999, at), rampart.ENOTFOUND)

	// Removed and added again (by anyone): unproven.
	if err := s.DeleteDomain(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	again := &rampart.Domain{ServiceID: svc.ID, Name: "shop.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}
	if err := s.CreateDomain(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DomainByName(ctx, "shop.example"); got.Verified() {
		t.Errorf("a domain added again kept the old proof: %v", got.VerifiedAt)
	}
}
