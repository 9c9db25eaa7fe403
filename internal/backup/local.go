package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tmpPrefix starts the name of a Put in progress. Keys cannot start an
// element with '.', so no key ever names a temporary file.
const tmpPrefix = ".tmp-"

// Local is a Store in a directory of the local disk. Each key is a file
// below it; Put writes a temporary file beside the final one and renames
// it, so that a crash leaves at most a ".tmp-" file that List never shows
// and Sweep removes.
type Local struct {
	dir string
}

var _ Store = (*Local)(nil)

// NewLocal returns a Local store in dir, creating it (mode 0700: backups
// hold secrets) if needed.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("backup: local store: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("backup: local store: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("backup: local store: %w", err)
	}
	return &Local{dir: abs}, nil
}

// Dir returns the store's directory.
func (l *Local) Dir() string { return l.dir }

func (l *Local) path(key string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put implements Store: temp file in the key's directory, fsync, rename
// over the key, fsync the directory.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := l.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("backup: storing %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(p)+"-*")
	if err != nil {
		return 0, fmt.Errorf("backup: storing %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bp := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(&writeback{f: tmp, room: &room{}}, ctxReader{ctx, r}, *bp)
	copyBufs.Put(bp)
	if err != nil {
		return n, fmt.Errorf("backup: storing %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("backup: storing %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("backup: storing %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return n, fmt.Errorf("backup: storing %s: %w", key, err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return n, fmt.Errorf("backup: storing %s: the backup is written but its directory could not be synced: %w", key, err)
	}
	return n, nil
}

// writebackChunk is how much a Put writes before it asks the kernel to
// start writing it to disk.
const writebackChunk = 8 << 20

// writeback writes to f and starts the disk write of every full chunk as
// soon as it is written (sync_file_range, asynchronous), so that the disk
// works while the archive is still being compressed and the final fsync
// has little left to do. On a 2-core host this is the difference between
// paying for compression and the disk one after the other or at once.
//
// It also keeps the file system's reserve (see KeepFree): a write that
// would eat into it fails with ErrDiskFull instead.
type writeback struct {
	f       *os.File
	room    *room
	off     int64 // bytes written
	started int64 // bytes whose writeback was started
}

func (w *writeback) Write(p []byte) (int, error) {
	if err := w.room.allow(w.f, len(p)); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackChunk {
		// Best effort: on a filesystem without it, fsync does the work.
		unix.SyncFileRange(int(w.f.Fd()), w.started, w.off-w.started, unix.SYNC_FILE_RANGE_WRITE)
		w.started = w.off
	}
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: opening %s: %w", key, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, nil
}

// List implements Store. Temporary files of Puts in progress, or left by a
// crash, are never listed.
func (l *Local) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk only the directory the prefix is in.
	start := l.dir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(l.dir, filepath.FromSlash(prefix[:i]))
	}
	var out []Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != start {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: listing %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete implements Store.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: deleting %s: %w", key, err)
	}
	return nil
}

// Sweep removes temporary files older than age, left by Puts whose process
// died. age must exceed the longest Put, or a Put in progress loses its
// file; an hour is safe for most hosts. It returns how many it removed.
func (l *Local) Sweep(ctx context.Context, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	removed := 0
	err := filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(p); err == nil {
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("backup: sweeping %s: %w", l.dir, err)
	}
	return removed, nil
}
