package web

import (
	"context"
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
	// FirstAdmin is the command that creates the first account, shown
	// while there is none: without it a fresh server's login page is a
	// dead end.
	FirstAdmin string
}

// firstAdmin returns the command to show on the login page, "" once an
// account exists.
func (s *server) firstAdmin(ctx context.Context) string {
	if s.cfg.FirstAdminCommand == "" {
		return ""
	}
	if n, err := s.app.Accounts.Count(ctx); err != nil || n > 0 {
		return ""
	}
	return s.cfg.FirstAdminCommand
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
	d := loginPage{Next: next, FirstAdmin: s.firstAdmin(r.Context())}
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
	d := loginPage{Email: email, Next: safeNext(r.PostFormValue("next")), FirstAdmin: s.firstAdmin(r.Context())}
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
