package sshkeys

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
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

// TestSSHDLogin proves the written file against the real consumer: Debian's
// OpenSSH sshd, started on a loopback port with its own configuration and
// host key, and a throwaway system user whose home is a scratch directory.
// A key written by Write logs in; once removed it is refused; a key the
// owner wrote by hand outside the managed block logs in throughout; a
// private key or a DSA key pasted in is refused and ends up nowhere.
func TestSSHDLogin(t *testing.T) {
	needRoot(t)
	sshd, sshBin := need(t, "sshd"), need(t, "ssh")
	name, home := scratchUser(t)
	acct, err := LookupAccount(name)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Home != home {
		t.Fatalf("LookupAccount(%q).Home = %q, want %q from useradd", name, acct.Home, home)
	}
	srv := startSSHD(t, sshd, name)
	clientDir := t.TempDir()
	login := func(key string) error { return sshLogin(t, sshBin, clientDir, key, name, srv.port) }
	// refused checks that sshd turned the key down, as opposed to the login
	// failing for a reason that would make the test pass vacuously.
	refused := func(key, why string) {
		t.Helper()
		err := login(key)
		if err == nil {
			t.Fatalf("%s: logged in", why)
		}
		if !strings.Contains(err.Error(), "Permission denied (publickey)") {
			t.Fatalf("%s: the login failed, but not because sshd refused the key: %v\nsshd:\n%s", why, err, srv.log)
		}
	}

	// The owner's own key, written by hand before rampart manages anything,
	// with a comment line and no final newline.
	handPriv, handPub := clientKey(t, clientDir, "hand")
	handWritten := "# my own key, not rampart's\n" + handPub
	writeFile(t, acct, handWritten)
	managedPriv, managedPub := clientKey(t, clientDir, "managed")

	if err := login(handPriv); err != nil {
		t.Fatalf("the hand-written key does not log in before rampart writes anything: %v\nsshd:\n%s", err, srv.log)
	}
	refused(managedPriv, "the managed key before it was added")

	k, err := ParseOne(managedPub)
	if err != nil {
		t.Fatal(err)
	}
	k.Title = "test key"
	if _, err := Write(acct, []Key{k}); err != nil {
		t.Fatal(err)
	}
	if err := login(managedPriv); err != nil {
		t.Fatalf("the added key does not log in: %v\nauthorized_keys:\n%s\nsshd:\n%s", err, readFile(t, acct.Path()), srv.log)
	}
	if err := login(handPriv); err != nil {
		t.Fatalf("the hand-written key stopped working once rampart's block was added: %v", err)
	}

	if _, err := Write(acct, nil); err != nil {
		t.Fatal(err)
	}
	refused(managedPriv, "the removed key")
	if err := login(handPriv); err != nil {
		t.Fatalf("the hand-written key stopped working once rampart's key was removed: %v", err)
	}
	if got := readFile(t, acct.Path()); got != handWritten {
		t.Errorf("after removing rampart's only key authorized_keys is %q, want the hand-written part %q", got, handWritten)
	}

	// Pasted by mistake: a private key (alone, and after a public key) and
	// a DSA key. Each is refused; the add flow (Parse, then Write on
	// success) writes nothing; none of it is on disk or in sshd's log.
	_, pastedPriv := newEd25519(t)
	block, err := ssh.MarshalPrivateKey(pastedPriv, "pasted")
	if err != nil {
		t.Fatal(err)
	}
	privText := string(pem.EncodeToMemory(block))
	dsa := dsaLine(t)
	for _, paste := range []string{privText, managedPub + "\n" + privText, dsa} {
		keys, err := Parse(paste)
		if err == nil {
			if _, err := Write(acct, keys); err != nil {
				t.Fatal(err)
			}
			t.Fatalf("a paste of a private or DSA key was accepted: %d keys", len(keys))
		}
		assertQuotesNothing(t, paste, err)
	}
	refused(managedPriv, "the public key pasted along with a private key")
	// Look for every line of the private key's body that is its own: the
	// first body line is the same in every unencrypted Ed25519 key (format
	// name, cipher "none", key type), so the other keys on disk hold it.
	secrets := []string{strings.Fields(dsa)[1]}
	_, otherPriv := newEd25519(t)
	otherBlock, err := ssh.MarshalPrivateKey(otherPriv, "other")
	if err != nil {
		t.Fatal(err)
	}
	common := string(pem.EncodeToMemory(otherBlock))
	for _, l := range strings.Split(privText, "\n") {
		if len(l) >= 16 && !strings.HasPrefix(l, "-----") && !strings.Contains(common, l) {
			secrets = append(secrets, l)
		}
	}
	if len(secrets) < 3 {
		t.Fatalf("only %d distinctive lines to look for", len(secrets))
	}
	for _, dir := range []string{home, srv.dir, clientDir} {
		grepTree(t, dir, secrets)
	}
	for _, s := range secrets {
		if strings.Contains(srv.log.String(), s) {
			t.Errorf("sshd's log holds a line of the pasted key")
		}
	}
}

// scratchUser creates a throwaway system user that can log in with a key
// and nothing else: a shell (sshd runs the command through it), the
// password field "*" (no password matches it, but unlike useradd's
// default "!" it does not mark the account locked, which sshd refuses
// even for key logins when PAM is off), and a home directory under
// t.TempDir(). The user and its group are deleted when the test ends.
func scratchUser(t *testing.T) (name, home string) {
	t.Helper()
	useradd, userdel := need(t, "useradd"), need(t, "userdel")
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
	name = "rampart-sk-" + hex.EncodeToString(rnd[:])
	home = filepath.Join(base, "home")
	var out []byte
	var err error
	// useradd fails when another process holds /etc/passwd's lock (other
	// tests on this machine may be adding users too): try again briefly.
	for try := 0; try < 20; try++ {
		out, err = exec.Command(useradd, "--system", "--no-create-home", "--shell", "/bin/sh", "--home-dir", home, "--password", "*", name).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("lock")) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		for try := 0; try < 20; try++ {
			out, err := exec.Command(userdel, name).CombinedOutput()
			if err == nil {
				return
			}
			if !bytes.Contains(out, []byte("lock")) || try == 19 {
				t.Errorf("userdel %s: %v\n%s", name, err, out)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	acct, err := LookupAccount(name)
	if err != nil {
		t.Fatal(err)
	}
	// sshd's StrictModes (left on, as in production) wants the home owned
	// by the user and writable by no one else.
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, acct.UID, acct.GID); err != nil {
		t.Fatal(err)
	}
	return name, home
}

// lockedBuffer collects sshd's log, written by exec's copying goroutine
// while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type sshdServer struct {
	port int
	dir  string // configuration, host key, pid file
	log  *lockedBuffer
}

// startSSHD runs sshd in the foreground (-D) with its log on stderr (-e)
// and a configuration of its own that admits only user, by key only. The
// port is a free loopback one; should another process take it between
// the check and sshd's bind, sshd exits and another port is tried.
func startSSHD(t *testing.T, sshd, user string) *sshdServer {
	t.Helper()
	// sshd's privilege separation needs this directory; Debian creates it
	// at boot (tmpfiles.d), a container may not have it.
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
		if err := os.WriteFile(config, []byte(fmt.Sprintf(`# sshd for sshkeys' tests: loopback, one user, keys only.
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
		log := &lockedBuffer{}
		cmd := exec.Command(sshd, "-D", "-e", "-f", config)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting sshd: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			// SIGTERM lets sshd reap its per-connection children itself;
			// SIGKILL would leave them for init.
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		if waitBanner(port, exited) {
			return &sshdServer{port: port, dir: dir, log: log}
		}
		t.Logf("sshd did not come up on port %d (trying another):\n%s", port, log)
	}
	t.Fatal("sshd did not start; its log is above")
	return nil
}

// waitBanner waits up to 5 s for sshd's version banner on the port, and
// gives up early if sshd exits.
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

// clientKey writes a new Ed25519 private key for ssh -i into dir and
// returns its path and its public authorized_keys line.
func clientKey(t *testing.T, dir, name string) (path, pubLine string) {
	t.Helper()
	pub, priv := newEd25519(t)
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, authLine(t, pub, name+"@client")
}

// sshLogin runs `ssh … user@127.0.0.1 true` with only the given key: no
// configuration file, agent or known_hosts of the user running the tests.
func sshLogin(t *testing.T, sshBin, home, key, user string, port int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, "-F", "/dev/null", "-i", key, "-p", fmt.Sprint(port),
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "PasswordAuthentication=no", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
		user+"@127.0.0.1", "true")
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// grepTree fails the test if any file under dir holds one of secrets.
func grepTree(t *testing.T, dir string, secrets []string) {
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
