package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/store"
	_ "github.com/rampart-dev/rampart/internal/store/sqlite"
)

func TestOpenSQLite(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, dsn, file string }{
		{"url", "sqlite://" + filepath.Join(dir, "url.db"), "url.db"},
		{"upper-case scheme", "SQLite://" + filepath.Join(dir, "upper.db"), "upper.db"},
		{"bare path", filepath.Join(dir, "bare.db"), "bare.db"},
		{"colon in a file name", filepath.Join(dir, "a:b.db"), "a:b.db"},
		{"data directory", store.DefaultDSN(filepath.Join(dir, "data")), filepath.Join("data", "rampart.db")},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := store.Open(t.Context(), c.dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, err := s.CountUsers(t.Context()); err != nil || n != 0 {
				t.Errorf("CountUsers: %d, %v", n, err)
			}
			if _, err := os.Stat(filepath.Join(dir, c.file)); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

func TestOpenUnknownScheme(t *testing.T) {
	_, err := store.Open(t.Context(), "postgres://rampart@db.internal/rampart")
	if err == nil || !strings.Contains(err.Error(), "built without a postgres store") || !strings.Contains(err.Error(), "available: sqlite") {
		t.Errorf("error %v; want it to name postgres and the available sqlite", err)
	}
	if _, err := store.Open(t.Context(), ""); err == nil {
		t.Error("empty DSN opened")
	}
}

func TestOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	path := filepath.Join(t.TempDir(), "never.db")
	if _, err := store.Open(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v; want context.Canceled", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a cancelled Open created %s", path)
	}
}

// TestRegister: a registered implementation gets the DSN whole, and
// mistakes in registering are loud.
func TestRegister(t *testing.T) {
	errFake := errors.New("fake store")
	var got string
	store.Register("fake-test", func(_ context.Context, dsn string) (store.Store, error) {
		got = dsn
		return nil, errFake
	})
	if _, err := store.Open(t.Context(), "Fake-Test://host/db?x=1"); !errors.Is(err, errFake) || got != "fake-test://host/db?x=1" {
		t.Errorf("Open: %v, DSN %q", err, got)
	}
	if _, err := store.Open(t.Context(), "nope://x"); err == nil || !strings.Contains(err.Error(), "available: fake-test, sqlite") {
		t.Errorf("error %v; want both schemes listed", err)
	}
	for name, f := range map[string]func(){
		"twice": func() {
			store.Register("sqlite", func(context.Context, string) (store.Store, error) { return nil, nil })
		},
		"nil": func() { store.Register("nilopen", nil) },
		"bad scheme": func() {
			store.Register("no scheme", func(context.Context, string) (store.Store, error) { return nil, nil })
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Register did not panic", name)
				}
			}()
			f()
		}()
	}
}
