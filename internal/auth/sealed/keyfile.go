package sealed

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// LoadOrCreateKey returns a Box for the key in the file at path, creating
// the file with a new random key if there is none. Call it with a path in
// the data directory (beside, not inside, the database).
//
// The file holds the KeySize raw bytes, mode 0600. It appears complete or
// not at all: the key is written and fsynced under a temporary name (created
// with O_EXCL), then hard-linked to path, which fails if path exists. So
// processes starting together agree on one key, and a crash never leaves a
// short key file that would seal secrets nobody can open after a restart.
//
// An existing file is refused, with what to do, when it is a symbolic link
// (whoever can change the link chooses the key), not a regular file,
// readable or writable by group or others, or not KeySize bytes.
func LoadOrCreateKey(path string) (*Box, error) {
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = createKeyFile(path); err == nil || errors.Is(err, fs.ErrExist) {
			key, err = readKeyFile(path) // ours, or the one another process created first
		}
	}
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return FromKey(key)
}

// readKeyFile reads and checks the key file. It opens with O_NOFOLLOW and
// checks the open file, so a link swapped in after the Lstat is refused too.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("sealed: key file: %w", err)
	}
	if err := checkKeyFile(path, fi); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, symlinkError(path)
		}
		return nil, fmt.Errorf("sealed: opening the key file: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("sealed: key file: %w", err)
	}
	if err := checkKeyFile(path, fi); err != nil {
		return nil, err
	}
	key := make([]byte, KeySize+1) // one more, to notice a longer file
	n, err := io.ReadFull(f, key)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sealed: reading the key file %s: %w", path, err)
	}
	if n != KeySize {
		clear(key)
		return nil, sizeError(path)
	}
	return key[:KeySize], nil
}

func checkKeyFile(path string, fi fs.FileInfo) error {
	switch mode := fi.Mode(); {
	case mode&fs.ModeSymlink != 0:
		return symlinkError(path)
	case !mode.IsRegular():
		return fmt.Errorf("sealed: the key file %s is not a regular file (%v): move it away, and restore the key file from a backup, or remove it to start with a new key (secrets sealed with the old one are then lost)", path, mode.Type())
	case mode.Perm()&0o077 != 0:
		return fmt.Errorf("sealed: the key file %s has mode %#o, so other users may read or replace it: run `chmod 600 %s` (and if others may have read it, treat the sealed secrets as exposed: users should enrol their authenticator again)", path, mode.Perm(), path)
	case fi.Size() != KeySize:
		return sizeError(path)
	}
	return nil
}

func symlinkError(path string) error {
	return fmt.Errorf("sealed: the key file %s is a symbolic link; rampart reads its key only from a regular file, so that whoever can change the link cannot choose the key: replace the link with the file it points to (cp --remove-destination \"$(readlink -f %s)\" %s; chmod 600 %s), or, where secrets are mounted as links (Kubernetes), give the key in %s instead", path, path, path, path, EnvKey)
}

func sizeError(path string) error {
	return fmt.Errorf("sealed: the key file %s is not %d bytes, so it is not a key rampart wrote: restore it from a backup (the sealed secrets cannot be read without it), or move it away to start with a new key", path, KeySize)
}

// createKeyFile writes a new key to path, or returns an error wrapping
// fs.ErrExist if path appeared meanwhile.
func createKeyFile(path string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// CreateTemp opens with O_EXCL and mode 0600.
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("sealed: creating the key file in %s (does the data directory exist, and may rampart write to it?): %w", dir, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // the link below is the file; this name goes either way
	key := make([]byte, KeySize)
	defer clear(key)
	_, _ = rand.Read(key) // never fails since Go 1.24
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("sealed: creating the key file: %w", err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sealed: writing the key file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("sealed: creating the key file %s (the data directory's file system must support hard links): %w", path, err)
	}
	// Make the new name durable before any secret is sealed with the key.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sealed: syncing the data directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sealed: syncing the data directory: %w", err)
	}
	return nil
}
