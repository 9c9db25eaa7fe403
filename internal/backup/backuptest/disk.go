package backuptest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rampart-dev/rampart/internal/backup"
)

// SmallDisk mounts a tmpfs of size (mount's syntax, e.g. "48m") for the
// test and returns its directory: a file system that can really run out.
// It needs root; without, the test fails under CI=true and is skipped
// elsewhere.
func SmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		msg := "the test mounts a small tmpfs, which needs root: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run it")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// KeepFree sets backup.KeepFree to keep bytes for the test.
func KeepFree(t *testing.T, keep uint64) {
	old := backup.KeepFree
	backup.KeepFree = func(uint64) uint64 { return keep }
	t.Cleanup(func() { backup.KeepFree = old })
}
