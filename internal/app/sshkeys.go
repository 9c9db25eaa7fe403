package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/sshkeys"
	"github.com/rampart-dev/rampart/internal/store"
)

// SSHKeyOptions is how the server manages authorized_keys: the config
// settings ssh.manage_authorized_keys and ssh.user. The service layer only
// reports them (the authorized_keys reconciler acts on them), so that the
// API, the CLI and the dashboard say plainly whether anything is enforced.
type SSHKeyOptions struct {
	// Manage is ssh.manage_authorized_keys: false (the default, and the
	// demo) stores and shows keys and writes nothing on the machine.
	Manage bool
	// User is ssh.user, the account whose authorized_keys is managed;
	// empty means root.
	User string
}

// SSHKeys are the public keys written into the managed block of the node's
// authorized_keys. A key there logs in to the machine every tenant shares
// (as root by default), so only admins and the operator may read or change
// them; a member gets EFORBIDDEN saying why.
//
// Keys are parsed by internal/sshkeys before anything is stored. A paste
// that is refused, a private key pasted by mistake above all, is kept
// nowhere: not in the store, not in the audit log, not in a log line, and
// the error names the refused line by number without quoting it.
type SSHKeys struct{ *core }

func (s *SSHKeys) check(actor Actor) error {
	if err := actor.check(); err != nil {
		return err
	}
	if !actor.isAdmin() {
		return rampart.Errorf(rampart.EFORBIDDEN, "only an admin can manage SSH keys: a key in %s's authorized_keys logs in to the machine that every account shares", s.user())
	}
	return nil
}

func (s *SSHKeys) user() string {
	if s.opts.SSHKeys.User == "" {
		return "root"
	}
	return s.opts.SSHKeys.User
}

// List returns the node's keys, oldest first, with the managed state of
// authorized_keys.
func (s *SSHKeys) List(ctx context.Context, actor Actor) (*rampart.SSHKeyList, error) {
	if err := s.check(actor); err != nil {
		return nil, err
	}
	keys, err := s.store.ListSSHKeys(ctx, rampart.LocalNode)
	if err != nil {
		return nil, err
	}
	st, err := s.status(ctx, len(keys))
	if err != nil {
		return nil, err
	}
	return &rampart.SSHKeyList{Keys: keys, Status: st}, nil
}

// Status returns the managed state of the node's authorized_keys: whether
// it is enforced, for which user, and what the reconciler last did.
func (s *SSHKeys) Status(ctx context.Context, actor Actor) (rampart.SSHKeysStatus, error) {
	if err := s.check(actor); err != nil {
		return rampart.SSHKeysStatus{}, err
	}
	keys, err := s.store.ListSSHKeys(ctx, rampart.LocalNode)
	if err != nil {
		return rampart.SSHKeysStatus{}, err
	}
	return s.status(ctx, len(keys))
}

// NotEnforcedMessage is what the API, the CLI and the dashboard say while
// ssh.manage_authorized_keys is off.
const NotEnforcedMessage = "Not enforced: keys are stored and shown, but rampart writes no authorized_keys on this machine. " +
	"To enforce them, set ssh.manage_authorized_keys: true (and ssh.user, default root) in the server's config and restart rampart serve."

func (s *SSHKeys) status(ctx context.Context, n int) (rampart.SSHKeysStatus, error) {
	st, err := s.store.SSHKeysStatus(ctx, rampart.LocalNode)
	if err != nil {
		return st, err
	}
	if st.Revision, err = s.store.Revision(ctx, store.KindSSHKeys); err != nil {
		return st, err
	}
	st.Enforced, st.User = s.opts.SSHKeys.Manage, s.user()
	where := st.Path
	if where == "" {
		where = st.User + "'s authorized_keys"
	}
	switch {
	case !st.Enforced:
		st.Message = NotEnforcedMessage
	case st.Error != "":
		st.Message = fmt.Sprintf("Enforced, but %s is not up to date: %s", where, st.Error)
	case st.AppliedRevision == st.Revision && (st.WrittenAt != nil || st.CheckedAt != nil):
		st.Message = fmt.Sprintf("Enforced: %s holds these %d key(s) in rampart's block; lines outside it are left alone.", where, n)
	default:
		st.Message = fmt.Sprintf("Enforced: the latest change is being written to %s.", where)
	}
	return st, nil
}

// Add parses in.PublicKey (one public key, as in id_ed25519.pub) and adds
// it under in.Title. Refused, each with its reason and nothing stored: an
// unacceptable paste (see sshkeys.Parse), a key already added (the error
// names its title), and a node at sshkeys.MaxKeys.
func (s *SSHKeys) Add(ctx context.Context, actor Actor, in rampart.SSHKeyInput) (*rampart.SSHKey, error) {
	if err := s.check(actor); err != nil {
		return nil, err
	}
	title := strings.TrimSpace(in.Title)
	if err := sshkeys.ValidateTitle(title); err != nil {
		return nil, rampart.FieldError("title", rampart.Errorf(rampart.EINVALID, "%s", err.Error()))
	}
	// The parser's errors name lines by number and never quote them: a
	// refused line may be part of a private key.
	parsed, err := sshkeys.ParseOne(in.PublicKey)
	if err != nil {
		return nil, rampart.FieldError("public_key", rampart.Errorf(rampart.EINVALID, "%s", err.Error()))
	}
	parsed.Title = title
	k := &rampart.SSHKey{
		Node: rampart.LocalNode, Title: title, Type: parsed.Type, Bits: parsed.Bits, Fingerprint: parsed.Fingerprint,
		PublicKey: parsed.Line, Comment: parsed.Comment, AddedBy: actor.name(), AddedByID: actor.id(),
	}
	err = s.store.InTx(ctx, func(st store.Store) error {
		existing, err := st.ListSSHKeys(ctx, k.Node)
		if err != nil {
			return err
		}
		if err := sshkeys.CheckDuplicate(toSSHKeys(existing), parsed); err != nil {
			return rampart.FieldError("public_key", rampart.Errorf(rampart.ECONFLICT, "%s", err.Error()))
		}
		if len(existing) >= sshkeys.MaxKeys {
			return rampart.Errorf(rampart.ECONFLICT, "the node already has %d SSH keys, the most rampart manages: remove one first", len(existing))
		}
		if err := st.CreateSSHKey(ctx, k); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, "ssh_key.add", nil, keyDetail(k))
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// Remove removes the key named by ref: its ID, or its SHA256 fingerprint
// (with or without the "SHA256:" prefix), as `rampart sshkey list` shows
// them. It returns the removed key.
func (s *SSHKeys) Remove(ctx context.Context, actor Actor, ref string) (*rampart.SSHKey, error) {
	if err := s.check(actor); err != nil {
		return nil, err
	}
	ref = strings.TrimSpace(ref)
	var k *rampart.SSHKey
	err := s.store.InTx(ctx, func(st store.Store) error {
		var err error
		k, err = sshKeyByRef(ctx, st, ref)
		if err != nil {
			return err
		}
		if err := st.DeleteSSHKey(ctx, k.ID); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, "ssh_key.remove", nil, keyDetail(k))
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

func sshKeyByRef(ctx context.Context, st store.Store, ref string) (*rampart.SSHKey, error) {
	notFound := rampart.Errorf(rampart.ENOTFOUND, "no SSH key %q on this node: give a key's ID or its SHA256 fingerprint, as `rampart sshkey list` shows them", ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		k, err := st.SSHKeyByID(ctx, id)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND || err == nil && k.Node != rampart.LocalNode {
			return nil, notFound
		}
		return k, err
	}
	if ref == "" || len(ref) > 100 {
		return nil, notFound
	}
	fp := ref
	if !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp
	}
	k, err := st.SSHKeyByFingerprint(ctx, rampart.LocalNode, fp)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, notFound
	}
	return k, err
}

// keyDetail is what the audit log keeps of a key: its title and
// fingerprint, never the key itself.
func keyDetail(k *rampart.SSHKey) string {
	return fmt.Sprintf("%q %s %d %s", k.Title, k.Type, k.Bits, k.Fingerprint)
}

// toSSHKeys turns stored keys into what internal/sshkeys writes and
// compares; the authorized_keys reconciler uses it too.
func toSSHKeys(list []*rampart.SSHKey) []sshkeys.Key {
	out := make([]sshkeys.Key, 0, len(list))
	for _, k := range list {
		out = append(out, SSHKeyOf(k))
	}
	return out
}

// SSHKeyOf is the sshkeys.Key a stored key stands for.
func SSHKeyOf(k *rampart.SSHKey) sshkeys.Key {
	return sshkeys.Key{Title: k.Title, Type: k.Type, Bits: k.Bits, Fingerprint: k.Fingerprint, Comment: k.Comment, Line: k.PublicKey}
}
