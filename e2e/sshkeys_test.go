package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/sshkeys/sshdtest"
	"github.com/rampart-dev/rampart/internal/testport"
)

// TestSSHKeys is the SSH Keys feature end to end (issue 9, Done when 4):
// Debian's sshd on a loopback port with its own configuration and host
// key, a throwaway user, and `rampart serve` managing that user's
// authorized_keys. A key added with `rampart sshkey add` logs in with
// ssh -i; a hand edit inside the managed block is repaired by the drift
// check; removed with `rampart sshkey remove --yes`, the key is refused; the
// owner's hand-written line outside the managed block works throughout; a
// private key or a DSA key pasted in is refused and ends up nowhere: not
// in the data directory, the user's home, sshd's files or rampart's log.
func TestSSHKeys(t *testing.T) {
	user, home := sshdtest.ScratchUser(t)
	sshd := sshdtest.StartSSHD(t, user)
	clientDir := t.TempDir()
	handKey, handPub, _ := sshdtest.ClientKey(t, clientDir, "hand")
	managedKey, managedPub, _ := sshdtest.ClientKey(t, clientDir, "managed")
	login := func(key string) error { return sshdtest.Login(t, clientDir, key, user, sshd.Port) }
	// waitLogin waits for the reconciler: it writes within milliseconds of
	// the change, but the test should not depend on a number.
	waitLogin := func(what, key string, want bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := login(key)
			if want && err == nil || !want && sshdtest.Refused(err) {
				return
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(home, ".ssh", "authorized_keys"))
				t.Fatalf("%s: login error %v (want login %v)\nauthorized_keys:\n%s\nsshd:\n%s", what, err, want, b, sshd.Log)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	handWorks := func(when string) {
		t.Helper()
		if err := login(handKey); err != nil {
			t.Fatalf("the hand-written key does not log in %s: %v\nsshd:\n%s", when, err, sshd.Log)
		}
	}

	// The owner's own key, written by hand before rampart runs.
	sshDir := filepath.Join(home, ".ssh")
	authorized := filepath.Join(sshDir, "authorized_keys")
	hand := "# my own key, not rampart's\n" + handPub + "\n"
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(authorized, []byte(hand), 0o600); err != nil {
		t.Fatal(err)
	}
	uid, gid := owner(t, home)
	for _, p := range []string{sshDir, authorized} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	handWorks("before rampart starts")

	n := startNode(t, "--ssh-manage-authorized-keys", "--ssh-user", user)
	// The line comes right after /healthz answers.
	eventually(t, "serve saying at start that keys are managed, and for whom", func() bool {
		return strings.Contains(n.out.String(), "SSH keys are managed") && strings.Contains(n.out.String(), "user="+user)
	})
	token := n.adminSetup()
	if err := login(managedKey); !sshdtest.Refused(err) {
		t.Fatalf("the managed key before it was added: %v", err)
	}

	pubFile := filepath.Join(t.TempDir(), "managed.pub")
	if err := os.WriteFile(pubFile, []byte(managedPub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := n.must("", "sshkey", "add", "--title", "e2e laptop", "--key-file", pubFile)
	if !strings.Contains(out, "Added SSH key") {
		t.Errorf("add printed %q", out)
	}
	waitLogin("the added key", managedKey, true)
	handWorks("once rampart's block was added")
	if b, _ := os.ReadFile(authorized); !strings.Contains(string(b), hand) {
		t.Errorf("the hand-written lines were not kept byte for byte:\n%s", b)
	}

	// Someone adds their key inside rampart's block by hand: the drift
	// check (every 30 s) puts the block back, and says so in the log and
	// the audit log.
	written, err := os.ReadFile(authorized)
	if err != nil {
		t.Fatal(err)
	}
	intruderKey, intruderPub, _ := sshdtest.ClientKey(t, clientDir, "intruder")
	if err := os.WriteFile(authorized, []byte(strings.Replace(string(written), managedPub, managedPub+"\n"+intruderPub, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		if b, _ := os.ReadFile(authorized); string(b) == string(written) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(authorized)
			t.Fatalf("the hand edit of the managed block was not repaired within 45 s:\n%s", b)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := login(intruderKey); !sshdtest.Refused(err) {
		t.Errorf("the key added inside the block by hand still logs in after the repair: %v", err)
	}
	eventually(t, "the drift in the log", func() bool { return strings.Contains(n.out.String(), "repairing its managed block") })
	if out := n.must("", "audit"); !strings.Contains(out, "ssh_key.drift_repaired") {
		t.Errorf("the audit log does not record the repair:\n%s", out)
	}
	handWorks("after the repair")

	var list rampart.SSHKeyList
	if err := json.Unmarshal([]byte(n.must("", "sshkey", "list", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Keys) != 1 || !list.Status.Enforced || list.Status.User != user || list.Status.Path != authorized || list.Status.DriftAt == nil {
		t.Fatalf("list: %+v", list)
	}
	text := n.must("", "sshkey", "list")
	for _, want := range []string{list.Keys[0].Fingerprint, "e2e laptop", "admin@example.com", "Enforced"} {
		if !strings.Contains(text, want) {
			t.Errorf("sshkey list lacks %q:\n%s", want, text)
		}
	}

	// On a terminal, remove asks: "n" keeps the key, "y" removes it.
	_, secondPub, _ := sshdtest.ClientKey(t, clientDir, "second")
	if err := os.WriteFile(pubFile, []byte(secondPub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var second rampart.SSHKey
	if err := json.Unmarshal([]byte(n.must("", "sshkey", "add", "--title", "second", "--key-file", pubFile, "-o", "json")), &second); err != nil {
		t.Fatal(err)
	}
	ref := strconv.FormatInt(second.ID, 10)
	if r := n.rampartTTY(t, "n\n", "sshkey", "remove", ref); r.code != 1 || !strings.Contains(r.stdout, `"second"`) || !strings.Contains(r.stdout, "not removed") {
		t.Errorf("answering n: exit %d, %q", r.code, r.stdout)
	}
	if r := n.rampartTTY(t, "y\n", "sshkey", "remove", ref); r.code != 0 || !strings.Contains(r.stdout, "Removed SSH key "+ref) {
		t.Errorf("answering y: exit %d, %q", r.code, r.stdout)
	}

	// Without --yes and without a terminal, remove refuses to ask.
	if r := n.rampart("y\n", "sshkey", "remove", list.Keys[0].Fingerprint); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("remove without --yes: exit %d, %q", r.code, r.stderr)
	}
	n.must("", "sshkey", "remove", list.Keys[0].Fingerprint, "--yes")
	waitLogin("the removed key", managedKey, false)
	handWorks("once rampart's key was removed")
	if b, _ := os.ReadFile(authorized); string(b) != hand {
		t.Errorf("after removing rampart's only key authorized_keys is %q, want the hand-written %q", b, hand)
	}

	// Pasted by mistake: a private key, through the CLI (which refuses it
	// before sending) and straight to the API (which refuses it too), and
	// a DSA key.
	_, _, privPEM := sshdtest.ClientKey(t, t.TempDir(), "pasted")
	if r := n.rampart(privPEM, "sshkey", "add", "--title", "oops", "-"); r.code != 1 || !strings.Contains(r.stderr, "private key") {
		t.Errorf("CLI add of a private key: exit %d, %q", r.code, r.stderr)
	}
	body, _ := json.Marshal(rampart.SSHKeyInput{Title: "oops", PublicKey: managedPub + "\n" + privPEM})
	if code, resp := n.api(t, "POST", "/ssh-keys", token, string(body)); code != 400 || !strings.Contains(resp, "private key") {
		t.Errorf("API add of a private key: %d %s", code, resp)
	}
	dsa := sshdtest.DSALine(t)
	if r := n.rampart(dsa, "sshkey", "add", "--title", "old", "-"); r.code != 1 || !strings.Contains(r.stderr, "DSA") {
		t.Errorf("add of a DSA key: exit %d, %q", r.code, r.stderr)
	}
	waitLogin("the public key pasted along with a private key", managedKey, false)

	secrets := append(sshdtest.SecretLines(privPEM), strings.Fields(dsa)[1])
	if len(secrets) < 3 {
		t.Fatalf("only %d lines to look for", len(secrets))
	}
	for _, dir := range []string{n.data, home, sshd.Dir} {
		sshdtest.GrepTree(t, dir, secrets)
	}
	for _, s := range secrets {
		if strings.Contains(n.out.String(), s) {
			t.Error("rampart's log holds a line of a refused paste")
		}
		if strings.Contains(sshd.Log.String(), s) {
			t.Error("sshd's log holds a line of a refused paste")
		}
	}
	list = rampart.SSHKeyList{}
	if err := json.Unmarshal([]byte(n.must("", "sshkey", "list", "-o", "json")), &list); err != nil || len(list.Keys) != 0 {
		t.Errorf("keys after the refused pastes: %+v, %v", list.Keys, err)
	}
}

// owner returns the uid and gid of path.
func owner(t *testing.T, path string) (uid, gid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// TestDemoNeverManagesKeys: --demo leaves every authorized_keys alone even
// when the environment asks for management, and says so at start.
func TestDemoNeverManagesKeys(t *testing.T) {
	cmd := exec.Command(bin, "serve", "--demo", "--admin-addr", testport.Addr(t), "--http-addr", testport.Addr(t), "--https-addr", testport.Addr(t))
	cmd.Env = append(os.Environ(), "RAMPART_SSH_MANAGE_AUTHORIZED_KEYS=true", "RAMPART_SSH_USER=nobody")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	eventually(t, "serve saying that SSH keys are not enforced", func() bool {
		return strings.Contains(out.String(), "SSH keys are not enforced")
	})
	if strings.Contains(out.String(), "SSH keys are managed") {
		t.Errorf("the demo manages SSH keys:\n%s", out)
	}
}

// rampartTTY runs the CLI on a terminal (util-linux script(1) gives it a
// pseudo-terminal) with stdin typed into it; stdout has everything the
// terminal showed.
func (n *node) rampartTTY(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	script := sshdtest.Need(t, "script")
	quoted := []string{bin}
	for _, a := range args {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	cmd := exec.Command(script, "-q", "-e", "-c", strings.Join(quoted, " "), "/dev/null")
	cmd.Env = n.env()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	r := result{stdout: string(out)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running rampart %v on a terminal: %v", args, err)
	}
	return r
}
