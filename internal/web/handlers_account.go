package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/auth/totp"
)

// The account page: a person's own settings, as opposed to their services'.
// Its Security tab follows the seed's flow word for word: "Manage
// Two-Factor Authentication" → Configure → the tabs "Authenticator App",
// "Email Based" and "Disabled". Every change that touches the second
// factor goes through app.Accounts, which checks the current factor where
// the change weakens the account, audits it and emails the user; the
// dashboard's own duty is to rotate the session id afterwards, so that a
// session id seen before the change (in a proxy's log, on a shared
// screen) is worth nothing after it.

const (
	accountPath = "/account/security"
	mfaPath     = "/account/security/mfa"
	// confirmCookie holds the secret of a confirmation begun by
	// Accounts.StartConfirm while the user reads the emailed code: like the
	// login's challenge cookie it lives only as long as the code, and is
	// sent only to the pages that use it and never cross-site.
	confirmCookie = "rampart_confirm"
)

// mfaTabs are the Configure page's tabs, in the seed's words.
var mfaTabs = []struct{ ID, Label string }{
	{"app", "Authenticator App"},
	{"email", "Email Based"},
	{"disabled", "Disabled"},
}

// tabOfMethod is the tab that shows a method, the one Configure opens on.
func tabOfMethod(m rampart.MFAMethod) string {
	switch m {
	case rampart.MFATOTP:
		return "app"
	case rampart.MFAEmail:
		return "email"
	}
	return "disabled"
}

// accountPage is the data of account.html, the account's Security tab.
type accountPage struct {
	base
	Status   *app.MFAStatus
	Session  *rampart.Session
	SentTo   string // the masked address email codes go to
	Recovery recoveryForm
	Passkeys passkeysRow
}

// recoveryForm is the confirmation to make new recovery codes: in a modal
// on the Security tab, and on a page of its own without JavaScript.
type recoveryForm struct {
	CSRF   string
	Unused int
	Err    string
}

// disableForm is the "Disabled" tab's confirmation: the word typed out and
// the current second factor.
type disableForm struct {
	CSRF   string
	Method rampart.MFAMethod
	SentTo string
	Typed  string
	// CodeSent says an emailed code is waiting (the confirm cookie holds a
	// live challenge); Info is what the page says about it.
	CodeSent bool
	Info     string
	Err      string
}

// mfaPage is the data of account_mfa.html, the Configure page.
type mfaPage struct {
	base
	Tab    string
	Tabs   []struct{ ID, Label string }
	OnTab  string // the tab of the method that is on, marked "On"
	Status *app.MFAStatus
	SentTo string
	// The Authenticator App tab while enrolling: the QR code as a data:
	// URI (the CSP allows data: images, and the seed never sits at a URL
	// of its own), and the secret grouped for typing.
	QR       template.URL
	Secret   string
	EnrolErr string // BeginTOTP failed: the tab says why instead of a QR code
	CodeErr  string // the code typed in this tab was refused
	Disable  disableForm
}

// codesPage is the data of account_codes.html: new recovery codes, shown
// in the response that made them and never again.
type codesPage struct {
	base
	Heading  string
	Lead     string
	Codes    []string
	Text     string       // the codes one a line, for the copy button
	Download template.URL // the same as a text file
}

// confirmPage is the data of account_confirm.html: a confirmation on a page
// of its own, without JavaScript or after a refused attempt.
type confirmPage struct {
	base
	Disable  *disableForm
	Recovery *recoveryForm
}

func (s *server) accountRedirect(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}

func (s *server) accountSecurity(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.app.Accounts.MFAStatus(r.Context(), rc.actor)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := accountPage{base: rc.base("Account security", "account"), Status: st, Session: rc.sess,
		SentTo: app.MaskEmail(rc.user.Email)}
	d.Recovery = recoveryForm{CSRF: d.CSRF, Unused: st.RecoveryUnused}
	if d.Passkeys, err = s.passkeysRow(r, rc, st.Method); err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "account", d)
}

// mfaPageFor gathers what one tab of the Configure page shows. Opening the
// Authenticator App tab starts an enrolment (BeginTOTP) unless one is under
// way: the seed stays pending, and changes nothing, until a code from it is
// validated, and a reload shows the same seed.
func (s *server) mfaPageFor(r *http.Request, rc *reqCtx, tab string) (*mfaPage, error) {
	st, err := s.app.Accounts.MFAStatus(r.Context(), rc.actor)
	if err != nil {
		return nil, err
	}
	known := false
	for _, t := range mfaTabs {
		known = known || t.ID == tab
	}
	if !known {
		tab = tabOfMethod(st.Method)
	}
	d := &mfaPage{base: rc.base("Manage Two-Factor Authentication", "account"), Tab: tab, Tabs: mfaTabs, Status: st,
		OnTab: tabOfMethod(st.Method), SentTo: app.MaskEmail(rc.user.Email)}
	d.Disable = disableForm{CSRF: d.CSRF, Method: st.Method, SentTo: d.SentTo, CodeSent: s.confirmPending(r, st.Method)}
	if tab == "app" && st.Method != rampart.MFATOTP {
		en, err := s.app.Accounts.PendingTOTP(r.Context(), rc.actor)
		if err == nil && en == nil {
			en, err = s.app.Accounts.BeginTOTP(r.Context(), rc.actor)
		}
		switch {
		case rampart.ErrorCode(err) == rampart.EINTERNAL:
			return nil, err
		case err != nil:
			d.EnrolErr = rampart.ErrorMessage(err)
		default:
			d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))
			d.Secret = totp.FormatSecret(en.Secret)
		}
	}
	return d, nil
}

func (s *server) mfaConfigure(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.mfaPageFor(r, rc, r.URL.Query().Get("tab"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "account_mfa", d)
}

// mfaFailed renders a Configure tab again with the service layer's message
// next to the code field. A wrong code is the user's mistake, not a lost
// session: it must not send them to the login page as s.fail would.
func (s *server) mfaFailed(w http.ResponseWriter, r *http.Request, rc *reqCtx, tab string, err error) {
	if rampart.ErrorCode(err) == rampart.EINTERNAL {
		s.internalError(w, r, err)
		return
	}
	d, perr := s.mfaPageFor(r, rc, tab)
	if perr != nil {
		s.fail(w, r, rc, perr)
		return
	}
	d.CodeErr = rampart.ErrorMessage(err)
	s.render(w, r, formErrorStatus(err), "account_mfa", d)
}

// formErrorStatus is the status of a form refused by the service layer.
// A wrong code is EUNAUTHORIZED there, but this session is fine: 422.
func formErrorStatus(err error) int {
	code := rampart.ErrorCode(err)
	if code == rampart.EUNAUTHORIZED {
		return http.StatusUnprocessableEntity
	}
	if code == rampart.EUNAVAILABLE {
		return http.StatusServiceUnavailable
	}
	status, _ := statusOf(code)
	return status
}

// enableApp validates the first code of the pending authenticator app and
// turns it on. The answer shows the new recovery codes, once.
func (s *server) enableApp(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	codes, err := s.app.Accounts.ConfirmTOTP(r.Context(), rc.actor, r.PostFormValue("code"))
	if err != nil {
		s.mfaFailed(w, r, rc, "app", err)
		return
	}
	if !s.rotateSession(w, r, rc) {
		return
	}
	if len(codes) == 0 {
		// Unused recovery codes from before still stand: no new set.
		st, err := s.app.Accounts.MFAStatus(r.Context(), rc.actor)
		if err != nil {
			s.fail(w, r, rc, err)
			return
		}
		s.setFlash(w, rc.sess, "success", fmt.Sprintf("Authenticator app turned on: logins now ask for its code. Your %s still work.", plural(st.RecoveryUnused, "unused recovery code")))
		http.Redirect(w, r, accountPath, http.StatusSeeOther)
		return
	}
	s.showCodes(w, r, rc, "Authenticator app turned on",
		"Logins now ask for a code from your app; emailed codes no longer work. If you lose your phone, each of these codes logs you in once.", codes)
}

// useEmail makes emailed codes the second factor (the Email Based tab's
// Enable). Leaving an authenticator app takes a code from it.
func (s *server) useEmail(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if rc.user.MFA == rampart.MFAEmail {
		http.Redirect(w, r, mfaPath+"?tab=email", http.StatusSeeOther)
		return
	}
	var challenge string
	if rc.user.MFA == rampart.MFATOTP {
		step, err := s.app.Accounts.StartConfirm(r.Context(), rc.actor)
		if err != nil {
			s.mfaFailed(w, r, rc, "email", err)
			return
		}
		challenge = step.Challenge
	}
	if err := s.app.Accounts.UseEmailCodes(r.Context(), rc.actor, challenge, r.PostFormValue("code")); err != nil {
		s.mfaFailed(w, r, rc, "email", err)
		return
	}
	if !s.rotateSession(w, r, rc) {
		return
	}
	s.setFlash(w, rc.sess, "success", "Email Based two-factor authentication is on: each login sends a code to "+app.MaskEmail(rc.user.Email)+".")
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}

// confirmPending reports whether this browser holds a live emailed code
// for a confirmation.
func (s *server) confirmPending(r *http.Request, method rampart.MFAMethod) bool {
	return s.pendingChallenge(r, confirmCookie, method)
}

// sendConfirmCode emails a code that confirms turning MFA off. A second
// click while a code is live resends it, throttled like the login's
// "Send a new code". From the modal (htmx) the answer is a line of text
// inside it; without JavaScript, the confirmation on a page of its own.
func (s *server) sendConfirmCode(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	f := disableForm{CSRF: rc.sess.CSRFToken, Method: rc.user.MFA, SentTo: app.MaskEmail(rc.user.Email),
		Typed: strings.TrimSpace(r.PostFormValue("confirm"))}
	err := s.emailConfirmCode(w, r, rc, confirmCookie, mfaPath)
	status := http.StatusOK
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		f.Err, status = rampart.ErrorMessage(err), formErrorStatus(err)
	} else {
		f.CodeSent = true
		f.Info = fmt.Sprintf("A code is on its way to %s. It works once, for %d minutes.", f.SentTo, int(rampart.EmailCodeTTL/time.Minute))
	}
	if r.Header.Get("HX-Request") == "true" {
		// htmx swaps only 2xx answers: the error travels as the text.
		s.renderPart(w, r, "account_mfa", "code-send", f)
		return
	}
	s.render(w, r, status, "account_confirm", confirmPage{base: rc.base("Turn off two-factor authentication", "account"), Disable: &f})
}

// disablePage is the "Disabled" tab's confirmation on a page of its own,
// for browsers without JavaScript; with it the same form is a modal.
func (s *server) disablePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if rc.user.MFA == rampart.MFANone {
		http.Redirect(w, r, mfaPath+"?tab=disabled", http.StatusSeeOther)
		return
	}
	f := disableForm{CSRF: rc.sess.CSRFToken, Method: rc.user.MFA, SentTo: app.MaskEmail(rc.user.Email), CodeSent: s.confirmPending(r, rc.user.MFA)}
	s.render(w, r, http.StatusOK, "account_confirm", confirmPage{base: rc.base("Turn off two-factor authentication", "account"), Disable: &f})
}

// disableMFA turns the second factor off: the word typed out and the
// current factor, from the modal or its page.
func (s *server) disableMFA(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	f := disableForm{CSRF: rc.sess.CSRFToken, Method: rc.user.MFA, SentTo: app.MaskEmail(rc.user.Email),
		Typed: strings.TrimSpace(r.PostFormValue("confirm"))}
	fail := func(err error) {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		f.Err = rampart.ErrorMessage(err)
		f.CodeSent = s.confirmPending(r, f.Method)
		s.render(w, r, formErrorStatus(err), "account_confirm", confirmPage{base: rc.base("Turn off two-factor authentication", "account"), Disable: &f})
	}
	if rc.user.MFA == rampart.MFANone {
		http.Redirect(w, r, mfaPath+"?tab=disabled", http.StatusSeeOther)
		return
	}
	// The typed word first: without it nothing is spent, no code counted.
	if !strings.EqualFold(f.Typed, "disable") {
		fail(rampart.Errorf(rampart.EINVALID, `type "disable" to confirm`))
		return
	}
	var challenge string
	switch rc.user.MFA {
	case rampart.MFAEmail:
		c, err := r.Cookie(s.cookie(confirmCookie))
		if err != nil || !s.confirmPending(r, rc.user.MFA) {
			fail(rampart.Errorf(rampart.EINVALID, "no emailed code is waiting: click “Email me a code”, then type the code from that email"))
			return
		}
		challenge = c.Value
	default:
		step, err := s.app.Accounts.StartConfirm(r.Context(), rc.actor)
		if err != nil {
			fail(err)
			return
		}
		challenge = step.Challenge
	}
	if err := s.app.Accounts.DisableMFA(r.Context(), rc.actor, f.Typed, challenge, r.PostFormValue("code")); err != nil {
		if rc.user.MFA == rampart.MFAEmail && !s.confirmPending(r, rc.user.MFA) {
			// The confirmation itself is over (too many tries): the
			// service layer's words are about logins; say what to do here.
			s.clearCookie(w, confirmCookie, mfaPath)
			fail(rampart.Errorf(rampart.EINVALID, "that code no longer works (too many tries, or it expired): click “Email me a code” for a new one"))
			return
		}
		fail(err)
		return
	}
	s.clearCookie(w, confirmCookie, mfaPath)
	if !s.rotateSession(w, r, rc) {
		return
	}
	s.setFlash(w, rc.sess, "success", "Two-factor authentication is off: logins now need only your password. Turn it back on from Configure.")
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}

// recoveryConfirm is the page that asks before making new recovery codes,
// for browsers without JavaScript; with it the same form is a modal.
func (s *server) recoveryConfirm(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	st, err := s.app.Accounts.MFAStatus(r.Context(), rc.actor)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	f := recoveryForm{CSRF: rc.sess.CSRFToken, Unused: st.RecoveryUnused}
	s.render(w, r, http.StatusOK, "account_confirm", confirmPage{base: rc.base("New recovery codes", "account"), Recovery: &f})
}

// regenerateCodes makes a new set of recovery codes and shows it once.
func (s *server) regenerateCodes(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	codes, err := s.app.Accounts.RegenerateRecoveryCodes(r.Context(), rc.actor)
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EINTERNAL {
			s.internalError(w, r, err)
			return
		}
		f := recoveryForm{CSRF: rc.sess.CSRFToken, Err: rampart.ErrorMessage(err)}
		s.render(w, r, formErrorStatus(err), "account_confirm", confirmPage{base: rc.base("New recovery codes", "account"), Recovery: &f})
		return
	}
	if !s.rotateSession(w, r, rc) {
		return
	}
	s.showCodes(w, r, rc, "New recovery codes", "Each of these logs you in once when you cannot use your second factor. Any earlier recovery codes no longer work.", codes)
}

// showCodes renders recovery codes in the answer to the request that made
// them. Only their hashes are stored: this page is the only time they are
// shown (and, like every page, it is sent no-store).
func (s *server) showCodes(w http.ResponseWriter, r *http.Request, rc *reqCtx, heading, lead string, codes []string) {
	text := strings.Join(codes, "\n") + "\n"
	file := "rampart recovery codes for " + rc.user.Email + "\n" +
		"Each code logs in once, in place of the second factor. Keep them where you keep your passwords.\n\n" + text
	d := codesPage{base: rc.base(heading, "account"), Heading: heading, Lead: lead, Codes: codes, Text: text,
		Download: template.URL("data:text/plain;charset=utf-8," + url.PathEscape(file))}
	s.render(w, r, http.StatusOK, "account_codes", d)
}

// signOutOthers ends every other session of the user; this one stays.
func (s *server) signOutOthers(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	n, err := s.app.Accounts.SignOutOthers(r.Context(), rc.actor, rc.sess.ID)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	msg := "No other session was open: only this browser is logged in."
	if n > 0 {
		msg = fmt.Sprintf("Signed out %s: only this browser is still logged in.", plural(int(n), "other session"))
	}
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, accountPath, http.StatusSeeOther)
}

// rotateSession replaces the request's session with a new one of the same
// user and ends the old one, after a change to the second factor. rc then
// holds the new session (and its CSRF token) for the rest of the request.
// It reports false when it has answered the request with an error.
func (s *server) rotateSession(w http.ResponseWriter, r *http.Request, rc *reqCtx) bool {
	plain, sess, err := s.app.Accounts.StartSession(r.Context(), rc.user, rc.actor.IP)
	if err != nil {
		s.internalError(w, r, err)
		return false
	}
	if err := s.app.Accounts.EndSession(r.Context(), rc.sess, rc.user, rc.actor.IP); err != nil {
		s.internalError(w, r, err)
		return false
	}
	s.setSessionCookie(w, plain, sess.ExpiresAt)
	rc.sess = sess
	return true
}

// renderPart renders one named template of a page, without the layout:
// the answer to an htmx request that swaps a small part.
func (s *server) renderPart(w http.ResponseWriter, r *http.Request, page, name string, data any) {
	t, ok := s.pages.sets[page]
	if !ok {
		s.internalError(w, r, fmt.Errorf("no page %q", page))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		s.internalError(w, r, fmt.Errorf("rendering %q of page %q: %w", name, page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}
