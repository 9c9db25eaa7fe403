package sqlite

import (
	"path/filepath"
	"testing"
)

// TestPragmas checks the settings every connection of both pools must have;
// database/sql opens new connections whenever it likes, so they come from
// the connection string, not from statements run once after Open.
func TestPragmas(t *testing.T) {
	ctx := t.Context()
	db, err := Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	pools := []struct {
		name      string
		queryOnly string
	}{
		{"write", "0"},
		{"read", "1"},
	}
	for _, p := range pools {
		pool := db.write
		if p.name == "read" {
			pool = db.read
		}
		conn, err := pool.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"journal_mode": "wal",
			"synchronous":  "1", // NORMAL
			"foreign_keys": "1",
			"busy_timeout": "5000",
			"query_only":   p.queryOnly,
		}
		for pragma, w := range want {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s pool: PRAGMA %s: %v", p.name, pragma, err)
			}
			if got != w {
				t.Errorf("%s pool: PRAGMA %s = %s, want %s", p.name, pragma, got, w)
			}
		}
		conn.Close()
	}
}

// TestReadPoolRefusesWrites makes sure a write sent to the wrong pool fails
// instead of racing the single writer.
func TestReadPoolRefusesWrites(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.read.ExecContext(t.Context(), `INSERT INTO users (email, role, created_at, updated_at) VALUES ('a@example.com', 'member', 0, 0)`); err == nil {
		t.Error("the read pool accepted a write")
	}
}
