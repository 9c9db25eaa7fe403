package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"
)

// TestPeopleMigrationDown: migration 12 undoes cleanly (the link table and
// the disabled column go, the accounts stay) and applies again.
func TestPeopleMigrationDown(t *testing.T) {
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
	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatalf("up to 12: %v", err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO users (email, role, created_at, updated_at, disabled_at) VALUES ('ada@example.com', 'admin', 1, 1, 5)`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 11); err != nil {
		t.Fatalf("down to 11: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'account_links'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("account_links after down: %d, %v", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('users') WHERE name = 'disabled_at'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("users.disabled_at after down: %d, %v", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 1 {
		t.Errorf("users after down: %d, %v", n, err)
	}
	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatalf("up to 12 again: %v", err)
	}
}
