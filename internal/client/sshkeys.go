package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rampart-dev/rampart"
)

// ListSSHKeys returns the node's SSH keys and the managed state of its
// authorized_keys (admins only).
func (c *Client) ListSSHKeys(ctx context.Context) (*rampart.SSHKeyList, error) {
	var out rampart.SSHKeyList
	if err := c.do(ctx, http.MethodGet, "ssh-keys", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AddSSHKey adds a public key under a title.
func (c *Client) AddSSHKey(ctx context.Context, in rampart.SSHKeyInput) (*rampart.SSHKey, error) {
	var k rampart.SSHKey
	if err := c.do(ctx, http.MethodPost, "ssh-keys", in, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RemoveSSHKey removes the key with the given ID or SHA256 fingerprint.
func (c *Client) RemoveSSHKey(ctx context.Context, ref string) error {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return fmt.Errorf("name the key to remove by its ID or fingerprint, as `rampart sshkey list` shows them")
	}
	return c.do(ctx, http.MethodDelete, "ssh-keys/"+url.PathEscape(ref), nil, nil)
}
