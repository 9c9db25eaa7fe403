package storetest

import (
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// testServiceRuntime: the runtime, generation, grace period and run state
// of a service come back as written.
func testServiceRuntime(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	svc := mustService(t, s, "blog", u.ID)
	if svc.Runtime.Kind != rampart.RuntimeProxy {
		got, _ := s.ServiceByID(ctx, svc.ID)
		if got.Runtime.Kind != rampart.RuntimeProxy {
			t.Errorf("a new service's runtime is %q, want proxy", got.Runtime.Kind)
		}
	}
	deleted := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	purge := deleted.Add(7 * 24 * time.Hour)
	svc.Runtime = rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/app", Args: []string{"-v", "${VERSION}"}, Port: 8080, Version: "1.2"}
	svc.Generation = 3
	svc.State = rampart.StateDeleted
	svc.DeletedAt, svc.PurgeAfter = &deleted, &purge
	if err := s.UpdateService(ctx, svc); err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	rev := revisions(t, s)
	rs := &rampart.RunState{State: "running", PID: 42, Since: deleted, Restarts: 2, LastExit: "exit status 1"}
	if err := s.SetServiceRunState(ctx, svc.ID, rs); err != nil {
		t.Fatalf("SetServiceRunState: %v", err)
	}
	if revisions(t, s) != rev {
		t.Error("SetServiceRunState moved a revision: run state is observed state")
	}
	got, err := s.ServiceByName(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if got.Runtime.Command != "/bin/app" || got.Runtime.Port != 8080 || got.Runtime.Version != "1.2" || len(got.Runtime.Args) != 2 || got.Generation != 3 {
		t.Errorf("runtime came back as %+v generation %d", got.Runtime, got.Generation)
	}
	if got.State != rampart.StateDeleted || got.DeletedAt == nil || !got.DeletedAt.Equal(deleted) || got.PurgeAfter == nil || !got.PurgeAfter.Equal(purge) {
		t.Errorf("grace period came back as state %q deleted %v purge %v", got.State, got.DeletedAt, got.PurgeAfter)
	}
	if got.Run == nil || got.Run.PID != 42 || got.Run.LastExit != "exit status 1" || got.Run.Restarts != 2 {
		t.Errorf("run state came back as %+v", got.Run)
	}
	wantCode(t, s.SetServiceRunState(ctx, 999999, rs), rampart.ENOTFOUND)

	// Restored: the times are cleared.
	got.State, got.DeletedAt, got.PurgeAfter = rampart.StateActive, nil, nil
	if err := s.UpdateService(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, _ := s.ServiceByID(ctx, svc.ID)
	if again.DeletedAt != nil || again.PurgeAfter != nil {
		t.Errorf("restored service still has deleted %v purge %v", again.DeletedAt, again.PurgeAfter)
	}
}

// testBackups: records round-trip, list newest first, and go with their
// service.
func testBackups(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mustUser(t, s, "ada@example.com")
	blog := mustService(t, s, "blog", u.ID)
	shop := mustService(t, s, "shop", u.ID)
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	mk := func(svc *rampart.Service, key string, kind rampart.BackupKind, at time.Time) *rampart.Backup {
		t.Helper()
		b := &rampart.Backup{ServiceID: svc.ID, Service: svc.Name, Kind: kind, Key: key, Size: 100, DataBytes: 300, Files: 3, SHA256: "ab12", CreatedAt: at}
		if err := s.CreateBackup(ctx, b); err != nil {
			t.Fatalf("CreateBackup %s: %v", key, err)
		}
		return b
	}
	first := mk(blog, "svc-1/a", rampart.BackupScheduled, base)
	second := mk(blog, "svc-1/b", rampart.BackupFinal, base.Add(time.Hour))
	mk(shop, "svc-2/a", rampart.BackupManual, base)

	dup := &rampart.Backup{ServiceID: blog.ID, Service: "blog", Kind: rampart.BackupManual, Key: "svc-1/a", SHA256: "x", CreatedAt: base}
	wantCode(t, s.CreateBackup(ctx, dup), rampart.ECONFLICT)
	orphan := &rampart.Backup{ServiceID: 999999, Service: "gone", Kind: rampart.BackupManual, Key: "svc-9/a", SHA256: "x", CreatedAt: base}
	wantCode(t, s.CreateBackup(ctx, orphan), rampart.ENOTFOUND)

	list, err := s.ListBackups(ctx, blog.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != second.ID || list[1].ID != first.ID {
		t.Fatalf("ListBackups(blog) = %v, want the final one then the scheduled one", list)
	}
	got, err := s.BackupByID(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != "svc-1/a" || got.Kind != rampart.BackupScheduled || got.Size != 100 || got.DataBytes != 300 || got.Files != 3 || got.SHA256 != "ab12" || !got.CreatedAt.Equal(base) || got.Service != "blog" {
		t.Errorf("BackupByID = %+v", got)
	}
	all, _ := s.ListBackups(ctx, 0)
	if len(all) != 3 {
		t.Errorf("ListBackups(0) has %d, want 3", len(all))
	}
	if err := s.DeleteBackup(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeleteBackup(ctx, first.ID), rampart.ENOTFOUND)
	_, err = s.BackupByID(ctx, first.ID)
	wantCode(t, err, rampart.ENOTFOUND)

	// The purge deletes the service; its records go with it.
	if err := s.DeleteService(ctx, blog.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListBackups(ctx, blog.ID); len(list) != 0 {
		t.Errorf("a deleted service still has %d backup records", len(list))
	}
	if list, _ := s.ListBackups(ctx, shop.ID); len(list) != 1 {
		t.Errorf("the other service has %d backup records, want 1", len(list))
	}
}
