package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

var errAbort = errors.New("storetest: abort the transaction")

// writeAll creates one row of most kinds through s, so a rollback test can
// check that every kind is gone afterwards.
func writeAll(t *testing.T, s store.Store) error {
	ctx := t.Context()
	u := &rampart.User{Email: "ada@example.com", Role: rampart.RoleAdmin}
	if err := s.CreateUser(ctx, u); err != nil {
		return err
	}
	if err := s.CreateToken(ctx, &rampart.APIToken{UserID: u.ID, Name: "ci", Hash: hash("ci")}); err != nil {
		return err
	}
	if err := s.CreateService(ctx, &rampart.Service{Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}); err != nil {
		return err
	}
	return s.AddAudit(ctx, &rampart.AuditEvent{ActorID: u.ID, Actor: u.Email, Action: "service.create", Service: "blog"})
}

// wantWritten checks whether the rows of writeAll are there.
func wantWritten(t *testing.T, s store.Store, want bool) {
	t.Helper()
	ctx := t.Context()
	users, err := s.CountUsers(ctx)
	if err != nil {
		t.Fatalf("CountUsers: %v", err)
	}
	_, tokErr := s.TokenByHash(ctx, hash("ci"))
	_, svcErr := s.ServiceByName(ctx, "blog")
	events, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	got := map[string]bool{"user": users > 0, "token": tokErr == nil, "service": svcErr == nil, "audit event": len(events) > 0}
	for kind, there := range got {
		if there != want {
			t.Errorf("%s written: %v, want %v", kind, there, want)
		}
	}
}

func testTxCommit(t *testing.T, s store.Store) {
	err := s.InTx(t.Context(), func(tx store.Store) error {
		if err := writeAll(t, tx); err != nil {
			return err
		}
		// The transaction reads its own writes.
		if _, err := tx.ServiceByName(t.Context(), "blog"); err != nil {
			t.Errorf("inside the transaction: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	wantWritten(t, s, true)
}

func testTxRollbackOnError(t *testing.T, s store.Store) {
	tests := []struct {
		name string
		fn   func(tx store.Store) error
		code string // of the error InTx must return
	}{
		{"error of the callback", func(tx store.Store) error {
			if err := writeAll(t, tx); err != nil {
				return err
			}
			return errAbort
		}, rampart.EINTERNAL},
		{"error of the store", func(tx store.Store) error {
			if err := writeAll(t, tx); err != nil {
				return err
			}
			return tx.CreateUser(t.Context(), &rampart.User{Email: "ada@example.com", Role: rampart.RoleMember})
		}, rampart.ECONFLICT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.InTx(t.Context(), tc.fn)
			if tc.code == rampart.EINTERNAL && !errors.Is(err, errAbort) {
				t.Fatalf("InTx = %v, want the callback's error", err)
			}
			wantCode(t, err, tc.code)
			wantWritten(t, s, false)
		})
	}
}

func testTxRollbackOnPanic(t *testing.T, s store.Store) {
	type boom struct{}
	func() {
		defer func() {
			if r := recover(); r != (boom{}) {
				t.Errorf("recovered %v, want the callback's panic to go on", r)
			}
		}()
		_ = s.InTx(t.Context(), func(tx store.Store) error {
			if err := writeAll(t, tx); err != nil {
				t.Errorf("writeAll: %v", err)
			}
			panic(boom{})
		})
		t.Error("InTx returned after its callback panicked")
	}()
	wantWritten(t, s, false)

	// The store is still usable: the connection was given back.
	if err := writeAll(t, s); err != nil {
		t.Fatalf("writing after the panic: %v", err)
	}
	wantWritten(t, s, true)
}

func testTxNested(t *testing.T, s store.Store) {
	ctx := t.Context()
	// tcase is set to each case's name, so every case writes new emails.
	var tcase string
	createUser := func(who string) func(tx store.Store) error {
		return func(tx store.Store) error {
			email := fmt.Sprintf("%s-%x@example.com", who, tcase)
			return tx.CreateUser(ctx, &rampart.User{Email: email, Role: rampart.RoleMember})
		}
	}
	tests := []struct {
		name  string
		outer func(tx store.Store) error
		err   error
		users int
	}{
		{"both commit", func(tx store.Store) error {
			if err := createUser("outer")(tx); err != nil {
				return err
			}
			return tx.InTx(ctx, createUser("inner"))
		}, nil, 2},
		{"outer fails after inner succeeded", func(tx store.Store) error {
			if err := tx.InTx(ctx, createUser("inner")); err != nil {
				return err
			}
			return errAbort
		}, errAbort, 0},
		{"inner fails, outer passes the error on", func(tx store.Store) error {
			if err := createUser("outer")(tx); err != nil {
				return err
			}
			return tx.InTx(ctx, func(inner store.Store) error {
				if err := createUser("inner")(inner); err != nil {
					return err
				}
				return errAbort
			})
		}, errAbort, 0},
		{"the inner store sees the outer's writes", func(tx store.Store) error {
			if err := createUser("outer")(tx); err != nil {
				return err
			}
			return tx.InTx(ctx, func(inner store.Store) error {
				_, err := inner.UserByEmail(ctx, fmt.Sprintf("outer-%x@example.com", tcase))
				return err
			})
		}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tcase = tc.name
			before, err := s.CountUsers(ctx)
			if err != nil {
				t.Fatalf("CountUsers: %v", err)
			}
			err = s.InTx(ctx, tc.outer)
			if !errors.Is(err, tc.err) {
				t.Fatalf("InTx = %v, want %v", err, tc.err)
			}
			after, err := s.CountUsers(ctx)
			if err != nil {
				t.Fatalf("CountUsers: %v", err)
			}
			if after-before != tc.users {
				t.Errorf("%d users written, want %d", after-before, tc.users)
			}
		})
	}
}
