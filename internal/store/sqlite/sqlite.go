// Package sqlite is the embedded store of rampart: one SQLite file, written
// through the pure-Go modernc.org/sqlite driver so rampart still builds with
// CGO_ENABLED=0 and ships as a single static binary.
//
// # Readers, writers and SQLITE_BUSY
//
// A DB holds two connection pools on the same file. The write pool has exactly
// one connection and begins every transaction with BEGIN IMMEDIATE; the read
// pool has several connections opened with PRAGMA query_only. Every method
// that changes rows goes through the write pool, every method that only reads
// goes through the read pool, and InTx runs on the write connection.
//
// This layout is what keeps SQLITE_BUSY away. In WAL mode readers never block
// the writer or each other, but two writers do clash, and the clash SQLite
// cannot wait out is a deferred transaction that read first and then tries to
// write after another connection committed: it fails at once with
// SQLITE_BUSY_SNAPSHOT, no busy timeout helps. BEGIN IMMEDIATE takes the write
// lock before the first read, so that case cannot arise, and because this
// process has a single write connection its writers queue in database/sql
// (honouring their contexts) instead of spinning in SQLite's busy handler.
// Writers in other processes (a second rampart, an operator command) are
// waited for by busy_timeout, 5 s.
//
// The price is that writes are serialized, which SQLite does anyway, and that
// a write through the *DB from inside an InTx callback would wait for the
// connection the transaction holds: inside InTx use only the Store handed to
// the callback, as the store.Store contract requires.
//
// # Noticing changes from other processes
//
// Revision reads a counter per kind of desired state that triggers bump in
// the same transaction as the change, so any process on the file sees a new
// number exactly when it can see the new rows, whoever wrote them (even the
// sqlite3 shell). PRAGMA data_version would not do: it is per connection,
// and a pool hands out a different one each time; it ignores the
// connection's own writes; and it changes on a write to any table.
// Subscribe's notices are this process's: they go out after the commit of a
// write made through this DB.
//
// # Times
//
// Times are stored as INTEGER unix nanoseconds: exact round trips, and
// expiry checks are integer comparisons. They come back in UTC. The range is
// that of time.Time.UnixNano, years 1678 to 2261; a time outside it is
// refused with EINVALID rather than silently wrapped.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/rampart-dev/rampart/internal/store"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// busyTimeoutMS is how long a writer waits for another process's write
// transaction before giving up with SQLITE_BUSY.
const busyTimeoutMS = 5000

// DB is a rampart store in one SQLite file. It is safe for concurrent use.
type DB struct {
	queries
	read, write *sql.DB
	changes     *store.Notifier
}

// Open opens the database at path, creating the file (mode 0600: it holds
// password hashes) and its parent directories (mode 0700) if they are
// missing, and brings its schema up to date.
//
// Open refuses a database whose schema is newer than this binary knows:
// running an older rampart against it could misread or damage data.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: no database path given: pass the path of the rampart database file")
	}
	if strings.ContainsAny(path, "?#") {
		// The driver's connection string is URI-like: '?' starts its
		// parameters and '#' would be read as a fragment.
		return nil, fmt.Errorf("sqlite: database path %q contains '?' or '#': choose a path without them", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: resolve database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create the database directory: %w", err)
	}
	// Create the file ourselves so it never exists with the umask's looser
	// mode; SQLite gives the -wal and -shm files the mode of this one.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open database file: %w (check that rampart may write to it)", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open database file: %w", err)
	}

	write, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	write.SetMaxOpenConns(1)

	// Migrate before the read pool exists so the readers' first look at the
	// file already finds the current schema in WAL mode.
	if err := migrate(context.Background(), write); err != nil {
		write.Close()
		if sqliteCode(err) == sqlite3.SQLITE_NOTADB {
			return nil, fmt.Errorf("sqlite: %s is not a SQLite database: check the path, or move the file away to start with an empty database", abs)
		}
		return nil, fmt.Errorf("sqlite: %s: %w", abs, err)
	}

	read, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.Ping(); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}

	changes := &store.Notifier{}
	return &DB{queries: queries{r: read, w: write, changed: changes.Notify}, read: read, write: write, changes: changes}, nil
}

// dsn builds the driver's connection string. Every connection gets the same
// pragmas because database/sql opens and closes connections on its own; the
// read pool's connections are also query_only, so a write sent to the wrong
// pool fails loudly in tests instead of racing the writer.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	// NORMAL is durable across application crashes in WAL mode; a power cut
	// may lose the last commits but never corrupts the file.
	q.Set("_synchronous", "NORMAL")
	q.Set("_foreign_keys", "1")
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Set("_query_only", "1")
	}
	return path + "?" + q.Encode()
}

// Close closes both connection pools. Close waits for queries in progress.
func (db *DB) Close() error {
	return errors.Join(db.read.Close(), db.write.Close())
}

// InTx runs fn in a BEGIN IMMEDIATE transaction on the write connection. It
// commits if fn returns nil and rolls back if fn returns an error or panics
// (the panic then continues). Nested InTx calls on the Store handed to fn
// join this transaction: an error from the inner call rolls back only if the
// outer fn returns it.
func (db *DB) InTx(ctx context.Context, fn func(store.Store) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// On error and on panic. Rollback's own error adds nothing: the
			// transaction is gone either way.
			_ = tx.Rollback()
		}
	}()
	ts := &txStore{changes: db.changes}
	ts.queries = queries{r: tx, w: tx, changed: ts.record}
	if err := fn(ts); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	// Only now can other connections see the change.
	db.changes.Notify(ts.kinds...)
	return nil
}

// Subscribe implements store.Changes.
func (db *DB) Subscribe(kinds ...store.Kind) (<-chan struct{}, func()) {
	return db.changes.Subscribe(kinds...)
}

// txStore is the Store handed to an InTx callback: both its readers and its
// writers are the transaction. It collects the kinds its writes changed and
// InTx announces them after the commit.
type txStore struct {
	queries
	changes *store.Notifier
	kinds   []store.Kind
}

func (t *txStore) record(kinds ...store.Kind) { t.kinds = append(t.kinds, kinds...) }

// Subscribe implements store.Changes.
func (t *txStore) Subscribe(kinds ...store.Kind) (<-chan struct{}, func()) {
	return t.changes.Subscribe(kinds...)
}

// InTx joins the transaction already in progress.
func (t *txStore) InTx(ctx context.Context, fn func(store.Store) error) error {
	return fn(t)
}

// Close is a mistake inside a transaction; the *DB owns the connections.
func (t *txStore) Close() error {
	return errors.New("sqlite: Close called on the Store of a transaction: close the *DB after InTx returns")
}

// querier is what *sql.DB and *sql.Tx have in common, so each query is
// written once and runs the same inside and outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements every store method. r serves statements that only read
// and w those that write; outside a transaction they are the two pools of a
// DB, inside one both are the transaction.
type queries struct {
	r, w querier
	// changed announces the kinds a successful write changed: at once
	// outside a transaction, after the commit inside one.
	changed func(kinds ...store.Kind)
}

// Interface guards.
var (
	_ store.Store = (*DB)(nil)
	_ store.Store = (*txStore)(nil)
)
