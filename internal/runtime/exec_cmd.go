package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// command builds the process for spec, checking first what would make it
// fail so that the error can say what to fix rather than exec's bare
// "no such file or directory".
func (e *Exec) command(spec Spec) (*exec.Cmd, error) {
	if spec.Command == "" {
		return nil, errors.New("the service has no command: set the program to run")
	}
	dir := spec.Dir
	if dir == "" {
		dir = spec.DataDir
	}
	if dir == "" {
		return nil, errors.New("the service has neither a working directory nor a data directory: set one")
	}
	if fi, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("working directory %s does not exist: create it, or change the service's directory", dir)
		}
		return nil, fmt.Errorf("working directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("working directory %s is not a directory: change the service's directory", dir)
	}

	env := serviceEnv(spec)
	name := expandVersion(spec.Command, spec.Version)
	path, err := lookPath(name, dir, envValue(env, "PATH"))
	if err != nil {
		return nil, err
	}
	args := make([]string, 0, 1+len(spec.Args))
	args = append(args, name)
	for _, a := range spec.Args {
		args = append(args, expandVersion(a, spec.Version))
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if spec.User != "" {
		cred, err := credential(spec.User)
		if err != nil {
			return nil, err
		}
		attr.Credential = cred
		if spec.DataDir != "" {
			if err := chownTree(spec.DataDir, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("giving the data directory to user %s: %w", spec.User, err)
			}
		}
	}
	// exec.Command would look the name up in rampart's PATH and inherit
	// rampart's environment (which holds its secrets): build it by hand.
	return &exec.Cmd{Path: path, Args: args, Dir: dir, Env: env, SysProcAttr: attr}, nil
}

// expandVersion substitutes ${VERSION} and nothing else: no shell, no other
// variables, so that an argument means what it says.
func expandVersion(s, version string) string {
	return strings.ReplaceAll(s, "${VERSION}", version)
}

// serviceEnv is spec.Env plus PORT, DATA_DIR and VERSION (which win over
// Env's) and a default PATH if Env has none. Nothing comes from rampart's
// own environment.
func serviceEnv(spec Spec) []string {
	env := make([]string, 0, len(spec.Env)+4)
	hasPath := false
	for _, kv := range spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PORT", "DATA_DIR", "VERSION":
			continue
		case "PATH":
			hasPath = true
		}
		env = append(env, kv)
	}
	if !hasPath {
		env = append(env, "PATH="+defaultPath)
	}
	return append(env,
		"PORT="+strconv.Itoa(spec.Port),
		"DATA_DIR="+spec.DataDir,
		"VERSION="+spec.Version,
	)
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPath finds name as the service would: a path with a slash is taken
// as is (relative to dir), a bare name is looked up in the service's PATH,
// whose relative entries are skipped as a shell would be tricked by them.
func lookPath(name, dir, pathList string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p, checkExecutable(p)
	}
	for _, d := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q is not in the service's PATH (%s): install it, or give its absolute path", name, pathList)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("command %s does not exist: install it, or fix the service's command", p)
	case err != nil:
		return fmt.Errorf("command: %w", err)
	case fi.IsDir():
		return fmt.Errorf("command %s is a directory: point the service's command at the program inside", p)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("command %s is not executable: chmod +x it", p)
	}
	return nil
}

// credential looks up who a service runs as. Only root may switch users,
// and running the service as rampart's own user instead would be a
// silent privilege change, so that is an error.
func credential(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the service runs as user %q but rampart is not running as root, so it cannot switch users: run rampart as root, or clear the service's user", name)
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("user %q: %w: create it on this machine, or fix the service's user", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q has uid %q, which is not a number", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q has gid %q, which is not a number", name, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	// Without the supplementary groups the process would keep rampart's
	// (root's) groups.
	cred.Groups = []uint32{}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(g))
			}
		}
	}
	return cred, nil
}

// chownTree gives dir and everything in it to uid:gid, unless dir belongs
// to uid already: that makes it happen once, when the service first runs
// as that user, not at every start. Symlinks are changed, never followed.
func chownTree(dir string, uid, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// capture reads r line by line into the Logs callback (and tail, if not
// nil). A line longer than MaxLogLine is cut and the rest of it dropped;
// text without a final newline is sent when r ends.
func (u *execUnit) capture(r io.Reader, service, stream string, tail *lineTail) {
	br := bufio.NewReaderSize(r, MaxLogLine+1)
	skipping := false // in the rest of a line already cut
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !skipping {
				u.emit(service, stream, cutLine(line[:MaxLogLine]), tail)
				skipping = true
			}
			continue
		}
		if len(line) > 0 && !skipping {
			u.emit(service, stream, line, tail)
		}
		skipping = false
		if err != nil {
			return
		}
	}
}

func (u *execUnit) emit(service, stream string, b []byte, tail *lineTail) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	text := string(b)
	if tail != nil {
		tail.add(text)
	}
	if u.e.logs == nil {
		return
	}
	u.e.logs(LogLine{Time: u.e.now(), ServiceID: u.id, Service: service, Stream: stream, Text: text})
}

// cutLine drops a rune split by the cut at the end of b.
func cutLine(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

// lineTail keeps the last max lines. It is written by one capture
// goroutine and read after that goroutine has ended.
type lineTail struct {
	max int
	buf []string
}

func (t *lineTail) add(s string) {
	if len(t.buf) == t.max {
		copy(t.buf, t.buf[1:])
		t.buf = t.buf[:t.max-1]
	}
	t.buf = append(t.buf, s)
}

func (t *lineTail) lines() []string { return t.buf }
