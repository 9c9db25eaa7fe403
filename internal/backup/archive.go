// Package backup makes and restores a service's backup: its data directory
// and its configuration as one zstd-compressed tar archive that carries a
// SHA-256 manifest, and stores archives atomically in a Store (a local
// directory or an S3 bucket).
//
// An archive is outside input (a user can upload one to restore), so the
// reading side trusts nothing in it: every file is hashed while it is
// written, the manifest is checked against what was read, paths that could
// leave the destination are refused, and sizes and counts are bounded.
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
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"
)

// FormatVersion is the manifest's format_version written by this package.
// Readers refuse other versions rather than guess at their meaning.
const FormatVersion = 1

// Names of the archive's fixed entries and the prefix of the data entries.
const (
	ConfigName   = "config.json"
	ManifestName = "MANIFEST.json"
	dataRoot     = "data"
)

// Limits on what an archive may make Extract and Verify do. They are far
// above what a real service's backup needs and low enough that a crafted
// archive cannot exhaust memory.
const (
	MaxConfigSize   = 16 << 20  // config.json
	MaxManifestSize = 256 << 20 // MANIFEST.json, ~1M entries of long paths
	MaxEntries      = 1_000_000 // tar entries in one archive
	MaxPathLen      = 4096      // bytes in one entry name or symlink target
	maxNameLen      = 255       // bytes in one path element
	maxWindow       = 64 << 20  // zstd window the decoder accepts
	copyBufSize     = 1 << 20   // read buffer for file contents
	encoderWindow   = 4 << 20   // zstd window the encoder uses
	maxDecoderMem   = 256 << 20 // zstd decoder memory bound
)

// ErrChecksum reports an archive whose bytes are not the ones that were
// written: a file, the configuration, the manifest or the whole archive does
// not match its SHA-256, or the compressed stream is damaged or truncated.
// The archive cannot be trusted; restore from another backup.
var ErrChecksum = errors.New("backup: checksum mismatch")

// ErrInvalid reports an archive that is intact as far as can be told but
// that this package refuses to restore: an unsafe path, a hard link or
// device, an entry the manifest does not list, or a limit exceeded.
var ErrInvalid = errors.New("backup: invalid archive")

// Sum is a SHA-256 digest. The zero Sum means "not known".
type Sum [sha256.Size]byte

// IsZero reports whether s is the zero Sum.
func (s Sum) IsZero() bool { return s == Sum{} }

// String returns s in lowercase hex, the form the manifest uses.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// ParseSum parses a hex SHA-256 as written by Sum.String.
func ParseSum(s string) (Sum, error) {
	var out Sum
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(out) {
		return Sum{}, fmt.Errorf("backup: %q is not a hex SHA-256 (64 hex digits)", s)
	}
	copy(out[:], b)
	return out, nil
}

// Info says whose backup an archive is and why it was made; it is copied
// into the manifest.
type Info struct {
	Service   string
	ServiceID int64
	Kind      string // "scheduled", "manual", "final", "pre-reset"
	CreatedAt time.Time
}

// Entry types in the manifest.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// File describes one entry of the data directory. Path is the tar name
// ("data" for the directory itself, "data/a/b" below it).
type File struct {
	Path    string    `json:"path"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	Mode    string    `json:"mode"` // octal permission bits, e.g. "0644"
	ModTime time.Time `json:"mtime"`
	SHA256  string    `json:"sha256,omitempty"` // regular files only
	Link    string    `json:"link,omitempty"`   // symlink target, as stored
}

// Skipped notes a data directory entry that was not backed up, and why: a
// socket, device or FIFO has no content to keep and is recreated by the
// service that owns it.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Manifest is the archive's last entry. It lists every data entry with its
// SHA-256 so that a restore can check the whole content before it is used.
type Manifest struct {
	FormatVersion int       `json:"format_version"`
	Service       string    `json:"service"`
	ServiceID     int64     `json:"service_id"`
	CreatedAt     time.Time `json:"created_at"`
	Kind          string    `json:"kind"`
	Files         []File    `json:"files"`
	Skipped       []Skipped `json:"skipped,omitempty"`
	ConfigSHA256  string    `json:"config_sha256"`
	DataBytes     int64     `json:"data_bytes"`
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// hashWriter counts and hashes what passes through it to w.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// newEncoder returns the zstd encoder Write uses. SpeedFastest with
// concurrent blocks keeps both cores of a small host busy: a backup is
// mostly limited by compression, and the ratio gained by higher levels is
// small next to the time it costs on mixed data.
func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(2),
		zstd.WithConcurrentBlocks(true),
		zstd.WithWindowSize(encoderWindow),
		zstd.WithEncoderCRC(true),
	)
}

// Write streams the archive of dataDir and config to w and returns the
// manifest, the SHA-256 of the compressed bytes written to w and their
// count. The service should be stopped or quiesced: a file that shrinks
// while it is read fails the backup rather than store a torn copy.
func Write(ctx context.Context, w io.Writer, dataDir string, config []byte, info Info) (*Manifest, Sum, error) {
	var none Sum
	if len(config) > MaxConfigSize {
		return nil, none, fmt.Errorf("backup: configuration is %d bytes, over the %d-byte limit of an archive", len(config), MaxConfigSize)
	}
	root, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return nil, none, fmt.Errorf("backup: data directory: %w", err)
	}
	if st, err := os.Stat(root); err != nil {
		return nil, none, fmt.Errorf("backup: data directory: %w", err)
	} else if !st.IsDir() {
		return nil, none, fmt.Errorf("backup: data directory %s is not a directory", dataDir)
	}

	out := &hashWriter{w: w, h: sha256.New()}
	enc, err := newEncoder(out)
	if err != nil {
		return nil, none, fmt.Errorf("backup: zstd: %w", err)
	}
	tw := tar.NewWriter(enc)
	m := &Manifest{
		FormatVersion: FormatVersion,
		Service:       info.Service,
		ServiceID:     info.ServiceID,
		CreatedAt:     info.CreatedAt.UTC(),
		Kind:          info.Kind,
		Files:         []File{},
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	cs := sha256.Sum256(config)
	m.ConfigSHA256 = hex.EncodeToString(cs[:])

	fail := func(err error) (*Manifest, Sum, error) {
		enc.Close() // release the encoder's goroutines; the output is abandoned
		return nil, none, err
	}
	if err := writeBlob(tw, ConfigName, config, m.CreatedAt); err != nil {
		return fail(err)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	h := sha256.New()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := dataRoot
		if rel != "." {
			name = dataRoot + "/" + filepath.ToSlash(rel)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f, err := writeEntry(ctx, tw, p, name, fi, h, *bp)
		if err != nil {
			return err
		}
		if f == nil {
			m.Skipped = append(m.Skipped, Skipped{Path: name, Reason: "not a regular file, directory or symlink (" + fi.Mode().Type().String() + ")"})
			return nil
		}
		m.Files = append(m.Files, *f)
		m.DataBytes += f.Size
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("backup: reading %s: %w", dataDir, err))
	}
	mb, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fail(fmt.Errorf("backup: manifest: %w", err))
	}
	if err := writeBlob(tw, ManifestName, mb, m.CreatedAt); err != nil {
		return fail(err)
	}
	if err := tw.Close(); err != nil {
		return fail(fmt.Errorf("backup: writing archive: %w", err))
	}
	if err := enc.Close(); err != nil {
		return nil, none, fmt.Errorf("backup: writing archive: %w", err)
	}
	var sum Sum
	out.h.Sum(sum[:0])
	return m, sum, nil
}

func writeBlob(tw *tar.Writer, name string, b []byte, mtime time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o600, ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: writing %s: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("backup: writing %s: %w", name, err)
	}
	return nil
}

// writeEntry writes one data directory entry and returns its manifest
// line, or nil for an entry that is skipped.
func writeEntry(ctx context.Context, tw *tar.Writer, p, name string, fi fs.FileInfo, h hash.Hash, buf []byte) (*File, error) {
	mode := unixMode(fi.Mode())
	f := &File{Path: name, Mode: fmt.Sprintf("%04o", mode), ModTime: fi.ModTime().UTC()}
	hdr := &tar.Header{Name: name, Mode: int64(mode), ModTime: fi.ModTime(), Format: tar.FormatPAX}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	}
	switch {
	case fi.Mode().IsDir():
		f.Type = TypeDir
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
		return f, tw.WriteHeader(hdr)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		f.Type, f.Link = TypeSymlink, target
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		return f, tw.WriteHeader(hdr)
	case fi.Mode().IsRegular():
	default:
		return nil, nil
	}
	// O_NOFOLLOW: the walk saw a regular file; if it was swapped for a
	// symlink since, refuse rather than back up what the link points at.
	file, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || !os.SameFile(st, fi) {
		return nil, fmt.Errorf("%s changed while it was being backed up; retry with the service stopped", p)
	}
	f.Type = TypeFile
	f.Size = st.Size()
	hdr.Typeflag = tar.TypeReg
	hdr.Size = st.Size()
	hdr.ModTime = st.ModTime()
	f.ModTime = st.ModTime().UTC()
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	h.Reset()
	// One pass: what is read goes to the tar stream and the hash at once.
	n, err := io.CopyBuffer(io.MultiWriter(tw, h), io.LimitReader(ctxReader{ctx, file}, hdr.Size), buf)
	if err != nil {
		return nil, err
	}
	if n != hdr.Size {
		return nil, fmt.Errorf("%s shrank from %d to %d bytes while it was being backed up; retry with the service stopped", p, hdr.Size, n)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	return f, nil
}

// unixMode returns the permission and sticky bits of m as Unix mode bits.
// Set-user-ID and set-group-ID are left out on purpose: an uploaded archive
// must not be able to plant a set-ID program in a service's data.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}

// fileMode is the inverse of unixMode.
func fileMode(u int64) fs.FileMode {
	m := fs.FileMode(u) & fs.ModePerm
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
