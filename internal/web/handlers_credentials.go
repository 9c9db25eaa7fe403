package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// A person's own credentials on the account page: their password (changed
// with the current one and the current second factor, so that neither a
// stolen session nor a stolen password alone takes the account over) and
// their API tokens (listed, created and shown once, revoked).

const (
	passwordPath = "/account/password"
	tokensPath   = "/account/tokens"
	// passwordConfirmCookie holds the confirmation challenge of a password
	// change while the user reads the emailed code.
	passwordConfirmCookie = "rampart_pw_confirm"
)

// passwordPage is the data of account_password.html.
type passwordPage struct {
	base
	Method   rampart.MFAMethod
	SentTo   string
	CodeSent bool
	Info     string
	Err      string
	Field    string // the field Err is about, if any
}

func (s *server) newPasswordPage(r *http.Request, rc *reqCtx) passwordPage {
	return passwordPage{base: rc.base("Change password", "account"), Method: rc.user.MFA, SentTo: app.MaskEmail(rc.user.Email),
		CodeSent: s.pendingChallenge(r, passwordConfirmCookie, rc.user.MFA)}
}

// pendingChallenge reports whether the cookie name holds a live emailed
// confirmation.
func (s *server) pendingChallenge(r *http.Request, name string, method rampart.MFAMethod) bool {
	if method != rampart.MFAEmail {
		return false
	}
	c, err := r.Cookie(s.cookie(name))
	if err != nil || c.Value == "" {
		return false
	}
	step, err := s.app.Accounts.LoginState(r.Context(), c.Value)
	return err == nil && step.Method == rampart.MFAEmail
}

func (s *server) passwordPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.render(w, r, http.StatusOK, "account_password", s.newPasswordPage(r, rc))
}

// emailConfirmCode emails the logged-in user a code that confirms a change
// on the page at path: a new confirmation, whose secret goes into the
// cookie name (sent only to path), or the same one again (throttled) while
// it is live.
func (s *server) emailConfirmCode(w http.ResponseWriter, r *http.Request, rc *reqCtx, name, path string) error {
	if rc.user.MFA != rampart.MFAEmail {
		return rampart.Errorf(rampart.EINVALID, "your second factor is not email: type the code your authenticator app shows")
	}
	if c, err := r.Cookie(s.cookie(name)); err == nil && s.pendingChallenge(r, name, rc.user.MFA) {
		_, err = s.app.Accounts.ResendCode(r.Context(), c.Value, rc.actor.IP)
		return err
	}
	step, err := s.app.Accounts.StartConfirm(r.Context(), rc.actor)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie(name), Value: step.Challenge, Path: path, Expires: step.ExpiresAt,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// passwordCode emails the code that confirms a password change (again,
// throttled, when one is live).
func (s *server) passwordCode(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := s.newPasswordPage(r, rc)
	if err := s.emailConfirmCode(w, r, rc, passwordConfirmCookie, passwordPath); err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		d.Err = rampart.ErrorMessage(err)
		s.render(w, r, formErrorStatus(err), "account_password", d)
		return
	}
	d.CodeSent = true
	d.Info = fmt.Sprintf("A code is on its way to %s. It works once, for %d minutes.", d.SentTo, int(rampart.EmailCodeTTL/time.Minute))
	s.render(w, r, http.StatusOK, "account_password", d)
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := s.newPasswordPage(r, rc)
	fail := func(err error) {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		d.Err, d.Field = rampart.ErrorMessage(err), rampart.ErrorField(err)
		d.CodeSent = s.pendingChallenge(r, passwordConfirmCookie, rc.user.MFA)
		s.render(w, r, formErrorStatus(err), "account_password", d)
	}
	next := r.PostFormValue("new_password")
	if next != r.PostFormValue("new_password2") {
		fail(rampart.FieldError("new_password", rampart.Errorf(rampart.EINVALID, "the two new passwords differ: type the same one twice")))
		return
	}
	var challenge string
	switch rc.user.MFA {
	case rampart.MFAEmail:
		c, err := r.Cookie(s.cookie(passwordConfirmCookie))
		if err != nil || !d.CodeSent {
			fail(rampart.Errorf(rampart.EINVALID, "no emailed code is waiting: click “Email me a code”, then type the code from that email"))
			return
		}
		challenge = c.Value
	case rampart.MFATOTP:
		step, err := s.app.Accounts.StartConfirm(r.Context(), rc.actor)
		if err != nil {
			fail(err)
			return
		}
		challenge = step.Challenge
	}
	err := s.app.Accounts.ChangePassword(r.Context(), rc.actor, r.PostFormValue("current_password"), next, challenge, strings.TrimSpace(r.PostFormValue("code")), rc.sess.ID)
	if err != nil {
		fail(err)
		return
	}
	s.clearCookie(w, passwordConfirmCookie, passwordPath)
	if !s.rotateSession(w, r, rc) {
		return
	}
	s.setFlash(w, rc.sess, "success", "Password changed. Your other sessions were signed out.")
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}

// tokensPage is the data of account_tokens.html.
type tokensPage struct {
	base
	Tokens  []*rampart.APIToken
	Created string // a token just made: shown in this response only
	Name    string
	Err     string
}

func (s *server) renderTokens(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, d tokensPage) {
	list, err := s.app.Accounts.ListTokens(r.Context(), rc.actor, "")
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d.base, d.Tokens = rc.base("API tokens", "account"), list
	if d.Created != "" {
		// A page holding a secret is not kept by the browser or a proxy.
		w.Header().Set("Cache-Control", "no-store")
	}
	s.render(w, r, status, "account_tokens", d)
}

func (s *server) tokensPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.renderTokens(w, r, rc, http.StatusOK, tokensPage{})
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	ttl := rampart.DefaultTokenTTL
	if days, err := strconv.Atoi(r.PostFormValue("days")); err == nil && days > 0 && days <= 365 {
		ttl = time.Duration(days) * 24 * time.Hour
	}
	if name == "" {
		s.renderTokens(w, r, rc, http.StatusUnprocessableEntity, tokensPage{Err: "Give the token a name that says what uses it, e.g. “deploy script”."})
		return
	}
	plain, _, err := s.app.Accounts.CreateToken(r.Context(), rc.actor, rampart.TokenInput{Email: rc.user.Email, Name: name, TTL: ttl})
	if err != nil {
		if !inlineError(err) {
			s.fail(w, r, rc, err)
			return
		}
		status, _ := statusOf(rampart.ErrorCode(err))
		s.renderTokens(w, r, rc, status, tokensPage{Name: name, Err: rampart.ErrorMessage(err)})
		return
	}
	s.renderTokens(w, r, rc, http.StatusOK, tokensPage{Created: plain})
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	if err := s.app.Accounts.RevokeToken(r.Context(), rc.actor, id); err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.setFlash(w, rc.sess, "success", "Token revoked: it stops working now.")
	http.Redirect(w, r, tokensPath, http.StatusSeeOther)
}
