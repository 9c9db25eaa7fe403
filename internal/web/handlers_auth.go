package web

import (
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart"
)

// loginPage is the data of login.html.
type loginPage struct {
	base
	Email string
	Next  string
	Error string
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	rc, err := s.session(r)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if rc != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d := loginPage{Next: next}
	d.Title, d.Bare = "Log in", true
	d.CSRF = s.loginCSRF(w, r)
	s.render(w, r, http.StatusOK, "login", d)
}

func (s *server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !validLoginCSRF(r) {
		s.csrfRejected(w, r, nil)
		return
	}
	ip := s.cfg.ClientIP(r)
	email := strings.TrimSpace(r.PostFormValue("email"))
	d := loginPage{Email: email, Next: safeNext(r.PostFormValue("next"))}
	d.Title, d.Bare = "Log in", true
	d.CSRF = s.loginCSRF(w, r)

	u, err := s.app.Accounts.Login(r.Context(), rampart.LoginInput{Email: email, Password: r.PostFormValue("password"), IP: ip})
	if err != nil {
		status := http.StatusUnauthorized
		switch rampart.ErrorCode(err) {
		case rampart.EINTERNAL:
			s.log.Error("dashboard login failed", "ip", ip, "err", err)
			status = http.StatusInternalServerError
		case rampart.ETOOMANY:
			status = http.StatusTooManyRequests
		}
		d.Error = rampart.ErrorMessage(err)
		s.render(w, r, status, "login", d)
		return
	}
	plain, sess, err := s.app.Accounts.StartSession(r.Context(), u, ip)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.setSessionCookie(w, plain, sess.ExpiresAt)
	s.clearCookie(w, loginCSRFCookie, "/login")
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := s.app.Accounts.EndSession(r.Context(), rc.sess, rc.user, rc.actor.IP); err != nil {
		s.internalError(w, r, err)
		return
	}
	s.clearCookie(w, sessionCookie, "/")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
