package agent

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/sshkeys"
	"github.com/rampart-dev/rampart/internal/sshkeys/sshdtest"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// TestAuthorizedKeys drives the reconciler against a throwaway user's
// authorized_keys: the keys are written into the managed block with the
// owner's own line kept, a hand edit of the block is repaired with a log
// line and an audit entry, and an unknown user is an error in the status.
func TestAuthorizedKeys(t *testing.T) {
	name, home := sshdtest.ScratchUser(t)
	acct, err := sshkeys.LookupAccount(name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	dir := t.TempDir()
	_, handPub, _ := sshdtest.ClientKey(t, dir, "hand")
	_, pub, _ := sshdtest.ClientKey(t, dir, "managed")

	// The owner's own line, before rampart manages anything.
	sshDir := filepath.Join(home, ".ssh")
	if err := os.Mkdir(sshDir, 0o700); err != nil {
		t.Fatal(err)
	}
	hand := "# mine\n" + handPub + "\n"
	path := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(path, []byte(hand), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sshDir, path} {
		if err := os.Chown(p, acct.UID, acct.GID); err != nil {
			t.Fatal(err)
		}
	}

	add := func(title, line string) {
		t.Helper()
		k, err := sshkeys.ParseOne(line)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSSHKey(ctx, &rampart.SSHKey{Node: rampart.LocalNode, Title: title, Type: k.Type, Bits: k.Bits,
			Fingerprint: k.Fingerprint, PublicKey: k.Line, Comment: k.Comment, AddedBy: "operator"}); err != nil {
			t.Fatal(err)
		}
	}
	trigger := func(changed bool) Trigger {
		rev, err := db.Revision(ctx, store.KindSSHKeys)
		if err != nil {
			t.Fatal(err)
		}
		return Trigger{Changed: changed, Revisions: map[store.Kind]int64{store.KindSSHKeys: rev}}
	}
	read := func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	add("laptop", pub)

	// Off: nothing on the machine changes.
	off := &AuthorizedKeys{Store: db, User: name}
	if err := off.Sync(ctx, trigger(true)); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != hand {
		t.Fatalf("with management off authorized_keys changed to %q", got)
	}

	var logs bytes.Buffer
	r := &AuthorizedKeys{Store: db, Manage: true, User: name, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := r.Sync(ctx, trigger(true)); err != nil {
		t.Fatal(err)
	}
	got := read()
	if !strings.Contains(got, hand) || !strings.Contains(got, pub) || !strings.Contains(got, "# BEGIN rampart managed keys") {
		t.Fatalf("authorized_keys after the first pass:\n%s", got)
	}
	st, _ := db.SSHKeysStatus(ctx, rampart.LocalNode)
	if rev := trigger(false).Revisions[store.KindSSHKeys]; st.AppliedRevision != rev || st.WrittenAt == nil || st.Error != "" || st.Path != path {
		t.Errorf("status after the first pass: %+v (revision %d)", st, rev)
	}

	// A quiet pass changes nothing and reports the check.
	if err := r.Sync(ctx, trigger(false)); err != nil {
		t.Fatal(err)
	}
	if read() != got {
		t.Error("a pass with nothing to do rewrote the file")
	}

	// Someone adds a key inside the block by hand: repaired on the next
	// (timer) pass, said in the log and the audit log.
	_, intruder, _ := sshdtest.ClientKey(t, dir, "intruder")
	edited := strings.Replace(got, pub, pub+"\n"+intruder, 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, trigger(false)); err != nil {
		t.Fatal(err)
	}
	if after := read(); after != got {
		t.Errorf("the hand edit was not repaired:\n%s", after)
	}
	if !strings.Contains(logs.String(), "repairing its managed block") {
		t.Errorf("no log line for the drift: %s", logs.String())
	}
	evs, _ := db.ListAudit(ctx, rampart.AuditFilter{})
	if len(evs) == 0 || evs[0].Action != "ssh_key.drift_repaired" || !strings.Contains(evs[0].Detail, "edited by hand") {
		t.Errorf("audit: %+v", evs)
	}
	st, _ = db.SSHKeysStatus(ctx, rampart.LocalNode)
	if st.Drift == "" || st.DriftAt == nil {
		t.Errorf("status after the repair: %+v", st)
	}

	// A removed key leaves the file; the owner's lines stay.
	keys, _ := db.ListSSHKeys(ctx, rampart.LocalNode)
	if err := db.DeleteSSHKey(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(ctx, trigger(true)); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != hand {
		t.Errorf("after removing the only key: %q, want the owner's part %q", got, hand)
	}

	// An unknown user is an error in the status, not a crash.
	bad := &AuthorizedKeys{Store: db, Manage: true, User: "rampart-no-such-user"}
	if err := bad.Sync(ctx, trigger(true)); err == nil {
		t.Error("an unknown user synced")
	}
	st, _ = db.SSHKeysStatus(ctx, rampart.LocalNode)
	if !strings.Contains(st.Error, `no user "rampart-no-such-user"`) {
		t.Errorf("status with an unknown user: %+v", st)
	}
}
