package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pressly/goose/v3"
)

// TestMigrationKeepsProvenDomains: upgrading a store from before migration
// 00008 keeps routed the managed names the reconciler had let past
// waiting_for_dns (they passed the DNS check of their time), leaves the
// others to prove themselves, and gives every service with domains a token.
func TestMigrationKeepsProvenDomains(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sql.Open("sqlite", path+"?_foreign_keys=1&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 7); err != nil {
		t.Fatalf("migrating up to 7: %v", err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, email, role, created_at, updated_at) VALUES (1, 'ada@example.com', 'admin', 1, 1)`,
		`INSERT INTO services (id, name, owner_id, state, created_at, updated_at) VALUES (1, 'shop', 1, 'active', 1, 1), (2, 'bare', 1, 'active', 1, 1)`,
		`INSERT INTO domains (service_id, name, tls_mode, state, created_at, updated_at) VALUES
			(1, 'live.example', 'managed', 'active', 5, 7),
			(1, 'failing.example', 'managed', 'error', 5, 8),
			(1, 'waiting.example', 'managed', 'waiting_for_dns', 5, 9),
			(1, 'plain.example', 'off', 'active', 5, 10)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open (migrating on): %v", err)
	}
	defer s.Close()
	want := map[string]bool{"live.example": true, "failing.example": true, "waiting.example": false, "plain.example": false}
	for name, proven := range want {
		d, err := s.DomainByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if d.Verified() != proven {
			t.Errorf("%s (%s, %s): proven %v, want %v", name, d.TLSMode, d.State, d.Verified(), proven)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(d.Challenge.Value) {
			t.Errorf("%s: token %q, want 32 hex digits", name, d.Challenge.Value)
		}
	}
	var tokens int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM domain_challenges`).Scan(&tokens); err != nil || tokens != 1 {
		t.Errorf("domain_challenges has %d rows (%v), want 1: only the service with domains", tokens, err)
	}
}
