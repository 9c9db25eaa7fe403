package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite/lib"
)

// migrations holds the schema, one numbered goose file per change. A file,
// once released, is never edited: add a new one.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrate brings the schema of db up to the newest migration this binary
// carries. It runs on every Open and does nothing when the schema is current.
//
// goose applies each migration in its own transaction but takes no lock
// across them on SQLite, so two processes opening a new file at the same
// moment can both try to apply the same migration; the loser's transaction
// fails and is rolled back. migrate then looks again and, if the other
// process finished the work, succeeds; if not, it retries the remaining
// migrations.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithDisableGlobalRegistry(true), // only our files, no Go migrations from init()
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	sources := p.ListSources()
	known := sources[len(sources)-1].Version

	// Every failure that another process's work can explain is retried
	// a few times or until the deadline: SQLITE_BUSY, which the first look
	// at a brand-new file can get at once, without the busy timeout, while
	// another process sets it up (seen in TestOpenConcurrently), and a lost
	// race to apply a migration.
	deadline := time.Now().Add(2 * busyTimeoutMS * time.Millisecond)
	for i := 1; ; i++ {
		current, err := p.GetDBVersion(ctx)
		if err == nil {
			if current > known {
				return fmt.Errorf("database schema version %d is newer than this rampart (%d): upgrade rampart", current, known)
			}
			if current == known {
				return nil
			}
			if _, err = p.Up(ctx); err == nil {
				return nil
			}
			err = fmt.Errorf("migrate schema from version %d to %d: %w (restore the file from a backup if it keeps failing)", current, known, err)
			if i >= 5 && sqliteCode(err) != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
				return err
			}
		} else if err = fmt.Errorf("read schema version: %w", err); sqliteCode(err) != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		// Another process may be migrating the same file; give it a moment.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(min(i, 10)) * 20 * time.Millisecond):
		}
	}
}
