package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-dev/rampart"
)

func TestSSHKeys(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	newKey := func() string {
		pk, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sp, _ := ssh.NewPublicKey(pk)
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " test"
	}
	_, err := s.client(t, s.alice).AddSSHKey(ctx, rampart.SSHKeyInput{Title: "t", PublicKey: newKey()})
	wantAPIError(t, err, rampart.EFORBIDDEN, "only an admin can manage SSH keys")

	c := s.client(t, s.admin)
	k1, err := c.AddSSHKey(ctx, rampart.SSHKeyInput{Title: "one", PublicKey: newKey()})
	if err != nil {
		t.Fatal(err)
	}
	k2, err := c.AddSSHKey(ctx, rampart.SSHKeyInput{Title: "two", PublicKey: newKey()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AddSSHKey(ctx, rampart.SSHKeyInput{Title: "three", PublicKey: k1.PublicKey})
	wantAPIError(t, err, rampart.ECONFLICT, `already added as "one"`)
	list, err := c.ListSSHKeys(ctx)
	if err != nil || len(list.Keys) != 2 || list.Keys[0].Title != "one" || list.Status.Enforced {
		t.Fatalf("ListSSHKeys = %+v, %v", list, err)
	}
	// By fingerprint (which may hold "/" and "+") and by ID.
	if err := c.RemoveSSHKey(ctx, k1.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveSSHKey(ctx, strconv.FormatInt(k2.ID, 10)); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, c.RemoveSSHKey(ctx, k1.Fingerprint), rampart.ENOTFOUND, "rampart sshkey list")
}
