package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// The People page: admins invite, disable, delete and change the role of
// accounts, and send a password reset link. Every change goes through
// app.Accounts, which keeps an active admin on the server, audits and
// emails the person concerned. Nobody chooses another person's password:
// invitations and resets send a link (handlers_links.go).

const peoplePath = "/people"

// peoplePage is the data of people.html.
type peoplePage struct {
	base
	People []*rampart.User
	Invite inviteForm
	Error  string // a refused change, shown above the table
}

// inviteForm keeps what was typed when an invitation is refused.
type inviteForm struct {
	Email, Role, Err string
}

func (s *server) peoplePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.renderPeople(w, r, rc, http.StatusOK, inviteForm{Role: string(rampart.RoleMember)}, "")
}

func (s *server) renderPeople(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, inv inviteForm, msg string) {
	people, err := s.app.Accounts.List(r.Context(), rc.actor)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := peoplePage{base: rc.base("People", "people"), People: people, Invite: inv, Error: msg}
	s.render(w, r, status, "people", d)
}

func (s *server) invitePerson(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	in := rampart.InviteInput{Email: strings.TrimSpace(r.PostFormValue("email")), Role: rampart.Role(r.PostFormValue("role"))}
	u, err := s.app.Accounts.Invite(r.Context(), rc.actor, in)
	if err != nil {
		if !inlineError(err) {
			s.fail(w, r, rc, err)
			return
		}
		status, _ := statusOf(rampart.ErrorCode(err))
		s.renderPeople(w, r, rc, status, inviteForm{Email: in.Email, Role: string(in.Role), Err: rampart.ErrorMessage(err)}, "")
		return
	}
	s.setFlash(w, rc.sess, "success", fmt.Sprintf("Invitation sent to %s: the link in it lets them choose a password, for 7 days.", u.Email))
	http.Redirect(w, r, peoplePath, http.StatusSeeOther)
}

// personAction is one of the buttons in a person's row.
type personAction struct {
	do   func(*app.Accounts, *http.Request, app.Actor, string) error
	done string // the flash after it, with %s for the email
}

var personActions = map[string]personAction{
	"admin": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		_, err := a.SetRole(r.Context(), actor, email, rampart.RoleAdmin)
		return err
	}, "%s is an admin now: they see and change everything."},
	"member": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		_, err := a.SetRole(r.Context(), actor, email, rampart.RoleMember)
		return err
	}, "%s is a member now: they see only their own services."},
	"disable": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		_, err := a.Disable(r.Context(), actor, email)
		return err
	}, "%s is disabled: their sessions ended and their tokens stopped working."},
	"enable": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		_, err := a.Enable(r.Context(), actor, email)
		return err
	}, "%s can log in again."},
	"reset-password": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		return a.ResetPassword(r.Context(), actor, email)
	}, "A link to choose a new password is on its way to %s (valid 1 hour); their current password works until they use it."},
	"reset-mfa": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		_, err := a.ResetMFA(r.Context(), actor, email)
		return err
	}, "The second factor of %s is reset: their next login asks for a code sent to their address. Their sessions ended and their recovery codes, app and passkeys no longer work; they were emailed."},
	"reinvite": {func(a *app.Accounts, r *http.Request, actor app.Actor, email string) error {
		u, err := a.Get(r.Context(), actor, email)
		if err != nil {
			return err
		}
		_, err = a.Invite(r.Context(), actor, rampart.InviteInput{Email: u.Email, Role: u.Role})
		return err
	}, "A new invitation is on its way to %s; the earlier link no longer works."},
}

// personDo runs the action named in the path on the person named in it.
func (s *server) personDo(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	email := r.PathValue("email")
	act, ok := personActions[r.PathValue("action")]
	if !ok {
		s.notFound(w, r)
		return
	}
	if err := act.do(s.app.Accounts, r, rc.actor, email); err != nil {
		if !inlineError(err) {
			s.fail(w, r, rc, err)
			return
		}
		status, _ := statusOf(rampart.ErrorCode(err))
		s.renderPeople(w, r, rc, status, inviteForm{Role: string(rampart.RoleMember)}, rampart.ErrorMessage(err))
		return
	}
	s.setFlash(w, rc.sess, "success", fmt.Sprintf(act.done, email))
	http.Redirect(w, r, peoplePath, http.StatusSeeOther)
}

// deletePersonPage is the confirmation before deleting an account.
type deletePersonPage struct {
	base
	Person *rampart.User
	Error  string
}

func (s *server) deletePersonPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	u, err := s.app.Accounts.Get(r.Context(), rc.actor, r.PathValue("email"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "person_delete", deletePersonPage{base: rc.base("Delete "+u.Email, "people"), Person: u})
}

func (s *server) deletePerson(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	email := r.PathValue("email")
	u, err := s.app.Accounts.Get(r.Context(), rc.actor, email)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if r.PostFormValue("confirm") != u.Email {
		d := deletePersonPage{base: rc.base("Delete "+u.Email, "people"), Person: u, Error: "Type the email address exactly to confirm."}
		s.render(w, r, http.StatusUnprocessableEntity, "person_delete", d)
		return
	}
	if err := s.app.Accounts.Delete(r.Context(), rc.actor, u.Email); err != nil {
		if !inlineError(err) {
			s.fail(w, r, rc, err)
			return
		}
		status, _ := statusOf(rampart.ErrorCode(err))
		d := deletePersonPage{base: rc.base("Delete "+u.Email, "people"), Person: u, Error: rampart.ErrorMessage(err)}
		s.render(w, r, status, "person_delete", d)
		return
	}
	s.setFlash(w, rc.sess, "success", fmt.Sprintf("%s was deleted, with their sessions and tokens.", u.Email))
	http.Redirect(w, r, peoplePath, http.StatusSeeOther)
}

// inlineError reports whether err is an answer for the form (bad input, a
// clash, a missing mail server) rather than one for an error page.
func inlineError(err error) bool {
	switch rampart.ErrorCode(err) {
	case rampart.EINVALID, rampart.ECONFLICT, rampart.EUNAVAILABLE, rampart.ETOOMANY:
		return true
	}
	return false
}

// personPath is the base of a person's action URLs.
func personPath(email string) string { return peoplePath + "/" + url.PathEscape(email) }
