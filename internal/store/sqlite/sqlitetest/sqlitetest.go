// Package sqlitetest gives tests of other packages a real, empty rampart
// store: a SQLite file in the test's temporary directory. It is the real
// thing, not a fake, and opening one takes a few milliseconds.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// Open returns an empty, migrated store that is closed, and its file
// removed, when tb ends.
func Open(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "rampart.db"))
	if err != nil {
		tb.Fatalf("sqlitetest: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("sqlitetest: close: %v", err)
		}
	})
	return db
}
