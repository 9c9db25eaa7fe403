package storetest

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// checkService compares every field of got with want.
func checkService(t *testing.T, got, want *rampart.Service) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.OwnerID != want.OwnerID || got.Owner != want.Owner ||
		got.State != want.State || !slices.Equal(got.Upstreams, want.Upstreams) {
		t.Errorf("service = {%d %q owner %d %q %q %q}, want {%d %q owner %d %q %q %q}",
			got.ID, got.Name, got.OwnerID, got.Owner, got.Upstreams, got.State,
			want.ID, want.Name, want.OwnerID, want.Owner, want.Upstreams, want.State)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	// A nil and an empty allow-list mean the same; stores may return either.
	gr, wr := got.RateLimit, want.RateLimit
	if gr.Enabled != wr.Enabled || gr.Requests != wr.Requests || gr.Per != wr.Per || !slices.Equal(gr.Allow, wr.Allow) && len(gr.Allow)+len(wr.Allow) > 0 {
		t.Errorf("rate limit = %+v, want %+v", gr, wr)
	}
	if got.Cache != want.Cache {
		t.Errorf("cache = %+v, want %+v", got.Cache, want.Cache)
	}
	if got.HSTS != want.HSTS {
		t.Errorf("hsts = %+v, want %+v", got.HSTS, want.HSTS)
	}
	// Reads never return a nil environment; an empty one equals nil.
	if got.Env == nil {
		t.Error("env is nil on read, want an empty map")
	}
	if !maps.Equal(got.Env, want.Env) {
		t.Errorf("env = %q, want %q", got.Env, want.Env)
	}
	if got.AllowPrivateUpstreams != want.AllowPrivateUpstreams {
		t.Errorf("allow_private_upstreams = %v, want %v", got.AllowPrivateUpstreams, want.AllowPrivateUpstreams)
	}
	if got.TerminationProtection != want.TerminationProtection {
		t.Errorf("termination_protection = %v, want %v", got.TerminationProtection, want.TerminationProtection)
	}
}

func testServiceRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	svc := &rampart.Service{
		Name:      "blog",
		OwnerID:   u.ID,
		Upstreams: []string{"http://127.0.0.1:8080", "https://backend.internal:8443/base"},
		State:     rampart.StateStopped,
		RateLimit: rampart.RateLimit{Enabled: true, Requests: 20, Per: rampart.PerSecond, Allow: []string{"203.0.113.0/24", "2001:db8::/48"}},
		Cache:     rampart.Cache{Enabled: false, TTL: rampart.Duration(90 * time.Second), StaleIfError: 0},
		HSTS:      rampart.HSTS{Enabled: true, MaxAge: 63072000, IncludeSubDomains: true, Preload: true},
		Env:       rampart.Env{"APP_DOMAIN": "shop.example.com", "MULTI": "a\nb", "EMPTY": "", "UNICODE": "bücher"},
		// An admin let it use the loopback upstream above.
		AllowPrivateUpstreams: true,
	}
	if err := s.CreateService(ctx, svc); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	if svc.ID == 0 {
		t.Fatal("CreateService did not set ID")
	}
	recent(t, "CreatedAt", svc.CreatedAt)
	sameTime(t, "UpdatedAt", svc.UpdatedAt, svc.CreatedAt)

	want := *svc
	want.Owner = u.Email // reads fill in the owner's email
	byName, err := s.ServiceByName(ctx, "blog")
	if err != nil {
		t.Fatalf("ServiceByName: %v", err)
	}
	checkService(t, byName, &want)
	byID, err := s.ServiceByID(ctx, svc.ID)
	if err != nil {
		t.Fatalf("ServiceByID: %v", err)
	}
	checkService(t, byID, &want)
}

func testServiceConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	mustService(t, s, "blog", u.ID)
	err := s.CreateService(ctx, &rampart.Service{Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:9"}, State: rampart.StateActive})
	wantCode(t, err, rampart.ECONFLICT)
	wantMessage(t, err, `a service named "blog" already exists`)

	got, err := s.ServiceByName(ctx, "blog")
	if err != nil || got.Upstreams[0] != "http://127.0.0.1:8080" {
		t.Errorf("after a clashing create the service is %+v, %v; want the first one unchanged", got, err)
	}
}

func testServiceNotFound(t *testing.T, s store.Store) {
	u := mustUser(t, s, "ada@example.com")
	mustService(t, s, "shop", u.ID)
	tests := []struct {
		name    string
		call    func() error
		message string
	}{
		{"ServiceByName", func() error { _, err := s.ServiceByName(t.Context(), "blog"); return err }, `service "blog" not found`},
		{"ServiceByID", func() error { _, err := s.ServiceByID(t.Context(), 424242); return err }, "not found"},
		{"UpdateService", func() error {
			return s.UpdateService(t.Context(), &rampart.Service{ID: 424242, Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:9"}, State: rampart.StateActive})
		}, "not found"},
		{"DeleteService", func() error { return s.DeleteService(t.Context(), 424242) }, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, rampart.ENOTFOUND)
			wantMessage(t, err, tc.message)
		})
	}
}

func testServiceUnknownOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	err := s.CreateService(ctx, &rampart.Service{Name: "blog", OwnerID: 424242, Upstreams: []string{"http://127.0.0.1:9"}, State: rampart.StateActive})
	wantCode(t, err, rampart.ENOTFOUND)

	svc := mustService(t, s, "shop", u.ID)
	svc.OwnerID = 424242
	wantCode(t, s.UpdateService(ctx, svc), rampart.ENOTFOUND)
	if got, err := s.ServiceByID(ctx, svc.ID); err != nil || got.OwnerID != u.ID {
		t.Errorf("after a refused update the service is %+v, %v; want owner %d", got, err, u.ID)
	}
}

func testServiceList(t *testing.T, s store.Store) {
	ctx := t.Context()
	if list, err := s.ListServices(ctx, store.ServiceFilter{}); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListServices on an empty store = %v, %v; want an empty, non-nil list", list, err)
	}
	ada := mustUser(t, s, "ada@example.com")
	grace := mustUser(t, s, "grace@example.com")
	nobody := mustUser(t, s, "nobody@example.com")
	mustService(t, s, "zeta", ada.ID)
	mustService(t, s, "alpha", grace.ID)
	mustService(t, s, "mid", ada.ID)

	type entry struct{ name, owner string }
	tests := []struct {
		name   string
		filter store.ServiceFilter
		want   []entry
	}{
		{"all", store.ServiceFilter{}, []entry{{"alpha", grace.Email}, {"mid", ada.Email}, {"zeta", ada.Email}}},
		{"one owner", store.ServiceFilter{OwnerID: ada.ID}, []entry{{"mid", ada.Email}, {"zeta", ada.Email}}},
		{"owner of none", store.ServiceFilter{OwnerID: nobody.ID}, []entry{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ListServices(ctx, tc.filter)
			if err != nil {
				t.Fatalf("ListServices: %v", err)
			}
			got := []entry{}
			for _, svc := range list {
				got = append(got, entry{svc.Name, svc.Owner})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ListServices = %v, want %v", got, tc.want)
			}
		})
	}
}

func testServiceUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	grace := mustUser(t, s, "grace@example.com")
	svc := mustService(t, s, "blog", ada.ID)
	created, updated := svc.CreatedAt, svc.UpdatedAt

	svc.Upstreams = []string{"http://10.0.0.2:80", "http://10.0.0.3:80"}
	svc.State = rampart.StateStopped
	svc.OwnerID = grace.ID
	svc.RateLimit = rampart.RateLimit{Enabled: false, Requests: 5, Per: rampart.PerMinute, Allow: []string{"198.51.100.7/32"}}
	svc.Cache = rampart.Cache{Enabled: true, TTL: rampart.Duration(10 * time.Second), StaleIfError: rampart.Duration(time.Hour)}
	// max-age 0 is a value of its own (browsers forget), not "the default".
	svc.HSTS = rampart.HSTS{Enabled: true, MaxAge: 0, IncludeSubDomains: true}
	svc.Env = rampart.Env{"A": "1"}
	svc.AllowPrivateUpstreams = !svc.AllowPrivateUpstreams
	svc.TerminationProtection = !svc.TerminationProtection
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	if svc.UpdatedAt.Before(updated) {
		t.Errorf("UpdatedAt went back from %v to %v", updated, svc.UpdatedAt)
	}
	got, err := s.ServiceByID(ctx, svc.ID)
	if err != nil {
		t.Fatalf("ServiceByID: %v", err)
	}
	want := *svc
	want.Owner = grace.Email
	want.CreatedAt = created
	checkService(t, got, &want)
}

// testServiceTerminationProtection: protection is off unless asked for,
// and is kept through creates and updates in both directions.
func testServiceTerminationProtection(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	plain := mustService(t, s, "blog", u.ID)
	if got, err := s.ServiceByID(ctx, plain.ID); err != nil || got.TerminationProtection {
		t.Fatalf("a new service: termination_protection = %v (%v), want off", got != nil && got.TerminationProtection, err)
	}
	guarded := &rampart.Service{Name: "shop", OwnerID: u.ID, Upstreams: []string{"http://10.0.0.2:80"}, State: rampart.StateActive, TerminationProtection: true}
	if err := s.CreateService(ctx, guarded); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	for _, step := range []struct {
		svc  *rampart.Service
		want bool
	}{{guarded, true}, {plain, true}, {guarded, false}, {plain, false}} {
		if step.svc.TerminationProtection != step.want {
			step.svc.TerminationProtection = step.want
			if err := s.UpdateService(ctx, step.svc); err != nil {
				t.Fatalf("UpdateService(%s): %v", step.svc.Name, err)
			}
		}
		got, err := s.ServiceByName(ctx, step.svc.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.TerminationProtection != step.want {
			t.Errorf("%s: termination_protection = %v, want %v", step.svc.Name, got.TerminationProtection, step.want)
		}
	}
	list, err := s.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range list {
		if svc.TerminationProtection {
			t.Errorf("ListServices: %s still protected", svc.Name)
		}
	}
}

func testServiceDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	svc := mustService(t, s, "blog", u.ID)
	keep := mustService(t, s, "shop", u.ID)

	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	_, err := s.ServiceByName(ctx, "blog")
	wantCode(t, err, rampart.ENOTFOUND)
	_, err = s.ServiceByID(ctx, svc.ID)
	wantCode(t, err, rampart.ENOTFOUND)
	wantCode(t, s.DeleteService(ctx, svc.ID), rampart.ENOTFOUND)
	if _, err := s.ServiceByID(ctx, keep.ID); err != nil {
		t.Errorf("the other service is gone too: %v", err)
	}

	// The name is free again, and the new service is a new row.
	again := mustService(t, s, "blog", u.ID)
	if again.ID == svc.ID {
		t.Errorf("a new service reused the deleted one's ID %d", svc.ID)
	}
}

func testServicesRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	version := func() int64 {
		t.Helper()
		v, err := s.Revision(ctx, store.KindServices)
		if err != nil {
			t.Fatalf("the services revision: %v", err)
		}
		return v
	}

	v := version()
	if again := version(); again != v {
		t.Fatalf("the services revision changed from %d to %d without a write", v, again)
	}
	var svc *rampart.Service
	steps := []struct {
		name  string
		write func() error
	}{
		{"create", func() error {
			svc = &rampart.Service{Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}
			return s.CreateService(ctx, svc)
		}},
		{"create another", func() error {
			return s.CreateService(ctx, &rampart.Service{Name: "shop", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:8081"}, State: rampart.StateActive})
		}},
		{"update", func() error { svc.State = rampart.StateStopped; return s.UpdateService(ctx, svc) }},
		{"update without a change", func() error { return s.UpdateService(ctx, svc) }},
		{"delete", func() error { return s.DeleteService(ctx, svc.ID) }},
		{"in a transaction", func() error {
			return s.InTx(ctx, func(tx store.Store) error {
				return tx.CreateService(ctx, &rampart.Service{Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive})
			})
		}},
	}
	seen := map[int64]string{v: "start"}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		next := version()
		if prev, ok := seen[next]; ok {
			t.Errorf("after %s the services revision is %d, the same as after %s", st.name, next, prev)
		}
		seen[next] = st.name
		if again := version(); again != next {
			t.Errorf("after %s the services revision changed from %d to %d without a write", st.name, next, again)
		}
	}
}

// testServiceConditions: a reconciler's report round-trips on every read
// of the service, replaces its earlier report of the same type, leaves the
// other types alone, never moves a revision, and goes with the service.
func testServiceConditions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	svc := mustService(t, s, "blog", u.ID)
	if got, _ := s.ServiceByID(ctx, svc.ID); got.Status.State != rampart.StatusPending || got.Status.Conditions == nil || len(got.Status.Conditions) != 0 {
		t.Errorf("a new service's status = %+v, want pending with no conditions", got.Status)
	}
	revs := revisions(t, s)

	at := time.Now().UTC().Truncate(time.Millisecond)
	set := func(c rampart.Condition) {
		t.Helper()
		if err := s.SetServiceCondition(ctx, svc.ID, c); err != nil {
			t.Fatalf("SetServiceCondition(%+v): %v", c, err)
		}
	}
	set(rampart.Condition{Type: "routing", OK: false, Message: "the cache refused it", Revision: 7, UpdatedAt: at})
	set(rampart.Condition{Type: "firewall", OK: true, Revision: 3, UpdatedAt: at})
	check := func(want rampart.StatusState, wantRouting rampart.Condition) {
		t.Helper()
		for _, read := range []func() (*rampart.Service, error){
			func() (*rampart.Service, error) { return s.ServiceByID(ctx, svc.ID) },
			func() (*rampart.Service, error) { return s.ServiceByName(ctx, "blog") },
			func() (*rampart.Service, error) {
				l, err := s.ListServices(ctx, store.ServiceFilter{})
				if err != nil || len(l) != 1 {
					t.Fatalf("ListServices = %v, %v", l, err)
				}
				return l[0], nil
			},
		} {
			got, err := read()
			if err != nil {
				t.Fatal(err)
			}
			st := got.Status
			if st.State != want || len(st.Conditions) != 2 {
				t.Fatalf("status = %+v, want %s with 2 conditions", st, want)
			}
			if st.Conditions[0].Type != "firewall" || st.Conditions[1].Type != "routing" {
				t.Errorf("conditions are not sorted by type: %+v", st.Conditions)
			}
			r := st.Conditions[1]
			if r.OK != wantRouting.OK || r.Message != wantRouting.Message || r.Revision != wantRouting.Revision || !r.UpdatedAt.Equal(wantRouting.UpdatedAt) {
				t.Errorf("routing condition = %+v, want %+v", r, wantRouting)
			}
		}
	}
	check(rampart.StatusError, rampart.Condition{OK: false, Message: "the cache refused it", Revision: 7, UpdatedAt: at})
	set(rampart.Condition{Type: "routing", OK: true, Revision: 8, UpdatedAt: at.Add(time.Second)})
	check(rampart.StatusOK, rampart.Condition{OK: true, Revision: 8, UpdatedAt: at.Add(time.Second)})

	if got := revisions(t, s); got != revs {
		t.Errorf("writing conditions moved the revisions %v → %v: every reconciler pass would wake the others", revs, got)
	}
	if err := s.SetServiceCondition(ctx, svc.ID, rampart.Condition{OK: true}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("a condition without a type: %v, want EINVALID", err)
	}
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.SetServiceCondition(ctx, svc.ID, rampart.Condition{Type: "routing", OK: true}), rampart.ENOTFOUND)
	again := mustService(t, s, "blog", u.ID)
	if got, _ := s.ServiceByID(ctx, again.ID); got.Status.State != rampart.StatusPending {
		t.Errorf("a new service of a reused name inherited a status: %+v", got.Status)
	}
}

// testSubscribe: a subscriber hears about committed changes of its kinds
// only, and not about status writes.
func testSubscribe(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	services, stopS := s.Subscribe(store.KindServices)
	defer stopS()
	domains, stopD := s.Subscribe(store.KindDomains)
	defer stopD()
	both, stopB := s.Subscribe(store.KindServices, store.KindDomains)
	defer stopB()
	drain := func() {
		for _, c := range []<-chan struct{}{services, domains, both} {
			select {
			case <-c:
			default:
			}
		}
	}
	// A notice is heard within 2 s; silence is 50 ms without one.
	within := func(c <-chan struct{}, d time.Duration) bool {
		select {
		case <-c:
			return true
		case <-time.After(d):
			return false
		}
	}
	heard := func(c <-chan struct{}) bool { return within(c, 2*time.Second) }
	silent := func(c <-chan struct{}) bool { return !within(c, 50*time.Millisecond) }

	svc := mustService(t, s, "blog", u.ID)
	if !heard(services) || !heard(both) || !silent(domains) {
		t.Error("CreateService: want a notice for services (and both), none for domains")
	}
	drain()
	if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: svc.ID, Name: "blog.example", TLSMode: rampart.TLSOff, DomainStatus: rampart.DomainStatus{State: rampart.DomainActive}}); err != nil {
		t.Fatal(err)
	}
	if !heard(domains) || !heard(both) || !silent(services) {
		t.Error("CreateDomain: want a notice for domains (and both), none for services")
	}
	drain()
	d, _ := s.DomainByName(ctx, "blog.example")
	if err := s.UpdateDomainStatus(ctx, d.ID, rampart.DomainError, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServiceCondition(ctx, svc.ID, rampart.Condition{Type: "routing", OK: true}); err != nil {
		t.Fatal(err)
	}
	if !silent(domains) || !silent(services) || !silent(both) {
		t.Error("a status write sent a change notice")
	}

	// Inside a transaction the notice comes after the commit, and a
	// rolled-back transaction sends none.
	err := s.InTx(ctx, func(tx store.Store) error {
		svc.State = rampart.StateStopped
		if err := tx.UpdateService(ctx, svc); err != nil {
			return err
		}
		select {
		case <-services:
			t.Error("a notice arrived before the transaction committed")
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !heard(services) {
		t.Error("no notice after the transaction committed")
	}
	drain()
	_ = s.InTx(ctx, func(tx store.Store) error {
		svc.State = rampart.StateActive
		if err := tx.UpdateService(ctx, svc); err != nil {
			return err
		}
		return rampart.Errorf(rampart.EINVALID, "roll back")
	})
	if !silent(services) {
		t.Error("a rolled-back transaction sent a notice")
	}

	stopS()
	stopS() // twice is harmless
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	if !heard(domains) || !heard(both) {
		t.Error("DeleteService: its domains went too, want a notice for domains")
	}
	if !silent(services) {
		t.Error("a notice reached an ended subscription")
	}
}

// revisions reads every kind's revision.
func revisions(t *testing.T, s store.Store) [2]int64 {
	t.Helper()
	var out [2]int64
	for i, k := range []store.Kind{store.KindServices, store.KindDomains} {
		v, err := s.Revision(t.Context(), k)
		if err != nil {
			t.Fatalf("Revision(%s): %v", k, err)
		}
		out[i] = v
	}
	return out
}

// testServiceRetiredName: deleting a service that had custom domains
// retires its name with its owner and domains, in the same write; one
// without domains retires nothing. A later delete of the name's next
// service records its owner instead.
func testServiceRetiredName(t *testing.T, s store.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	bob := mustUser(t, s, "bob@example.com")
	blog := mustService(t, s, "blog", ada.ID)
	for _, name := range []string{"blog.example", "www.blog.example"} {
		if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: blog.ID, Name: name, TLSMode: rampart.TLSManaged,
			DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}); err != nil {
			t.Fatal(err)
		}
	}
	plain := mustService(t, s, "plain", ada.ID)
	_, err := s.RetiredName(ctx, "blog")
	wantCode(t, err, rampart.ENOTFOUND)

	if err := s.InTx(ctx, func(st store.Store) error { return st.DeleteService(ctx, blog.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteService(ctx, plain.ID); err != nil {
		t.Fatal(err)
	}
	rn, err := s.RetiredName(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if rn.Name != "blog" || rn.OwnerID != ada.ID || !slices.Equal(rn.Domains, []string{"blog.example", "www.blog.example"}) {
		t.Errorf("retired %+v", rn)
	}
	recent(t, "RetiredAt", rn.RetiredAt)
	_, err = s.RetiredName(ctx, "plain")
	wantCode(t, err, rampart.ENOTFOUND)

	// The store hands the name out again (the service layer decides to
	// whom); the next owner's delete, with domains, records that owner.
	again := mustService(t, s, "blog", bob.ID)
	if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: again.ID, Name: "bob.example", TLSMode: rampart.TLSManaged,
		DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteService(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
	if rn, err := s.RetiredName(ctx, "blog"); err != nil || rn.OwnerID != bob.ID || !slices.Equal(rn.Domains, []string{"bob.example"}) {
		t.Errorf("after the second delete: %+v, %v", rn, err)
	}
	wantCode(t, s.DeleteService(ctx, again.ID), rampart.ENOTFOUND)
}
