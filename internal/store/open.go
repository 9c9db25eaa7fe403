package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Implementations register an opener, in the spirit of database/sql's
// drivers, so that callers pick one by configuration and never import it
// by name.
var (
	openersMu sync.RWMutex
	openers   = map[string]func(ctx context.Context, dsn string) (Store, error){}
)

// Register makes an implementation available to Open under scheme (e.g.
// "sqlite", "postgres"), usually from the implementation's init; open
// receives the whole DSN, its scheme in lower case. It panics on a nil open or a scheme registered
// twice: both are programming errors that would otherwise pick a store at
// random.
func Register(scheme string, open func(ctx context.Context, dsn string) (Store, error)) {
	scheme = strings.ToLower(scheme)
	if open == nil {
		panic("store: Register of a nil open func for " + scheme)
	}
	if !validScheme(scheme) {
		panic("store: Register with an invalid scheme " + scheme)
	}
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("store: Register called twice for " + scheme)
	}
	openers[scheme] = open
}

// Open opens the store dsn names: "scheme://…" picks the implementation
// registered under scheme, which receives the whole DSN; anything else is
// the path of a SQLite file, handed on as "sqlite://" + path. So
// sqlite:///var/lib/rampart/rampart.db and /var/lib/rampart/rampart.db are
// the same store.
//
// The implementations this binary has are those whose packages it
// imports, usually for their side effect alone:
//
//	import _ "github.com/rampart-dev/rampart/internal/store/sqlite"
func Open(ctx context.Context, dsn string) (Store, error) {
	if dsn == "" {
		return nil, errors.New("store: no database given: pass a DSN such as sqlite:///var/lib/rampart/rampart.db")
	}
	scheme, ok := schemeOf(dsn)
	if ok {
		// Schemes are case-insensitive; implementations need only know
		// the lower-case spelling.
		dsn = scheme + dsn[len(scheme):]
	} else {
		scheme, dsn = "sqlite", "sqlite://"+dsn
	}
	openersMu.RLock()
	open := openers[scheme]
	openersMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("store: rampart was built without a %s store; available: %s", scheme, strings.Join(schemes(), ", "))
	}
	return open(ctx, dsn)
}

// DefaultDSN is the store of the data directory dataDir: the SQLite file
// rampart.db in it.
func DefaultDSN(dataDir string) string {
	return "sqlite://" + filepath.Join(dataDir, "rampart.db")
}

// schemeOf returns dsn's scheme, lower-cased, if it has one. Only
// "scheme://" counts, so that a file name with a colon in it stays a path.
func schemeOf(dsn string) (string, bool) {
	scheme, _, ok := strings.Cut(dsn, "://")
	scheme = strings.ToLower(scheme)
	if !ok || !validScheme(scheme) {
		return "", false
	}
	return scheme, true
}

// validScheme follows RFC 3986: a letter, then letters, digits, '+', '-'
// or '.'.
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func schemes() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	out := make([]string, 0, len(openers))
	for s := range openers {
		out = append(out, s)
	}
	slices.Sort(out)
	if len(out) == 0 {
		// A binary that imports no implementation: say how to fix it.
		return []string{"none (import an implementation, e.g. internal/store/sqlite)"}
	}
	return out
}
