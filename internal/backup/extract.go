package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Extract reads an archive from r and writes its data directory into
// destDir, which must not exist or be empty: the caller swaps it in place
// of the service's data once Extract has returned without error. Every
// file's SHA-256, the configuration's and the manifest are checked, and the
// whole archive's SHA-256 too when want is not zero. On any failure what
// was written is removed (destDir is left absent if Extract created it,
// empty otherwise); a mismatch wraps ErrChecksum, a refused entry
// ErrInvalid.
func Extract(ctx context.Context, r io.Reader, destDir string, want Sum) (*Manifest, []byte, error) {
	created, err := prepareDest(destDir)
	if err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(destDir)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: restore destination: %w", err)
	}
	x := &extractor{root: root, dest: destDir}
	m, cfg, err := read(ctx, r, want, x)
	if err == nil {
		err = x.finish()
	}
	root.Close()
	if err != nil {
		removeWritten(destDir, created)
		return nil, nil, err
	}
	return m, cfg, nil
}

// Verify reads the whole archive from r and checks it as Extract does,
// without writing anything.
func Verify(ctx context.Context, r io.Reader, want Sum) (*Manifest, error) {
	m, _, err := read(ctx, r, want, nil)
	return m, err
}

// prepareDest makes sure destDir is an empty directory and says whether it
// had to create it.
func prepareDest(destDir string) (created bool, err error) {
	st, err := os.Lstat(destDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(destDir, 0o700); err != nil {
			return false, fmt.Errorf("backup: creating the restore destination: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("backup: restore destination: %w", err)
	case !st.IsDir():
		return false, fmt.Errorf("backup: restore destination %s is not a directory; pass a new or empty directory", destDir)
	}
	f, err := os.Open(destDir)
	if err != nil {
		return false, fmt.Errorf("backup: restore destination: %w", err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return false, fmt.Errorf("backup: restore destination %s is not empty; restore into a new directory and swap it in", destDir)
	}
	return false, nil
}

// removeWritten undoes a failed Extract. Directories may already carry
// their final, read-only modes, so they are opened up before removal.
func removeWritten(destDir string, created bool) {
	filepath.WalkDir(destDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	if created {
		os.RemoveAll(destDir)
		return
	}
	f, err := os.Open(destDir)
	if err != nil {
		return
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, n := range names {
		os.RemoveAll(filepath.Join(destDir, n))
	}
}

// srcReader hashes and counts the compressed bytes and keeps the first
// error of the underlying reader, so that an I/O failure is not mistaken for
// damage.
type srcReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// decReader keeps the decoder's first error (damage in the compressed
// stream) and stops when ctx is done.
type decReader struct {
	ctx context.Context
	d   *zstd.Decoder
	err error
}

func (d *decReader) Read(p []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := d.d.Read(p)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

// seen is what the archive held, to be compared with its manifest.
type seen struct {
	config    []byte
	files     map[string]*File
	dirs      map[string]bool
	entries   int
	dataBytes int64
	manifest  *Manifest
}

func checksumErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s; the archive is damaged or was altered, restore from another backup", ErrChecksum, fmt.Sprintf(format, args...))
}

func invalidErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// read decodes and checks the archive; x, when not nil, receives the data
// entries.
func read(ctx context.Context, r io.Reader, want Sum, x *extractor) (*Manifest, []byte, error) {
	src := &srcReader{r: r, h: sha256.New()}
	// One decoder goroutine: measured on 2 cores, a second one only
	// competes with hashing and writing the files. The window and memory
	// bounds keep a crafted frame from claiming gigabytes.
	dec, err := zstd.NewReader(src,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxWindow),
		zstd.WithDecoderMaxMemory(maxDecoderMem),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("backup: zstd: %w", err)
	}
	defer dec.Close()
	dr := &decReader{ctx: ctx, d: dec}
	s := &seen{files: map[string]*File{}, dirs: map[string]bool{}}
	err = readEntries(tar.NewReader(dr), s, x)
	if err == nil {
		// The tar end is not the stream's end: read on so that the
		// frame checksum at the very end is checked too.
		var n int64
		n, err = io.Copy(io.Discard, dr)
		if err == nil && n > 0 {
			err = invalidErr("%d bytes after the end of the tar stream", n)
		}
	} else if !errors.Is(err, ErrChecksum) && ctx.Err() == nil && src.err == nil && dr.err == nil {
		// A malformed entry may be damage that the frame checksum
		// would reveal further on: read on and let it tell.
		io.Copy(io.Discard, dr)
	}
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	if src.err != nil {
		return nil, nil, fmt.Errorf("backup: reading the archive: %w", src.err)
	}
	if dr.err != nil {
		if errors.Is(dr.err, io.ErrUnexpectedEOF) {
			return nil, nil, checksumErr("the compressed stream ends early (truncated: %v)", dr.err)
		}
		return nil, nil, checksumErr("the compressed stream is damaged (%v)", dr.err)
	}
	if !want.IsZero() && (err == nil || !errors.Is(err, ErrChecksum)) {
		if _, cerr := io.Copy(io.Discard, src); cerr != nil {
			return nil, nil, fmt.Errorf("backup: reading the archive: %w", cerr)
		}
		var got Sum
		src.h.Sum(got[:0])
		if got != want {
			return nil, nil, checksumErr("the archive's SHA-256 is %s, expected %s", got, want)
		}
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, checksumErr("the archive ends in the middle of an entry (truncated)")
		}
		if errors.Is(err, tar.ErrHeader) || errors.Is(err, tar.ErrInsecurePath) {
			return nil, nil, invalidErr("%v", err)
		}
		return nil, nil, err
	}
	if err := checkManifest(s); err != nil {
		return nil, nil, err
	}
	return s.manifest, s.config, nil
}

func readEntries(tr *tar.Reader, s *seen, x *extractor) error {
	var buf []byte
	if x != nil {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		buf = *bp
	}
	h := sha256.New()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		s.entries++
		if s.entries > MaxEntries {
			return invalidErr("more than %d entries", MaxEntries)
		}
		if s.manifest != nil {
			return invalidErr("entry %q after %s, which must be last", hdr.Name, ManifestName)
		}
		if s.entries == 1 {
			if hdr.Name != ConfigName || hdr.Typeflag != tar.TypeReg {
				return invalidErr("first entry is %q, not %s: not a rampart backup", hdr.Name, ConfigName)
			}
			if s.config, err = readBlob(tr, hdr, MaxConfigSize); err != nil {
				return err
			}
			continue
		}
		if hdr.Name == ManifestName {
			if hdr.Typeflag != tar.TypeReg {
				return invalidErr("%s is not a regular file", ManifestName)
			}
			b, err := readBlob(tr, hdr, MaxManifestSize)
			if err != nil {
				return err
			}
			m := new(Manifest)
			if err := json.Unmarshal(b, m); err != nil {
				return checksumErr("%s does not parse (%v)", ManifestName, err)
			}
			s.manifest = m
			continue
		}
		if err := readData(tr, hdr, s, x, h, buf); err != nil {
			return err
		}
	}
	if s.entries == 0 {
		return invalidErr("empty archive: not a rampart backup")
	}
	if s.manifest == nil {
		return invalidErr("no %s: not a complete rampart backup", ManifestName)
	}
	return nil
}

func readBlob(tr *tar.Reader, hdr *tar.Header, limit int64) ([]byte, error) {
	if hdr.Size < 0 || hdr.Size > limit {
		return nil, invalidErr("%s is %d bytes, over the %d-byte limit", hdr.Name, hdr.Size, limit)
	}
	// Grow with what arrives rather than trust the header's size up front.
	b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != hdr.Size {
		return nil, io.ErrUnexpectedEOF
	}
	return b, nil
}

// dataName checks an entry name from the archive and returns it without a
// directory's trailing slash. A name must be "data" or below it, clean
// (no ".", "..", empty elements or trailing slash) and of bounded length,
// so that joined to the destination it stays inside it.
func dataName(hdr *tar.Header) (string, error) {
	name := hdr.Name
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if len(name) > MaxPathLen {
		return "", invalidErr("entry name of %d bytes, over the %d-byte limit", len(name), MaxPathLen)
	}
	if name != dataRoot && !strings.HasPrefix(name, dataRoot+"/") {
		return "", invalidErr("entry %q is outside %s/", hdr.Name, dataRoot)
	}
	if path.Clean(name) != name || strings.ContainsRune(name, 0) {
		return "", invalidErr("entry %q is not a clean relative path (refusing path traversal)", hdr.Name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." || el == "." || len(el) > maxNameLen {
			return "", invalidErr("entry %q has an unsafe or overlong path element", hdr.Name)
		}
	}
	return name, nil
}

func readData(tr *tar.Reader, hdr *tar.Header, s *seen, x *extractor, h hash.Hash, buf []byte) error {
	name, err := dataName(hdr)
	if err != nil {
		return err
	}
	if _, dup := s.files[name]; dup {
		return invalidErr("entry %q appears twice", name)
	}
	// Every entry's parent must be a directory entry seen before it.
	// Symlinks are never parents, so nothing is written through one.
	if name != dataRoot && !s.dirs[path.Dir(name)] {
		return invalidErr("entry %q comes before its directory %q, or its parent is not a directory", name, path.Dir(name))
	}
	if name == dataRoot && hdr.Typeflag != tar.TypeDir {
		return invalidErr("entry %q must be a directory", name)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return invalidErr("entry %q is a sparse file; backups never contain sparse entries", name)
		}
	}
	f := &File{Path: name, Mode: fmt.Sprintf("%04o", hdr.Mode&0o1777), ModTime: hdr.ModTime.UTC()}
	if hdr.Mode&^0o7777 != 0 || hdr.Mode < 0 {
		return invalidErr("entry %q has mode %o", name, hdr.Mode)
	}
	rel := relName(name)
	switch hdr.Typeflag {
	case tar.TypeDir:
		f.Type = TypeDir
		s.dirs[name] = true
		if x != nil {
			if err := x.dir(rel, hdr); err != nil {
				return err
			}
		}
	case tar.TypeSymlink:
		if len(hdr.Linkname) == 0 || len(hdr.Linkname) > MaxPathLen || strings.ContainsRune(hdr.Linkname, 0) {
			return invalidErr("symlink %q has an empty or overlong target", name)
		}
		f.Type, f.Link = TypeSymlink, hdr.Linkname
		if x != nil {
			if err := x.symlink(rel, hdr.Linkname); err != nil {
				return err
			}
		}
	case tar.TypeReg:
		if hdr.Size < 0 {
			return invalidErr("entry %q has a negative size", name)
		}
		f.Type, f.Size = TypeFile, hdr.Size
		h.Reset()
		var n int64
		if x != nil {
			n, err = x.file(rel, hdr, io.TeeReader(tr, h), buf)
		} else {
			n, err = io.Copy(h, tr)
		}
		if err != nil {
			return err
		}
		if n != hdr.Size {
			return io.ErrUnexpectedEOF
		}
		f.SHA256 = hex.EncodeToString(h.Sum(nil))
		s.dataBytes += n
	case tar.TypeLink:
		return invalidErr("entry %q is a hard link; backups never contain hard links, refusing", name)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return invalidErr("entry %q is a device or FIFO; refusing", name)
	default:
		return invalidErr("entry %q has unsupported type %q", name, hdr.Typeflag)
	}
	s.files[name] = f
	return nil
}

// relName maps an archive name to a path relative to the destination.
func relName(name string) string {
	if name == dataRoot {
		return "."
	}
	return strings.TrimPrefix(name, dataRoot+"/")
}

// checkManifest compares what was read with what the manifest lists, both
// ways: a missing, extra or altered entry is a checksum error.
func checkManifest(s *seen) error {
	m := s.manifest
	if m.FormatVersion != FormatVersion {
		return invalidErr("format_version %d; this version of rampart reads %d, restore with a matching one", m.FormatVersion, FormatVersion)
	}
	cs := sha256.Sum256(s.config)
	if got := hex.EncodeToString(cs[:]); got != m.ConfigSHA256 {
		return checksumErr("%s has SHA-256 %s, the manifest says %s", ConfigName, got, m.ConfigSHA256)
	}
	if len(m.Files) != len(s.files) {
		return checksumErr("the manifest lists %d data entries, the archive has %d", len(m.Files), len(s.files))
	}
	listed := make(map[string]bool, len(m.Files))
	for i := range m.Files {
		want := &m.Files[i]
		if listed[want.Path] {
			return checksumErr("the manifest lists %q twice", want.Path)
		}
		listed[want.Path] = true
		got, ok := s.files[want.Path]
		switch {
		case !ok:
			return checksumErr("the manifest lists %q, which is not in the archive", want.Path)
		case got.Type != want.Type:
			return checksumErr("%s is a %s, the manifest says %s", want.Path, got.Type, want.Type)
		case got.Size != want.Size:
			return checksumErr("%s is %d bytes, the manifest says %d", want.Path, got.Size, want.Size)
		case got.SHA256 != want.SHA256:
			return checksumErr("%s has SHA-256 %s, the manifest says %s", want.Path, got.SHA256, want.SHA256)
		case got.Mode != want.Mode:
			return checksumErr("%s has mode %s, the manifest says %s", want.Path, got.Mode, want.Mode)
		case got.Link != want.Link:
			return checksumErr("symlink %s points to %q, the manifest says %q", want.Path, got.Link, want.Link)
		case !got.ModTime.Equal(want.ModTime):
			return checksumErr("%s has mtime %s, the manifest says %s", want.Path, got.ModTime, want.ModTime)
		}
	}
	if m.DataBytes != s.dataBytes {
		return checksumErr("the data is %d bytes, the manifest says %d", s.dataBytes, m.DataBytes)
	}
	return nil
}

// extractor writes data entries below an os.Root, which refuses on its own
// any path that would leave the destination; the checks in readData make
// that a second line of defence.
type extractor struct {
	root *os.Root
	dest string
	dirs []dirAttr
	room room // the destination's free space, over all files
}

type dirAttr struct {
	rel   string
	mode  fs.FileMode
	mtime time.Time
}

func (x *extractor) dir(rel string, hdr *tar.Header) error {
	if rel != "." {
		// 0700 until finish: the directory's own mode may forbid
		// writing its entries.
		if err := x.root.Mkdir(rel, 0o700); err != nil {
			return fmt.Errorf("backup: restoring %s: %w", rel, err)
		}
	}
	x.dirs = append(x.dirs, dirAttr{rel: rel, mode: fileMode(hdr.Mode), mtime: hdr.ModTime})
	return nil
}

func (x *extractor) symlink(rel, target string) error {
	if err := x.root.Symlink(target, rel); err != nil {
		return fmt.Errorf("backup: restoring %s: %w", rel, err)
	}
	return nil
}

func (x *extractor) file(rel string, hdr *tar.Header, r io.Reader, buf []byte) (int64, error) {
	f, err := x.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: restoring %s: %w", rel, err)
	}
	wb := &writeback{f: f, room: &x.room}
	n, err := io.CopyBuffer(wb, r, buf)
	if err == nil && wb.off > wb.started {
		// Start the tail's writeback too (small files have only a tail),
		// so that the final syncfs finds little left to do.
		unix.SyncFileRange(int(f.Fd()), wb.started, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("backup: restoring %s: %w", rel, cerr)
	}
	if errors.Is(err, ErrDiskFull) {
		return n, fmt.Errorf("backup: restoring %s: %w", rel, err)
	}
	if err != nil {
		return n, err
	}
	if err := x.root.Chmod(rel, fileMode(hdr.Mode)); err != nil {
		return n, fmt.Errorf("backup: restoring %s: %w", rel, err)
	}
	if err := x.root.Chtimes(rel, hdr.ModTime, hdr.ModTime); err != nil {
		return n, fmt.Errorf("backup: restoring %s: %w", rel, err)
	}
	return n, nil
}

// finish gives directories their modes and mtimes, deepest first, once
// nothing more is written into them, then flushes the filesystem: the
// caller is about to swap the restored tree in place of the old data, and
// after a crash the swapped-in tree must not turn out to be half written.
func (x *extractor) finish() error {
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.root.Chmod(d.rel, d.mode); err != nil {
			return fmt.Errorf("backup: restoring %s: %w", d.rel, err)
		}
		if err := x.root.Chtimes(d.rel, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("backup: restoring %s: %w", d.rel, err)
		}
	}
	d, err := x.root.Open(".")
	if err != nil {
		return fmt.Errorf("backup: syncing the restored data: %w", err)
	}
	defer d.Close()
	// One syncfs instead of an fsync per file: the files' writeback was
	// started while they were written, so little is left to wait for.
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("backup: syncing the restored data: %w", err)
	}
	return nil
}
