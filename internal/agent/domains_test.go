package agent

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/dnscheck"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

type fakeChecker struct {
	mu     sync.Mutex
	points map[string]bool
	asked  map[string]int
	tokens map[string]string // the Target.Token of each name's last check
}

func (f *fakeChecker) Check(_ context.Context, name string, t dnscheck.Target) dnscheck.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[name]++
	if f.tokens != nil {
		f.tokens[name] = t.Token
	}
	if f.points[name] {
		return dnscheck.Result{PointsHere: true}
	}
	return dnscheck.Result{Reason: "DNS points at 203.0.113.9, expected a CNAME to " + t.CNAME}
}

type fakeCerts struct {
	mu     sync.Mutex
	list   []certs.Domain
	status map[string]certs.Status
}

func (f *fakeCerts) SetDomains(l []certs.Domain) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = l
	return nil
}

func (f *fakeCerts) Status(name string) certs.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.status[name]; ok {
		return st
	}
	for _, d := range f.list {
		if d.Name == name {
			return certs.Status{Name: name, State: certs.StateIssuing}
		}
	}
	return certs.Status{Name: name, State: certs.StateNone}
}

func (f *fakeCerts) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, d := range f.list {
		out = append(out, d.Name+":"+string(d.Mode))
	}
	slices.Sort(out)
	return out
}

func TestDomainsReconciler(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := app.New(db, app.Options{PlatformDomain: "apps.example"})
	ctx := context.Background()
	op := app.OperatorActor()
	if _, err := a.Accounts.Create(ctx, op, rampart.UserInput{Email: "admin@example.com", Password: "long enough pw", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Services.Create(ctx, op, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name string
		mode rampart.TLSMode
	}{{"here.example", ""}, {"elsewhere.example", ""}, {"shop.test", ""}, {"plain.example", rampart.TLSOff}} {
		if _, err := a.Domains.Add(ctx, op, rampart.DomainInput{Service: "shop", Name: x.name, TLSMode: x.mode}); err != nil {
			t.Fatal(err)
		}
	}
	chk := &fakeChecker{points: map[string]bool{"here.example": true}, asked: map[string]int{}}
	cm := &fakeCerts{status: map[string]certs.Status{}}
	r := &Domains{Store: db, Certs: cm, Checker: chk, PlatformDomain: "apps.example", NodeIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}

	state := func(name string) (rampart.DomainState, string) {
		d, err := db.DomainByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return d.State, d.Reason
	}
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	// Only names whose DNS points here (and internal names) go to the CA.
	if got, want := cm.names(), []string{"here.example:managed", "shop.test:internal"}; !slices.Equal(got, want) {
		t.Errorf("manager list = %v, want %v", got, want)
	}
	if s, reason := state("elsewhere.example"); s != rampart.DomainWaitingForDNS || reason != "DNS points at 203.0.113.9, expected a CNAME to shop.apps.example" {
		t.Errorf("elsewhere.example = %s %q", s, reason)
	}
	if s, _ := state("here.example"); s != rampart.DomainIssuing {
		t.Errorf("here.example = %s, want issuing", s)
	}
	// TLS off asks no CA, but the name is still not routed before DNS
	// proves it.
	if s, _ := state("plain.example"); s != rampart.DomainWaitingForDNS {
		t.Errorf("plain.example = %s, want waiting_for_dns until DNS proves it", s)
	}

	// The manager reports: active and error.
	cm.mu.Lock()
	cm.status["here.example"] = certs.Status{State: certs.StateActive}
	cm.status["shop.test"] = certs.Status{State: certs.StateError, Error: "the CA refused: rate limited"}
	cm.mu.Unlock()
	if err := r.Sync(ctx, Trigger{}); err != nil {
		t.Fatal(err)
	}
	if s, _ := state("here.example"); s != rampart.DomainActive {
		t.Errorf("here.example = %s, want active", s)
	}
	if s, reason := state("shop.test"); s != rampart.DomainError || reason != "the CA refused: rate limited" {
		t.Errorf("shop.test = %s %q", s, reason)
	}
	// No re-check before Recheck is due; DNS now points here.
	chk.mu.Lock()
	chk.points["elsewhere.example"] = true
	chk.points["plain.example"] = true
	asked := chk.asked["elsewhere.example"]
	chk.mu.Unlock()
	if err := r.Sync(ctx, Trigger{}); err != nil {
		t.Fatal(err)
	}
	if chk.asked["elsewhere.example"] != asked {
		t.Error("DNS re-checked before Recheck was due")
	}
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	if s, _ := state("elsewhere.example"); s != rampart.DomainIssuing {
		t.Errorf("elsewhere.example = %s, want issuing once DNS points here", s)
	}
	if s, _ := state("plain.example"); s != rampart.DomainActive {
		t.Errorf("plain.example = %s, want active once DNS proves it", s)
	}
	// A stored certificate found corrupt and replaced: active, with a
	// reason that says so (and no server path).
	cm.mu.Lock()
	cm.status["here.example"] = certs.Status{State: certs.StateActive, Quarantined: true, QuarantinePath: "/var/lib/rampart/certs/quarantine/x"}
	cm.mu.Unlock()
	if err := r.Sync(ctx, Trigger{}); err != nil {
		t.Fatal(err)
	}
	if s, reason := state("here.example"); s != rampart.DomainActive || reason != QuarantinedReason || strings.Contains(reason, "/var/lib") {
		t.Errorf("here.example after quarantine = %s %q", s, reason)
	}
	// Switching a domain to TLS off takes it off the manager's list at
	// once; back to managed, it goes back to the manager (its DNS pointed
	// here already).
	if _, err := a.Domains.Update(ctx, op, rampart.DomainUpdate{Service: "shop", Name: "elsewhere.example", TLSMode: rampart.TLSOff}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, Trigger{}); err != nil {
		t.Fatal(err)
	}
	if got, want := cm.names(), []string{"here.example:managed", "shop.test:internal"}; !slices.Equal(got, want) {
		t.Errorf("manager list after TLS off = %v, want %v", got, want)
	}
	if s, _ := state("elsewhere.example"); s != rampart.DomainActive {
		t.Errorf("elsewhere.example with TLS off = %s, want active", s)
	}
	if _, err := a.Domains.Update(ctx, op, rampart.DomainUpdate{Service: "shop", Name: "elsewhere.example", TLSMode: rampart.TLSManaged}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	if s, _ := state("elsewhere.example"); s != rampart.DomainIssuing {
		t.Errorf("elsewhere.example back to managed = %s, want issuing (DNS points here)", s)
	}
	// Removing a domain takes it off the manager's list.
	if err := a.Domains.Remove(ctx, op, rampart.DomainRef{Service: "shop", Name: "here.example"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, Trigger{}); err != nil {
		t.Fatal(err)
	}
	if got, want := cm.names(), []string{"elsewhere.example:managed", "shop.test:internal"}; !slices.Equal(got, want) {
		t.Errorf("manager list = %v, want %v", got, want)
	}
}

func TestDomainsRunAndRoutes(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := app.New(db, app.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op := app.OperatorActor()
	if _, err := a.Accounts.Create(ctx, op, rampart.UserInput{Email: "admin@example.com", Password: "long enough pw", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Services.Create(ctx, op, rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	cm := &fakeCerts{status: map[string]certs.Status{}}
	r := &Domains{Store: db, Certs: cm, Checker: &fakeChecker{asked: map[string]int{}}}
	tbl := &fakeTable{}
	routes := &Routes{Store: db, Edge: tbl, PlatformDomain: "apps.test"}
	go (&Loop{Store: db, Poll: 10 * time.Millisecond}).RunAll(ctx, []Reconciler{r, routes})
	if _, err := a.Domains.Add(ctx, op, rampart.DomainInput{Service: "blog", Name: "blog.localhost"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the domain routed", func() bool { return tbl.hosts()["blog.localhost"] })
	waitFor(t, "the domain at the manager", func() bool { return slices.Contains(cm.names(), "blog.localhost:internal") })
	cm.mu.Lock()
	cm.status["blog.localhost"] = certs.Status{State: certs.StateActive}
	cm.mu.Unlock()
	r.Notify()
	waitFor(t, "the domain active", func() bool {
		d, err := db.DomainByName(ctx, "blog.localhost")
		return err == nil && d.State == rampart.DomainActive
	})
}

// Only a change of the domains re-checks every waiting name's DNS at once:
// a change of services (any tenant's) must not set off a query for every
// waiting domain of every tenant.
func TestDomainsRecheckOnlyOnDomainChanges(t *testing.T) {
	db, u := openStore(t)
	ctx := t.Context()
	svc := &rampart.Service{Name: "shop", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}
	if err := db.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateDomain(ctx, &rampart.Domain{ServiceID: svc.ID, Name: "waiting.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}); err != nil {
		t.Fatal(err)
	}
	chk := &fakeChecker{points: map[string]bool{}, asked: map[string]int{}}
	r := &Domains{Store: db, Certs: &fakeCerts{status: map[string]certs.Status{}}, Checker: chk, PlatformDomain: "apps.example"}
	asked := func() int { chk.mu.Lock(); defer chk.mu.Unlock(); return chk.asked["waiting.example"] }
	for i, tc := range []struct {
		services, domains int64
		want              int
	}{
		{1, 1, 1}, // first pass
		{2, 1, 1}, // a service changed: not again before Recheck is due
		{3, 1, 1},
		{3, 2, 2}, // a domain changed: everything waiting is checked now
	} {
		if err := r.Sync(ctx, Trigger{Changed: true, Revisions: map[store.Kind]int64{store.KindServices: tc.services, store.KindDomains: tc.domains}}); err != nil {
			t.Fatal(err)
		}
		if got := asked(); got != tc.want {
			t.Errorf("pass %d: DNS asked %d times, want %d", i, got, tc.want)
		}
	}
}

// TestDomainsProof: a proven name is recorded (VerifiedAt), routed and
// certified; an unproven one is neither. The TXT token is asked for only
// when a second account exists. A proven name stays proven when DNS later
// fails, and a name removed and added again starts unproven.
func TestDomainsProof(t *testing.T) {
	db, u := openStore(t)
	ctx := t.Context()
	svc := &rampart.Service{Name: "shop", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}
	if err := db.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	add := func(name string) *rampart.Domain {
		t.Helper()
		d := &rampart.Domain{ServiceID: svc.ID, Name: name, TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}
		if err := db.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	shop := add("shop.example")
	chk := &fakeChecker{points: map[string]bool{"shop.example": true}, asked: map[string]int{}, tokens: map[string]string{}}
	cm := &fakeCerts{status: map[string]certs.Status{}}
	r := &Domains{Store: db, Certs: cm, Checker: chk, PlatformDomain: "apps.example"}
	routed := func() []string {
		t.Helper()
		svcs, _ := db.ListServices(ctx, store.ServiceFilter{})
		ds, _ := db.ListDomains(ctx, store.DomainFilter{})
		var hosts []string
		for _, rt := range RoutesFor(svcs, ds, "apps.example") {
			hosts = append(hosts, rt.Hosts...)
		}
		slices.Sort(hosts)
		return hosts
	}

	// One account: the token is not asked for.
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	if tok := chk.tokens["shop.example"]; tok != "" {
		t.Errorf("with one account the check asked for the token %q, want none", tok)
	}
	got, _ := db.DomainByName(ctx, "shop.example")
	if !got.Verified() {
		t.Fatalf("shop.example not proven although DNS points here: %+v", got.DomainStatus)
	}
	if want := []string{"shop.apps.example", "shop.example"}; !slices.Equal(routed(), want) {
		t.Errorf("routed %v, want %v", routed(), want)
	}

	// A second account: now the check carries the service's token.
	other := &rampart.User{Email: "mallory@example.com", Role: rampart.RoleMember, PasswordHash: "x"}
	if err := db.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	add("www.shop.example")
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	if tok := chk.tokens["www.shop.example"]; tok == "" || tok != shop.Challenge.Value {
		t.Errorf("with two accounts the check asked for token %q, want the service's %q", tok, shop.Challenge.Value)
	}
	www, _ := db.DomainByName(ctx, "www.shop.example")
	if www.Verified() || www.State != rampart.DomainWaitingForDNS {
		t.Errorf("www.shop.example = %+v, want unproven and waiting", www.DomainStatus)
	}
	if want := []string{"shop.apps.example", "shop.example"}; !slices.Equal(routed(), want) {
		t.Errorf("routed %v, want %v (the unproven name left out)", routed(), want)
	}
	if slices.Contains(cm.names(), "www.shop.example:managed") {
		t.Error("the certificate manager got a name that is not proven")
	}

	// DNS stops pointing here: the proven name stays proven and routed,
	// and is not even checked again.
	chk.mu.Lock()
	chk.points["shop.example"] = false
	before := chk.asked["shop.example"]
	chk.mu.Unlock()
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	if chk.asked["shop.example"] != before {
		t.Error("a proven name was checked again")
	}
	if !slices.Contains(routed(), "shop.example") {
		t.Error("a proven name stopped routing when DNS changed")
	}

	// Removed: not routed at once; added again: unproven until DNS proves
	// it anew (it does not now).
	if err := db.DeleteDomain(ctx, shop.ID); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(routed(), "shop.example") {
		t.Error("a removed name is still routed")
	}
	add("shop.example")
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DomainByName(ctx, "shop.example"); got.Verified() || slices.Contains(routed(), "shop.example") {
		t.Errorf("a name added again kept its old proof: %+v", got.DomainStatus)
	}
}

// TestDomainsCheckWakesTheReconciler: a check by hand that finds an
// unproven name proven wakes the reconciler and makes the name due, so
// that it is routed now rather than at the next recheck; one that does not
// prove it changes nothing.
func TestDomainsCheckWakesTheReconciler(t *testing.T) {
	db, u := openStore(t)
	ctx := t.Context()
	svc := &rampart.Service{Name: "shop", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}
	if err := db.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	d := &rampart.Domain{ServiceID: svc.ID, Name: "shop.example", TLSMode: rampart.TLSOff, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}
	if err := db.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	chk := &fakeChecker{points: map[string]bool{}, asked: map[string]int{}}
	r := &Domains{Store: db, Certs: &fakeCerts{status: map[string]certs.Status{}}, Checker: chk, PlatformDomain: "apps.example"}
	if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
		t.Fatal(err)
	}
	woken := func() bool {
		select {
		case <-r.Wake():
			return true
		default:
			return false
		}
	}
	woken() // drain
	if r.Check(ctx, d); woken() {
		t.Error("a check that proves nothing woke the reconciler")
	}
	chk.mu.Lock()
	chk.points["shop.example"] = true
	chk.mu.Unlock()
	if res := r.Check(ctx, d); !res.PointsHere || !woken() {
		t.Fatalf("a check that proves the name: PointsHere %v; the reconciler must be woken", res.PointsHere)
	}
	// The woken pass checks the name although its recheck is not due.
	if err := r.Sync(ctx, Trigger{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DomainByName(ctx, "shop.example"); !got.Verified() || got.State != rampart.DomainActive {
		t.Errorf("after the woken pass: %+v, want proven and active", got.DomainStatus)
	}
}
