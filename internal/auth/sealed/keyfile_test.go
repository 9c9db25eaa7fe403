package sealed

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret.key")
	a, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || fi.Size() != KeySize {
		t.Errorf("key file: mode %v, %d bytes; want -rw-------, %d", fi.Mode(), fi.Size(), KeySize)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data directory holds %d entries, want the key file alone (a temporary file left behind?)", len(entries))
	}
	// Loading again gives the same key.
	b, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if a.KeyID() != b.KeyID() {
		t.Errorf("reloaded key %s, want %s", b.KeyID(), a.KeyID())
	}
	if _, err := b.Open(a.Seal([]byte("x"), nil), nil); err != nil {
		t.Errorf("a reloaded key does not open what the first sealed: %v", err)
	}
	// The file is the raw key, so FromKey on its bytes is the same Box: an
	// operator can move it to RAMPART_SECRET_KEY with base64.
	raw, _ := os.ReadFile(path)
	c, _ := FromKey(raw)
	if c.KeyID() != a.KeyID() {
		t.Error("FromKey(file contents) differs from LoadOrCreateKey(file)")
	}
	// An owner-read-only file is fine.
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestLoadOrCreateKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if _, err := LoadOrCreateKey(good); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(good)
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	link := filepath.Join(dir, "link.key")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.key")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	subdir := filepath.Join(dir, "dir.key")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"world-readable", write("0644.key", key, 0o644), "chmod 600 " + filepath.Join(dir, "0644.key")},
		{"group-readable", write("0640.key", key, 0o640), "chmod 600"},
		{"world-writable", write("0602.key", key, 0o602), "chmod 600"},
		{"symlink", link, "symbolic link"},
		{"dangling symlink", dangling, "symbolic link"},
		{"directory", subdir, "not a regular file"},
		{"short", write("short.key", key[:31], 0o600), "not 32 bytes"},
		{"long", write("long.key", append(key, '\n'), 0o600), "not 32 bytes"},
		{"empty", write("empty.key", nil, 0o600), "not 32 bytes"},
		{"no data directory", filepath.Join(dir, "missing", "secret.key"), "data directory exist"},
	} {
		_, err := LoadOrCreateKey(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	// A refused file is left as it was: never "repaired" into a new key.
	if got, _ := os.ReadFile(filepath.Join(dir, "0644.key")); !bytes.Equal(got, key) {
		t.Error("the refused key file was changed")
	}
}

// TestLoadOrCreateKeyConcurrent starts many loaders on a fresh path, as
// several processes starting at once would: all must end with one key.
func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		path := filepath.Join(dir, "secret.key")
		const n = 16
		ids := make([]string, n)
		errs := make([]error, n)
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				b, err := LoadOrCreateKey(path)
				if err == nil {
					ids[i] = b.KeyID()
				}
				errs[i] = err
			}()
		}
		start.Done()
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d loader %d: %v", round, i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("round %d: loaders got keys %s and %s", round, ids[0], ids[i])
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("round %d: %d entries in the data directory, want 1", round, len(entries))
		}
		raw, _ := os.ReadFile(path)
		if b, _ := FromKey(raw); b.KeyID() != ids[0] {
			t.Fatalf("round %d: the file holds key %s, the loaders use %s", round, b.KeyID(), ids[0])
		}
	}
}
