package storetest

import (
	"bytes"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

func testDomainRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	svc := mustService(t, s, "shop", u.ID)
	d := &rampart.Domain{ServiceID: svc.ID, Name: "xn--bcher-kva.example", TLSMode: rampart.TLSCustom,
		DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS, Reason: "not yet"}, CertPEM: []byte("CERT"), KeyPEM: []byte("KEY")}
	if err := s.CreateDomain(ctx, d); err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	if d.ID == 0 || d.Service != "shop" {
		t.Fatalf("CreateDomain set ID %d, Service %q; want an ID and %q", d.ID, d.Service, "shop")
	}
	recent(t, "CreatedAt", d.CreatedAt)
	got, err := s.DomainByName(ctx, d.Name)
	if err != nil {
		t.Fatalf("DomainByName: %v", err)
	}
	if got.ID != d.ID || got.ServiceID != svc.ID || got.Service != "shop" || got.Name != d.Name ||
		got.TLSMode != rampart.TLSCustom || got.State != rampart.DomainWaitingForDNS || got.Reason != "not yet" ||
		!bytes.Equal(got.CertPEM, d.CertPEM) || !bytes.Equal(got.KeyPEM, d.KeyPEM) {
		t.Errorf("DomainByName = %+v, want %+v", got, d)
	}
	if got.Display != "bücher.example" {
		t.Errorf("Display = %q, want %q", got.Display, "bücher.example")
	}
	sameTime(t, "CreatedAt", got.CreatedAt, d.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, d.UpdatedAt)

	// Managed domains have no PEMs: they come back empty.
	m := &rampart.Domain{ServiceID: svc.ID, Name: "a.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}
	if err := s.CreateDomain(ctx, m); err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	got, err = s.DomainByName(ctx, "a.example")
	if err != nil {
		t.Fatalf("DomainByName: %v", err)
	}
	if len(got.CertPEM) != 0 || len(got.KeyPEM) != 0 || got.Reason != "" {
		t.Errorf("managed domain = %+v, want no PEMs and no reason", got)
	}
}

func testDomainConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	a := mustService(t, s, "a", u.ID)
	b := mustService(t, s, "b", u.ID)
	d := &rampart.Domain{ServiceID: a.ID, Name: "shop.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}
	if err := s.CreateDomain(ctx, d); err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	for _, svc := range []int64{a.ID, b.ID} {
		err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: svc, Name: "shop.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}})
		wantCode(t, err, rampart.ECONFLICT)
		wantMessage(t, err, "shop.example is already used by another service")
	}
	err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: 9999, Name: "x.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}})
	wantCode(t, err, rampart.ENOTFOUND)
}

func testDomainListUpdateDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	a := mustService(t, s, "a", u.ID)
	b := mustService(t, s, "b", u.ID)
	for _, x := range []struct {
		svc  int64
		name string
	}{{a.ID, "z.example"}, {b.ID, "m.example"}, {a.ID, "b.example"}} {
		if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: x.svc, Name: x.name, TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}); err != nil {
			t.Fatalf("CreateDomain(%q): %v", x.name, err)
		}
	}
	names := func(f store.DomainFilter) []string {
		t.Helper()
		list, err := s.ListDomains(ctx, f)
		if err != nil {
			t.Fatalf("ListDomains: %v", err)
		}
		if list == nil {
			t.Fatal("ListDomains returned nil")
		}
		var out []string
		for _, d := range list {
			out = append(out, d.Service+"/"+d.Name)
		}
		return out
	}
	if got, want := names(store.DomainFilter{}), []string{"a/b.example", "b/m.example", "a/z.example"}; !equal(got, want) {
		t.Errorf("ListDomains(all) = %q, want %q", got, want)
	}
	if got, want := names(store.DomainFilter{ServiceID: a.ID}), []string{"a/b.example", "a/z.example"}; !equal(got, want) {
		t.Errorf("ListDomains(a) = %q, want %q", got, want)
	}

	d, err := s.DomainByName(ctx, "z.example")
	if err != nil {
		t.Fatal(err)
	}
	v0, _ := s.Revision(ctx, store.KindDomains)
	if err := s.UpdateDomainStatus(ctx, d.ID, rampart.DomainError, "the CA refused"); err != nil {
		t.Fatalf("UpdateDomainStatus: %v", err)
	}
	got, err := s.DomainByName(ctx, "z.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != rampart.DomainError || got.Reason != "the CA refused" || got.UpdatedAt.Before(d.UpdatedAt) {
		t.Errorf("after UpdateDomainStatus: %+v", got)
	}
	if v1, _ := s.Revision(ctx, store.KindDomains); v1 != v0 {
		t.Errorf("UpdateDomainStatus changed the domains revision %d → %d; it must not", v0, v1)
	}
	wantCode(t, s.UpdateDomainStatus(ctx, 9999, rampart.DomainActive, ""), rampart.ENOTFOUND)

	if err := s.DeleteDomain(ctx, d.ID); err != nil {
		t.Fatalf("DeleteDomain: %v", err)
	}
	if v2, _ := s.Revision(ctx, store.KindDomains); v2 == v0 {
		t.Error("DeleteDomain did not change the domains revision")
	}
	_, err = s.DomainByName(ctx, "z.example")
	wantCode(t, err, rampart.ENOTFOUND)
	wantCode(t, s.DeleteDomain(ctx, d.ID), rampart.ENOTFOUND)

	// Deleting a service deletes its domains, and the name is free again.
	if err := s.DeleteService(ctx, a.ID); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	if got, want := names(store.DomainFilter{}), []string{"b/m.example"}; !equal(got, want) {
		t.Errorf("after deleting service a: %q, want %q", got, want)
	}
	if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: b.ID, Name: "b.example", TLSMode: rampart.TLSOff, DomainStatus: rampart.DomainStatus{State: rampart.DomainActive}}); err != nil {
		t.Errorf("CreateDomain of a freed name: %v", err)
	}
}

func testDomainVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	a := mustService(t, s, "a", u.ID)
	v0, err := s.Revision(ctx, store.KindDomains)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDomain(ctx, &rampart.Domain{ServiceID: a.ID, Name: "a.example", TLSMode: rampart.TLSManaged, DomainStatus: rampart.DomainStatus{State: rampart.DomainWaitingForDNS}}); err != nil {
		t.Fatal(err)
	}
	v1, _ := s.Revision(ctx, store.KindDomains)
	if v1 == v0 {
		t.Error("CreateDomain did not change the domains revision")
	}
	d, err := s.DomainByName(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateDomainStatus(ctx, d.ID, rampart.DomainIssuing, "asking the CA"); err != nil {
		t.Fatal(err)
	}
	v2, _ := s.Revision(ctx, store.KindDomains)
	if v2 != v1 {
		t.Error("UpdateDomainStatus changed the domains revision: every reconciler pass would wake the others")
	}
	before := d.UpdatedAt
	d.TLSMode, d.State, d.Reason = rampart.TLSCustom, rampart.DomainIssuing, "installing the uploaded certificate"
	d.CertPEM, d.KeyPEM = []byte("CERT"), []byte("KEY")
	if err := s.UpdateDomainTLS(ctx, d); err != nil {
		t.Fatalf("UpdateDomainTLS: %v", err)
	}
	if d.UpdatedAt.Before(before) {
		t.Errorf("UpdatedAt went back from %v to %v", before, d.UpdatedAt)
	}
	if v3, _ := s.Revision(ctx, store.KindDomains); v3 == v2 {
		t.Error("UpdateDomainTLS did not change the domains revision")
	}
	got, err := s.DomainByName(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if got.TLSMode != rampart.TLSCustom || got.State != rampart.DomainIssuing || got.Reason != d.Reason ||
		string(got.CertPEM) != "CERT" || string(got.KeyPEM) != "KEY" {
		t.Errorf("after UpdateDomainTLS: %+v", got)
	}
	d.TLSMode, d.State, d.Reason, d.CertPEM, d.KeyPEM = rampart.TLSOff, rampart.DomainActive, "", nil, nil
	if err := s.UpdateDomainTLS(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.DomainByName(ctx, "a.example"); got.CertPEM != nil || got.KeyPEM != nil || got.TLSMode != rampart.TLSOff {
		t.Errorf("switching to off kept the upload: %+v", got)
	}
	d.ID = 9999
	if err := s.UpdateDomainTLS(ctx, d); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("UpdateDomainTLS of a missing domain: %v, want ENOTFOUND", err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
