package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
	"github.com/rampart-dev/rampart/internal/store/sqlite/sqlitetest"
	"github.com/rampart-dev/rampart/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return sqlitetest.Open(t) })
}

// open opens path and closes it when t ends.
func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// raw opens path without rampart in between, as an operator's sqlite3
// shell or another program would.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1&_busy_timeout=5000")
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustUser(t testing.TB, s store.Store, email string) *rampart.User {
	t.Helper()
	u := &rampart.User{Email: email, Role: rampart.RoleMember}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func mustService(t testing.TB, s store.Store, name string, owner int64) *rampart.Service {
	t.Helper()
	svc := &rampart.Service{Name: name, OwnerID: owner, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}
	if err := s.CreateService(context.Background(), svc); err != nil {
		t.Fatalf("CreateService(%q): %v", name, err)
	}
	return svc
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "rampart")
	path := filepath.Join(dir, "rampart.db")
	db := open(t, path)
	mustUser(t, db, "ada@example.com") // so the -wal file exists

	wantMode := map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600}
	for name, want := range wantMode {
		fi, err := os.Stat(name)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", name, got, want)
		}
	}
}

func TestOpenRejectsPath(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"empty", "", "no database path"},
		{"question mark", filepath.Join(dir, "a?b.db"), "choose a path without"},
		{"a directory", dir, "open database file"},
		{"not a database", notDB, "is not a SQLite database"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlite.Open(tc.path)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q) = %v, want an error containing %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	u := mustUser(t, db, "ada@example.com")
	mustService(t, db, "blog", u.ID)
	v, err := db.Revision(ctx, store.KindServices)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for i := range 2 { // migrations must be a no-op on a current schema, every time
		db := open(t, path)
		got, err := db.ServiceByName(ctx, "blog")
		if err != nil {
			t.Fatalf("reopen %d: ServiceByName: %v", i, err)
		}
		if got.Owner != u.Email {
			t.Errorf("reopen %d: owner = %q, want %q", i, got.Owner, u.Email)
		}
		if v2, err := db.Revision(ctx, store.KindServices); err != nil || v2 != v {
			t.Errorf("reopen %d: the services revision = %d, %v; want %d", i, v2, err, v)
		}
		db.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	// What a future rampart leaves behind after its own migration 9999.
	if _, err := raw(t, path).Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, 1)`); err != nil {
		t.Fatalf("faking a newer schema: %v", err)
	}
	db, err = sqlite.Open(path)
	if err == nil {
		db.Close()
		t.Fatal("Open succeeded on a database from a newer rampart")
	}
	want := regexp.MustCompile(`database schema version 9999 is newer than this rampart \(\d+\): upgrade rampart`)
	if !want.MatchString(err.Error()) {
		t.Errorf("Open = %v, want an error matching %q", err, want)
	}
}

// TestOpenConcurrently opens one new file from several handles at once, as
// two rampart processes started together would: the loser of each race to
// migrate must wait and succeed, not fail.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			db, err := sqlite.Open(path)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			defer db.Close()
			if _, err := db.CountUsers(context.Background()); err != nil {
				t.Errorf("handle %d: CountUsers: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// TestRevisionAcrossHandles uses several handles on one file, which
// SQLite treats exactly like several processes: each must notice the
// others' service writes through the services revision.
func TestRevisionAcrossHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rampart.db")
	a, b := open(t, path), open(t, path)
	shell := raw(t, path)

	u := mustUser(t, a, "ada@example.com")
	var svc *rampart.Service
	steps := []struct {
		name  string
		write func() error
	}{
		{"a creates", func() error { svc = mustService(t, a, "blog", u.ID); return nil }},
		{"b updates", func() error {
			got, err := b.ServiceByName(ctx, "blog")
			if err != nil {
				return err
			}
			got.State = rampart.StateStopped
			return b.UpdateService(ctx, got)
		}},
		{"an operator's SQL shell updates", func() error {
			_, err := shell.Exec(`UPDATE services SET state = 'active' WHERE name = 'blog'`)
			return err
		}},
		{"a deletes", func() error { return a.DeleteService(ctx, svc.ID) }},
	}
	last := map[string]int64{}
	for _, h := range []struct {
		name string
		db   *sqlite.DB
	}{{"a", a}, {"b", b}} {
		v, err := h.db.Revision(ctx, store.KindServices)
		if err != nil {
			t.Fatal(err)
		}
		last[h.name] = v
	}
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for _, h := range []struct {
			name string
			db   *sqlite.DB
		}{{"a", a}, {"b", b}} {
			v, err := h.db.Revision(ctx, store.KindServices)
			if err != nil {
				t.Fatalf("%s: the services revision on %s: %v", st.name, h.name, err)
			}
			if v == last[h.name] {
				t.Errorf("after %q handle %s still sees the services revision %d", st.name, h.name, v)
			}
			last[h.name] = v
		}
		if last["a"] != last["b"] {
			t.Errorf("after %q the handles disagree: a sees %d, b sees %d", st.name, last["a"], last["b"])
		}
	}
}

// TestWritersAcrossHandles has two handles write at once; each handle
// serializes its own writers, and SQLite's busy timeout must cover the
// other's. No write may fail with SQLITE_BUSY.
func TestWritersAcrossHandles(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rampart.db")
	handles := []*sqlite.DB{open(t, path), open(t, path)}
	owner := mustUser(t, handles[0], "ada@example.com")

	// One handle holds a write transaction for a while; the other's write
	// must wait for it rather than fail.
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := handles[0].InTx(ctx, func(tx store.Store) error {
			mustService(t, tx, "slow", owner.ID)
			close(started)
			time.Sleep(200 * time.Millisecond)
			return nil
		})
		if err != nil {
			t.Errorf("slow transaction: %v", err)
		}
	})
	<-started
	mustService(t, handles[1], "waits", owner.ID)
	wg.Wait()

	const workers, each = 4, 10
	for h, db := range handles {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					name := fmt.Sprintf("h%d-w%d-s%d", h, w, i)
					err := db.InTx(ctx, func(tx store.Store) error {
						if _, err := tx.Revision(ctx, store.KindServices); err != nil {
							return err
						}
						return tx.CreateService(ctx, &rampart.Service{Name: name, OwnerID: owner.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive})
					})
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	list, err := handles[1].ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + len(handles)*workers*each; len(list) != want {
		t.Errorf("%d services, want %d", len(list), want)
	}
}

// TestTimesExact checks that SQLite keeps every nanosecond (storetest only
// asks for microseconds) and returns UTC.
func TestTimesExact(t *testing.T) {
	ctx := t.Context()
	db := sqlitetest.Open(t)
	u := mustUser(t, db, "ada@example.com")
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	times := []time.Time{
		time.Date(2030, 1, 2, 3, 4, 5, 123456789, zone),
		time.Date(1970, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, want := range times {
		tok := &rampart.APIToken{UserID: u.ID, Name: "t", Hash: []byte{byte(i)}, ExpiresAt: &want}
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatalf("CreateToken(expires %v): %v", want, err)
		}
		got, err := db.TokenByHash(ctx, tok.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if !got.ExpiresAt.Equal(want) || got.ExpiresAt.Location() != time.UTC {
			t.Errorf("ExpiresAt = %v, want exactly %v in UTC", got.ExpiresAt, want.UTC())
		}
	}

	// Beyond what int64 nanoseconds hold: refused, not wrapped around.
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.CreateToken(ctx, &rampart.APIToken{UserID: u.ID, Name: "far", Hash: []byte("far"), ExpiresAt: &far})
	if rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("CreateToken(expires in year 3000) = %v, want EINVALID", err)
	}
}

// TestDeleteUser checks the foreign keys the schema promises, with SQL,
// since the store has no DeleteUser yet: a user's tokens and sessions go
// with the user; a user who still owns services cannot be deleted.
func TestDeleteUser(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "rampart.db")
	db := open(t, path)
	shell := raw(t, path)

	gone := mustUser(t, db, "gone@example.com")
	tok := &rampart.APIToken{UserID: gone.ID, Name: "ci", Hash: []byte("token")}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	sess := &rampart.Session{UserID: gone.ID, Hash: []byte("session"), CSRFToken: "x", ExpiresAt: time.Now().Add(time.Hour)}
	if err := db.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := shell.Exec(`DELETE FROM users WHERE id = ?`, gone.ID); err != nil {
		t.Fatalf("deleting a user without services: %v", err)
	}
	if _, err := db.TokenByHash(ctx, tok.Hash); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("token of a deleted user: err = %v, want ENOTFOUND", err)
	}
	if _, err := db.SessionByHash(ctx, sess.Hash); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("session of a deleted user: err = %v, want ENOTFOUND", err)
	}

	owner := mustUser(t, db, "owner@example.com")
	mustService(t, db, "blog", owner.ID)
	if _, err := shell.Exec(`DELETE FROM users WHERE id = ?`, owner.ID); err == nil {
		t.Error("deleted a user who owns a service")
	}
}

func TestAuditAppendOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	db := open(t, path)
	if err := db.AddAudit(t.Context(), &rampart.AuditEvent{Actor: "system", Action: "test"}); err != nil {
		t.Fatal(err)
	}
	_, err := raw(t, path).Exec(`UPDATE audit_events SET actor = 'someone else'`)
	if err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("editing an audit event: err = %v, want it refused as append-only", err)
	}
}

func TestCloseInsideTx(t *testing.T) {
	db := sqlitetest.Open(t)
	err := db.InTx(t.Context(), func(tx store.Store) error { return tx.Close() })
	if err == nil {
		t.Error("Close on a transaction's Store succeeded, want an error")
	}
	if _, err := db.CountUsers(t.Context()); err != nil {
		t.Errorf("store unusable after the refused Close: %v", err)
	}
}

func BenchmarkCreateService(b *testing.B) {
	db := sqlitetest.Open(b)
	owner := mustUser(b, db, "ada@example.com")
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		svc := &rampart.Service{Name: fmt.Sprintf("svc-%d", i), OwnerID: owner.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}
		if err := db.CreateService(ctx, svc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkServiceByName(b *testing.B) {
	db := sqlitetest.Open(b)
	owner := mustUser(b, db, "ada@example.com")
	for i := range 1000 {
		mustService(b, db, fmt.Sprintf("svc-%d", i), owner.ID)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.ServiceByName(ctx, "svc-500"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRevision(b *testing.B) {
	db := sqlitetest.Open(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Revision(ctx, store.KindServices); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTouchToken(b *testing.B) {
	db := sqlitetest.Open(b)
	owner := mustUser(b, db, "ada@example.com")
	tok := &rampart.APIToken{UserID: owner.ID, Name: "ci", Hash: []byte("token")}
	ctx := context.Background()
	if err := db.CreateToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.TouchToken(ctx, tok.ID, time.Now()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestProtectionDefaults: a service row written without the rate_limit,
// cache and hsts columns (as every row from before migration 2 was) reads back with
// exactly the defaults a new service gets in Go.
func TestProtectionDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := &rampart.User{Email: "ada@example.com", Role: rampart.RoleAdmin, PasswordHash: "x"}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	r := raw(t, path)
	if _, err := r.Exec(`INSERT INTO services (name, owner_id, upstreams, state, created_at, updated_at) VALUES ('old', ?, '["http://127.0.0.1:1"]', 'active', 1, 1)`, u.ID); err != nil {
		t.Fatal(err)
	}
	svc, err := db.ServiceByName(t.Context(), "old")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(svc.RateLimit, rampart.DefaultRateLimit()) {
		t.Errorf("rate limit default = %+v, want %+v", svc.RateLimit, rampart.DefaultRateLimit())
	}
	if svc.Cache != rampart.DefaultCache() {
		t.Errorf("cache default = %+v, want %+v", svc.Cache, rampart.DefaultCache())
	}
	// Migration 17: HSTS is off for rows from before it, with the default
	// max-age ready for when it is turned on.
	if svc.HSTS != rampart.DefaultHSTS() {
		t.Errorf("hsts default = %+v, want %+v", svc.HSTS, rampart.DefaultHSTS())
	}
}

// TestMigrationAllowPrivateUpstreams: upgrading to the upstream policy
// keeps admins' services working (their override is on) and holds
// members' services to the operator's networks.
func TestMigrationAllowPrivateUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	admin := &rampart.User{Email: "ada@example.com", Role: rampart.RoleAdmin, PasswordHash: "x"}
	member := &rampart.User{Email: "mia@example.com", Role: rampart.RoleMember, PasswordHash: "x"}
	for _, u := range []*rampart.User{admin, member} {
		if err := db.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// Back to the schema before migration 7 (undoing 17 to 8 on the way), with
	// a service of each.
	r := raw(t, path)
	for _, q := range []string{
		// Migration 9 (the firewall) adds tables only.
		`DROP TABLE firewall_rules`,
		`DROP TABLE firewall_nodes`,
		`DROP TABLE firewall_status`,
		`DELETE FROM revisions WHERE kind = 'firewall'`,
		`DROP TRIGGER revisions_domains_verified`,
		`ALTER TABLE domains DROP COLUMN verified_at`,
		`DROP TABLE domain_challenges`,
		`ALTER TABLE services DROP COLUMN allow_private_upstreams`,
		// Migration 10, SSH keys (its triggers go with the table).
		`DROP TABLE ssh_keys_status`,
		`DROP TABLE ssh_keys`,
		`DELETE FROM revisions WHERE kind = 'ssh_keys'`,
		// Migration 11, multi-factor login.
		`DROP TABLE recovery_codes`,
		`DROP TABLE login_challenges`,
		`ALTER TABLE users DROP COLUMN totp_last_step`,
		`ALTER TABLE users DROP COLUMN totp_pending`,
		`ALTER TABLE users DROP COLUMN totp_secret`,
		`ALTER TABLE users DROP COLUMN mfa`,
		// Migration 12, people management.
		`DROP TABLE account_links`,
		`ALTER TABLE users DROP COLUMN disabled_at`,
		// Migration 13, passkeys.
		`DROP TABLE passkey_users`,
		`DROP TABLE passkeys`,
		// Migration 14, termination protection.
		`ALTER TABLE services DROP COLUMN termination_protection`,
		// Migration 15, runtimes and backups.
		`DROP TABLE backups`,
		`DROP TABLE service_run_states`,
		`ALTER TABLE services DROP COLUMN purge_after`,
		`ALTER TABLE services DROP COLUMN deleted_at`,
		`ALTER TABLE services DROP COLUMN generation`,
		`ALTER TABLE services DROP COLUMN runtime`,
		// Migration 16, the mail relay's control plane.
		`DROP TABLE dkim_keys`,
		`DROP TABLE mail_messages`,
		`DROP TABLE mail_violations`,
		`DROP TABLE mail_accounts`,
		`DELETE FROM revisions WHERE kind = 'mail'`,
		// Migration 17, HSTS.
		`ALTER TABLE services DROP COLUMN hsts`,
		// Migration 18, retired names.
		`DROP TABLE retired_names`,
		`DELETE FROM goose_db_version WHERE version_id >= 7`,
	} {
		if _, err := r.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for name, owner := range map[string]int64{"admins": admin.ID, "members": member.ID} {
		if _, err := r.Exec(`INSERT INTO services (name, owner_id, upstreams, state, created_at, updated_at) VALUES (?, ?, '["http://127.0.0.1:1"]', 'active', 1, 1)`, name, owner); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()

	db, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, want := range map[string]bool{"admins": true, "members": false} {
		svc, err := db.ServiceByName(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if svc.AllowPrivateUpstreams != want {
			t.Errorf("%s: allow_private_upstreams = %v, want %v", name, svc.AllowPrivateUpstreams, want)
		}
	}
}
