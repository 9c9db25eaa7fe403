package sshkeys

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// The lines that delimit the block of authorized_keys rampart manages.
// sshd skips them as comments. Only the words up to "keys" are matched, so
// the explanation after them may change between versions.
const (
	beginMarker = "# BEGIN rampart managed keys"
	beginLine   = beginMarker + ": edits inside this block are replaced; add your own keys outside it"
	endMarker   = "# END rampart managed keys"
)

// MaxFileBytes bounds the authorized_keys file rampart reads and rewrites:
// a file larger than this is not a list of keys someone maintains, and is
// left alone rather than loaded into memory.
const MaxFileBytes = 1 << 20

// Account is the user whose authorized_keys rampart manages.
type Account struct {
	Name string // login name, for messages
	UID  int
	GID  int
	Home string // home directory from the passwd entry; absolute
}

// LookupAccount resolves a login name (root when empty) from the system's
// user database.
func LookupAccount(name string) (Account, error) {
	if name == "" {
		name = "root"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, fmt.Errorf("ssh keys: no user %q on this machine: create it or set the SSH key target user to an existing account: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return Account{}, fmt.Errorf("ssh keys: user %q has a non-numeric uid or gid (%s:%s)", name, u.Uid, u.Gid)
	}
	if !filepath.IsAbs(u.HomeDir) {
		return Account{}, fmt.Errorf("ssh keys: user %q has no absolute home directory in the passwd entry (%q): set one with usermod -d", name, u.HomeDir)
	}
	return Account{Name: name, UID: uid, GID: gid, Home: u.HomeDir}, nil
}

// Path is where the account's authorized_keys is, for messages and logs.
func (a Account) Path() string { return filepath.Join(a.Home, ".ssh", "authorized_keys") }

// Status is what Check found.
type Status struct {
	// InSync is true when authorized_keys already holds exactly the desired
	// managed block, with the right owner and mode.
	InSync bool
	// Reason says what differs when InSync is false ("the managed block was
	// edited by hand"), for the reconciler's log and status.
	Reason string
}

// ErrMalformedBlock is returned when authorized_keys has a BEGIN marker
// without its END or the other way round. Rampart then cannot tell which
// lines are its own, so it changes nothing rather than guess: guessing one
// way could delete the owner's own keys, the other way keep a removed key.
var ErrMalformedBlock = errors.New("the rampart managed block in authorized_keys is broken")

// mu serialises rewrites within this process; the rename makes each one
// atomic for sshd, but two interleaved read-modify-writes could lose one.
var mu sync.Mutex

// Write makes the account's ~/.ssh/authorized_keys hold exactly keys in
// rampart's managed block, keeping every line outside the block byte for
// byte. The file is replaced atomically (a temporary file in .ssh,
// fsynced, renamed over, and .ssh fsynced), owned by the account with mode
// 0600; .ssh is created with mode 0700 when missing. A symlinked .ssh or
// authorized_keys is refused, never followed, including one swapped in
// while Write runs: every step after opening the home directory goes
// through a directory file descriptor with O_NOFOLLOW. changed reports
// whether anything was written; a reconciler logs it as drift repaired.
//
// With no keys, the managed block is removed, and nothing is created when
// there is no file.
func Write(acct Account, keys []Key) (changed bool, err error) {
	mu.Lock()
	defer mu.Unlock()
	lines, err := keyLines(keys)
	if err != nil {
		return false, err
	}
	home, err := openHome(acct)
	if err != nil {
		return false, err
	}
	defer unix.Close(home)
	dir, err := openSSHDir(acct, home, len(lines) > 0)
	if err != nil || dir < 0 {
		return false, err
	}
	defer unix.Close(dir)
	cur, err := readAuthorized(acct, dir)
	if err != nil {
		return false, err
	}
	want, blocks, err := splice(cur.data, lines)
	if err != nil {
		return false, fmt.Errorf("ssh keys: %s: %w", acct.Path(), err)
	}
	if len(lines) == 0 && blocks == 0 {
		return false, nil // nothing of rampart's there, nothing to put there
	}
	if cur.exists && bytes.Equal(want, cur.data) && cur.uid == acct.UID && cur.gid == acct.GID && cur.mode == 0o600 {
		return false, nil
	}
	if err := replace(acct, dir, want); err != nil {
		return false, fmt.Errorf("ssh keys: writing %s: %w", acct.Path(), err)
	}
	return true, nil
}

// Check reports whether the account's authorized_keys already holds
// exactly keys in the managed block, with the right owner and mode,
// without changing anything: the reconciler's drift check. An error means
// the file cannot be managed as it is (a symlink, a broken block, a file
// owned by someone else), which Write would refuse too.
func Check(acct Account, keys []Key) (Status, error) {
	lines, err := keyLines(keys)
	if err != nil {
		return Status{}, err
	}
	home, err := openHome(acct)
	if err != nil {
		return Status{}, err
	}
	defer unix.Close(home)
	dir, err := openSSHDir(acct, home, false)
	if err != nil {
		return Status{}, err
	}
	if dir < 0 {
		if len(lines) == 0 {
			return Status{InSync: true}, nil
		}
		return Status{Reason: "~/.ssh is missing"}, nil
	}
	defer unix.Close(dir)
	cur, err := readAuthorized(acct, dir)
	if err != nil {
		return Status{}, err
	}
	if !cur.exists {
		if len(lines) == 0 {
			return Status{InSync: true}, nil
		}
		return Status{Reason: "authorized_keys is missing"}, nil
	}
	want, blocks, err := splice(cur.data, lines)
	if err != nil {
		return Status{Reason: err.Error()}, fmt.Errorf("ssh keys: %s: %w", acct.Path(), err)
	}
	switch {
	case blocks == 0 && len(lines) == 0:
		return Status{InSync: true}, nil
	case blocks == 0:
		return Status{Reason: "the managed block is missing"}, nil
	case blocks > 1:
		return Status{Reason: fmt.Sprintf("there are %d managed blocks instead of one", blocks)}, nil
	case !bytes.Equal(want, cur.data):
		return Status{Reason: "the managed block was edited by hand"}, nil
	case cur.uid != acct.UID || cur.gid != acct.GID:
		return Status{Reason: fmt.Sprintf("authorized_keys is owned by %d:%d instead of %d:%d", cur.uid, cur.gid, acct.UID, acct.GID)}, nil
	case cur.mode != 0o600:
		return Status{Reason: fmt.Sprintf("authorized_keys has mode %04o instead of 0600", cur.mode)}, nil
	}
	return Status{InSync: true}, nil
}

// keyLines re-validates the keys' lines, since a Key is a plain struct a
// caller could have filled by hand: a newline or an options prefix in
// Line would otherwise reach authorized_keys. Duplicates are written once.
func keyLines(keys []Key) ([]string, error) {
	if len(keys) > MaxKeys {
		return nil, fmt.Errorf("ssh keys: %d keys for one account, more than the %d rampart manages: remove some", len(keys), MaxKeys)
	}
	var lines []string
	seen := map[string]bool{}
	for _, k := range keys {
		parsed, skip, err := parseLine(k.Line)
		if err != nil || skip || strings.ContainsAny(k.Line, "\r\n") || parsed.Fingerprint != k.Fingerprint || parsed.Line != k.Line {
			return nil, fmt.Errorf("ssh keys: the key titled %q (%s) does not hold a valid authorized_keys line: re-add it", k.Title, k.Fingerprint)
		}
		if seen[k.Fingerprint] {
			continue
		}
		seen[k.Fingerprint] = true
		lines = append(lines, k.Line)
	}
	return lines, nil
}

// splice returns data with its managed block replaced by one holding
// lines, and how many blocks data had. A file with no block gets it at the
// top, so that not one byte of the file changes, not even a missing final
// newline. Extra blocks (two BEGIN…END pairs, e.g. from a hand merge) are
// all rampart's and are dropped after the first. No lines and no block:
// data is unchanged.
func splice(data []byte, lines []string) (out []byte, blocks int, err error) {
	var block []byte
	if len(lines) > 0 {
		block = append(block, beginLine+"\n"...)
		for _, l := range lines {
			block = append(block, l+"\n"...)
		}
		block = append(block, endMarker+"\n"...)
	}
	var (
		inside  bool
		beginAt int // line number of the open BEGIN, for the error
		n       int
	)
	for rest := data; len(rest) > 0; {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		n++
		t := bytes.TrimSpace(line)
		switch {
		case bytes.HasPrefix(t, []byte(beginMarker)):
			if inside {
				return nil, 0, fmt.Errorf("%w: line %d starts a block but the one that line %d started has no END line; fix the file by hand (rampart will not guess which lines are its own)", ErrMalformedBlock, n, beginAt)
			}
			inside, beginAt = true, n
			blocks++
			if blocks == 1 {
				out = append(out, block...)
			}
		case bytes.HasPrefix(t, []byte(endMarker)):
			if !inside {
				return nil, 0, fmt.Errorf("%w: line %d ends a block that no BEGIN line started; fix the file by hand (rampart will not guess which lines are its own)", ErrMalformedBlock, n)
			}
			inside = false
		case !inside:
			out = append(out, line...)
		}
	}
	if inside {
		return nil, 0, fmt.Errorf("%w: the block that line %d starts has no END line; fix the file by hand (rampart will not guess which lines are its own)", ErrMalformedBlock, beginAt)
	}
	if blocks == 0 {
		out = append(block, data...)
	}
	return out, blocks, nil
}

// openHome opens the account's home directory. Its path comes from the
// passwd entry, which only root edits, so following a symlink there is
// the administrator's choice; below it, the user is in control and
// nothing is followed.
func openHome(acct Account) (int, error) {
	if !filepath.IsAbs(acct.Home) {
		return -1, fmt.Errorf("ssh keys: user %q has no absolute home directory (%q)", acct.Name, acct.Home)
	}
	fd, err := unix.Open(acct.Home, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("ssh keys: cannot open the home directory %s of user %q: %w; create it (owned by the user) or point the user's passwd entry at one", acct.Home, acct.Name, err)
	}
	return fd, nil
}

// openSSHDir opens .ssh under the home directory without following a
// symlink. When it is missing it is created (mode 0700, owned by the
// account) if create is set, and otherwise -1 is returned with no error.
func openSSHDir(acct Account, home int, create bool) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	path := filepath.Join(acct.Home, ".ssh")
	fd, err := unix.Openat(home, ".ssh", flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if !create {
			return -1, nil
		}
		if err := unix.Mkdirat(home, ".ssh", 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, fmt.Errorf("ssh keys: creating %s: %w", path, err)
		}
		if fd, err = unix.Openat(home, ".ssh", flags, 0); err == nil {
			// Set both even on a directory this call just made: the umask
			// may have narrowed the mode, and mkdir made it root's.
			if err = unix.Fchown(fd, acct.UID, acct.GID); err == nil {
				err = unix.Fchmod(fd, 0o700)
			}
			if err != nil {
				unix.Close(fd)
				return -1, fmt.Errorf("ssh keys: setting the owner and mode of %s: %w", path, err)
			}
		}
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("ssh keys: %s is a symlink or not a directory: rampart does not follow it (it could point anywhere); replace it with a real directory", path)
		}
		return -1, fmt.Errorf("ssh keys: opening %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("ssh keys: %s: %w", path, err)
	}
	// sshd's StrictModes ignores keys under a directory owned by anyone but
	// the user or root; rampart refuses the same, rather than write keys
	// into a directory another user controls.
	if int(st.Uid) != acct.UID && st.Uid != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("ssh keys: %s is owned by uid %d, not by %s (uid %d): fix its owner with chown", path, st.Uid, acct.Name, acct.UID)
	}
	return fd, nil
}

// current is authorized_keys as found.
type current struct {
	exists   bool
	data     []byte
	uid, gid int
	mode     uint32
}

// readAuthorized reads authorized_keys from the .ssh directory fd without
// following a symlink. A hard link is refused too: the file would be
// another file's second name, possibly one the user may not read (where
// the kernel allows linking to it), and rewriting it would copy that
// file's lines into one the user owns.
func readAuthorized(acct Account, dir int) (current, error) {
	path := acct.Path()
	fd, err := unix.Openat(dir, "authorized_keys", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return current{}, nil
	case errors.Is(err, unix.ELOOP):
		return current{}, fmt.Errorf("ssh keys: %s is a symlink: rampart does not follow it (it could point anywhere); replace it with a regular file", path)
	case err != nil:
		return current{}, fmt.Errorf("ssh keys: opening %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return current{}, fmt.Errorf("ssh keys: %s: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return current{}, fmt.Errorf("ssh keys: %s is not a regular file: remove it", path)
	case st.Nlink != 1:
		return current{}, fmt.Errorf("ssh keys: %s has %d hard links: rampart rewrites only a file with one name; replace it with a copy", path, st.Nlink)
	case int(st.Uid) != acct.UID && st.Uid != 0:
		return current{}, fmt.Errorf("ssh keys: %s is owned by uid %d, not by %s (uid %d): fix its owner with chown", path, st.Uid, acct.Name, acct.UID)
	case st.Size > MaxFileBytes:
		return current{}, fmt.Errorf("ssh keys: %s is %d bytes, more than the %d rampart manages: trim it by hand", path, st.Size, MaxFileBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return current{}, fmt.Errorf("ssh keys: reading %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return current{}, fmt.Errorf("ssh keys: %s grew past %d bytes while being read: trim it by hand", path, MaxFileBytes)
	}
	return current{exists: true, data: data, uid: int(st.Uid), gid: int(st.Gid), mode: st.Mode & 0o7777}, nil
}

// replace writes data to a new file in the .ssh directory fd and renames it
// over authorized_keys, so that sshd reads either the old file or the new
// one, never a half-written one, even across a crash.
func replace(acct Account, dir int, data []byte) error {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := ".authorized_keys.rampart-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	done := false
	defer func() {
		if !done {
			f.Close()
			unix.Unlinkat(dir, tmp, 0)
		}
	}()
	if err := unix.Fchown(fd, acct.UID, acct.GID); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, 0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		unix.Unlinkat(dir, tmp, 0)
		done = true
		return err
	}
	done = true
	if err := unix.Renameat(dir, tmp, dir, "authorized_keys"); err != nil {
		unix.Unlinkat(dir, tmp, 0)
		return err
	}
	// The rename is durable only once the directory is.
	return unix.Fsync(dir)
}
