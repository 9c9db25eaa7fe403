package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// The pages behind the links that invitations and password resets email:
// /invite/<secret> and /reset/<secret>. They need no session (the link is
// the proof of the mailbox), so they use the login form's double-submit
// CSRF cookie; the secret is never written into the page, and the
// Referrer-Policy keeps it out of other sites' logs.

// linkPage is the data of link.html.
type linkPage struct {
	base
	Kind    rampart.LinkKind
	Email   string
	Expires time.Time
	Action  string
	Error   string
	Gone    bool
}

// linkKindOf is the kind of link a path serves: an invitation link is not
// a reset link, even with a valid secret.
func linkKindOf(r *http.Request) rampart.LinkKind {
	if strings.HasPrefix(r.URL.Path, "/reset/") {
		return rampart.LinkReset
	}
	return rampart.LinkInvite
}

func (s *server) linkState(w http.ResponseWriter, r *http.Request) (linkPage, bool) {
	d := linkPage{Kind: linkKindOf(r), Action: r.URL.Path}
	d.Title, d.Bare = "Choose a password", true
	d.CSRF = s.scopedCSRF(w, r, "/"+string(d.Kind)+"/")
	email, kind, expires, err := s.app.Accounts.LinkState(r.Context(), r.PathValue("secret"))
	if err == nil && kind != d.Kind {
		err = rampart.Errorf(rampart.ENOTFOUND, "this link was already used or replaced by a newer one: ask an admin to send a new one")
	}
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return d, false
		}
		d.Gone, d.Error = true, rampart.ErrorMessage(err)
		status := http.StatusNotFound
		if rampart.ErrorCode(err) == rampart.EFORBIDDEN {
			status = http.StatusForbidden
		}
		s.render(w, r, status, "link", d)
		return d, false
	}
	d.Email, d.Expires = email, expires
	return d, true
}

func (s *server) linkPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	if d, ok := s.linkState(w, r); ok {
		s.render(w, r, http.StatusOK, "link", d)
	}
}

func (s *server) linkSubmit(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !s.validLoginCSRF(r) {
		s.csrfRejected(w, r, nil)
		return
	}
	d, ok := s.linkState(w, r)
	if !ok {
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("password2") {
		d.Error = "The two passwords differ: type the same one twice."
		s.render(w, r, http.StatusUnprocessableEntity, "link", d)
		return
	}
	u, err := s.app.Accounts.AcceptLink(r.Context(), r.PathValue("secret"), pw, s.cfg.ClientIP(r))
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		status, _ := statusOf(rampart.ErrorCode(err))
		d.Error = rampart.ErrorMessage(err)
		s.render(w, r, status, "link", d)
		return
	}
	// The password is set; the login, with its second factor, is next.
	lp := loginPage{Email: u.Email, Next: "/", Info: "Your password is saved. Log in with it: we will email you a code."}
	lp.Title, lp.Bare = "Log in", true
	lp.CSRF = s.newScopedCSRF(w, "/login")
	s.render(w, r, http.StatusOK, "login", lp)
}
