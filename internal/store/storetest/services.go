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
	// Reads never return a nil environment; an empty one equals nil.
	if got.Env == nil {
		t.Error("env is nil on read, want an empty map")
	}
	if !maps.Equal(got.Env, want.Env) {
		t.Errorf("env = %q, want %q", got.Env, want.Env)
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
		Env:       rampart.Env{"APP_DOMAIN": "shop.example.com", "MULTI": "a\nb", "EMPTY": "", "UNICODE": "bücher"},
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
	svc.Env = rampart.Env{"A": "1"}
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
