package storetest

import (
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

func newSSHKey(node, title, fp string) *rampart.SSHKey {
	return &rampart.SSHKey{
		Node: node, Title: title, Type: "ssh-ed25519", Bits: 256, Fingerprint: fp,
		PublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + fp + " " + title,
		Comment:   title, AddedBy: "ada@example.com", AddedByID: 7,
	}
}

func testSSHKeysRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	rev0, err := s.Revision(ctx, store.KindSSHKeys)
	if err != nil {
		t.Fatal(err)
	}
	k := newSSHKey(rampart.LocalNode, "laptop", "SHA256:aaaa")
	if err := s.CreateSSHKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if k.ID == 0 {
		t.Fatal("CreateSSHKey did not set the ID")
	}
	recent(t, "CreatedAt", k.CreatedAt)
	got, err := s.SSHKeyByID(ctx, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, k.CreatedAt)
	got.CreatedAt = k.CreatedAt
	if *got != *k {
		t.Errorf("SSHKeyByID = %+v, want %+v", got, k)
	}
	got, err = s.SSHKeyByFingerprint(ctx, rampart.LocalNode, "SHA256:aaaa")
	if err != nil || got.ID != k.ID {
		t.Errorf("SSHKeyByFingerprint = %+v, %v", got, err)
	}
	if rev1, _ := s.Revision(ctx, store.KindSSHKeys); rev1 <= rev0 {
		t.Errorf("adding a key left the ssh_keys revision at %d", rev1)
	}

	// Unique per node, not across nodes.
	err = s.CreateSSHKey(ctx, newSSHKey(rampart.LocalNode, "other title", "SHA256:aaaa"))
	wantCode(t, err, rampart.ECONFLICT)
	if err := s.CreateSSHKey(ctx, newSSHKey("node-2", "laptop", "SHA256:aaaa")); err != nil {
		t.Errorf("the same key on another node: %v", err)
	}
	k2 := newSSHKey(rampart.LocalNode, "desktop", "SHA256:bbbb")
	if err := s.CreateSSHKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListSSHKeys(ctx, rampart.LocalNode)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != k.ID || list[1].ID != k2.ID {
		t.Errorf("ListSSHKeys = %+v, want laptop then desktop", list)
	}
	if empty, err := s.ListSSHKeys(ctx, "nowhere"); err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("ListSSHKeys(nowhere) = %#v, %v; want an empty, non-nil list", empty, err)
	}

	rev2, _ := s.Revision(ctx, store.KindSSHKeys)
	if err := s.DeleteSSHKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if rev3, _ := s.Revision(ctx, store.KindSSHKeys); rev3 <= rev2 {
		t.Errorf("removing a key left the ssh_keys revision at %d", rev3)
	}
	wantCode(t, s.DeleteSSHKey(ctx, k.ID), rampart.ENOTFOUND)
	_, err = s.SSHKeyByID(ctx, k.ID)
	wantCode(t, err, rampart.ENOTFOUND)
	_, err = s.SSHKeyByFingerprint(ctx, rampart.LocalNode, "SHA256:aaaa")
	wantCode(t, err, rampart.ENOTFOUND)
	// IDs are never reused.
	k3 := newSSHKey(rampart.LocalNode, "laptop again", "SHA256:aaaa")
	if err := s.CreateSSHKey(ctx, k3); err != nil {
		t.Fatal(err)
	}
	if k3.ID <= k2.ID {
		t.Errorf("a new key got ID %d, not above %d", k3.ID, k2.ID)
	}
}

func testSSHKeysStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	st, err := s.SSHKeysStatus(ctx, rampart.LocalNode)
	if err != nil || st != (rampart.SSHKeysStatus{}) {
		t.Fatalf("SSHKeysStatus before any report = %+v, %v; want the zero value", st, err)
	}
	rev0, _ := s.Revision(ctx, store.KindSSHKeys)
	at := time.Now().UTC().Truncate(time.Microsecond)
	want := rampart.SSHKeysStatus{AppliedRevision: 3, Path: "/root/.ssh/authorized_keys", WrittenAt: &at, CheckedAt: &at,
		Drift: "the managed block was edited by hand", DriftAt: &at}
	if err := s.SetSSHKeysStatus(ctx, rampart.LocalNode, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.SSHKeysStatus(ctx, rampart.LocalNode)
	if err != nil {
		t.Fatal(err)
	}
	sameTimePtr(t, "WrittenAt", got.WrittenAt, want.WrittenAt)
	sameTimePtr(t, "CheckedAt", got.CheckedAt, want.CheckedAt)
	sameTimePtr(t, "DriftAt", got.DriftAt, want.DriftAt)
	if got.AppliedRevision != 3 || got.Path != want.Path || got.Drift != want.Drift || got.Error != "" {
		t.Errorf("SSHKeysStatus = %+v, want %+v", got, want)
	}
	// Replaced whole, including fields that go back to empty.
	if err := s.SetSSHKeysStatus(ctx, rampart.LocalNode, rampart.SSHKeysStatus{Error: "user nobody does not exist"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.SSHKeysStatus(ctx, rampart.LocalNode)
	if got.Error != "user nobody does not exist" || got.WrittenAt != nil || got.AppliedRevision != 0 {
		t.Errorf("after the second report: %+v", got)
	}
	if rev1, _ := s.Revision(ctx, store.KindSSHKeys); rev1 != rev0 {
		t.Errorf("a status report moved the ssh_keys revision from %d to %d", rev0, rev1)
	}
}
