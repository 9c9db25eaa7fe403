// Package backuptest holds the conformance suite every backup.Store must
// pass, so that the local and S3 stores are held to one contract.
package backuptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/backup"
)

// FailAfter is how many bytes the failing reader of the "put fails midway"
// case yields before its error: past 5 MiB, so that an S3 store configured
// with the minimum part size has already uploaded a part.
const FailAfter = 6<<20 + 123

// TestStore runs the conformance suite. newStore must return an empty
// store, separate from every other one it returned.
func TestStore(t *testing.T, newStore func(t *testing.T) backup.Store) {
	ctx := context.Background()
	t.Run("PutGetListDelete", func(t *testing.T) {
		s := newStore(t)
		data := random(1, 100_000)
		n, err := s.Put(ctx, "svc-1/a.tar.zst", bytes.NewReader(data))
		if err != nil || n != int64(len(data)) {
			t.Fatalf("Put = %d, %v; want %d, nil", n, err, len(data))
		}
		mustGet(t, s, "svc-1/a.tar.zst", data)
		put(t, s, "svc-1/b.tar.zst", []byte("b"))
		put(t, s, "svc-2/c.tar.zst", []byte{})
		put(t, s, "svc-10/d.tar.zst", []byte("d"))
		wantList(t, s, "", "svc-1/a.tar.zst", "svc-1/b.tar.zst", "svc-10/d.tar.zst", "svc-2/c.tar.zst")
		wantList(t, s, "svc-1/", "svc-1/a.tar.zst", "svc-1/b.tar.zst")
		wantList(t, s, "svc-1", "svc-1/a.tar.zst", "svc-1/b.tar.zst", "svc-10/d.tar.zst")
		wantList(t, s, "svc-3/")
		objs, err := s.List(ctx, "svc-1/a")
		if err != nil || len(objs) != 1 || objs[0].Size != int64(len(data)) || objs[0].ModTime.IsZero() {
			t.Fatalf("List(svc-1/a) = %+v, %v; want one object of %d bytes with a time", objs, err, len(data))
		}
		mustGet(t, s, "svc-2/c.tar.zst", []byte{})
		if err := s.Delete(ctx, "svc-1/a.tar.zst"); err != nil {
			t.Fatal(err)
		}
		wantList(t, s, "svc-1/", "svc-1/b.tar.zst")
		wantMissing(t, s, "svc-1/a.tar.zst")
	})
	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		put(t, s, "k/x.tar.zst", []byte("first version, longer"))
		put(t, s, "k/x.tar.zst", []byte("second"))
		mustGet(t, s, "k/x.tar.zst", []byte("second"))
		wantList(t, s, "", "k/x.tar.zst")
	})
	t.Run("MissingGet", func(t *testing.T) {
		s := newStore(t)
		wantMissing(t, s, "svc-9/none.tar.zst")
		put(t, s, "svc-9/dir/x", []byte("x"))
		wantMissing(t, s, "svc-9/dir")
	})
	t.Run("DeleteIdempotent", func(t *testing.T) {
		s := newStore(t)
		if err := s.Delete(ctx, "svc-9/never.tar.zst"); err != nil {
			t.Fatalf("Delete of a missing key = %v; want nil", err)
		}
		put(t, s, "svc-9/x", []byte("x"))
		for i := 0; i < 2; i++ {
			if err := s.Delete(ctx, "svc-9/x"); err != nil {
				t.Fatalf("Delete #%d = %v", i+1, err)
			}
		}
		wantList(t, s, "")
	})
	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := 0; i < n; i++ {
			wg.Add(2)
			go func() { // distinct keys
				defer wg.Done()
				_, err := s.Put(ctx, fmt.Sprintf("c/k%d", i), bytes.NewReader(random(uint64(i), 50_000)))
				errs <- err
			}()
			go func() { // one key, many writers: one whole version wins
				defer wg.Done()
				_, err := s.Put(ctx, "c/same", bytes.NewReader(random(100+uint64(i), 200_000)))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < n; i++ {
			mustGet(t, s, fmt.Sprintf("c/k%d", i), random(uint64(i), 50_000))
		}
		got := get(t, s, "c/same")
		ok := false
		for i := 0; i < n; i++ {
			ok = ok || bytes.Equal(got, random(100+uint64(i), 200_000))
		}
		if !ok {
			t.Fatalf("c/same holds %d bytes that match no single writer: a torn write", len(got))
		}
		objs, err := s.List(ctx, "c/")
		if err != nil || len(objs) != n+1 {
			t.Fatalf("List = %d objects, %v; want %d", len(objs), err, n+1)
		}
	})
	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		s := newStore(t)
		boom := errors.New("reader broke")
		_, err := s.Put(ctx, "f/new.tar.zst", &failingReader{r: bytes.NewReader(random(7, FailAfter)), err: boom})
		if err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		wantMissing(t, s, "f/new.tar.zst")
		wantList(t, s, "")
		// A failed overwrite keeps the old object whole.
		put(t, s, "f/old.tar.zst", []byte("old"))
		if _, err := s.Put(ctx, "f/old.tar.zst", &failingReader{r: bytes.NewReader(random(8, FailAfter)), err: boom}); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		mustGet(t, s, "f/old.tar.zst", []byte("old"))
		wantList(t, s, "", "f/old.tar.zst")
	})
	t.Run("CanceledPut", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cctx, "x/y", bytes.NewReader([]byte("y"))); err == nil {
			t.Fatal("Put with a canceled context succeeded")
		}
		wantMissing(t, s, "x/y")
	})
	t.Run("KeyValidation", func(t *testing.T) {
		s := newStore(t)
		bad := []string{"", "/abs", "a/../b", "..", "../x", "a//b", "a/", "./a", "a/./b", ".tmp-x", "a/.hidden",
			"a b", "a\\b", "a\x00b", "é", "a?b", "a%2f..", string(bytes.Repeat([]byte("a"), backup.MaxKeyLen+1))}
		for _, k := range bad {
			if _, err := s.Put(ctx, k, bytes.NewReader([]byte("x"))); err == nil {
				t.Errorf("Put(%q) succeeded; want a key error", k)
			}
			if _, err := s.Get(ctx, k); err == nil || errors.Is(err, backup.ErrNotFound) {
				t.Errorf("Get(%q) = %v; want a key error", k, err)
			}
			if err := s.Delete(ctx, k); err == nil {
				t.Errorf("Delete(%q) succeeded; want a key error", k)
			}
		}
		for _, p := range []string{"/", "../", "a/../", ".tmp-"} {
			if _, err := s.List(ctx, p); err == nil {
				t.Errorf("List(%q) succeeded; want a prefix error", p)
			}
		}
		wantList(t, s, "")
		put(t, s, "svc-12/20261205T111600Z-manual.tar.zst", []byte("ok"))
		put(t, s, backup.Key(12, time.Date(2026, 12, 5, 11, 16, 0, 0, time.UTC), "pre-reset"), []byte("ok"))
	})
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// random returns n reproducible pseudo-random bytes.
func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, s backup.Store, key string, data []byte) {
	t.Helper()
	n, err := s.Put(context.Background(), key, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put(%q) = %d, %v; want %d, nil", key, n, err, len(data))
	}
}

func get(t *testing.T, s backup.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): reading: %v", key, err)
	}
	return b
}

func mustGet(t *testing.T, s backup.Store, key string, want []byte) {
	t.Helper()
	if got := get(t, s, key); !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes; want %d bytes as put", key, len(got), len(want))
	}
}

func wantMissing(t *testing.T, s backup.Store, key string) {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err == nil {
		rc.Close()
		t.Fatalf("Get(%q) found an object; want ErrNotFound", key)
	}
	if !errors.Is(err, backup.ErrNotFound) {
		t.Fatalf("Get(%q) = %v; want ErrNotFound", key, err)
	}
}

func wantList(t *testing.T, s backup.Store, prefix string, keys ...string) {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	got := make([]string, len(objs))
	for i, o := range objs {
		got[i] = o.Key
	}
	if fmt.Sprint(got) != fmt.Sprint(keys) {
		t.Fatalf("List(%q) = %q; want %q", prefix, got, keys)
	}
}
