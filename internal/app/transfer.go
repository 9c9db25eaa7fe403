package app

import (
	"context"
	"fmt"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Transfer hands the named service, with everything that is the
// service's (its domains, environment, runtime, backups, mail and edge
// log), to the account email. Admins only: a member could otherwise push
// a service, and what it costs, onto someone who never asked for it, and
// a member cannot see other accounts anyway. The new owner must have an
// enabled account; quotas do not apply, as for a service an admin creates
// for a member. A deleted service in its grace period can be handed over
// too (the new owner may restore it), so that its old owner's account can
// be deleted. Handing a service to its owner changes nothing.
//
// From the commit on, the old owner's requests for the service are
// answered as for any service not theirs (not found), their open log
// streams of it end, and the audit log keeps what happened before under
// them. Both owners are emailed, and each has an audit event of it
// (service.transfer.out, service.transfer.in).
func (s *Services) Transfer(ctx context.Context, actor Actor, name, email string) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	email = rampart.NormalizeEmail(email)
	var svc *rampart.Service
	var from, to *rampart.User
	err := s.store.InTx(ctx, func(st store.Store) error {
		var err error
		// Visibility first: a member learns nothing from this about
		// services not theirs.
		if svc, err = s.visibleService(ctx, st, actor, name); err != nil {
			return err
		}
		if !actor.isAdmin() {
			return rampart.Errorf(rampart.EFORBIDDEN, "only an admin can hand a service to another account: ask an admin")
		}
		if email == "" {
			return rampart.FieldError("owner", rampart.Errorf(rampart.EINVALID, "name the account to hand %s to, e.g. --to alice@example.com", name))
		}
		to, err = st.UserByEmail(ctx, email)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return rampart.FieldError("owner", rampart.Errorf(rampart.EINVALID, "%s has no account: invite it first (rampart user invite %s)", email, email))
		} else if err != nil {
			return err
		}
		if to.DisabledAt != nil {
			return rampart.FieldError("owner", rampart.Errorf(rampart.EINVALID, "%s is disabled: enable it first (rampart user enable %s), or choose another account", email, email))
		}
		if to.ID == svc.OwnerID {
			to = nil // nothing to do, nobody to tell
			return nil
		}
		if from, err = st.UserByID(ctx, svc.OwnerID); err != nil {
			return err
		}
		// An event in each owner's history (members see the events of
		// their own services): the old owner learns where it went even
		// without mail, the new one where it came from.
		if err := s.audit(ctx, st, actor, "service.transfer.out", svc, fmt.Sprintf("from=%s to=%s", from.Email, to.Email)); err != nil {
			return err
		}
		svc.OwnerID, svc.Owner = to.ID, to.Email
		if err := st.UpdateService(ctx, svc); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, "service.transfer.in", svc, fmt.Sprintf("from=%s to=%s", from.Email, to.Email))
	})
	if err != nil {
		return nil, err
	}
	if to != nil {
		deleted := ""
		if svc.State == rampart.StateDeleted {
			deleted = " It is deleted and waits for its purge: restore it (rampart service restore " + svc.Name + ") to keep it."
		}
		s.notify(ctx, from, "Your rampart service "+svc.Name+" has a new owner",
			fmt.Sprintf("%s handed your service %s to %s. It is theirs now, with its domains, environment, backups and logs; you no longer see it.", actor.name(), svc.Name, to.Email))
		s.notify(ctx, to, "A rampart service was handed to you: "+svc.Name,
			fmt.Sprintf("%s handed you the service %s, which %s owned, with its domains, environment, backups and logs. You find it on your dashboard and with `rampart service show %s`.%s", actor.name(), svc.Name, from.Email, svc.Name, deleted))
	}
	return svc, nil
}
