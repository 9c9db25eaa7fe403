package app

import (
	"context"

	"github.com/rampart-dev/rampart"
)

// Audit is the log of every change of desired state: who did what to
// which thing, when and from where. The other nouns write it, in the same
// transaction as the change; this one reads it.
type Audit struct{ *core }

// List returns audit events the caller may read: everything for admins;
// for members, their own actions and events on services they owned.
func (a *Audit) List(ctx context.Context, actor Actor, f rampart.AuditFilter) ([]*rampart.AuditEvent, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > rampart.MaxAuditLimit {
		return nil, rampart.Errorf(rampart.EINVALID, "limit %d is out of range: use 1 to %d", f.Limit, rampart.MaxAuditLimit)
	}
	f.VisibleTo = 0
	if !actor.isAdmin() {
		f.VisibleTo = actor.User.ID
	}
	return a.store.ListAudit(ctx, f)
}
