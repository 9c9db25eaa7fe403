package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestSSHKeyCommands runs `rampart sshkey` against a real API on a fresh
// store.
func TestSSHKeyCommands(t *testing.T) {
	s := newAPIServer(t, app.Options{})
	admin, member := s.admin, s.member
	as := s.run

	pk, sk, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pk)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " ada@laptop"
	keyFile := filepath.Join(t.TempDir(), "id.pub")
	if err := os.WriteFile(keyFile, []byte(pub+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if code, _, errOut := as(member, "", "sshkey", "add", "--title", "mine", "--key-file", keyFile); code != 1 || !strings.Contains(errOut, "only an admin can manage SSH keys") {
		t.Errorf("member add: exit %d, %q", code, errOut)
	}
	if code, _, errOut := as(admin, "", "sshkey", "add", "--key-file", keyFile); code != 2 || !strings.Contains(errOut, "--title") {
		t.Errorf("add without a title: exit %d, %q", code, errOut)
	}
	code, out, errOut := as(admin, "", "sshkey", "add", "--title", "laptop", "--key-file", keyFile)
	if code != 0 || !strings.Contains(out, `"laptop": ssh-ed25519 256 SHA256:`) || !strings.Contains(out, "Not enforced") {
		t.Fatalf("add: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The same key again, from standard input: the API's message.
	if code, _, errOut := as(admin, pub, "sshkey", "add", "--title", "again", "-"); code != 1 || !strings.Contains(errOut, `already added as "laptop"`) {
		t.Errorf("duplicate: exit %d, %q", code, errOut)
	}
	// A private key on standard input: refused before it is sent.
	block, _ := ssh.MarshalPrivateKey(sk, "oops")
	priv := string(pem.EncodeToMemory(block))
	if code, _, errOut := as(admin, priv, "sshkey", "add", "--title", "oops", "-"); code != 1 || !strings.Contains(errOut, "private key") || !strings.Contains(errOut, "nothing was sent") {
		t.Errorf("private key: exit %d, %q", code, errOut)
	}
	// A second key from stdin, as JSON.
	pk2, _, _ := ed25519.GenerateKey(rand.Reader)
	sp2, _ := ssh.NewPublicKey(pk2)
	code, out, errOut = as(admin, string(ssh.MarshalAuthorizedKey(sp2)), "sshkey", "add", "--title", "desk", "-", "-o", "json")
	var k2 rampart.SSHKey
	if code != 0 || json.Unmarshal([]byte(out), &k2) != nil || k2.Title != "desk" {
		t.Fatalf("add -o json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	code, out, _ = as(admin, "", "sshkey", "list")
	for _, want := range []string{"ID", "FINGERPRINT", "ADDED BY", "laptop", "desk", "admin@example.com", "ssh-ed25519", "256", "Not enforced", "ssh.manage_authorized_keys"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("list: exit %d", code)
	}
	var list rampart.SSHKeyList
	if _, out, _ := as(admin, "", "sshkey", "list", "-o", "json"); json.Unmarshal([]byte(out), &list) != nil || len(list.Keys) != 2 {
		t.Fatalf("list -o json: %q", out)
	}

	// remove asks unless --yes, and refuses to ask without a terminal.
	if code, _, errOut := as(admin, "y\n", "sshkey", "remove", list.Keys[0].Fingerprint); code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("remove without a terminal: exit %d, %q", code, errOut)
	}
	if code, out, errOut := as(admin, "", "sshkey", "remove", list.Keys[0].Fingerprint, "--yes"); code != 0 || !strings.Contains(out, "Removed") {
		t.Errorf("remove by fingerprint: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := as(admin, "", "sshkey", "remove", strconv.FormatInt(k2.ID, 10), "--yes"); code != 0 {
		t.Errorf("remove by ID: exit %d, %q", code, errOut)
	}
	if code, _, errOut := as(admin, "", "sshkey", "remove", strconv.FormatInt(k2.ID, 10), "--yes"); code != 1 || !strings.Contains(errOut, "rampart sshkey list") {
		t.Errorf("remove again: exit %d, %q", code, errOut)
	}
}
