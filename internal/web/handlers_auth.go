package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

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
	// Info is good news shown above the form (a password just chosen).
	Info string
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
	if !s.validLoginCSRF(r) {
		s.csrfRejected(w, r, nil)
		return
	}
	ip := s.cfg.ClientIP(r)
	email := strings.TrimSpace(r.PostFormValue("email"))
	d := loginPage{Email: email, Next: safeNext(r.PostFormValue("next")), FirstAdmin: s.firstAdmin(r.Context())}
	d.Title, d.Bare = "Log in", true
	d.CSRF = s.loginCSRF(w, r)

	in := rampart.LoginInput{Email: email, Password: r.PostFormValue("password"), IP: ip}
	if c, err := r.Cookie(s.cookie(deviceCookie)); err == nil {
		in.Device = c.Value
	}
	step, u, err := s.app.Accounts.StartLogin(r.Context(), in)
	if err != nil {
		d.Error = rampart.ErrorMessage(err)
		s.render(w, r, loginErrorStatus(s, err, ip), "login", d)
		return
	}
	if u != nil { // no second factor on this account
		s.completeLogin(w, r, u, ip, d.Next)
		return
	}
	s.setLoginCookie(w, step.Challenge, step.ExpiresAt)
	http.Redirect(w, r, "/login/verify?next="+url.QueryEscape(d.Next), http.StatusSeeOther)
}

// loginErrorStatus is the HTTP status of a refused login step.
func loginErrorStatus(s *server, err error, ip string) int {
	switch rampart.ErrorCode(err) {
	case rampart.EINTERNAL:
		s.log.Error("dashboard login failed", "ip", ip, "err", err)
		return http.StatusInternalServerError
	case rampart.ETOOMANY:
		return http.StatusTooManyRequests
	case rampart.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

// completeLogin starts the session of a login that passed every factor,
// and marks the browser as one that logged in to this account before.
func (s *server) completeLogin(w http.ResponseWriter, r *http.Request, u *rampart.User, ip, next string) {
	plain, sess, err := s.app.Accounts.StartSession(r.Context(), u, ip)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.setSessionCookie(w, plain, sess.ExpiresAt)
	if tok := s.app.Accounts.DeviceToken(u); tok != "" {
		http.SetCookie(w, &http.Cookie{
			Name: s.cookie(deviceCookie), Value: tok, Path: "/login", MaxAge: int(deviceCookieAge / time.Second),
			HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
		})
	}
	s.clearCookie(w, loginCSRFCookie, "/login")
	s.clearCookie(w, loginChallengeCookie, "/login")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// The second step of a login lives in a cookie of its own: the challenge
// secret, valid for as long as the code (EmailCodeTTL), sent only to
// /login pages and never cross-site.
const (
	loginChallengeCookie = "rampart_login"
	// deviceCookie marks a browser that completed a login: its failed
	// logins count on a budget of their own (app.Accounts.Login).
	deviceCookie    = "rampart_device"
	deviceCookieAge = 180 * 24 * time.Hour
)

func (s *server) setLoginCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie(loginChallengeCookie), Value: value, Path: "/login", Expires: expires,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	})
}

// verifyPage is the data of login_verify.html, the second step.
type verifyPage struct {
	base
	Step  *rampart.LoginStep
	Next  string
	Error string
	Info  string
	// Passkeys offers "Use a passkey" (handlers_passkeys.go).
	Passkeys passkeyLogin
}

// loginStep returns the login in progress of this browser, or sends it
// back to the first step with why.
func (s *server) loginStep(w http.ResponseWriter, r *http.Request) (string, *rampart.LoginStep, bool) {
	c, err := r.Cookie(s.cookie(loginChallengeCookie))
	if err != nil || c.Value == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return "", nil, false
	}
	step, err := s.app.Accounts.LoginState(r.Context(), c.Value)
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return "", nil, false
		}
		s.clearCookie(w, loginChallengeCookie, "/login")
		d := loginPage{Next: safeNext(r.FormValue("next")), FirstAdmin: "", Error: rampart.ErrorMessage(err)}
		d.Title, d.Bare = "Log in", true
		d.CSRF = s.loginCSRF(w, r)
		s.render(w, r, http.StatusUnauthorized, "login", d)
		return "", nil, false
	}
	return c.Value, step, true
}

func (s *server) verifyPage(w http.ResponseWriter, r *http.Request) {
	challenge, step, ok := s.loginStep(w, r)
	if !ok {
		return
	}
	d := verifyPage{Step: step, Next: safeNext(r.URL.Query().Get("next")), Passkeys: s.passkeyLoginFor(r, challenge)}
	d.Title, d.Bare = "Confirm it is you", true
	d.CSRF = s.loginCSRF(w, r)
	s.render(w, r, http.StatusOK, "login-verify", d)
}

func (s *server) verifySubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !s.validLoginCSRF(r) {
		s.csrfRejected(w, r, nil)
		return
	}
	challenge, step, ok := s.loginStep(w, r)
	if !ok {
		return
	}
	ip := s.cfg.ClientIP(r)
	next := safeNext(r.PostFormValue("next"))
	d := verifyPage{Step: step, Next: next, Passkeys: s.passkeyLoginFor(r, challenge)}
	d.Title, d.Bare = "Confirm it is you", true
	d.CSRF = s.loginCSRF(w, r)
	if r.PostFormValue("resend") != "" {
		if _, err := s.app.Accounts.ResendCode(r.Context(), challenge, ip); err != nil {
			d.Error = rampart.ErrorMessage(err)
			s.render(w, r, loginErrorStatus(s, err, ip), "login-verify", d)
			return
		}
		d.Info = "A new code is on its way to " + step.SentTo + ". The previous one no longer works."
		s.render(w, r, http.StatusOK, "login-verify", d)
		return
	}
	u, err := s.app.Accounts.FinishLogin(r.Context(), challenge, r.PostFormValue("code"), ip)
	if err != nil {
		if _, gone := s.app.Accounts.LoginState(r.Context(), challenge); gone != nil {
			// The login itself is over (expired, spent, too many tries):
			// back to the first step, saying why.
			s.clearCookie(w, loginChallengeCookie, "/login")
			lp := loginPage{Next: next, Error: rampart.ErrorMessage(err)}
			lp.Title, lp.Bare = "Log in", true
			lp.CSRF = d.CSRF
			s.render(w, r, loginErrorStatus(s, err, ip), "login", lp)
			return
		}
		d.Error = rampart.ErrorMessage(err)
		s.render(w, r, loginErrorStatus(s, err, ip), "login-verify", d)
		return
	}
	s.completeLogin(w, r, u, ip, next)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := s.app.Accounts.EndSession(r.Context(), rc.sess, rc.user, rc.actor.IP); err != nil {
		s.internalError(w, r, err)
		return
	}
	s.clearCookie(w, sessionCookie, "/")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
