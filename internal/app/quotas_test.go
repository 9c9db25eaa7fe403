package app

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/limits"
	"github.com/rampart-dev/rampart/internal/store"
)

// quotaFixture is a fixture with small quotas and a second member, whose
// objects must not count against the first.
func quotaFixture(t *testing.T) (f *fixture, admin, member, other Actor) {
	t.Helper()
	f = newFixture(t)
	f.app.core.opts.Quotas = limits.Quotas{ServicesPerAccount: 2, DomainsPerService: 2, DomainsPerAccount: 3, TokensPerAccount: 2}
	admin, member = UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	u, err := f.app.Accounts.Create(context.Background(), admin, rampart.UserInput{Email: "olga@example.com", Password: "other password", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	return f, admin, member, UserActor(u, "192.0.2.3")
}

func wantQuotaError(t *testing.T, err error, want ...string) {
	t.Helper()
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("err = %v (code %q), want a quota error (conflict)", err, rampart.ErrorCode(err))
	}
	for _, w := range append(want, "ask an admin to raise the quota") {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func createService(ctx context.Context, f *fixture, actor Actor, name, owner string) error {
	_, err := f.app.Services.Create(ctx, actor, rampart.ServiceInput{Name: name, Owner: owner, Upstreams: []string{"http://127.0.0.1:1"}})
	return err
}

func TestServiceQuota(t *testing.T) {
	f, admin, member, other := quotaFixture(t)
	ctx := context.Background()
	for i := range 3 { // the admin's own services do not count against the member
		if err := createService(ctx, f, admin, fmt.Sprintf("admin%d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"m1", "m2"} {
		if err := createService(ctx, f, member, name, ""); err != nil {
			t.Fatalf("create %s within the quota: %v", name, err)
		}
	}
	wantQuotaError(t, createService(ctx, f, member, "m3", ""),
		"you have 2 services, the most this server allows per account (quotas.services_per_account): delete one")
	if _, err := f.st.ServiceByName(ctx, "m3"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("refused service was stored: %v", err)
	}
	if err := createService(ctx, f, other, "o1", ""); err != nil {
		t.Errorf("another member is held to the first one's count: %v", err)
	}
	if err := createService(ctx, f, admin, "m3", f.member.Email); err != nil {
		t.Errorf("an admin is exempt, also creating for a member: %v", err)
	}
	if err := createService(ctx, f, OperatorActor(), "m4", f.member.Email); err != nil {
		t.Errorf("the operator is exempt: %v", err)
	}
	for _, name := range []string{"m1", "m2", "m3"} {
		if err := f.app.Services.Delete(ctx, member, name); err != nil {
			t.Fatal(err)
		}
	}
	// Deleted services wait for their purge with their backups: they are
	// not counted as services, but they are not free either.
	if err := createService(ctx, f, member, "m5", ""); err == nil || !strings.Contains(err.Error(), "3 deleted services waiting for their purge") {
		t.Errorf("four services, three of them deleted, under a quota of 2: %v", err)
	}
	purge(t, f, "m1")
	if err := createService(ctx, f, member, "m5", ""); err != nil {
		t.Errorf("deleting services did not free a slot: %v", err)
	}
}

func TestDomainQuota(t *testing.T) {
	f, admin, member, other := quotaFixture(t)
	ctx := context.Background()
	for _, s := range []struct {
		actor Actor
		name  string
	}{{admin, "adminsvc"}, {member, "a"}, {member, "b"}, {other, "c"}} {
		if err := createService(ctx, f, s.actor, s.name, ""); err != nil {
			t.Fatal(err)
		}
	}
	add := func(actor Actor, service, name string) error {
		_, err := f.app.Domains.Add(ctx, actor, rampart.DomainInput{Service: service, Name: name})
		return err
	}
	for _, d := range []struct {
		actor     Actor
		svc, name string
	}{
		{admin, "adminsvc", "x1.example.com"}, {admin, "adminsvc", "x2.example.com"}, {admin, "adminsvc", "x3.example.com"},
		{other, "c", "o1.example.com"}, {other, "c", "o2.example.com"},
		{member, "a", "a1.example.com"}, {member, "a", "a2.example.com"},
	} {
		if err := add(d.actor, d.svc, d.name); err != nil {
			t.Fatalf("add %s to %s within the quotas: %v", d.name, d.svc, err)
		}
	}
	wantQuotaError(t, add(member, "a", "a3.example.com"),
		"service a has 2 domains, the most this server allows per service (quotas.domains_per_service): remove one")
	// A name already on the list says so, not that the quota is full.
	if err := add(member, "a", "a2.example.com"); rampart.ErrorCode(err) != rampart.ECONFLICT || strings.Contains(rampart.ErrorMessage(err), "quota") {
		t.Errorf("re-adding a listed name at the limit: %v, want the name's conflict", err)
	}
	if err := add(member, "b", "b1.example.com"); err != nil {
		t.Fatalf("other services' domains count against one service: %v", err)
	}
	wantQuotaError(t, add(member, "b", "b2.example.com"),
		"you have 3 domains across your services, the most this server allows per account (quotas.domains_per_account)")
	if _, err := f.st.DomainByName(ctx, "b2.example.com"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("refused domain was stored: %v", err)
	}
	if err := f.app.Domains.Remove(ctx, member, rampart.DomainRef{Service: "a", Name: "a1.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := add(member, "b", "b2.example.com"); err != nil {
		t.Errorf("removing a domain did not free a slot: %v", err)
	}
	if err := add(admin, "a", "a4.example.com"); err != nil {
		t.Errorf("an admin is exempt, also on a member's service: %v", err)
	}
	if err := add(admin, "a", "a5.example.com"); err != nil {
		t.Errorf("an admin is exempt, also on a member's service: %v", err)
	}
}

func TestTokenQuota(t *testing.T) {
	f, admin, member, other := quotaFixture(t)
	ctx := context.Background()
	create := func(actor Actor, email string) (*rampart.APIToken, error) {
		_, tok, err := f.app.Accounts.CreateToken(ctx, actor, rampart.TokenInput{Email: email, Name: "ci"})
		return tok, err
	}
	for range 3 {
		if _, err := create(admin, f.admin.Email); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := create(other, other.User.Email); err != nil {
		t.Fatal(err)
	}
	var first *rampart.APIToken
	for i := range 2 {
		tok, err := create(member, f.member.Email)
		if err != nil {
			t.Fatalf("token %d within the quota: %v", i, err)
		}
		if first == nil {
			first = tok
		}
	}
	_, err := create(member, f.member.Email)
	wantQuotaError(t, err, "you have 2 API tokens, the most this server allows per account (quotas.tokens_per_account)")
	if _, err := create(admin, f.member.Email); err != nil {
		t.Errorf("an admin is exempt, also creating for a member: %v", err)
	}
	if _, err := create(OperatorActor(), f.member.Email); err != nil {
		t.Errorf("the operator is exempt: %v", err)
	}
	toks, err := f.st.ListTokens(ctx, f.member.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks[:len(toks)-1] {
		if err := f.st.DeleteToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := create(member, f.member.Email); err != nil {
		t.Errorf("deleting tokens did not free a slot: %v", err)
	}
}

// TestServiceQuotaConcurrent creates services for one member from many
// goroutines at once: the count and the insert share a transaction, so no
// two creates can both take the last free slot.
func TestServiceQuotaConcurrent(t *testing.T) {
	f, _, member, _ := quotaFixture(t)
	f.app.core.opts.Quotas.ServicesPerAccount = 5
	ctx := context.Background()
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = createService(ctx, f, member, fmt.Sprintf("race%d", i), "")
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch rampart.ErrorCode(err) {
		case "":
			created++
		case rampart.ECONFLICT:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	svcs, err := f.st.ListServices(ctx, store.ServiceFilter{OwnerID: f.member.ID})
	if err != nil {
		t.Fatal(err)
	}
	if created != 5 || len(svcs) != 5 {
		t.Errorf("%d creates succeeded and the member owns %d services, want 5 and 5", created, len(svcs))
	}
}
