package backup

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrDiskFull is a backup or a restore that stopped so as to leave the
// file system it wrote to its reserve (see KeepFree); the error is a
// *DiskFullError, with the figures.
var ErrDiskFull = errors.New("the disk is nearly full")

// DiskFullError says how full the file system was: bytes free, its size,
// and the reserve. It is ErrDiskFull (errors.Is).
type DiskFullError struct{ Free, Total, Keep uint64 }

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("%v: %s of %s free, and backups and restores leave at least %s free for the services and the system: free some space (old backups, other data) and try again",
		ErrDiskFull, bytesWord(e.Free), bytesWord(e.Total), bytesWord(e.Keep))
}

// Is makes a DiskFullError match ErrDiskFull.
func (e *DiskFullError) Is(target error) bool { return target == ErrDiskFull }

// KeepFree is how much of a file system of total bytes a backup or a
// restore leaves free: 5 %, at least 1 GiB. It looks every 8 MiB and
// stops while more than that is left above the reserve, so the reserve is
// never written into. A service's data can be as
// large as its app makes it; without a reserve, backing it up (or
// restoring it) would fill the disk that every other service, the store
// and the system write to. A variable so that the package's tests can try
// it on a small file system.
var KeepFree = func(total uint64) uint64 { return max(1<<30, total/20) }

// roomEvery is how much is written between two looks at the free space: a
// statfs is cheap, but not per write.
const roomEvery = 8 << 20

// room watches the free space of the file system a backup or restore
// writes to. One per backup or restore, shared by all its files, so that
// many small files are counted as well as one large one.
type room struct {
	unchecked int64 // bytes written since the last look
	looked    bool
}

// allow is called before n bytes are written to f. Before the first
// write and then once per roomEvery bytes it looks at the file system's
// free space, and refuses to go on when what may be written before the
// next look could eat into the reserve.
func (r *room) allow(f *os.File, n int) error {
	if r == nil {
		return nil
	}
	r.unchecked += int64(n)
	if r.looked && r.unchecked < roomEvery {
		return nil
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return nil // cannot tell: the write itself fails when the disk is full
	}
	bsize := uint64(st.Bsize)
	total, avail := st.Blocks*bsize, st.Bavail*bsize
	if keep := KeepFree(total); avail < keep+roomEvery+uint64(n) {
		return &DiskFullError{Free: avail, Total: total, Keep: keep}
	}
	// This write is covered by the look, and so is what comes before
	// the next one: less than roomEvery.
	r.looked, r.unchecked = true, 0
	return nil
}

// bytesWord writes n bytes in the largest binary unit that keeps it at
// least 1, with one decimal.
func bytesWord(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
