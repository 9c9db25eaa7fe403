package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// testConcurrentWriters has several goroutines write at once, as API
// requests do. Half of the writes are transactions that read before they
// write: the pattern that makes SQLite fail with SQLITE_BUSY when two such
// transactions upgrade from reading to writing at the same time.
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, each = 8, 50
	owner := mustUser(t, s, "ada@example.com")
	tok := mustToken(t, s, owner.ID, "ci")

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-s%d", w, i)
				var err error
				if i%2 == 0 {
					err = s.CreateService(ctx, &rampart.Service{Name: name, OwnerID: owner.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive})
				} else {
					err = s.InTx(ctx, func(tx store.Store) error {
						if _, err := tx.Revision(ctx, store.KindServices); err != nil {
							return err
						}
						if _, err := tx.ServiceByName(ctx, name); rampart.ErrorCode(err) != rampart.ENOTFOUND {
							return fmt.Errorf("ServiceByName(%q) before creating it = %v, want ENOTFOUND", name, err)
						}
						svc := &rampart.Service{Name: name, OwnerID: owner.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}
						if err := tx.CreateService(ctx, svc); err != nil {
							return err
						}
						return tx.AddAudit(ctx, &rampart.AuditEvent{ActorID: owner.ID, Actor: owner.Email, Action: "service.create", Service: name, ServiceID: svc.ID, OwnerID: owner.ID})
					})
				}
				if err != nil {
					t.Errorf("worker %d, write %d: %v", w, i, err)
					return
				}
				if err := s.TouchToken(ctx, tok.ID, time.Now()); err != nil {
					t.Errorf("worker %d, TouchToken: %v", w, err)
					return
				}
				// A committed write is visible to the next read at once.
				if _, err := s.ServiceByName(ctx, name); err != nil {
					t.Errorf("worker %d, reading back %q: %v", w, name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	list, err := s.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		t.Fatalf("ListServices: %v", err)
	}
	if len(list) != workers*each {
		t.Errorf("%d services written, want %d", len(list), workers*each)
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(events) != workers*each/2 {
		t.Errorf("%d audit events written, want %d", len(events), workers*each/2)
	}
}
