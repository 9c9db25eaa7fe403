package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHSettings: keys are not managed unless the operator says so; the
// user defaults to root; a user that cannot be a login name is refused at
// start, naming the setting.
func TestSSHSettings(t *testing.T) {
	c := Default()
	if c.SSH.ManageAuthorizedKeys || c.SSH.User != "root" {
		t.Errorf("defaults: manage %v, user %q; want false and root", c.SSH.ManageAuthorizedKeys, c.SSH.User)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("ssh:\n  manage_authorized_keys: true\n  user: deploy\n"), 0o600)
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if !c.SSH.ManageAuthorizedKeys || c.SSH.User != "deploy" {
		t.Errorf("from the file: %+v", c.SSH)
	}
	if err := c.LoadEnv([]string{"RAMPART_SSH_MANAGE_AUTHORIZED_KEYS=false"}); err != nil {
		t.Fatal(err)
	}
	applyFlagsAndValidate(t, &c, "--ssh-user", "git-deploy")
	if c.SSH.ManageAuthorizedKeys || c.SSH.User != "git-deploy" {
		t.Errorf("after env and flags: %+v", c.SSH)
	}
	for _, bad := range []string{"", "two words", "-dash", "../root", strings.Repeat("a", 33)} {
		c := Default()
		c.SSH.User = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ssh.user") {
			t.Errorf("ssh.user %q: %v, want an error naming ssh.user", bad, err)
		}
	}
	// The shipped production config turns management on for root.
	dist := Default()
	if err := dist.LoadFile("../../dist/rampart.yaml"); err != nil {
		t.Fatal(err)
	}
	if !dist.SSH.ManageAuthorizedKeys || dist.SSH.User != "root" {
		t.Errorf("dist/rampart.yaml: %+v, want management on for root", dist.SSH)
	}
}
