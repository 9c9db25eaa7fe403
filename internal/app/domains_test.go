package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/certs/certstest"
	"github.com/rampart-dev/rampart/internal/store"
)

// selfSigned is an upload for name that is valid now.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	return certstest.SelfSigned(t, name, time.Now().Add(24*time.Hour))
}

func TestDomains(t *testing.T) {
	f := newFixture(t)
	f.app.core.opts.PlatformDomain = "rampart.example"
	ctx := context.Background()
	admin, member := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "adminsvc", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	before := f.auditCount(t)

	d, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: " Bücher.Example. "})
	if err != nil {
		t.Fatalf("AddDomain: %v", err)
	}
	if d.Name != "xn--bcher-kva.example" || d.TLSMode != rampart.TLSManaged || d.State != rampart.DomainWaitingForDNS || d.Service != "shop" {
		t.Errorf("AddDomain = %+v", d)
	}
	if f.auditCount(t) != before+1 {
		t.Error("AddDomain wrote no audit event")
	}

	// Every new domain waits for DNS to prove it is the service's, whatever
	// its TLS mode: none is routed on the claim alone.
	off, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "plain.example", TLSMode: rampart.TLSOff})
	if err != nil || off.State != rampart.DomainWaitingForDNS || off.Verified() {
		t.Errorf("AddDomain(off) = %+v, %v; want state waiting_for_dns, unproven", off, err)
	}
	local, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "shop.test"})
	if err != nil || local.State != rampart.DomainWaitingForDNS || local.Verified() {
		t.Errorf("AddDomain(shop.test) = %+v, %v; want state waiting_for_dns, unproven", local, err)
	}
	if local.Challenge.Name != "_rampart-challenge.shop.test" || len(local.Challenge.Value) != 32 || local.Challenge.Value != off.Challenge.Value {
		t.Errorf("AddDomain challenge = %+v, want the service's token at _rampart-challenge.shop.test", local.Challenge)
	}
	cert, key := selfSigned(t, "origin.example")
	custom, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSCustom, CertPEM: string(cert), KeyPEM: string(key)})
	if err != nil || custom.State != rampart.DomainWaitingForDNS {
		t.Fatalf("AddDomain(custom) = %+v, %v", custom, err)
	}
	if stored, _ := f.st.DomainByName(ctx, "origin.example"); stored == nil || string(stored.KeyPEM) != string(key) {
		t.Error("custom key not stored")
	}

	for _, tc := range []struct {
		actor         Actor
		svc, input    string
		mode          rampart.TLSMode
		cert, key     []byte
		code, message string
	}{
		{member, "shop", "1.2.3.4", "", nil, nil, rampart.EINVALID, "is an IP address"},
		{member, "shop", "*.example.com", "", nil, nil, rampart.EINVALID, "wildcard"},
		{member, "shop", "x.rampart.example", "", nil, nil, rampart.EINVALID, "under the platform domain"},
		{member, "shop", "a.example", "bogus", nil, nil, rampart.EINVALID, "is unknown"},
		{member, "shop", "a.example", rampart.TLSCustom, nil, nil, rampart.EINVALID, "needs both a certificate"},
		{member, "shop", "other.example", rampart.TLSCustom, cert, key, rampart.EINVALID, "other.example"},
		{member, "shop", "a.example", rampart.TLSManaged, cert, key, rampart.EINVALID, "only used with TLS mode custom"},
		{member, "shop", "bücher.example", "", nil, nil, rampart.ECONFLICT, "already on the list of shop"},
		{member, "adminsvc", "a.example", "", nil, nil, rampart.ENOTFOUND, "not found"},
		{Actor{}, "shop", "a.example", "", nil, nil, rampart.EUNAUTHORIZED, "authentication"},
	} {
		_, err := f.app.Domains.Add(ctx, tc.actor, rampart.DomainInput{Service: tc.svc, Name: tc.input, TLSMode: tc.mode, CertPEM: string(tc.cert), KeyPEM: string(tc.key)})
		if rampart.ErrorCode(err) != tc.code || !strings.Contains(rampart.ErrorMessage(err), tc.message) {
			t.Errorf("AddDomain(%q, %q) = %v; want %s containing %q", tc.svc, tc.input, err, tc.code, tc.message)
		}
	}

	// A name taken by another tenant: the member is not told whose.
	if _, err := f.app.Domains.Add(ctx, admin, rampart.DomainInput{Service: "adminsvc", Name: "taken.example"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "taken.example"})
	if rampart.ErrorCode(err) != rampart.ECONFLICT || !strings.Contains(rampart.ErrorMessage(err), "taken.example is already used by another service") ||
		strings.Contains(rampart.ErrorMessage(err), "adminsvc") {
		t.Errorf("member conflict = %v", err)
	}
	_, err = f.app.Domains.Add(ctx, admin, rampart.DomainInput{Service: "shop", Name: "taken.example"})
	if !strings.Contains(rampart.ErrorMessage(err), "used by service adminsvc") {
		t.Errorf("admin conflict = %v", err)
	}

	list, err := f.app.Domains.List(ctx, member, "shop")
	if err != nil || len(list) != 4 {
		t.Fatalf("ListDomains = %d, %v; want 4", len(list), err)
	}
	if _, err := f.app.Domains.List(ctx, member, "adminsvc"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("ListDomains(other's) = %v, want ENOTFOUND", err)
	}

	// Check goes through Options.DNS.
	if _, _, err := f.app.Domains.Check(ctx, member, rampart.DomainRef{Service: "shop", Name: "plain.example"}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("CheckDomain without checker = %v", err)
	}
	f.app.core.opts.DNS = DNSCheckFunc(func(_ context.Context, d *rampart.Domain) rampart.DNSCheck {
		return rampart.DNSCheck{Reason: "checked " + d.Service}
	})
	if _, res, err := f.app.Domains.Check(ctx, member, rampart.DomainRef{Service: "shop", Name: "PLAIN.example"}); err != nil || res.Reason != "checked shop" {
		t.Errorf("CheckDomain = %+v, %v", res, err)
	}

	if err := f.app.Domains.Remove(ctx, member, rampart.DomainRef{Service: "shop", Name: "taken.example"}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("RemoveDomain(other's name) = %v, want ENOTFOUND", err)
	}
	if err := f.app.Domains.Remove(ctx, member, rampart.DomainRef{Service: "shop", Name: "Bücher.example"}); err != nil {
		t.Errorf("RemoveDomain: %v", err)
	}
	if list, _ := f.st.ListDomains(ctx, store.DomainFilter{}); len(list) != 4 {
		t.Errorf("after remove: %d domains, want 4", len(list))
	}
}

// TestDomainTakeover: a name on one tenant's service is refused to another
// tenant while it is there (without naming the other service), and the
// token of one service is not shown to another tenant. Once removed, the
// next claimant gets it unproven, with its own token: a TXT record the
// first owner left behind proves nothing for it.
// tenants returns the fixture's admin and member, and a second member,
// mallory@example.com, as actors.
func tenants(t *testing.T, f *fixture) (admin, member, intruder Actor) {
	t.Helper()
	admin, member = UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	mallory, err := f.app.Accounts.Create(context.Background(), admin, rampart.UserInput{Email: "mallory@example.com", Password: "another password", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	return admin, member, UserActor(mallory, "203.0.113.66")
}

func TestDomainTakeover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, member, intruder := tenants(t, f)
	for _, x := range []struct {
		actor Actor
		name  string
	}{{member, "shop"}, {intruder, "grab"}} {
		if _, err := f.app.Services.Create(ctx, x.actor, rampart.ServiceInput{Name: x.name, Upstreams: []string{"http://192.0.2.80"}}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "shop.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.VerifyDomain(ctx, d.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Domains.Add(ctx, intruder, rampart.DomainInput{Service: "grab", Name: "SHOP.example.com."})
	if rampart.ErrorCode(err) != rampart.ECONFLICT || strings.Contains(rampart.ErrorMessage(err), "shop.example.com is already used by service shop") {
		t.Fatalf("a second tenant adding a proven name: %v; want a conflict that does not name the service", err)
	}
	if _, err := f.app.Domains.Get(ctx, intruder, rampart.DomainRef{Service: "shop", Name: "shop.example.com"}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("another tenant read the domain (and its token): %v", err)
	}
	if err := f.app.Domains.Remove(ctx, member, rampart.DomainRef{Service: "shop", Name: "shop.example.com"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.app.Domains.Add(ctx, intruder, rampart.DomainInput{Service: "grab", Name: "shop.example.com"})
	if err != nil {
		t.Fatalf("adding a freed name: %v", err)
	}
	if got.Verified() || got.State != rampart.DomainWaitingForDNS {
		t.Errorf("the new claimant's domain = %+v, want unproven and waiting", got.DomainStatus)
	}
	if got.Challenge.Value == d.Challenge.Value || len(got.Challenge.Value) != 32 {
		t.Errorf("the new claimant's token %q, want its own (the first owner's was %q)", got.Challenge.Value, d.Challenge.Value)
	}
}

// TestRetiredNameTakeover: once a service with custom domains is purged,
// its owners' DNS may still point at its platform hostname, where a CNAME
// proves a domain for whoever has the name. Another member cannot take
// the name; its last owner can, and an admin can give it to anyone, which
// the audit log records with the domains it served.
func TestRetiredNameTakeover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, member, intruder := tenants(t, f)
	create := func(actor Actor, owner string) error {
		_, err := f.app.Services.Create(ctx, actor, rampart.ServiceInput{Name: "shop", Owner: owner, Upstreams: []string{"http://192.0.2.80"}})
		return err
	}
	purge := func() {
		t.Helper()
		if err := f.app.Services.Delete(ctx, admin, "shop"); err != nil {
			t.Fatal(err)
		}
		if err := f.app.Services.Purge(ctx, admin, "shop"); err != nil {
			t.Fatal(err)
		}
	}

	// A name whose service had no domains is free for anyone.
	if err := create(member, ""); err != nil {
		t.Fatal(err)
	}
	purge()
	if err := create(intruder, ""); err != nil {
		t.Fatalf("a name that served no domain: %v", err)
	}
	purge()

	if err := create(member, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "shop.example.com"}); err != nil {
		t.Fatal(err)
	}
	purge()
	err := create(intruder, "")
	if rampart.ErrorCode(err) != rampart.ECONFLICT || !strings.Contains(rampart.ErrorMessage(err), "belonged to a service of another account that had custom domains") ||
		strings.Contains(rampart.ErrorMessage(err), "shop.example.com") {
		t.Fatalf("another member taking the retired name: %v; want a conflict that does not name the domains", err)
	}

	// An admin may give it to another account, knowingly: audited.
	if err := create(admin, "mallory@example.com"); err != nil {
		t.Fatalf("an admin giving the name away: %v", err)
	}
	evs, err := f.app.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Action != "service.create" || !strings.Contains(evs[0].Detail, "domains=shop.example.com") {
		t.Errorf("audit of the admin's create: %+v, %v", evs, err)
	}
	// Purged again without domains: the name still waits for its owner.
	purge()
	if err := create(intruder, ""); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("the name after a service without domains: %v, want the conflict still", err)
	}
	if err := create(member, ""); err != nil {
		t.Errorf("the name's last owner taking it back: %v", err)
	}
}
