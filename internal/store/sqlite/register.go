package sqlite

import (
	"context"
	"strings"

	"github.com/rampart-dev/rampart/internal/store"
)

// Registering here lets callers open the store by DSN (store.Open) and
// leaves the choice of implementation to configuration.
func init() {
	store.Register("sqlite", func(ctx context.Context, dsn string) (store.Store, error) {
		// Open takes no context (migrating may wait out another
		// process's write); a caller already gone should not create a
		// database file, though.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		db, err := Open(strings.TrimPrefix(dsn, "sqlite://"))
		if err != nil {
			return nil, err
		}
		return db, nil
	})
}
