package web

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// Passkeys, a second factor (app/passkeys.go says why not passwordless).
// Each ceremony is two requests: a JSON POST that returns the options for
// navigator.credentials.create() or .get(), then an ordinary form POST
// that carries the browser's answer in a hidden field, so that what comes
// after (recovery codes shown once, a refused answer, the next page of a
// login) is a page like any other. static/app.js does the part between.
// Both POSTs carry the usual CSRF token: the session's on the account
// page, the login form's double-submit cookie on the code page.

// passkeySite is where the browser opened the dashboard: the host name is
// the passkeys' relying party ID, and the service layer accepts only the
// names it knows.
func (s *server) passkeySite(r *http.Request) app.PasskeySite {
	scheme := "http"
	if r.TLS != nil || s.cfg.SecureCookies {
		scheme = "https"
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return app.PasskeySite{Host: strings.Trim(host, "[]"), Origin: scheme + "://" + r.Host}
}

// passkeysRow is the data of the account page's Passkeys row.
type passkeysRow struct {
	CSRF    string
	Method  rampart.MFAMethod
	List    []*rampart.Passkey
	Name    string // the name typed, after a refusal
	Err     string
	SiteErr string // why passkeys cannot be added at this address
}

func (s *server) passkeysRow(r *http.Request, rc *reqCtx, method rampart.MFAMethod) (passkeysRow, error) {
	list, err := s.app.Accounts.ListPasskeys(r.Context(), rc.actor)
	if err != nil {
		return passkeysRow{}, err
	}
	row := passkeysRow{CSRF: rc.sess.CSRFToken, Method: method, List: list}
	if err := s.app.Accounts.CheckPasskeySite(s.passkeySite(r)); err != nil {
		row.SiteErr = rampart.ErrorMessage(err)
	}
	return row, nil
}

// passkeyJSON answers a ceremony's first request: the options, or
// {"error": "…"} with the status of the refusal.
func (s *server) passkeyJSON(w http.ResponseWriter, r *http.Request, options []byte, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status, _ := statusOf(rampart.ErrorCode(err))
		if status == http.StatusInternalServerError {
			s.log.Error("passkey options", "path", r.URL.Path, "err", err)
		}
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "{\"error\":%q}\n", rampart.ErrorMessage(err))
		return
	}
	_, _ = w.Write(options)
}

// passkeyOptions begins registering a passkey (the account page's "Add
// passkey"): it checks the name now, before the browser asks for a touch.
func (s *server) passkeyOptions(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	opts, err := s.app.Accounts.BeginPasskeyRegistration(r.Context(), rc.actor, s.passkeySite(r), r.PostFormValue("name"))
	s.passkeyJSON(w, r, opts, err)
}

// addPasskey finishes registering a passkey. The answer shows new recovery
// codes when the user had none; otherwise back to the account page.
func (s *server) addPasskey(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	name := r.PostFormValue("name")
	cred := r.PostFormValue("credential")
	var (
		p     *rampart.Passkey
		codes []string
		err   error
	)
	if cred == "" {
		err = rampart.Errorf(rampart.EINVALID, "adding a passkey needs JavaScript, and a browser that supports passkeys")
	} else {
		p, codes, err = s.app.Accounts.FinishPasskeyRegistration(r.Context(), rc.actor, s.passkeySite(r), name, []byte(cred))
	}
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		st, serr := s.app.Accounts.MFAStatus(r.Context(), rc.actor)
		if serr != nil {
			s.fail(w, r, rc, serr)
			return
		}
		d := accountPage{base: rc.base("Account security", "account"), Status: st, Session: rc.sess, SentTo: app.MaskEmail(rc.user.Email)}
		d.Recovery = recoveryForm{CSRF: d.CSRF, Unused: st.RecoveryUnused}
		if d.Passkeys, serr = s.passkeysRow(r, rc, st.Method); serr != nil {
			s.fail(w, r, rc, serr)
			return
		}
		d.Passkeys.Name, d.Passkeys.Err = name, rampart.ErrorMessage(err)
		s.render(w, r, formErrorStatus(err), "account", d)
		return
	}
	if len(codes) > 0 {
		s.showCodes(w, r, rc, "Passkey added",
			fmt.Sprintf("Logins can now use the passkey %q after your password. If you lose your devices, each of these codes logs you in once.", p.Name), codes)
		return
	}
	s.setFlash(w, rc.sess, "success", fmt.Sprintf("Passkey %q added: after your password, choose “Use a passkey”.", p.Name))
	http.Redirect(w, r, accountPath+"#passkeys-row", http.StatusSeeOther)
}

// passkeyRemovePage is the data of passkey_remove.html, the confirmation
// without JavaScript; with it the same form is a modal.
type passkeyRemovePage struct {
	base
	Passkey *rampart.Passkey
}

func (s *server) passkeyByPath(r *http.Request, rc *reqCtx) (*rampart.Passkey, error) {
	list, err := s.app.Accounts.ListPasskeys(r.Context(), rc.actor)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		if formatID(p.ID) == r.PathValue("id") {
			return p, nil
		}
	}
	return nil, rampart.Errorf(rampart.ENOTFOUND, "passkey %q not found: it may have been removed already", r.PathValue("id"))
}

func (s *server) removePasskeyPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	p, err := s.passkeyByPath(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "passkey_remove", passkeyRemovePage{base: rc.base("Remove passkey "+p.Name, "account"), Passkey: p})
}

func (s *server) removePasskey(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	p, err := s.passkeyByPath(r, rc)
	if err == nil {
		p, err = s.app.Accounts.RemovePasskey(r.Context(), rc.actor, p.ID)
	}
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.setFlash(w, rc.sess, "success", fmt.Sprintf("Passkey %q removed: it no longer logs you in.", p.Name))
	http.Redirect(w, r, accountPath+"#passkeys-row", http.StatusSeeOther)
}

// passkeyLogin is what the code page shows about passkeys.
type passkeyLogin struct {
	Usable int    // passkeys that work at this address: the button shows
	Note   string // why the account's passkeys do not work here
}

func (s *server) passkeyLoginFor(r *http.Request, challenge string) passkeyLogin {
	usable, total, err := s.app.Accounts.PasskeysForLogin(r.Context(), challenge, s.passkeySite(r))
	switch {
	case usable > 0:
		return passkeyLogin{Usable: usable}
	case total > 0 && err != nil:
		return passkeyLogin{Note: rampart.ErrorMessage(err)}
	case total > 0:
		return passkeyLogin{Note: "Your passkeys were made for another address of this dashboard: they work only there."}
	}
	return passkeyLogin{}
}

// passkeyLoginOptions begins the passkey step of the login in progress.
func (s *server) passkeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !s.validLoginCSRF(r) {
		s.passkeyJSON(w, r, nil, rampart.Errorf(rampart.EFORBIDDEN, csrfMessage))
		return
	}
	c, err := r.Cookie(s.cookie(loginChallengeCookie))
	if err != nil || c.Value == "" {
		s.passkeyJSON(w, r, nil, rampart.Errorf(rampart.EUNAUTHORIZED, "this login has expired: start over with your email and password"))
		return
	}
	opts, err := s.app.Accounts.BeginPasskeyLogin(r.Context(), c.Value, s.passkeySite(r))
	s.passkeyJSON(w, r, opts, err)
}

// passkeyLoginSubmit finishes a login with a passkey, as verifySubmit does
// with a code.
func (s *server) passkeyLoginSubmit(w http.ResponseWriter, r *http.Request) {
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
	u, err := s.app.Accounts.FinishPasskeyLogin(r.Context(), challenge, s.passkeySite(r), []byte(r.PostFormValue("credential")), ip)
	if err != nil {
		if _, gone := s.app.Accounts.LoginState(r.Context(), challenge); gone != nil {
			s.clearCookie(w, loginChallengeCookie, "/login")
			lp := loginPage{Next: next, Error: rampart.ErrorMessage(err)}
			lp.Title, lp.Bare = "Log in", true
			lp.CSRF = s.loginCSRF(w, r)
			s.render(w, r, loginErrorStatus(s, err, ip), "login", lp)
			return
		}
		d := verifyPage{Step: step, Next: next, Error: rampart.ErrorMessage(err), Passkeys: s.passkeyLoginFor(r, challenge)}
		d.Title, d.Bare = "Confirm it is you", true
		d.CSRF = s.loginCSRF(w, r)
		s.render(w, r, loginErrorStatus(s, err, ip), "login-verify", d)
		return
	}
	s.completeLogin(w, r, u, ip, next)
}
