package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// sessionCookie holds the session secret. Only its hash is stored, so the
// cookie is the whole credential: HttpOnly keeps it from scripts, SameSite=Lax
// keeps it off cross-site POSTs, and Secure (when served over HTTPS) keeps
// it off plain HTTP. It is host-only (no Domain attribute): the services that
// rampart fronts live under the platform domain and must never see it.
const sessionCookie = "rampart_session"

// reqCtx is what an authenticated handler gets: the session, its user and
// the actor to hand to the service layer.
type reqCtx struct {
	sess  *rampart.Session
	user  *rampart.User
	actor app.Actor
	flash *flash
}

func (rc *reqCtx) base(title, nav string) base {
	return base{Title: title, Nav: nav, User: rc.user, CSRF: rc.sess.CSRFToken, Flash: rc.flash}
}

// handler is a dashboard handler that runs only with a live session.
type handler func(w http.ResponseWriter, r *http.Request, rc *reqCtx)

// session returns the request's live session, nil if there is none. The
// error is non-nil only when the store failed, not for a missing or expired
// session.
func (s *server) session(r *http.Request) (*reqCtx, error) {
	c, err := r.Cookie(s.cookie(sessionCookie))
	if err != nil || c.Value == "" {
		return nil, nil
	}
	check := s.app.Accounts.Session
	if r.Header.Get(pollHeader) != "" {
		check = s.app.Accounts.CheckSession
	}
	sess, u, err := check(r.Context(), c.Value)
	switch {
	case rampart.ErrorCode(err) == rampart.EUNAUTHORIZED:
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &reqCtx{sess: sess, user: u, actor: app.UserActor(u, s.cfg.ClientIP(r))}, nil
}

// pollHeader marks a request a page makes by itself (htmx's "every"
// polls send it with hx-headers): it does not count as use of the
// session, so a tab left open still ends its session after the idle time.
// A forged one only makes a request not count.
const pollHeader = "X-Rampart-Poll"

// get wraps a page handler: without a session the browser is sent to log in
// and brought back afterwards.
func (s *server) get(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := s.session(r)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if rc == nil {
			s.toLogin(w, r)
			return
		}
		if r.Header.Get("HX-Request") != "true" {
			// An htmx swap replaces part of the page only and would drop it.
			rc.flash = s.takeFlash(w, r, rc.sess)
		}
		h(w, r, rc)
	})
}

// post wraps a handler that changes something: it needs a session and the
// session's CSRF token, checked before the handler sees the request, so a
// forged or stale form changes nothing.
func (s *server) post(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		rc, err := s.session(r)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if rc == nil {
			// The session ended while the form was open. Nothing to protect
			// and nothing to redo: log in again, then start over.
			s.toLogin(w, r)
			return
		}
		// Parse now, so that a body over the bound is reported as what it
		// is rather than as a form without its CSRF token.
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.showError(w, r, rc, http.StatusRequestEntityTooLarge, "Form too large",
					fmt.Sprintf("The form holds more than %d KiB, more than any setting here takes: shorten it and send it again.", maxFormBytes>>10))
				return
			}
			s.showError(w, r, rc, http.StatusBadRequest, "Unreadable form", "The browser sent a form the server could not read: reload the page and try again.")
			return
		}
		if !validCSRF(r, rc.sess.CSRFToken) {
			s.csrfRejected(w, r, rc)
			return
		}
		h(w, r, rc)
	})
}

// maxFormBytes bounds a form body. The largest forms are a service's
// environment (at most rampart.MaxEnvBytes, which URL encoding may
// triple), an uploaded certificate chain with its key, and a runtime with
// its compose file (rampart.MaxComposeFileLength, tripled too, fits with
// room to spare, so that one a little too long gets the Runtime tab's own
// message rather than this bound's).
const maxFormBytes = 256 << 10

// toLogin sends the browser to the login page, remembering where it was
// going when that is a page it can come back to with GET.
func (s *server) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") == "true" {
		// An htmx swap would put the login page inside the tab; reload instead.
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// setSessionCookie gives the browser its session. The cookie expires with
// the session's absolute lifetime; idle expiry is enforced by the server.
func (s *server) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookie(sessionCookie),
		Value:    value,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *server) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie(name), Value: "", Path: path, MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// cookie returns the name a cookie has on this server. Over HTTPS the
// names carry the prefixes browsers enforce: __Host- for the cookies of the
// whole site (Secure, Path=/, no Domain: no subdomain, and no plain-HTTP
// page, can set or shadow the session), __Secure- for those scoped to
// /login.
func (s *server) cookie(name string) string {
	switch {
	case !s.cfg.SecureCookies:
		return name
	case name == sessionCookie || name == flashCookie:
		return "__Host-" + name
	default:
		return "__Secure-" + name
	}
}

// safeNext returns next if it is a path on this site, "/" otherwise, so
// that /login?next=… cannot send a freshly logged-in user elsewhere.
// Browsers treat "//host", "/\host" and paths with control characters as
// other origins or strip them, so those are refused as well.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if u.Path == "/login" || u.Path == "/logout" || strings.HasPrefix(u.Path, "/static/") {
		return "/"
	}
	return next
}
