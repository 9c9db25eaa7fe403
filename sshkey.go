package rampart

import "time"

// SSHKey is one public key that rampart writes into the managed block of a
// node's authorized_keys (the target user's, root by default). Anyone
// holding the matching private key logs in as that user, which is why only
// admins manage keys: the node is shared by every tenant.
//
// The fields are what internal/sshkeys made of the paste; the paste itself
// is not kept, and a paste that was refused is kept nowhere.
type SSHKey struct {
	ID int64 `json:"id"`
	// Node is the machine whose authorized_keys holds the key (LocalNode).
	Node  string `json:"node"`
	Title string `json:"title"`
	// Type is the algorithm as authorized_keys spells it ("ssh-ed25519").
	Type string `json:"type"`
	// Bits is the key's size: the RSA modulus, the ECDSA curve, 256 for
	// Ed25519.
	Bits int `json:"bits"`
	// Fingerprint is the SHA256 fingerprint as `ssh-keygen -lf` prints it;
	// unique per node.
	Fingerprint string `json:"fingerprint"`
	// PublicKey is the canonical authorized_keys line: type, key and
	// comment, no options.
	PublicKey string `json:"public_key"`
	Comment   string `json:"comment,omitempty"`
	// AddedBy is who added the key (an email, or "operator").
	AddedBy   string    `json:"added_by"`
	AddedByID int64     `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// SSHKeyInput is a key to add: a title and the pasted public key (one
// line, as in id_ed25519.pub).
type SSHKeyInput struct {
	Title     string `json:"title"`
	PublicKey string `json:"public_key"`
}

// SSHKeyList is the answer to GET /ssh-keys: the node's keys, oldest
// first, and what the machine made of them.
type SSHKeyList struct {
	Keys   []*SSHKey     `json:"keys"`
	Status SSHKeysStatus `json:"status"`
}

// SSHKeysStatus is the managed state of a node's authorized_keys: whether
// rampart writes it at all (ssh.manage_authorized_keys), for which user,
// and what the authorized_keys reconciler last did. Enforced, User and
// Message come from the server's configuration; the rest is observed state,
// written only by the reconciler.
type SSHKeysStatus struct {
	// Enforced is false when ssh.manage_authorized_keys is off: keys are
	// stored and shown, and nothing on the machine changes.
	Enforced bool `json:"enforced"`
	// User is the account whose authorized_keys is managed (ssh.user).
	User string `json:"user"`
	// Message says in one sentence where things stand and, when nothing is
	// enforced or something failed, what to do.
	Message string `json:"message"`
	// Revision is the SSH keys revision of the store now; AppliedRevision
	// the one last written to the file. Equal: the file holds the list.
	Revision        int64 `json:"revision"`
	AppliedRevision int64 `json:"applied_revision"`
	// Path is the authorized_keys file, once the user was found.
	Path string `json:"path,omitempty"`
	// Error is why the last pass failed (an unknown user, a symlinked
	// file, a broken block); empty when it worked.
	Error string `json:"error,omitempty"`
	// WrittenAt is when the file was last rewritten, CheckedAt when it was
	// last found in order.
	WrittenAt *time.Time `json:"written_at,omitempty"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	// Drift is what the last repair of a hand-edited block found, and
	// DriftAt when.
	Drift   string     `json:"drift,omitempty"`
	DriftAt *time.Time `json:"drift_at,omitempty"`
}
