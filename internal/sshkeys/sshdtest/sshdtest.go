// Package sshdtest is test support shared by the tests that need real
// accounts and a real sshd: the authorized_keys reconciler's (internal/agent)
// and the end-to-end test through the binary (e2e). It makes a throwaway
// system user with a home under t.TempDir(), starts Debian's OpenSSH sshd on
// a free loopback port with its own configuration and host key, and logs in
// with ssh -i, never touching a real user's ~/.ssh or the system's sshd.
//
// It follows internal/sshkeys' own real-sshd test (sshd_test.go), which
// keeps its private copy. With CI=true a missing tool or a run without root
// fails the test instead of skipping it.
package sshdtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-dev/rampart/internal/testport"
)

// Need returns the path of prog, or ends the test: a failure with CI=true,
// a skip otherwise.
func Need(t testing.TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (scripts/test-deps.sh installs what the tests need): %v", prog, err)
		}
		t.Skipf("%s not installed (scripts/test-deps.sh installs it): %v", prog, err)
	}
	return p
}

// NeedRoot ends the test unless it runs as root (useradd, chown and sshd's
// privilege separation need it); CI runs the tests as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root (to add a throwaway user and chown files to it); CI runs the tests as root")
		}
		t.Skip("needs root (to add a throwaway user and chown files to it)")
	}
}

// ScratchUser creates a throwaway system user that can log in with a key
// and nothing else: shell /bin/sh, password field "*" (no password matches,
// but unlike "!" it does not lock the account, which sshd refuses even for
// keys when PAM is off), and a home directory under t.TempDir(), owned by
// the user and not yet holding .ssh. The user is deleted when the test ends.
func ScratchUser(t testing.TB) (name, home string) {
	t.Helper()
	NeedRoot(t)
	useradd, userdel := Need(t, "useradd"), Need(t, "userdel")
	base := t.TempDir()
	// sshd reads authorized_keys as the user, who must be able to reach
	// it: t.TempDir()'s directories are root's, mode 0700.
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name = "rampart-t-" + hex.EncodeToString(rnd[:])
	home = filepath.Join(base, "home")
	if out, err := retryLocked(useradd, "--system", "--no-create-home", "--shell", "/bin/sh", "--home-dir", home, "--password", "*", name); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := retryLocked(userdel, name); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid := ids(t, name)
	// sshd's StrictModes wants the home owned by the user and writable by
	// no one else.
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	return name, home
}

// retryLocked runs a user database command again while another process
// (a parallel test) holds /etc/passwd's lock.
func retryLocked(prog string, args ...string) ([]byte, error) {
	var out []byte
	var err error
	for try := 0; try < 40; try++ {
		out, err = exec.Command(prog, args...).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("lock")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out, err
}

func ids(t testing.TB, name string) (uid, gid int) {
	t.Helper()
	out, err := exec.Command("id", "-u", name).Output()
	if err != nil {
		t.Fatalf("id -u %s: %v", name, err)
	}
	fmt.Sscan(string(out), &uid)
	out, err = exec.Command("id", "-g", name).Output()
	if err != nil {
		t.Fatalf("id -g %s: %v", name, err)
	}
	fmt.Sscan(string(out), &gid)
	return uid, gid
}

// LockedBuffer collects a process's output while the test reads it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// SSHD is a running sshd.
type SSHD struct {
	Port int
	Dir  string // configuration, host key, pid file
	Log  *LockedBuffer
}

// StartSSHD runs sshd in the foreground (-D, log on stderr with -e) with
// a configuration of its own that admits only user, by key only, on a free
// loopback port. It is stopped when the test ends.
func StartSSHD(t testing.TB, user string) *SSHD {
	t.Helper()
	NeedRoot(t)
	sshd := Need(t, "sshd")
	// Privilege separation needs this directory; Debian creates it at
	// boot, a container may not have it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostPEM, err := ssh.MarshalPrivateKey(hostPriv, "test host key")
	if err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	if err := os.WriteFile(hostKey, pem.EncodeToMemory(hostPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 3; try++ {
		port := testport.Number(t)
		config := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(config, []byte(fmt.Sprintf(`# sshd for rampart's tests: loopback, one user, keys only.
Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers %s
LogLevel VERBOSE
`, port, hostKey, filepath.Join(dir, "sshd.pid"), user)), 0o600); err != nil {
			t.Fatal(err)
		}
		log := &LockedBuffer{}
		cmd := exec.Command(sshd, "-D", "-e", "-f", config)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting sshd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		if waitBanner(port, exited) {
			return &SSHD{Port: port, Dir: dir, Log: log}
		}
		t.Logf("sshd did not come up on port %d (trying another):\n%s", port, log)
	}
	t.Fatal("sshd did not start; its log is above")
	return nil
}

func waitBanner(port int, exited <-chan error) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-2.0-") {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// ClientKey writes a new Ed25519 private key into dir for ssh -i and
// returns its path, its public authorized_keys line (comment
// name@client) and the private key's PEM text.
func ClientKey(t testing.TB, dir, name string) (path, pubLine, privPEM string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	privPEM = string(pem.EncodeToMemory(block))
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(privPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + name + "@client", privPEM
}

// Login runs `ssh … user@127.0.0.1 true` with only the given key: no
// configuration file, agent or known_hosts of whoever runs the tests.
// clientHome is the HOME ssh sees.
func Login(t testing.TB, clientHome, key, user string, port int) error {
	t.Helper()
	sshBin := Need(t, "ssh")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, "-F", "/dev/null", "-i", key, "-p", fmt.Sprint(port),
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "PasswordAuthentication=no", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
		user+"@127.0.0.1", "true")
	cmd.Env = []string{"HOME=" + clientHome, "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Refused reports whether err from Login is sshd turning the key down, as
// opposed to the login failing for another reason (which would make a
// test of refusal pass vacuously).
func Refused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Permission denied (publickey)")
}

// SecretLines returns the lines of a private key's PEM text that are its
// own: the first body line of every unencrypted OpenSSH key of one type is
// the same (format, cipher "none", key type), so other keys on disk hold
// it and it proves nothing.
func SecretLines(privPEM string) []string {
	var out []string
	first := true
	for _, l := range strings.Split(privPEM, "\n") {
		if len(l) < 16 || strings.HasPrefix(l, "-----") {
			continue
		}
		if first {
			first = false
			continue
		}
		out = append(out, l)
	}
	return out
}

// GrepTree fails the test if any regular file under dir holds one of
// secrets.
func GrepTree(t testing.TB, dir string, secrets []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a line of a refused paste", path)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// DSALine returns a random DSA (1024-bit) public key line, a key type
// OpenSSH no longer accepts and rampart refuses; ssh-keygen of current
// OpenSSH cannot make one any more.
func DSALine(t testing.TB) string {
	t.Helper()
	n := func(bits int) *big.Int {
		v, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
		if err != nil {
			t.Fatal(err)
		}
		return v.SetBit(v, bits-1, 1)
	}
	blob := ssh.Marshal(struct {
		Name       string
		P, Q, G, Y *big.Int
	}{"ssh-dss", n(1024), n(160), n(1023), n(1023)})
	return "ssh-dss " + base64.StdEncoding.EncodeToString(blob) + " old@dsa"
}
