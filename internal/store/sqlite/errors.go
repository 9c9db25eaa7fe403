package sqlite

import (
	"errors"

	"github.com/rampart-dev/rampart"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// isUnique reports whether err is a UNIQUE (or primary key) violation. Each
// table has one unique column a caller can clash on, so the method that got
// the error knows which one and can say so.
func isUnique(err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// isForeignKey reports whether err is a foreign key violation. Each table
// that can raise one on insert or update references only users.
func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// sqliteCode returns the extended result code of a driver error, 0 for any
// other error.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// userNotFound is the error for a row that names a user who does not exist.
func userNotFound(id int64, what string) error {
	return rampart.Errorf(rampart.ENOTFOUND, "user %d not found: %s", id, what)
}
