package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
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

	const attempts = 5
	for i := 1; ; i++ {
		current, err := p.GetDBVersion(ctx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > known {
			return fmt.Errorf("database schema version %d is newer than this rampart (%d): upgrade rampart", current, known)
		}
		if current == known {
			return nil
		}
		_, err = p.Up(ctx)
		if err == nil {
			return nil
		}
		if i == attempts {
			return fmt.Errorf("migrate schema from version %d to %d: %w (restore the file from a backup if it keeps failing)", current, known, err)
		}
		// Another process may be migrating the same file; give it a moment.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(i) * 50 * time.Millisecond):
		}
	}
}
