package lifecycle_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/backup/backuptest"
	"github.com/rampart-dev/rampart/internal/lifecycle"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// runner records what the lifecycle asked of the runtime.
type runner struct {
	mu    sync.Mutex
	calls []string
}

func (r *runner) record(s string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
	return nil
}
func (r *runner) Pause(_ context.Context, id int64) error  { return r.record("pause") }
func (r *runner) Resume(_ context.Context, id int64) error { return r.record("resume") }
func (r *runner) Kill(_ context.Context, id int64) error   { return r.record("kill") }
func (r *runner) seen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, ",")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type fixture struct {
	app     *app.App
	db      *sqlite.DB
	dbPath  string
	m       *lifecycle.Manager
	run     *runner
	clock   *clock
	backups *backup.Local
	root    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dbPath: filepath.Join(dir, "rampart.db"), root: filepath.Join(dir, "services"), run: &runner{},
		clock: &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}}
	var err error
	if f.backups, err = backup.NewLocal(filepath.Join(dir, "backups")); err != nil {
		t.Fatal(err)
	}
	f.open(t)
	if _, err := f.app.Accounts.Create(t.Context(), app.OperatorActor(), rampart.UserInput{Email: "admin@example.com", Password: "correct horse battery", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	return f
}

// open (re)opens the store and a new Manager on the same directories: what
// a restart of rampart does.
func (f *fixture) open(t *testing.T) {
	t.Helper()
	if f.db != nil {
		f.db.Close()
	}
	db, err := sqlite.Open(f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	f.m = &lifecycle.Manager{Store: db, Backups: f.backups, Root: f.root, Runner: f.run, Now: f.clock.now}
	f.app = app.New(db, app.Options{Now: f.clock.now, Lifecycle: f.m})
}

var op = app.OperatorActor()

// execService creates a service rampart runs, with files in its data
// directory.
func (f *fixture) execService(t *testing.T, name string, files map[string]string) *rampart.Service {
	t.Helper()
	svc, err := f.app.Services.Create(t.Context(), op, rampart.ServiceInput{Name: name,
		Runtime: &rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/true", Port: 18080, Version: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := f.m.EnsureDataDir(svc.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeleteRestoreRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	files := map[string]string{"db/data.sqlite": strings.Repeat("row\n", 5000), "uploads/a.txt": "hello", "empty": ""}
	svc := f.execService(t, "shop", files)

	del, err := f.app.Services.DeleteService(ctx, op, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if del.State != rampart.StateDeleted || del.PurgeAfter == nil || !del.PurgeAfter.Equal(f.clock.now().Add(7*24*time.Hour)) {
		t.Fatalf("after delete: state %s purge_after %v", del.State, del.PurgeAfter)
	}
	if got := f.run.seen(); got != "pause,kill" {
		t.Errorf("runtime calls during the delete = %q, want pause,kill (paused for the final backup, killed after the commit)", got)
	}
	if _, err := os.Stat(f.m.DataDir(svc.ID)); !os.IsNotExist(err) {
		t.Errorf("data directory after delete: %v, want it gone", err)
	}
	list, _ := f.db.ListBackups(ctx, svc.ID)
	if len(list) != 1 || list[0].Kind != rampart.BackupFinal || list[0].Files != 3 {
		t.Fatalf("backups after delete = %+v, want one final backup of 3 files", list)
	}
	// The name is reserved meanwhile.
	if _, err := f.app.Services.Create(ctx, op, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:1"}}); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("creating a service with the deleted one's name: %v", err)
	}

	restored, err := f.app.Services.Restore(ctx, op, "shop", 0)
	if err != nil {
		t.Fatal(err)
	}
	if restored.State != rampart.StateActive || restored.DeletedAt != nil || restored.PurgeAfter != nil || restored.Generation != svc.Generation+1 {
		t.Errorf("after restore: %+v", restored)
	}
	got := readTree(t, f.m.DataDir(svc.ID))
	for name, body := range files {
		if got[filepath.FromSlash(name)] != body {
			t.Errorf("restored %s = %d bytes, want %d", name, len(got[name]), len(body))
		}
	}
	if len(got) != len(files) {
		t.Errorf("restored tree has %d files, want %d: %v", len(got), len(files), got)
	}
	evs, _ := f.app.Audit.List(ctx, op, rampart.AuditFilter{Service: "shop"})
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if s := strings.Join(actions, ","); !strings.Contains(s, "service.restore") || !strings.Contains(s, "service.delete") {
		t.Errorf("audit = %s", s)
	}
}

func TestRestoreRefusesDamagedArchive(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	svc := f.execService(t, "shop", map[string]string{"a": strings.Repeat("x", 100000), "b": "b"})
	if err := f.app.Services.Delete(ctx, op, "shop"); err != nil {
		t.Fatal(err)
	}
	list, _ := f.db.ListBackups(ctx, svc.ID)
	path := filepath.Join(f.backups.Dir(), filepath.FromSlash(list[0].Key))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{len(b) / 2, 40, len(b) - 5} {
		bad := append([]byte(nil), b...)
		bad[at] ^= 0x01
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := f.app.Services.Restore(ctx, op, "shop", 0)
		if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "checksum") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("restore of an archive with byte %d flipped: %v, want a checksum error", at, err)
		}
		cur, _ := f.db.ServiceByID(ctx, svc.ID)
		if cur.State != rampart.StateDeleted {
			t.Errorf("a refused restore changed the state to %s", cur.State)
		}
		if _, err := os.Stat(f.m.DataDir(svc.ID)); !os.IsNotExist(err) {
			t.Errorf("a refused restore left a data directory: %v", err)
		}
		entries, _ := os.ReadDir(f.m.ServiceDir(svc.ID))
		for _, e := range entries {
			t.Errorf("a refused restore left %s behind", e.Name())
		}
	}
	// The intact archive restores.
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.Restore(ctx, op, "shop", 0); err != nil {
		t.Fatalf("restore of the intact archive: %v", err)
	}
}

func TestPurgeAfterGracePeriod(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	svc := f.execService(t, "shop", map[string]string{"a": "a"})
	keep := f.execService(t, "blog", map[string]string{"b": "b"})
	if _, err := f.m.Backup(ctx, svc, rampart.BackupManual); err != nil {
		t.Fatal(err)
	}
	deletedAt := f.clock.now()
	if err := f.app.Services.Delete(ctx, op, "shop"); err != nil {
		t.Fatal(err)
	}
	objects := func() int {
		objs, err := f.backups.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	before := objects()
	for _, at := range []time.Duration{time.Hour, 6 * 24 * time.Hour, 7*24*time.Hour - time.Second} {
		f.clock.set(deletedAt.Add(at))
		f.m.Pass(ctx) // purge, sweep and scheduled backups
		f.open(t)     // and a restart of rampart in between
		if cur, err := f.db.ServiceByID(ctx, svc.ID); err != nil || cur.State != rampart.StateDeleted {
			t.Fatalf("%s after the delete: %v %v, want it still deleted", at, cur, err)
		}
		if list, _ := f.db.ListBackups(ctx, svc.ID); len(list) != 2 {
			t.Fatalf("%s after the delete: %d backups of the deleted service, want 2", at, len(list))
		}
	}
	if objects() < before {
		t.Fatalf("archives went before the grace period ended")
	}
	f.clock.set(deletedAt.Add(7 * 24 * time.Hour))
	n, err := f.m.Purge(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Purge at 7 days = %d, %v; want 1", n, err)
	}
	if _, err := f.db.ServiceByID(ctx, svc.ID); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("purged service still there: %v", err)
	}
	if objs, _ := f.backups.List(ctx, "svc-"); len(objs) == 0 {
		t.Error("the other service's backups went too")
	}
	objs, _ := f.backups.List(ctx, fmt.Sprintf("svc-%d/", svc.ID))
	if len(objs) != 0 {
		t.Errorf("archives of the purged service remain: %v", objs)
	}
	if _, err := os.Stat(f.m.ServiceDir(svc.ID)); !os.IsNotExist(err) {
		t.Errorf("directory of the purged service remains: %v", err)
	}
	if _, err := f.db.ServiceByID(ctx, keep.ID); err != nil {
		t.Errorf("the live service: %v", err)
	}
	evs, _ := f.app.Audit.List(ctx, op, rampart.AuditFilter{Service: "shop"})
	if len(evs) == 0 || evs[0].Action != "service.purge" || evs[0].Actor != "system" {
		t.Errorf("newest audit event of shop = %+v, want service.purge by system", evs[0])
	}
	// Again: nothing to do, nothing fails.
	if n, err := f.m.Purge(ctx); n != 0 || err != nil {
		t.Errorf("second purge = %d, %v", n, err)
	}
	// The name is free now.
	if _, err := f.app.Services.Create(ctx, op, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Errorf("name after the purge: %v", err)
	}
}

func TestScheduledBackupsKeepTheNewest(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.m.Keep = 2
	svc := f.execService(t, "shop", map[string]string{"a": "a"})
	if _, err := f.app.Services.CreateBackup(ctx, op, "shop"); err != nil {
		t.Fatal(err)
	}
	start := f.clock.now()
	for day := 0; day < 5; day++ {
		f.clock.set(start.Add(time.Duration(day)*24*time.Hour + time.Minute))
		if err := f.m.Scheduled(ctx); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Scheduled(ctx); err != nil { // twice: no second backup the same day
			t.Fatal(err)
		}
	}
	list, _ := f.db.ListBackups(ctx, svc.ID)
	var kinds []string
	for _, b := range list {
		kinds = append(kinds, string(b.Kind))
	}
	// Day 0 has the manual one (no scheduled backup needed); days 1-4
	// have scheduled ones, of which the newest 2 are kept.
	if got := strings.Join(kinds, ","); got != "scheduled,scheduled,manual" {
		t.Errorf("backups = %s, want scheduled,scheduled,manual", got)
	}
	objs, _ := f.backups.List(ctx, "")
	if len(objs) != 3 {
		t.Errorf("%d archives in the store, want 3 (retention deletes archives with their records)", len(objs))
	}
}

// failingStore fails every Put halfway.
type failingStore struct{ backup.Store }

func (s failingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	io.CopyN(io.Discard, r, 10)
	return 0, errors.New("disk full")
}

func TestDeleteWithoutBackupChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	svc := f.execService(t, "shop", map[string]string{"a": "a"})
	f.m.Backups = failingStore{f.backups}
	err := f.app.Services.Delete(ctx, op, "shop")
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("delete with a failing backup store: %v", err)
	}
	cur, _ := f.db.ServiceByID(ctx, svc.ID)
	if cur.State != rampart.StateActive {
		t.Errorf("state after the refused delete = %s", cur.State)
	}
	if got := f.run.seen(); got != "pause,resume" {
		t.Errorf("runtime calls = %q, want pause,resume", got)
	}
	if got := readTree(t, f.m.DataDir(svc.ID)); got["a"] != "a" {
		t.Errorf("data after the refused delete: %v", got)
	}
}

func TestResetKeepsABackup(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	svc := f.execService(t, "shop", map[string]string{"a": "a"})
	got, err := f.app.Services.Reset(ctx, op, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != svc.Generation+1 {
		t.Errorf("generation after reset = %d", got.Generation)
	}
	if tree := readTree(t, f.m.DataDir(svc.ID)); len(tree) != 0 {
		t.Errorf("data after reset: %v, want none", tree)
	}
	list, _ := f.db.ListBackups(ctx, svc.ID)
	if len(list) != 1 || list[0].Kind != rampart.BackupPreReset {
		t.Fatalf("backups after reset: %+v", list)
	}
	// The pre-reset backup restores the old data over the live service.
	if _, err := f.app.Services.Restore(ctx, op, "shop", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if tree := readTree(t, f.m.DataDir(svc.ID)); tree["a"] != "a" {
		t.Errorf("data after restoring the pre-reset backup: %v", tree)
	}
	list, _ = f.db.ListBackups(ctx, svc.ID)
	if len(list) != 2 || list[0].Kind != rampart.BackupPreRestore {
		t.Errorf("a restore over live data did not back it up first: %+v", list)
	}
}

// TestBackupKeepsDiskReserve: a service whose data would eat into the
// backup disk's reserve gets no backup and cannot be deleted (its final
// backup would not fit), with a message that says what to do; its data
// and state stay.
func TestBackupKeepsDiskReserve(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	disk := backuptest.SmallDisk(t, "64m")
	backuptest.KeepFree(t, 30<<20)
	small, err := backup.NewLocal(filepath.Join(disk, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	f.m.Backups = small
	svc := f.execService(t, "shop", map[string]string{"a": "a"})
	big := make([]byte, 40<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(f.m.DataDir(svc.ID), "big"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Services.CreateBackup(ctx, op, "shop")
	if rampart.ErrorCode(err) != rampart.EUNAVAILABLE || !strings.Contains(rampart.ErrorMessage(err), "cannot back up shop: the disk is nearly full") {
		t.Fatalf("backup of 40 MiB onto a 64 MiB disk that keeps 30 MiB: %v (code %s)", err, rampart.ErrorCode(err))
	}
	t.Log(rampart.ErrorMessage(err))
	err = f.app.Services.Delete(ctx, op, "shop")
	if rampart.ErrorCode(err) != rampart.EUNAVAILABLE || !strings.Contains(rampart.ErrorMessage(err), "the disk is nearly full") {
		t.Fatalf("delete without room for the final backup: %v", err)
	}
	if cur, _ := f.db.ServiceByID(ctx, svc.ID); cur.State != rampart.StateActive {
		t.Errorf("state after the refused delete = %s", cur.State)
	}
	if list, _ := f.app.Services.Backups(ctx, op, "shop"); len(list) != 0 {
		t.Errorf("backups recorded: %+v", list)
	}
	if objs, _ := small.List(ctx, ""); len(objs) != 0 {
		t.Errorf("archives left: %+v", objs)
	}
}
