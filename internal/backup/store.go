package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrNotFound is returned by Store.Get for a key that holds no object.
var ErrNotFound = errors.New("backup: no such backup")

// Object is one stored backup as Store.List reports it.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store keeps backup archives under keys such as
// "svc-12/20261205T111600Z-manual.tar.zst".
type Store interface {
	// Put writes r under key atomically: readers see the whole object
	// or none, even if r fails or the process dies midway. It returns
	// the number of bytes stored.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Get opens the object under key; ErrNotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose keys start with prefix, sorted by
	// key.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes the object under key. A missing key is not an
	// error, so that purges can be retried.
	Delete(ctx context.Context, key string) error
}

// MaxKeyLen bounds a key's length; S3 allows 1024 bytes and a local path
// must stay well under PATH_MAX.
const MaxKeyLen = 512

// ValidKey checks a key: "/"-separated elements of letters, digits, '.',
// '_' and '-', none empty and none starting with '.', so that a key can
// never name a parent directory, a hidden or temporary file, or an
// absolute path, on any store.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("backup: key %q: must be 1 to %d bytes", key, MaxKeyLen)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" {
			return fmt.Errorf("backup: key %q: empty path element (leading, trailing or double '/')", key)
		}
		if el[0] == '.' {
			return fmt.Errorf("backup: key %q: an element may not start with '.'", key)
		}
		if !validChars(el) {
			return fmt.Errorf("backup: key %q: only letters, digits, '.', '_', '-' and '/' are allowed", key)
		}
	}
	return nil
}

// validPrefix checks a List prefix: empty, or a key or the start of one,
// possibly ending in '/'.
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := ValidKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("backup: list prefix %q: %w", prefix, err)
	}
	return nil
}

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Key returns the conventional key of a backup: the service's folder, the
// creation time to the second in UTC, and the kind.
func Key(serviceID int64, created time.Time, kind string) string {
	return fmt.Sprintf("svc-%d/%s-%s.tar.zst", serviceID, created.UTC().Format("20060102T150405Z"), kind)
}

// ValidPrefix reports whether prefix may be passed to Store.List.
func ValidPrefix(prefix string) error { return validPrefix(prefix) }
