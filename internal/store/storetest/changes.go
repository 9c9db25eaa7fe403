package storetest

import (
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

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
	heard := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
	silent := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return false
		case <-time.After(50 * time.Millisecond):
			return true
		}
	}

	svc := mustService(t, s, "blog", u.ID)
	if !heard(services) || !heard(both) || !silent(domains) {
		t.Error("CreateService: want a notice for services (and both), none for domains")
	}
	drain()
	if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: svc.ID, Name: "blog.example", TLSMode: rampart.TLSOff, State: rampart.DomainActive}); err != nil {
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
