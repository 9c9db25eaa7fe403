package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/sshkeys"
	"github.com/rampart-dev/rampart/internal/store"
)

// AuthorizedKeys makes the managed block of the target user's
// ~/.ssh/authorized_keys hold exactly the node's SSH keys in the store,
// through internal/sshkeys (which keeps every line outside the block, and
// refuses symlinks). It is the only writer of the node's SSH keys status.
//
// Writing a real user's authorized_keys is the operator's explicit choice
// (ssh.manage_authorized_keys): with Manage false Sync does nothing at all,
// so a demo or a test run never changes the machine; the service layer then
// says that nothing is enforced.
//
// Someone who edits the block by hand, or deletes the file, is undone
// within ResyncEvery: each pass first checks the file, and a difference
// while the desired keys have not changed since the last write is drift,
// repaired with a warning in the log and an audit entry by "system".
type AuthorizedKeys struct {
	Store store.Store
	// Node is whose keys are written; default rampart.LocalNode.
	Node string
	// Manage is ssh.manage_authorized_keys.
	Manage bool
	// User is ssh.user, the account whose authorized_keys is managed;
	// empty means root.
	User string
	// Check is how often the file is checked for drift; default 30s.
	Check time.Duration
	Log   *slog.Logger
	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// Name implements Reconciler.
func (r *AuthorizedKeys) Name() string { return "authorized_keys" }

// Kinds implements Reconciler.
func (r *AuthorizedKeys) Kinds() []store.Kind { return []store.Kind{store.KindSSHKeys} }

// ResyncEvery implements Resyncer: the drift check.
func (r *AuthorizedKeys) ResyncEvery() time.Duration {
	if r.Check <= 0 {
		return 30 * time.Second
	}
	return r.Check
}

func (r *AuthorizedKeys) node() string {
	if r.Node == "" {
		return rampart.LocalNode
	}
	return r.Node
}

func (r *AuthorizedKeys) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Sync implements Reconciler.
func (r *AuthorizedKeys) Sync(ctx context.Context, t Trigger) error {
	if !r.Manage {
		return nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	rev := t.Revisions[store.KindSSHKeys]
	list, err := r.Store.ListSSHKeys(ctx, r.node())
	if err != nil {
		return err
	}
	keys := make([]sshkeys.Key, 0, len(list))
	for _, k := range list {
		keys = append(keys, sshkeys.Key{Title: k.Title, Type: k.Type, Bits: k.Bits, Fingerprint: k.Fingerprint, Comment: k.Comment, Line: k.PublicKey})
	}
	st, err := r.Store.SSHKeysStatus(ctx, r.node())
	if err != nil {
		return err
	}
	at := now().UTC()
	// fail records why the file could not be managed, for the API to
	// show, and hands the error to the loop, which logs it and retries
	// with backoff.
	fail := func(err error) error {
		st.Error = err.Error()
		if serr := r.Store.SetSSHKeysStatus(ctx, r.node(), st); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	acct, err := sshkeys.LookupAccount(r.User)
	if err != nil {
		st.Path = ""
		return fail(err)
	}
	st.Path = acct.Path()
	check, err := sshkeys.Check(acct, keys)
	if err != nil {
		return fail(err)
	}
	if check.InSync {
		st.AppliedRevision, st.Error, st.CheckedAt = rev, "", &at
		return r.Store.SetSSHKeysStatus(ctx, r.node(), st)
	}
	// The file differs from the keys. If the keys are the ones last
	// written, someone changed the file: drift, said out loud.
	if st.AppliedRevision == rev && st.Error == "" && (st.WrittenAt != nil || st.CheckedAt != nil) {
		r.log().Warn("authorized_keys was changed outside rampart; repairing its managed block", "path", acct.Path(), "user", acct.Name, "drift", check.Reason)
		e := &rampart.AuditEvent{At: at, Actor: "system", Action: "ssh_key.drift_repaired",
			Detail: fmt.Sprintf("%s: %s; rewrote the managed block with %d key(s)", acct.Path(), check.Reason, len(keys))}
		if err := r.Store.AddAudit(ctx, e); err != nil {
			return err
		}
		st.Drift, st.DriftAt = check.Reason, &at
	}
	changed, err := sshkeys.Write(acct, keys)
	if err != nil {
		return fail(err)
	}
	if changed {
		st.WrittenAt = &at
		r.log().Info("wrote authorized_keys", "path", acct.Path(), "user", acct.Name, "keys", len(keys), "revision", rev)
	}
	st.AppliedRevision, st.Error, st.CheckedAt = rev, "", &at
	return r.Store.SetSSHKeysStatus(ctx, r.node(), st)
}

// Interface guards.
var (
	_ Reconciler = (*AuthorizedKeys)(nil)
	_ Resyncer   = (*AuthorizedKeys)(nil)
)
