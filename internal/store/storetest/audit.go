package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// mustAudit appends e.
func mustAudit(t *testing.T, s store.Store, e *rampart.AuditEvent) *rampart.AuditEvent {
	t.Helper()
	if err := s.AddAudit(t.Context(), e); err != nil {
		t.Fatalf("AddAudit(%q): %v", e.Action, err)
	}
	return e
}

// ids returns the IDs of events in order.
func ids(events []*rampart.AuditEvent) []int64 {
	out := []int64{}
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func testAuditAdd(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := mustAudit(t, s, &rampart.AuditEvent{
		ActorID: 7, Actor: "ada@example.com", IP: "192.0.2.1", Action: "service.create",
		Service: "blog", ServiceID: 3, OwnerID: 7, Detail: `upstreams=["http://127.0.0.1:8080"]`,
	})
	if e.ID == 0 {
		t.Fatal("AddAudit did not set ID")
	}
	recent(t, "At (set by AddAudit)", e.At)

	at := time.Date(2029, 12, 31, 23, 59, 59, 999999999, time.FixedZone("UTC+9", 9*3600))
	given := mustAudit(t, s, &rampart.AuditEvent{At: at, Actor: "operator", Action: "user.create"})
	if given.ID <= e.ID {
		t.Errorf("IDs do not grow: %d after %d", given.ID, e.ID)
	}

	list, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("ListAudit returned %d events, want 2", len(list))
	}
	got := list[1] // newest first
	if got.ID != e.ID || got.ActorID != e.ActorID || got.Actor != e.Actor || got.IP != e.IP || got.Action != e.Action ||
		got.Service != e.Service || got.ServiceID != e.ServiceID || got.OwnerID != e.OwnerID || got.Detail != e.Detail {
		t.Errorf("ListAudit event = %+v, want %+v", *got, *e)
	}
	sameTime(t, "At (read back)", got.At, e.At)
	sameTime(t, "At (given, read back)", list[0].At, at)
}

func testAuditFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	if list, err := s.ListAudit(ctx, store.AuditFilter{}); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListAudit on an empty store = %v, %v; want an empty, non-nil list", list, err)
	}
	// Users 1 and 2 are members, 3 is an admin. The audit log has no foreign
	// keys, so these users need not exist.
	e1 := mustAudit(t, s, &rampart.AuditEvent{ActorID: 1, Actor: "one@example.com", Action: "service.create", Service: "blog", ServiceID: 10, OwnerID: 1})
	e2 := mustAudit(t, s, &rampart.AuditEvent{ActorID: 2, Actor: "two@example.com", Action: "service.update", Service: "blog", ServiceID: 10, OwnerID: 1})
	e3 := mustAudit(t, s, &rampart.AuditEvent{ActorID: 2, Actor: "two@example.com", Action: "service.create", Service: "shop", ServiceID: 11, OwnerID: 2})
	e4 := mustAudit(t, s, &rampart.AuditEvent{Actor: "system", Action: "service.stop", Service: "shop", ServiceID: 11, OwnerID: 2})
	e5 := mustAudit(t, s, &rampart.AuditEvent{ActorID: 3, Actor: "admin@example.com", Action: "user.create", Detail: "four@example.com"})

	tests := []struct {
		name   string
		filter store.AuditFilter
		want   []*rampart.AuditEvent
	}{
		{"everything", store.AuditFilter{}, []*rampart.AuditEvent{e5, e4, e3, e2, e1}},
		{"visible to an owner: own acts and acts on own services", store.AuditFilter{VisibleTo: 1}, []*rampart.AuditEvent{e2, e1}},
		{"visible to an actor on another's service", store.AuditFilter{VisibleTo: 2}, []*rampart.AuditEvent{e4, e3, e2}},
		{"visible to an admin's own acts", store.AuditFilter{VisibleTo: 3}, []*rampart.AuditEvent{e5}},
		{"visible to a stranger", store.AuditFilter{VisibleTo: 99}, []*rampart.AuditEvent{}},
		{"one service", store.AuditFilter{Service: "blog"}, []*rampart.AuditEvent{e2, e1}},
		{"one service, visible to someone else", store.AuditFilter{Service: "shop", VisibleTo: 1}, []*rampart.AuditEvent{}},
		{"one service, visible to its owner", store.AuditFilter{Service: "shop", VisibleTo: 2}, []*rampart.AuditEvent{e4, e3}},
		{"unknown service", store.AuditFilter{Service: "nope"}, []*rampart.AuditEvent{}},
		{"before an ID", store.AuditFilter{BeforeID: e3.ID}, []*rampart.AuditEvent{e2, e1}},
		{"before the first ID", store.AuditFilter{BeforeID: e1.ID}, []*rampart.AuditEvent{}},
		{"limit", store.AuditFilter{Limit: 2}, []*rampart.AuditEvent{e5, e4}},
		{"all together", store.AuditFilter{VisibleTo: 2, Service: "shop", BeforeID: e4.ID, Limit: 5}, []*rampart.AuditEvent{e3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ListAudit(ctx, tc.filter)
			if err != nil {
				t.Fatalf("ListAudit(%+v): %v", tc.filter, err)
			}
			if got, want := ids(list), ids(tc.want); !slices.Equal(got, want) {
				t.Errorf("ListAudit(%+v) IDs = %v, want %v", tc.filter, got, want)
			}
		})
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, page = 25, 10
	var all []int64
	for i := range n {
		e := mustAudit(t, s, &rampart.AuditEvent{Actor: "system", Action: fmt.Sprintf("test.%d", i)})
		all = append(all, e.ID)
	}
	slices.Reverse(all)

	var got []int64
	f := store.AuditFilter{Limit: page}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		list, err := s.ListAudit(ctx, f)
		if err != nil {
			t.Fatalf("ListAudit(%+v): %v", f, err)
		}
		if len(list) > page {
			t.Fatalf("ListAudit(%+v) returned %d events", f, len(list))
		}
		if len(list) == 0 {
			break
		}
		got = append(got, ids(list)...)
		f.BeforeID = list[len(list)-1].ID
	}
	if !slices.Equal(got, all) {
		t.Errorf("pages joined = %v, want %v", got, all)
	}
}

func testAuditLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 1005
	err := s.InTx(ctx, func(tx store.Store) error {
		for i := range n {
			if err := tx.AddAudit(ctx, &rampart.AuditEvent{Actor: "system", Action: fmt.Sprintf("test.%d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("adding %d events: %v", n, err)
	}
	tests := []struct {
		limit, want int
	}{
		{0, 100},
		{-1, 100},
		{1, 1},
		{1000, 1000},
		{1001, 1000},
		{5000, 1000},
	}
	for _, tc := range tests {
		list, err := s.ListAudit(ctx, store.AuditFilter{Limit: tc.limit})
		if err != nil {
			t.Fatalf("ListAudit(Limit %d): %v", tc.limit, err)
		}
		if len(list) != tc.want {
			t.Errorf("ListAudit(Limit %d) returned %d events, want %d", tc.limit, len(list), tc.want)
		}
	}
}
