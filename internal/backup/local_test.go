package backup_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/backup/backuptest"
)

func TestLocalConformance(t *testing.T) {
	backuptest.TestStore(t, func(t *testing.T) backup.Store {
		s, err := backup.NewLocal(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalWriteExtract(t *testing.T) {
	ctx := context.Background()
	s, err := backup.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := backup.Key(testInfo.ServiceID, testInfo.CreatedAt, testInfo.Kind)
	pr, pw := io.Pipe()
	var sum backup.Sum
	go func() {
		_, s, err := backup.Write(ctx, pw, makeTree(t), []byte(testConfig), testInfo)
		sum = s
		pw.CloseWithError(err)
	}()
	n, err := s.Put(ctx, key, pr)
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := s.List(ctx, "svc-12/")
	if len(objs) != 1 || objs[0].Key != "svc-12/20261205T111600Z-manual.tar.zst" || objs[0].Size != n {
		t.Fatalf("List = %+v", objs)
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, _, err := backup.Extract(ctx, rc, filepath.Join(t.TempDir(), "r"), sum); err != nil {
		t.Fatal(err)
	}
}

// TestLocalKilledPut kills a process in the middle of a Put (SIGKILL, no
// cleanup) and checks that List shows nothing and Sweep removes the leftover.
func TestLocalKilledPut(t *testing.T) {
	if dir := os.Getenv("RAMPART_BACKUP_KILL_HELPER"); dir != "" {
		s, err := backup.NewLocal(dir)
		if err != nil {
			os.Exit(2)
		}
		r := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), blockForever{})
		s.Put(context.Background(), "svc-1/killed.tar.zst", r)
		os.Exit(3)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLocalKilledPut$")
	cmd.Env = append(os.Environ(), "RAMPART_BACKUP_KILL_HELPER="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the temp file holds the first MiB.
	deadline := time.Now().Add(20 * time.Second)
	var tmp string
	for tmp == "" {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the helper never started its Put")
		}
		m, _ := filepath.Glob(filepath.Join(dir, "svc-1", ".tmp-*"))
		if len(m) == 1 {
			if st, err := os.Stat(m[0]); err == nil && st.Size() >= 1<<20 {
				tmp = m[0]
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()

	s, err := backup.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if objs, err := s.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Fatalf("List after a killed Put = %+v, %v; want nothing", objs, err)
	}
	if n, err := s.Sweep(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("Sweep(1h) = %d, %v; a fresh temp file must be kept (a Put may still own it)", n, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(tmp, old, old)
	if n, err := s.Sweep(ctx, time.Hour); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the leftover removed", n, err)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Fatal("leftover temp file still there")
	}
}

type blockForever struct{}

func (blockForever) Read([]byte) (int, error) { select {} }

func TestLocalKeyStaysInside(t *testing.T) {
	parent := t.TempDir()
	s, err := backup.NewLocal(filepath.Join(parent, "store"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"../escape", "a/../../escape", "/escape"} {
		if _, err := s.Put(context.Background(), k, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Fatalf("%d entries beside the store; want only the store", len(ents))
	}
}
