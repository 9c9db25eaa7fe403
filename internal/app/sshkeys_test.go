package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// newPubKey returns a fresh Ed25519 public key line and its private key in
// OpenSSH PEM form.
func newPubKey(t *testing.T, comment string) (pub, priv string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(sk, comment)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment, string(pem.EncodeToMemory(block))
}

func TestSSHKeysPermissions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pub, _ := newPubKey(t, "mia@laptop")
	member := UserActor(f.member, "192.0.2.9")
	before := f.auditCount(t)
	_, err := f.app.SSHKeys.Add(ctx, member, rampart.SSHKeyInput{Title: "mine", PublicKey: pub})
	if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(rampart.ErrorMessage(err), "only an admin can manage SSH keys") {
		t.Errorf("member Add: %v, want EFORBIDDEN saying only an admin can", err)
	}
	if _, err := f.app.SSHKeys.List(ctx, member); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member List: %v, want EFORBIDDEN", err)
	}
	if _, err := f.app.SSHKeys.Remove(ctx, member, "1"); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member Remove: %v, want EFORBIDDEN", err)
	}
	if _, err := f.app.SSHKeys.List(ctx, Actor{}); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("anonymous List: %v, want EUNAUTHORIZED", err)
	}
	if f.auditCount(t) != before {
		t.Error("a refused call wrote to the audit log")
	}
	// The admin and the operator may.
	k, err := f.app.SSHKeys.Add(ctx, UserActor(f.admin, "192.0.2.1"), rampart.SSHKeyInput{Title: "  admin laptop ", PublicKey: pub + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Title != "admin laptop" || k.Type != "ssh-ed25519" || k.Bits != 256 || !strings.HasPrefix(k.Fingerprint, "SHA256:") ||
		k.PublicKey != pub || k.Comment != "mia@laptop" || k.AddedBy != f.admin.Email || k.Node != rampart.LocalNode {
		t.Errorf("added %+v", k)
	}
	list, err := f.app.SSHKeys.List(ctx, OperatorActor())
	if err != nil || len(list.Keys) != 1 || list.Keys[0].ID != k.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list.Status.Enforced || list.Status.User != "root" || !strings.Contains(list.Status.Message, "ssh.manage_authorized_keys: true") {
		t.Errorf("status without management: %+v", list.Status)
	}
	evs, _ := f.app.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{})
	if evs[0].Action != "ssh_key.add" || !strings.Contains(evs[0].Detail, k.Fingerprint) || !strings.Contains(evs[0].Detail, "admin laptop") ||
		strings.Contains(evs[0].Detail, strings.Fields(pub)[1]) {
		t.Errorf("audit event %+v: want the title and fingerprint, not the key", evs[0])
	}
}

func TestSSHKeysDuplicateAndRemove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := UserActor(f.admin, "192.0.2.1")
	pub, _ := newPubKey(t, "ada@laptop")
	k, err := f.app.SSHKeys.Add(ctx, admin, rampart.SSHKeyInput{Title: "laptop", PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	// The same key under another title, with another comment.
	again := strings.Join(strings.Fields(pub)[:2], " ") + " renamed"
	_, err = f.app.SSHKeys.Add(ctx, admin, rampart.SSHKeyInput{Title: "desk", PublicKey: again})
	if rampart.ErrorCode(err) != rampart.ECONFLICT || !strings.Contains(rampart.ErrorMessage(err), `"laptop"`) {
		t.Errorf("duplicate: %v, want ECONFLICT naming the title laptop", err)
	}
	for _, tc := range []struct{ title, key, want string }{
		{"", pub, "title"},
		{"x", "", ""},
		{"x", "not a key", ""},
		{"x", dsaLine, "DSA"},
	} {
		_, err := f.app.SSHKeys.Add(ctx, admin, rampart.SSHKeyInput{Title: tc.title, PublicKey: tc.key})
		if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(rampart.ErrorMessage(err), tc.want) {
			t.Errorf("Add(%q, %.20q) = %v, want EINVALID mentioning %q", tc.title, tc.key, err, tc.want)
		}
	}

	pub2, _ := newPubKey(t, "ada@desk")
	k2, err := f.app.SSHKeys.Add(ctx, admin, rampart.SSHKeyInput{Title: "desk", PublicKey: pub2})
	if err != nil {
		t.Fatal(err)
	}
	// By ID.
	got, err := f.app.SSHKeys.Remove(ctx, admin, strconv.FormatInt(k.ID, 10))
	if err != nil || got.Fingerprint != k.Fingerprint {
		t.Fatalf("Remove by ID = %+v, %v", got, err)
	}
	if _, err := f.app.SSHKeys.Remove(ctx, admin, strconv.FormatInt(k.ID, 10)); rampart.ErrorCode(err) != rampart.ENOTFOUND ||
		!strings.Contains(rampart.ErrorMessage(err), "rampart sshkey list") {
		t.Errorf("Remove of a removed key: %v", err)
	}
	// By fingerprint, with and without the prefix.
	if _, err := f.app.SSHKeys.Remove(ctx, admin, "SHA256:nope"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("Remove(unknown fingerprint): %v", err)
	}
	if _, err := f.app.SSHKeys.Remove(ctx, admin, strings.TrimPrefix(k2.Fingerprint, "SHA256:")); err != nil {
		t.Fatalf("Remove by fingerprint: %v", err)
	}
	list, _ := f.app.SSHKeys.List(ctx, admin)
	if len(list.Keys) != 0 {
		t.Errorf("after removing both: %+v", list.Keys)
	}
	evs, _ := f.app.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{})
	if evs[0].Action != "ssh_key.remove" || !strings.Contains(evs[0].Detail, k2.Fingerprint) || evs[1].Action != "ssh_key.remove" {
		t.Errorf("audit: %+v, %+v", evs[0], evs[1])
	}
	// The key removed can be added again, under any title.
	if _, err := f.app.SSHKeys.Add(ctx, admin, rampart.SSHKeyInput{Title: "laptop again", PublicKey: pub}); err != nil {
		t.Errorf("re-adding a removed key: %v", err)
	}
}

// dsaLine is a DSA public key (1024 bits), which OpenSSH no longer
// accepts and rampart refuses.
const dsaLine = "ssh-dss AAAAB3NzaC1kc3MAAACBAP1/U4EddRIpUt9KnC7s5Of2EbdSPO9EAMMeP4C2USZpRV1AIlH7WT2NWPq/xfW6MPbLm1Vs14E7gB00b/JmYLdrmVClpJ+f6AR7ECLCT7up1/63xhv4O1fnxqimFQ8E+4P208UewwI1VBNaFpEy9nXzrith1yrv8iIDGZ3RSAHHAAAAFQCXYFCPFSMLzLKSuYKi64QL8Fgc9QAAAIEA9+GghdabPd7LvKtcNrhXuXmUr7v6OuqC+VdMCz0HgmdRWVeOutRZT+ZxBxCBgLRJFnEj6EwoFhO3zwkyjMim4TwWeotUfI0o4KOuHiuzpnWRbqN/C/ohNWLx+2J6ASQ7zKTxvqhRkImog9/hWuWfBpKLZl6Ae1UlZAFMO/7PSSoAAACBAJKUOtmMAHMLOhqmxXOk33a/ryekCoNvaX3NN5w1jTpg3O4+Pa0qbqvXQRfZzmyHF7DgJHcpcYtYqfQNZxBXZ9GvqnGPXWPYhpwNSBkaMGXAlkrAaYkdA/OgiVcZY+IuPuhnnE0H4zSsYyqR6LfIDsn2o/kPqkV8NkI9iz+g1h5a dsa@test"

// A private key pasted by mistake is refused and kept nowhere: not in the
// database file (nor its WAL), not in the audit log, not in a log line,
// not in the error.
func TestSSHKeysPrivateKeyIsKeptNowhere(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	nets, _ := egress.ParseNetworks([]string{"0.0.0.0/0"})
	a := New(db, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Upstreams: egress.New(nets)})
	ctx := context.Background()
	pub, priv := newPubKey(t, "oops")
	var secrets []string
	for _, l := range strings.Split(priv, "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, l)
		}
	}
	// The first body line is the same in every unencrypted Ed25519 key;
	// the others are this key's own.
	secrets = secrets[1:]
	if len(secrets) < 2 {
		t.Fatalf("only %d lines to look for", len(secrets))
	}
	for _, paste := range []string{priv, pub + "\n" + priv, "ssh-ed25519 " + strings.Join(secrets, "")} {
		_, err := a.SSHKeys.Add(ctx, OperatorActor(), rampart.SSHKeyInput{Title: "oops", PublicKey: paste})
		if err == nil {
			t.Fatal("a paste with a private key was accepted")
		}
		if rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("code %s, want invalid: %v", rampart.ErrorCode(err), err)
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("the error quotes the private key: %v", err)
			}
		}
	}
	_, err = a.SSHKeys.Add(ctx, OperatorActor(), rampart.SSHKeyInput{Title: "oops", PublicKey: priv})
	if !strings.Contains(rampart.ErrorMessage(err), "private key") {
		t.Errorf("the refusal does not say it is a private key: %v", err)
	}
	evs, err := a.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "ssh_key") {
			t.Errorf("a refused paste was audited: %+v", e)
		}
	}
	if n, _ := db.Revision(ctx, store.KindSSHKeys); n != 0 {
		t.Errorf("the ssh_keys revision moved to %d", n)
	}
	db.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a line of the private key", f)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds a line of the private key")
		}
	}
}

// The managed state says plainly where things stand: being written, in
// place, or failing with the reconciler's reason.
func TestSSHKeysStatusMessages(t *testing.T) {
	f := newFixtureWith(t, Options{SSHKeys: SSHKeyOptions{Manage: true, User: "deploy"}})
	ctx := context.Background()
	pub, _ := newPubKey(t, "ada@laptop")
	if _, err := f.app.SSHKeys.Add(ctx, OperatorActor(), rampart.SSHKeyInput{Title: "laptop", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	st, err := f.app.SSHKeys.Status(ctx, OperatorActor())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Enforced || st.User != "deploy" || st.Revision == 0 || st.AppliedRevision != 0 || !strings.Contains(st.Message, "being written to deploy's authorized_keys") {
		t.Errorf("before the reconciler: %+v", st)
	}
	at := f.clock.now()
	path := "/home/deploy/.ssh/authorized_keys"
	if err := f.st.SetSSHKeysStatus(ctx, rampart.LocalNode, rampart.SSHKeysStatus{AppliedRevision: st.Revision, Path: path, WrittenAt: &at, CheckedAt: &at}); err != nil {
		t.Fatal(err)
	}
	st, _ = f.app.SSHKeys.Status(ctx, OperatorActor())
	if st.Message != "Enforced: "+path+" holds these 1 key(s) in rampart's block; lines outside it are left alone." {
		t.Errorf("written: %q", st.Message)
	}
	if err := f.st.SetSSHKeysStatus(ctx, rampart.LocalNode, rampart.SSHKeysStatus{Error: `ssh keys: no user "deploy" on this machine`}); err != nil {
		t.Fatal(err)
	}
	st, _ = f.app.SSHKeys.Status(ctx, OperatorActor())
	if !strings.Contains(st.Message, "not up to date") || !strings.Contains(st.Message, `no user "deploy"`) {
		t.Errorf("failing: %q", st.Message)
	}
	if _, err := f.app.SSHKeys.Status(ctx, UserActor(f.member, "")); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member Status: %v", err)
	}
}
