package sshkeys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Writer tests run against a scratch home directory under t.TempDir(),
// addressed as an account with a uid and gid no real user has, so that
// ownership is checked for real (files chowned away from root) without
// touching any real user's ~/.ssh.
const scratchID = 54321

func scratchAccount(t *testing.T) Account {
	t.Helper()
	needRoot(t)
	return Account{Name: "scratch", UID: scratchID, GID: scratchID, Home: t.TempDir()}
}

func newKey(t testing.TB, title string) Key {
	t.Helper()
	pub, _ := newEd25519(t)
	k, err := ParseOne(authLine(t, pub, title+"@test"))
	if err != nil {
		t.Fatal(err)
	}
	k.Title = title
	return k
}

// block is the managed block Write makes for keys.
func block(keys ...Key) string {
	if len(keys) == 0 {
		return ""
	}
	s := beginLine + "\n"
	for _, k := range keys {
		s += k.Line + "\n"
	}
	return s + endMarker + "\n"
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, acct Account, content string) {
	t.Helper()
	dir := filepath.Join(acct.Home, ".ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(acct.Path(), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, acct.UID, acct.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(acct.Path(), acct.UID, acct.GID); err != nil {
		t.Fatal(err)
	}
}

// assertOwned checks a path's owner and permission bits.
func assertOwned(t *testing.T, path string, acct Account, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := owner(fi)
	if uid != acct.UID || gid != acct.GID || fi.Mode().Perm() != mode {
		t.Errorf("%s: owner %d:%d mode %04o, want %d:%d %04o", path, uid, gid, fi.Mode().Perm(), acct.UID, acct.GID, mode)
	}
}

func assertInSync(t *testing.T, acct Account, keys []Key) {
	t.Helper()
	st, err := Check(acct, keys)
	if err != nil || !st.InSync {
		t.Errorf("Check after Write = %+v, %v; want in sync", st, err)
	}
}

func TestWriteCreatesSSHDir(t *testing.T) {
	acct := scratchAccount(t)
	keys := []Key{newKey(t, "a"), newKey(t, "b")}
	if st, err := Check(acct, keys); err != nil || st.InSync || st.Reason != "~/.ssh is missing" {
		t.Errorf("Check before Write = %+v, %v; want ~/.ssh missing", st, err)
	}
	changed, err := Write(acct, keys)
	if err != nil || !changed {
		t.Fatalf("Write = %v, %v; want changed", changed, err)
	}
	assertOwned(t, filepath.Join(acct.Home, ".ssh"), acct, 0o700)
	assertOwned(t, acct.Path(), acct, 0o600)
	if got, want := readFile(t, acct.Path()), block(keys...); got != want {
		t.Errorf("authorized_keys =\n%s\nwant\n%s", got, want)
	}
	assertInSync(t, acct, keys)
	if changed, err := Write(acct, keys); err != nil || changed {
		t.Errorf("second Write = %v, %v; want unchanged", changed, err)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Join(acct.Home, ".ssh"))
	if len(entries) != 1 {
		t.Errorf(".ssh holds %d entries, want authorized_keys only", len(entries))
	}
}

func TestWriteNoKeysCreatesNothing(t *testing.T) {
	acct := scratchAccount(t)
	if changed, err := Write(acct, nil); err != nil || changed {
		t.Fatalf("Write(no keys) = %v, %v", changed, err)
	}
	if _, err := os.Lstat(filepath.Join(acct.Home, ".ssh")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".ssh was created for no keys: %v", err)
	}
	assertInSync(t, acct, nil)
}

// TestWriteKeepsOutsideLines: whatever surrounds the block, and however it
// ends its lines, comes out byte for byte.
func TestWriteKeepsOutsideLines(t *testing.T) {
	old, k1, k2 := newKey(t, "old"), newKey(t, "k1"), newKey(t, "k2")
	hand := authLine(t, must(newEd25519(t)), "hand@written")
	tests := []struct {
		name         string
		before, want string // want's %s is the new block
	}{
		{"empty file", "", "%s"},
		{"no block, no final newline", hand, "%s" + hand},
		{"no block, CRLF and comments", "# mine\r\n" + hand + "\r\n\r\n", "%s# mine\r\n" + hand + "\r\n\r\n"},
		{"block in the middle", "# top\n" + block(old) + hand + "\n", "# top\n%s" + hand + "\n"},
		{"block with CRLF outside, no final newline after", "a\r\n" + block(old) + "z", "a\r\n%sz"},
		{"block at the end without final newline", hand + "\n" + strings.TrimSuffix(block(old), "\n"), hand + "\n%s"},
		{"markers indented, CRLF block", "x\n  " + strings.ReplaceAll(block(old), "\n", "\r\n") + "y", "x\n%sy"},
		{"two blocks", "a\n" + block(old) + "b\n" + block(old, k1) + "c", "a\n%sb\nc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := scratchAccount(t)
			writeFile(t, acct, tt.before)
			keys := []Key{k1, k2}
			if changed, err := Write(acct, keys); err != nil || !changed {
				t.Fatalf("Write = %v, %v", changed, err)
			}
			want := strings.Replace(tt.want, "%s", block(keys...), 1)
			if got := readFile(t, acct.Path()); got != want {
				t.Errorf("authorized_keys =\n%q\nwant\n%q", got, want)
			}
			assertOwned(t, acct.Path(), acct, 0o600)
			assertInSync(t, acct, keys)
		})
	}
}

func must[T any](v T, _ any) T { return v }

func TestWriteRemovesKeys(t *testing.T) {
	acct := scratchAccount(t)
	outside := "# hand-written, keep\n" + authLine(t, must(newEd25519(t)), "hand") // no final newline
	writeFile(t, acct, outside)
	a, b := newKey(t, "a"), newKey(t, "b")
	for _, step := range [][]Key{{a, b}, {b}, {}} {
		if _, err := Write(acct, step); err != nil {
			t.Fatal(err)
		}
		if got, want := readFile(t, acct.Path()), block(step...)+outside; got != want {
			t.Errorf("with %d keys: authorized_keys =\n%q\nwant\n%q", len(step), got, want)
		}
		assertInSync(t, acct, step)
	}
	if got := readFile(t, acct.Path()); got != outside {
		t.Errorf("after removing every key the file is %q, want the hand-written part only, byte for byte", got)
	}
}

func TestCheckDrift(t *testing.T) {
	a, b := newKey(t, "a"), newKey(t, "b")
	intruder := authLine(t, must(newEd25519(t)), "intruder")
	// Each case starts from authorized_keys as Write left it for a and b,
	// tampers with it, and expects Check to say so and Write to repair it.
	tests := []struct {
		name   string
		tamper func(t *testing.T, acct Account)
		reason string
	}{
		{"key added inside the block", func(t *testing.T, acct Account) {
			writeFile(t, acct, strings.Replace(block(a, b), endMarker, intruder+"\n"+endMarker, 1))
		}, "edited by hand"},
		{"key removed from the block", func(t *testing.T, acct Account) { writeFile(t, acct, block(a)) }, "edited by hand"},
		{"block doubled", func(t *testing.T, acct Account) { writeFile(t, acct, block(a, b)+"mine\n"+block(a, b)) }, "2 managed blocks"},
		{"block removed", func(t *testing.T, acct Account) { writeFile(t, acct, "# only mine\n") }, "block is missing"},
		{"file removed", func(t *testing.T, acct Account) { os.Remove(acct.Path()) }, "authorized_keys is missing"},
		{"mode widened", func(t *testing.T, acct Account) { os.Chmod(acct.Path(), 0o644) }, "mode 0644"},
		{"owner changed", func(t *testing.T, acct Account) { os.Chown(acct.Path(), 0, 0) }, "owned by 0:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct := scratchAccount(t)
			keys := []Key{a, b}
			if _, err := Write(acct, keys); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, acct)
			st, err := Check(acct, keys)
			if err != nil || st.InSync || !strings.Contains(st.Reason, tt.reason) {
				t.Fatalf("Check = %+v, %v; want drift saying %q", st, err, tt.reason)
			}
			changed, err := Write(acct, keys)
			if err != nil || !changed {
				t.Fatalf("repairing Write = %v, %v", changed, err)
			}
			assertInSync(t, acct, keys)
			assertOwned(t, acct.Path(), acct, 0o600)
			got := readFile(t, acct.Path())
			if strings.Contains(got, "intruder") || strings.Count(got, beginMarker) != 1 || !strings.Contains(got, block(a, b)) {
				t.Errorf("after repair authorized_keys =\n%s", got)
			}
		})
	}
}

// TestWriteRefusesBrokenBlock: with a marker missing, rampart cannot tell
// its lines from the owner's and changes nothing.
func TestWriteRefusesBrokenBlock(t *testing.T) {
	a := newKey(t, "a")
	for name, content := range map[string]string{
		"BEGIN without END": "mine\n" + beginLine + "\n" + a.Line + "\nmore of mine\n",
		"END without BEGIN": "mine\n" + a.Line + "\n" + endMarker + "\n",
		"nested BEGIN":      beginLine + "\n" + block(a),
	} {
		t.Run(name, func(t *testing.T) {
			acct := scratchAccount(t)
			writeFile(t, acct, content)
			_, err := Write(acct, []Key{newKey(t, "b")})
			if !errors.Is(err, ErrMalformedBlock) || !strings.Contains(err.Error(), "fix the file by hand") || !strings.Contains(err.Error(), "line ") {
				t.Errorf("Write = %v, want ErrMalformedBlock naming a line", err)
			}
			if got := readFile(t, acct.Path()); got != content {
				t.Errorf("the file changed to %q", got)
			}
			if _, err := Check(acct, []Key{a}); !errors.Is(err, ErrMalformedBlock) {
				t.Errorf("Check = %v, want ErrMalformedBlock", err)
			}
		})
	}
}

// TestWriteRefusesLinks: a user who controls their home directory could
// point .ssh or authorized_keys at a file of root's; rampart must neither
// write through the link nor read through it.
func TestWriteRefusesLinks(t *testing.T) {
	k := newKey(t, "k")
	t.Run("symlinked .ssh", func(t *testing.T) {
		acct := scratchAccount(t)
		elsewhere := t.TempDir()
		if err := os.Symlink(elsewhere, filepath.Join(acct.Home, ".ssh")); err != nil {
			t.Fatal(err)
		}
		for _, f := range []func() error{
			func() error { _, err := Write(acct, []Key{k}); return err },
			func() error { _, err := Check(acct, []Key{k}); return err },
		} {
			if err := f(); err == nil || !strings.Contains(err.Error(), "symlink") {
				t.Errorf("error %v, want a refusal naming the symlink", err)
			}
		}
		if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
			t.Errorf("Write wrote %d files through the symlink", len(entries))
		}
	})
	t.Run("symlinked authorized_keys", func(t *testing.T) {
		acct := scratchAccount(t)
		target := filepath.Join(t.TempDir(), "shadow")
		const secret = "root:$y$secret-hash:19000:0:99999:7:::\n"
		if err := os.WriteFile(target, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		writeFile(t, acct, "")
		os.Remove(acct.Path())
		if err := os.Symlink(target, acct.Path()); err != nil {
			t.Fatal(err)
		}
		if _, err := Write(acct, []Key{k}); err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("Write = %v, want a refusal naming the symlink", err)
		}
		if got := readFile(t, target); got != secret {
			t.Errorf("the symlink's target changed to %q", got)
		}
		if fi, err := os.Lstat(acct.Path()); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the symlink was replaced: %v", err)
		}
	})
	t.Run("hard link", func(t *testing.T) {
		acct := scratchAccount(t)
		writeFile(t, acct, "")
		os.Remove(acct.Path())
		target := filepath.Join(acct.Home, "other")
		if err := os.WriteFile(target, []byte("not yours\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(target, acct.Path()); err != nil {
			t.Fatal(err)
		}
		if _, err := Write(acct, []Key{k}); err == nil || !strings.Contains(err.Error(), "hard links") {
			t.Errorf("Write = %v, want a refusal naming the hard link", err)
		}
	})
	t.Run(".ssh owned by another user", func(t *testing.T) {
		acct := scratchAccount(t)
		writeFile(t, acct, "")
		if err := os.Chown(filepath.Join(acct.Home, ".ssh"), scratchID+1, scratchID+1); err != nil {
			t.Fatal(err)
		}
		if _, err := Write(acct, []Key{k}); err == nil || !strings.Contains(err.Error(), "owned by uid") {
			t.Errorf("Write = %v, want a refusal naming the owner", err)
		}
	})
}

// TestWriteRefusesForgedKey: a Key is a plain struct; one whose Line was
// not made by Parse (a newline smuggling a second line, an options
// prefix) must not reach the file.
func TestWriteRefusesForgedKey(t *testing.T) {
	acct := scratchAccount(t)
	k := newKey(t, "k")
	for name, line := range map[string]string{
		"newline":       k.Line + "\n" + `command="sh" ` + k.Line,
		"options":       `command="sh" ` + k.Line,
		"other key":     newKey(t, "other").Line,
		"not canonical": strings.Replace(k.Line, " ", "  ", 1),
	} {
		forged := k
		forged.Line = line
		if _, err := Write(acct, []Key{forged}); err == nil || !strings.Contains(err.Error(), `"k"`) {
			t.Errorf("%s: Write = %v, want a refusal naming the key's title", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(acct.Home, ".ssh")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Write created .ssh: %v", err)
	}
}

func TestLookupAccount(t *testing.T) {
	acct, err := LookupAccount("")
	if err != nil || acct.Name != "root" || acct.UID != 0 || acct.Home == "" {
		t.Errorf("LookupAccount(\"\") = %+v, %v; want root", acct, err)
	}
	if _, err := LookupAccount("rampart-no-such-user"); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("unknown user: %v", err)
	}
}

// TestWriteStaysInTheDirectoryItOpened: the user swaps .ssh for a symlink
// to a directory of root's after Write opened it. Write's steps, taken in
// its order on the directory descriptor it holds, still read and write
// the directory it opened; nothing lands behind the symlink.
func TestWriteStaysInTheDirectoryItOpened(t *testing.T) {
	acct := scratchAccount(t)
	writeFile(t, acct, "# mine\n")
	k := newKey(t, "k")
	home, err := openHome(acct)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(home)
	dir, err := openSSHDir(acct, home, true)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)

	sshPath := filepath.Join(acct.Home, ".ssh")
	moved := filepath.Join(acct.Home, "ssh-real")
	if err := os.Rename(sshPath, moved); err != nil {
		t.Fatal(err)
	}
	rootsDir := t.TempDir()
	if err := os.Symlink(rootsDir, sshPath); err != nil {
		t.Fatal(err)
	}

	cur, err := readAuthorized(acct, dir)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := splice(cur.data, []string{k.Line})
	if err != nil {
		t.Fatal(err)
	}
	if err := replace(acct, dir, out); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(rootsDir); len(entries) != 0 {
		t.Errorf("%d files were written behind the symlink", len(entries))
	}
	if got, want := readFile(t, filepath.Join(moved, "authorized_keys")), block(k)+"# mine\n"; got != want {
		t.Errorf("the directory Write opened holds %q, want %q", got, want)
	}
	// And the next Write refuses the symlink outright.
	if _, err := Write(acct, []Key{k}); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("Write after the swap = %v, want a refusal naming the symlink", err)
	}
}

// FuzzSplice: authorized_keys is written by the user, so its content is
// outside input. Whatever it holds, splicing either refuses a broken block
// or keeps every line outside the blocks byte for byte (taking the block
// out again gives what taking the blocks out of the input gives), leaves
// one block, and is idempotent.
func FuzzSplice(f *testing.F) {
	k := newKey(f, "k")
	for _, s := range []string{
		"", "x", "a\r\nb", block(k), "a\n" + block(k) + "b", block(k) + block(k), beginLine, endMarker + "\n",
		"  " + beginMarker + "\r\n" + k.Line + "\r\n" + endMarker, "#BEGIN rampart managed keys\n",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, data string, withKey bool) {
		var lines []string
		if withKey {
			lines = []string{k.Line}
		}
		out, blocks, err := splice([]byte(data), lines)
		if err != nil {
			if !errors.Is(err, ErrMalformedBlock) {
				t.Fatalf("error %v is not ErrMalformedBlock", err)
			}
			return
		}
		if blocks == 0 && string(out) != block(keysFor(k, withKey)...)+data {
			t.Fatalf("no block in %q, but the output is %q", data, out)
		}
		again, n, err := splice(out, lines)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent: %q then %q (%v)", out, again, err)
		}
		if n != len(lines) {
			t.Fatalf("the output has %d blocks, want %d", n, len(lines))
		}
		outside, _, err := splice([]byte(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		stripped, _, err := splice(out, nil)
		if err != nil || string(stripped) != string(outside) {
			t.Fatalf("lines outside the block changed: %q became %q", outside, stripped)
		}
	})
}

func keysFor(k Key, with bool) []Key {
	if with {
		return []Key{k}
	}
	return nil
}

func TestWriteRefusesTooManyKeys(t *testing.T) {
	acct := scratchAccount(t)
	keys := make([]Key, MaxKeys+1)
	for i := range keys {
		keys[i] = newKey(t, "k")
	}
	if _, err := Write(acct, keys); err == nil || !strings.Contains(err.Error(), "more than the 1000") {
		t.Errorf("Write(%d keys) = %v, want a refusal", len(keys), err)
	}
	if changed, err := Write(acct, keys[:MaxKeys]); err != nil || !changed {
		t.Errorf("Write(%d keys) = %v, %v", MaxKeys, changed, err)
	}
}
