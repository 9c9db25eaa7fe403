package backup_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/backup/backuptest"
)

// TestPutKeepsReserve: a backup larger than what the disk can spare stops
// with ErrDiskFull and leaves nothing behind, while the disk still has its
// reserve; one that fits is stored.
func TestPutKeepsReserve(t *testing.T) {
	disk := backuptest.SmallDisk(t, "48m")
	backuptest.KeepFree(t, 16<<20)
	s, err := backup.NewLocal(filepath.Join(disk, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = s.Put(ctx, "svc-1/20261207T000000Z-manual.tar.zst", io.LimitReader(rand.Reader, 64<<20))
	if !errors.Is(err, backup.ErrDiskFull) {
		t.Fatalf("a 64 MiB backup on a 48 MiB disk that keeps 16 MiB: %v, want ErrDiskFull", err)
	}
	t.Log(err)
	if objs, _ := s.List(ctx, ""); len(objs) != 0 {
		t.Errorf("a refused backup left %+v", objs)
	}
	left, _ := os.ReadDir(filepath.Join(disk, "backups", "svc-1"))
	if len(left) != 0 {
		t.Errorf("a refused backup left files: %v", left)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(disk, &st); err != nil {
		t.Fatal(err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < 40<<20 {
		t.Errorf("%d bytes free after the refused backup: its temporary file was not removed", free)
	}
	if _, err := s.Put(ctx, "svc-1/20261207T000001Z-manual.tar.zst", io.LimitReader(rand.Reader, 8<<20)); err != nil {
		t.Errorf("an 8 MiB backup that fits: %v", err)
	}
}

// TestExtractKeepsReserve: a restore of many small files that together
// would eat into the reserve stops with ErrDiskFull and removes what it
// wrote.
func TestExtractKeepsReserve(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	for i := range 160 { // 40 MiB in files of 256 KiB
		rand.Read(buf)
		if err := os.WriteFile(filepath.Join(data, "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), buf, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		_, _, err := backup.Write(context.Background(), pw, data, []byte(`{}`), backup.Info{Service: "blog", ServiceID: 1, Kind: "manual"})
		pw.CloseWithError(err)
	}()
	disk := backuptest.SmallDisk(t, "48m")
	backuptest.KeepFree(t, 16<<20)
	dest := filepath.Join(disk, "restore")
	_, _, err := backup.Extract(context.Background(), pr, dest, backup.Sum{})
	io.Copy(io.Discard, pr)
	if !errors.Is(err, backup.ErrDiskFull) {
		t.Fatalf("restoring 40 MiB on a 48 MiB disk that keeps 16 MiB: %v, want ErrDiskFull", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a refused restore left its destination: %v", err)
	}
}
