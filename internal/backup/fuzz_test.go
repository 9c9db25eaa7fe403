package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-dev/rampart/internal/backup"
)

// FuzzExtract feeds arbitrary bytes, starting from valid archives, to
// Extract: it must never panic, never succeed with a mismatched manifest,
// and never write outside its destination.
func FuzzExtract(f *testing.F) {
	dir := f.TempDir()
	data := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "sub", "f.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(data, "empty"), nil, 0o600)
	os.Symlink("sub/f.txt", filepath.Join(data, "link"))
	var buf bytes.Buffer
	if _, _, err := backup.Write(context.Background(), &buf, data, []byte(`{"a":1}`), testInfo); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(craft(f, []entry{dirE("data/"), fileE("data/x", "x"), linkE("data/l", "/etc"), dirE("data/d/")}))
	f.Add(craft(f, []entry{dirE("data/"), fileE("data/../x", "x")}))
	f.Add(craft(f, []entry{dirE("data/"), {hdr: &tar.Header{Name: "data/h", Typeflag: tar.TypeLink, Linkname: "x"}}}))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, arc []byte) {
		box := t.TempDir()
		dest := filepath.Join(box, "dest")
		m, _, err := backup.Extract(context.Background(), bytes.NewReader(arc), dest, backup.Sum{})
		ents, _ := os.ReadDir(box)
		for _, e := range ents {
			if e.Name() != "dest" {
				t.Fatalf("Extract wrote %q beside its destination", e.Name())
			}
		}
		if err != nil {
			if len(ents) > 0 {
				if left, _ := os.ReadDir(dest); len(left) > 0 {
					t.Fatalf("failed Extract (%v) left %d entries", err, len(left))
				}
			}
			return
		}
		if m == nil {
			t.Fatal("Extract succeeded without a manifest")
		}
		// Everything restored is inside dest and listed by the manifest.
		listed := map[string]bool{}
		for _, f := range m.Files {
			listed[f.Path] = true
		}
		filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
			rel, _ := filepath.Rel(dest, p)
			name := "data"
			if rel != "." {
				name += "/" + filepath.ToSlash(rel)
			}
			if !listed[name] {
				t.Errorf("%s restored but not in the manifest", name)
			}
			return nil
		})
	})
}
