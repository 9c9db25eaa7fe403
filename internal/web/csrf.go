package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// CSRF defence, in two layers:
//
//  1. Tokens. With a session, every form carries the session's CSRFToken in
//     the hidden field csrf_token (htmx requests may send it as the
//     X-CSRF-Token header instead; the layout puts it in hx-headers). The
//     token lives in the store with the session, so it is never in a cookie
//     a sibling subdomain could overwrite. Before a session exists — the login
//     form — a random double-submit cookie (loginCSRFCookie, Path=/login,
//     SameSite=Strict) must match the form's field: a cross-site page can
//     neither read that cookie nor make the browser send it.
//  2. Fetch metadata. http.CrossOriginProtection rejects POSTs that the
//     browser marks as cross-site (Sec-Fetch-Site) or whose Origin differs
//     from Host. This is what really protects the login form against cookie
//     tossing from a service under the platform domain, which layer 1 alone
//     would not.
//
// A failure on either layer gets the same 403 page and changes nothing.

const (
	csrfField       = "csrf_token"
	csrfHeader      = "X-CSRF-Token"
	loginCSRFCookie = "rampart_login_csrf"
)

// validCSRF reports whether r carries want in the header or the form.
func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

const csrfMessage = "The form expired or came from another site: reload the page and try again."

// csrfRejected answers a POST whose token is missing or wrong.
func (s *server) csrfRejected(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	s.log.Warn("dashboard: CSRF check failed", "path", r.URL.Path, "ip", s.cfg.ClientIP(r),
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	s.showError(w, r, rc, http.StatusForbidden, "Request refused", csrfMessage)
}

// csrfFailed is http.CrossOriginProtection's deny handler.
func (s *server) csrfFailed(w http.ResponseWriter, r *http.Request) {
	rc, _ := s.session(r)
	s.csrfRejected(w, r, rc)
}

// loginCSRF returns the login form's double-submit token, reusing the
// browser's cookie when it has one so that two open login tabs both work.
func (s *server) loginCSRF(w http.ResponseWriter, r *http.Request) string {
	return s.scopedCSRF(w, r, "/login")
}

// scopedCSRF is loginCSRF for the pages under path that need no session
// (the login's, an emailed link's): the cookie is sent only there.
func (s *server) scopedCSRF(w http.ResponseWriter, r *http.Request, path string) string {
	if c, err := r.Cookie(s.cookie(loginCSRFCookie)); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	return s.newScopedCSRF(w, path)
}

// newScopedCSRF sets a new token for path, whatever the request carried
// (a page under one path that shows a form posting to another).
func (s *server) newScopedCSRF(w http.ResponseWriter, path string) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookie(loginCSRFCookie),
		Value:    tok,
		Path:     path,
		MaxAge:   12 * 60 * 60,
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// validLoginCSRF checks the double-submit token of a login POST.
func (s *server) validLoginCSRF(r *http.Request) bool {
	c, err := r.Cookie(s.cookie(loginCSRFCookie))
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue(csrfField)), []byte(c.Value)) == 1
}
