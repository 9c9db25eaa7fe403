package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/rampart-dev/rampart/internal/backup"
)

var testInfo = backup.Info{Service: "blog", ServiceID: 12, Kind: "manual", CreatedAt: time.Date(2026, 12, 5, 11, 16, 0, 0, time.UTC)}

const testConfig = `{"name":"blog","image":"ghost:5","env":{"A":"1"}}`

// makeTree builds a small data directory with every kind of entry a backup
// keeps or skips.
func makeTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	mt := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b", "c"), 0o755))
	must(os.Mkdir(filepath.Join(dir, "empty"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "c", "deep.txt"), []byte("deep\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "zero"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "exec.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "big.bin"), bytes.Repeat([]byte("rampart "), 100_000), 0o640))
	must(os.Symlink("a/b/c/deep.txt", filepath.Join(dir, "link")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "abs-link")))
	must(os.Symlink("../../outside", filepath.Join(dir, "a", "up-link")))
	must(os.Chtimes(filepath.Join(dir, "exec.sh"), mt, mt))
	must(os.Mkdir(filepath.Join(dir, "ro"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "ro", "f"), []byte("read only dir"), 0o400))
	must(os.Chmod(filepath.Join(dir, "ro"), 0o555))
	must(os.Chtimes(filepath.Join(dir, "ro"), mt, mt))
	must(os.Chmod(filepath.Join(dir, "empty"), 0o1777))
	must(syscallMkfifo(filepath.Join(dir, "fifo")))
	return dir
}

func writeArchive(t *testing.T, dir string) ([]byte, *backup.Manifest, backup.Sum) {
	t.Helper()
	var buf bytes.Buffer
	m, sum, err := backup.Write(context.Background(), &buf, dir, []byte(testConfig), testInfo)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(buf.Bytes()) != sum {
		t.Fatal("Write's Sum is not the SHA-256 of what it wrote")
	}
	return buf.Bytes(), m, sum
}

// snapshot describes a tree: type, mode, size, content hash or link, and
// mtime for files and directories.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "symlink " + l
		case fi.IsDir():
			out[rel] = "dir " + fi.Mode().String() + " " + fi.ModTime().UTC().String()
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			h := sha256.Sum256(b)
			out[rel] = "file " + fi.Mode().String() + " " + hex.EncodeToString(h[:]) + " " + fi.ModTime().UTC().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	dir := makeTree(t)
	arc, m, sum := writeArchive(t, dir)

	if m.FormatVersion != 1 || m.Service != "blog" || m.ServiceID != 12 || m.Kind != "manual" || !m.CreatedAt.Equal(testInfo.CreatedAt) {
		t.Errorf("manifest header = %+v", m)
	}
	if len(m.Skipped) != 1 || m.Skipped[0].Path != "data/fifo" {
		t.Errorf("Skipped = %+v; want the FIFO noted", m.Skipped)
	}
	cs := sha256.Sum256([]byte(testConfig))
	if m.ConfigSHA256 != hex.EncodeToString(cs[:]) {
		t.Errorf("config_sha256 = %s", m.ConfigSHA256)
	}
	if m.DataBytes != 5+0+18+800_000+13 {
		t.Errorf("data_bytes = %d", m.DataBytes)
	}
	if len(arc) > 200_000 {
		t.Errorf("archive is %d bytes; compression is not working", len(arc))
	}

	// The archive's layout: config first, manifest last.
	names := tarNames(t, arc)
	if names[0] != "config.json" || names[len(names)-1] != "MANIFEST.json" || names[1] != "data/" {
		t.Errorf("entries = %q", names)
	}

	dest := filepath.Join(t.TempDir(), "restored")
	m2, cfg, err := backup.Extract(context.Background(), bytes.NewReader(arc), dest, sum)
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg) != testConfig {
		t.Errorf("config = %q", cfg)
	}
	if len(m2.Files) != len(m.Files) {
		t.Errorf("Extract's manifest has %d files, Write's %d", len(m2.Files), len(m.Files))
	}
	want := snapshot(t, dir)
	delete(want, "fifo")
	got := snapshot(t, dest)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: restored %q; want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s restored but not in the original", k)
		}
	}

	vm, err := backup.Verify(context.Background(), bytes.NewReader(arc), sum)
	if err != nil || len(vm.Files) != len(m.Files) {
		t.Fatalf("Verify = %v", err)
	}
	// An existing empty directory is a valid destination too.
	empty := t.TempDir()
	if _, _, err := backup.Extract(context.Background(), bytes.NewReader(arc), empty, backup.Sum{}); err != nil {
		t.Fatal(err)
	}
}

func TestExtractRefusesNonEmptyDest(t *testing.T) {
	arc, _, _ := writeArchive(t, makeTree(t))
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "keep"), []byte("x"), 0o600)
	if _, _, err := backup.Extract(context.Background(), bytes.NewReader(arc), dest, backup.Sum{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Extract into a non-empty dir = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "keep")); string(b) != "x" {
		t.Fatal("Extract touched a non-empty destination")
	}
}

func TestWriteRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	if _, _, err := backup.Write(ctx, io.Discard, filepath.Join(t.TempDir(), "none"), nil, testInfo); err == nil {
		t.Error("Write of a missing data dir succeeded")
	}
	if _, _, err := backup.Write(ctx, io.Discard, t.TempDir(), make([]byte, backup.MaxConfigSize+1), testInfo); err == nil {
		t.Error("Write of an oversized config succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := backup.Write(cctx, io.Discard, makeTree(t), nil, testInfo); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a canceled context = %v", err)
	}
	// A symlinked data dir is resolved; symlinks inside are kept.
	dir := makeTree(t)
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if m, _, err := backup.Write(ctx, io.Discard, link, nil, testInfo); err != nil || len(m.Files) < 5 {
		t.Errorf("Write through a symlinked data dir = %v", err)
	}
}

// assertGone checks that a failed Extract left no trace.
func assertGone(t *testing.T, dest string) {
	t.Helper()
	if _, err := os.Lstat(dest); !errors.Is(err, fs.ErrNotExist) {
		entries, _ := os.ReadDir(dest)
		if err != nil || len(entries) > 0 {
			t.Fatalf("after a failed Extract %s holds %d entries (err %v); want it absent or empty", dest, len(entries), err)
		}
	}
}

func TestCorruptByteAnywhere(t *testing.T) {
	arc, _, sum := writeArchive(t, makeTree(t))
	// Every position would take long with the race detector; a stride
	// that is prime to the block sizes still hits headers, block data,
	// the frame checksum and the last byte.
	positions := []int{0, 1, 4, 5, len(arc) / 2, len(arc) - 4, len(arc) - 1}
	for p := 7; p < len(arc); p += 997 {
		positions = append(positions, p)
	}
	for _, pos := range positions {
		for _, want := range []backup.Sum{{}, sum} {
			bad := bytes.Clone(arc)
			bad[pos] ^= 0x20
			dest := filepath.Join(t.TempDir(), "d")
			_, _, err := backup.Extract(context.Background(), bytes.NewReader(bad), dest, want)
			if !errors.Is(err, backup.ErrChecksum) {
				t.Fatalf("byte %d of %d flipped (want sum set: %v): Extract = %v; want ErrChecksum", pos, len(arc), !want.IsZero(), err)
			}
			assertGone(t, dest)
			if _, err := backup.Verify(context.Background(), bytes.NewReader(bad), want); !errors.Is(err, backup.ErrChecksum) {
				t.Fatalf("byte %d flipped: Verify = %v; want ErrChecksum", pos, err)
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	arc, _, _ := writeArchive(t, makeTree(t))
	for _, n := range []int{0, 3, 10, len(arc) / 3, len(arc) - 1} {
		dest := filepath.Join(t.TempDir(), "d")
		_, _, err := backup.Extract(context.Background(), bytes.NewReader(arc[:n]), dest, backup.Sum{})
		if err == nil {
			t.Fatalf("archive cut to %d of %d bytes: Extract succeeded", n, len(arc))
		}
		if n > 0 && !errors.Is(err, backup.ErrChecksum) {
			t.Errorf("archive cut to %d bytes: %v; want ErrChecksum", n, err)
		}
		assertGone(t, dest)
	}
	// Trailing garbage is refused too.
	bad := append(bytes.Clone(arc), []byte("garbage")...)
	if _, err := backup.Verify(context.Background(), bytes.NewReader(bad), backup.Sum{}); err == nil {
		t.Error("archive with trailing bytes verified")
	}
}

func TestWantSumMismatch(t *testing.T) {
	arc, _, sum := writeArchive(t, makeTree(t))
	other := sum
	other[0] ^= 1
	dest := filepath.Join(t.TempDir(), "d")
	_, _, err := backup.Extract(context.Background(), bytes.NewReader(arc), dest, other)
	if !errors.Is(err, backup.ErrChecksum) || !strings.Contains(err.Error(), "archive's SHA-256") {
		t.Fatalf("Extract with the wrong sum = %v", err)
	}
	assertGone(t, dest)
	if _, err := backup.Verify(context.Background(), bytes.NewReader(arc), other); !errors.Is(err, backup.ErrChecksum) {
		t.Fatalf("Verify with the wrong sum = %v", err)
	}
}

func TestTamperedFileReportsWhich(t *testing.T) {
	// A file altered and the archive recompressed: only the manifest can
	// tell, and the error names the file.
	arc, _, _ := writeArchive(t, makeTree(t))
	var entries []entry
	tr := tar.NewReader(mustDecode(t, arc))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if hdr.Name == "data/exec.sh" {
			b = []byte("#!/bin/sh\nrm -rf\n!")
		}
		entries = append(entries, entry{hdr: hdr, body: b})
	}
	_, err := backup.Verify(context.Background(), bytes.NewReader(build(t, entries)), backup.Sum{})
	if !errors.Is(err, backup.ErrChecksum) || !strings.Contains(err.Error(), "data/exec.sh") {
		t.Fatalf("Verify of a tampered file = %v; want ErrChecksum naming data/exec.sh", err)
	}
}

type entry struct {
	hdr  *tar.Header
	body []byte
}

func mustDecode(t testing.TB, arc []byte) io.Reader {
	d, err := zstd.NewReader(bytes.NewReader(arc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(d)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func tarNames(t *testing.T, arc []byte) []string {
	var names []string
	tr := tar.NewReader(mustDecode(t, arc))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
}

// build compresses hand-made tar entries into an archive.
func build(t testing.TB, entries []entry) []byte {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := *e.hdr
		if h.Typeflag == tar.TypeReg || h.Typeflag == 0 {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if len(e.body) > 0 {
			tw.Write(e.body)
		}
	}
	tw.Close()
	var out bytes.Buffer
	zw, _ := zstd.NewWriter(&out)
	zw.Write(raw.Bytes())
	zw.Close()
	return out.Bytes()
}

// craft builds an archive around data entries with a manifest that lists
// them correctly, so that only the entries themselves can be refused.
func craft(t testing.TB, data []entry) []byte {
	cfg := []byte("{}")
	cs := sha256.Sum256(cfg)
	m := backup.Manifest{FormatVersion: 1, ConfigSHA256: hex.EncodeToString(cs[:]), Files: []backup.File{}}
	entries := []entry{{hdr: &tar.Header{Name: "config.json", Typeflag: tar.TypeReg, Mode: 0o600}, body: cfg}}
	for _, e := range data {
		e.hdr.ModTime = time.Unix(1700000000, 0)
		f := backup.File{Path: strings.TrimSuffix(e.hdr.Name, "/"), Mode: "0" + strings.TrimPrefix(strconvOct(e.hdr.Mode), "0"), ModTime: e.hdr.ModTime.UTC()}
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			f.Type = "dir"
		case tar.TypeSymlink:
			f.Type, f.Link = "symlink", e.hdr.Linkname
		default:
			h := sha256.Sum256(e.body)
			f.Type, f.Size, f.SHA256 = "file", int64(len(e.body)), hex.EncodeToString(h[:])
			m.DataBytes += f.Size
		}
		m.Files = append(m.Files, f)
		entries = append(entries, e)
	}
	mb, _ := json.Marshal(m)
	entries = append(entries, entry{hdr: &tar.Header{Name: "MANIFEST.json", Typeflag: tar.TypeReg, Mode: 0o600}, body: mb})
	return build(t, entries)
}

func dirE(name string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func fileE(name, body string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, body: []byte(body)}
}

func linkE(name, target string) entry {
	return entry{hdr: &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func TestCraftedValid(t *testing.T) {
	// The crafting helper itself makes acceptable archives.
	arc := craft(t, []entry{dirE("data/"), fileE("data/x", "x"), dirE("data/d/"), linkE("data/d/l", "../x")})
	if _, _, err := backup.Extract(context.Background(), bytes.NewReader(arc), filepath.Join(t.TempDir(), "d"), backup.Sum{}); err != nil {
		t.Fatal(err)
	}
}

func TestTraversalRefused(t *testing.T) {
	outside := t.TempDir()
	cases := map[string][]entry{
		"dotdot":           {dirE("data/"), fileE("data/../escape", "x")},
		"dotdot deep":      {dirE("data/"), dirE("data/a/"), fileE("data/a/../../escape", "x")},
		"absolute":         {dirE("data/"), fileE("/tmp/escape", "x")},
		"absolute in data": {dirE("data/"), fileE(filepath.Join(outside, "escape"), "x")},
		"outside data":     {dirE("data/"), fileE("escape", "x")},
		"dot element":      {dirE("data/"), fileE("data/./x", "x")},
		"double slash":     {dirE("data/"), fileE("data//x", "x")},
		"through symlink":  {dirE("data/"), linkE("data/l", outside), fileE("data/l/escape", "x")},
		"symlink as dir":   {dirE("data/"), linkE("data/l", outside), dirE("data/l/")},
		"parent missing":   {dirE("data/"), fileE("data/nodir/x", "x")},
		"no root":          {fileE("data/x", "x")},
		"root is file":     {fileE("data", "x")},
		"duplicate":        {dirE("data/"), fileE("data/x", "1"), fileE("data/x", "2")},
		"dir then symlink": {dirE("data/"), dirE("data/d/"), linkE("data/d", outside), fileE("data/d/escape", "x")},
		"hard link":        {dirE("data/"), {hdr: &tar.Header{Name: "data/h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}}},
		"char device":      {dirE("data/"), {hdr: &tar.Header{Name: "data/c", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}},
		"fifo":             {dirE("data/"), {hdr: &tar.Header{Name: "data/f", Typeflag: tar.TypeFifo}}},
		"long name":        {dirE("data/"), fileE("data/"+strings.Repeat("a", 300), "x")},
		"long path":        {dirE("data/"), fileE("data/"+strings.Repeat("a/", 2100)+"x", "x")},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			arc := craft(t, entries)
			dest := filepath.Join(t.TempDir(), "d")
			_, _, err := backup.Extract(context.Background(), bytes.NewReader(arc), dest, backup.Sum{})
			if err == nil {
				t.Fatal("Extract accepted it")
			}
			if !errors.Is(err, backup.ErrInvalid) && !errors.Is(err, backup.ErrChecksum) {
				t.Logf("error is neither ErrInvalid nor ErrChecksum: %v", err)
			}
			assertGone(t, dest)
			if _, err := backup.Verify(context.Background(), bytes.NewReader(arc), backup.Sum{}); err == nil {
				t.Fatal("Verify accepted it")
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Fatalf("something was written outside: %v", ents)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dest), "escape")); err == nil {
				t.Fatal("escape written beside the destination")
			}
		})
	}
}

func TestStructureRefused(t *testing.T) {
	ok := craft(t, []entry{dirE("data/")})
	if _, err := backup.Verify(context.Background(), bytes.NewReader(ok), backup.Sum{}); err != nil {
		t.Fatal(err)
	}
	cfg := fileE("config.json", "{}")
	cases := map[string][]entry{
		"empty":            {},
		"no config first":  {dirE("data/"), cfg},
		"no manifest":      {cfg, dirE("data/")},
		"after manifest":   {cfg, fileE("MANIFEST.json", "{}"), dirE("data/")},
		"bad manifest":     {cfg, dirE("data/"), fileE("MANIFEST.json", "{not json")},
		"version 2":        {cfg, dirE("data/"), fileE("MANIFEST.json", `{"format_version":2}`)},
		"unlisted entries": {cfg, dirE("data/"), fileE("data/x", "x"), fileE("MANIFEST.json", `{"format_version":1,"config_sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}`)},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := backup.Verify(context.Background(), bytes.NewReader(build(t, entries)), backup.Sum{}); err == nil {
				t.Fatal("Verify accepted it")
			}
		})
	}
	if _, err := backup.Verify(context.Background(), strings.NewReader("not zstd at all"), backup.Sum{}); err == nil {
		t.Fatal("Verify accepted garbage")
	}
}

func TestOversizedConfigRefused(t *testing.T) {
	// Only the header: the size must be refused before any of it is read.
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	tw.WriteHeader(&tar.Header{Name: "config.json", Typeflag: tar.TypeReg, Mode: 0o600, Size: backup.MaxConfigSize + 1})
	tw.Flush()
	var arcBuf bytes.Buffer
	zw, _ := zstd.NewWriter(&arcBuf)
	zw.Write(raw.Bytes())
	zw.Close()
	arc := arcBuf.Bytes()
	_, err := backup.Verify(context.Background(), bytes.NewReader(arc), backup.Sum{})
	if !errors.Is(err, backup.ErrInvalid) {
		t.Fatalf("Verify = %v; want ErrInvalid", err)
	}
}

func TestCanceledExtract(t *testing.T) {
	arc, _, _ := writeArchive(t, makeTree(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := filepath.Join(t.TempDir(), "d")
	if _, _, err := backup.Extract(ctx, bytes.NewReader(arc), dest, backup.Sum{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Extract = %v; want context.Canceled", err)
	}
	assertGone(t, dest)
}

func TestParseSum(t *testing.T) {
	s := backup.Sum(sha256.Sum256([]byte("x")))
	p, err := backup.ParseSum(s.String())
	if err != nil || p != s {
		t.Fatal(err)
	}
	if _, err := backup.ParseSum("abc"); err == nil {
		t.Fatal("short sum parsed")
	}
}
