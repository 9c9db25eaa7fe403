package web

import (
	"context"
	"net/http"

	"github.com/rampart-dev/rampart"
)

// The Overview's Owner card, for admins: hand the service to another
// account (app.Services.Transfer). Members see the owner in Details and no
// card: only an admin hands services on.

// transferView is the card's data: the accounts the service can go to.
type transferView struct {
	// To lists the enabled accounts other than the owner, by email.
	To []string
}

// transferFor returns the card for an admin, nil for anyone else.
func (s *server) transferFor(ctx context.Context, rc *reqCtx, svc *rampart.Service) (*transferView, error) {
	if !rc.user.IsAdmin() {
		return nil, nil
	}
	users, err := s.app.Accounts.List(ctx, rc.actor)
	if err != nil {
		return nil, err
	}
	v := &transferView{}
	for _, u := range users {
		if u.DisabledAt == nil && u.Email != svc.Owner {
			v.To = append(v.To, u.Email)
		}
	}
	return v, nil
}

// transferService hands the service to the chosen account and goes back
// to its Overview, with what happened or why not.
func (s *server) transferService(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Transfer(r.Context(), rc.actor, r.PathValue("name"), r.PostFormValue("owner"))
	s.afterAction(w, r, rc, "", err, func() string {
		return svc.Name + " belongs to " + svc.Owner + " now: both owners were emailed, and each finds it in their audit log."
	})
}
