package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

//go:embed templates
var templateFS embed.FS

// pageFiles lists, per page, the templates parsed together with
// layout.html and partials.html. Each page file defines "title" and "content".
var pageFiles = map[string][]string{
	"login":           {"login.html"},
	"login-verify":    {"login_verify.html", "login_passkey.html"},
	"services":        {"services.html"},
	"service_new":     {"service_new.html"},
	"service":         {"service.html", "tab_overview.html", "tab_security.html", "security_firewall.html", "security_sshkeys.html", "security_mail.html", "tab_logs.html", "tab_backups.html"},
	"service_delete":  {"service_delete.html"},
	"service_confirm": {"service_confirm.html"},
	"cache_purge":     {"cache_purge.html"},
	"audit":           {"audit.html"},
	"service_domains": {"service_domains.html"},
	"service_config":  {"service_config.html"},
	"domain_remove":   {"domain_remove.html"},
	"error":           {"error.html"},
	// The node's firewall and SSH keys rows: confirmations without JavaScript.
	"firewall_rule_remove": {"firewall_rule_remove.html", "security_firewall.html"},
	"ssh_key_remove":       {"ssh_key_remove.html", "security_sshkeys.html"},
	// The mail domain's DNS records without JavaScript.
	"mail_dns":        {"mail_dns.html", "security_mail.html"},
	"account":         {"account.html", "account_parts.html", "account_passkeys.html"},
	"account_mfa":     {"account_mfa.html", "account_parts.html"},
	"account_codes":   {"account_codes.html"},
	"account_confirm": {"account_confirm.html", "account_parts.html"},
	// People management and the pages behind emailed links.
	"people":           {"people.html"},
	"person_delete":    {"person_delete.html"},
	"link":             {"link.html"},
	"account_password": {"account_password.html"},
	"account_tokens":   {"account_tokens.html"},
	"passkey_remove":   {"passkey_remove.html"},
}

// pages are the parsed templates, one set per page so that each page's
// "content" block is its own.
type pages struct {
	sets map[string]*template.Template
}

func parsePages(as *assets) (*pages, error) {
	funcs := template.FuncMap{
		"asset":          as.url,
		"ago":            ago,
		"datetime":       datetime,
		"isoTime":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"join":           strings.Join,
		"add":            func(a, b int) int { return a + b },
		"initial":        initial,
		"isIPv6":         func(ip string) bool { return strings.Contains(ip, ":") },
		"field":          func(field, value string) copyField { return copyField{field, value} },
		"count":          formatCount,
		"num":            svgNum,
		"duration":       func(d rampart.Duration) string { return shortDuration(time.Duration(d)) },
		"rateLimitWords": rateLimitWords,
		"cacheWords":     cacheWords,
		"hstsWords":      hstsWords,
		"domainsPath":    domainsPath,
		"personPath":     personPath,
		"domainState":    domainStateWords,
		"internalName":   rampart.IsInternalName,
		"upload":         func(id, cert, key string) uploadFields { return uploadFields{id, cert, key} },
		"timeLeft":       func(t time.Time) string { return timeLeft(t, time.Now()) },
		"printable":      printable,
		"int64":          func(n int) int64 { return int64(n) },
	}
	p := &pages{sets: map[string]*template.Template{}}
	for name, files := range pageFiles {
		paths := []string{"templates/layout.html", "templates/partials.html"}
		for _, f := range files {
			paths = append(paths, "templates/"+f)
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, paths...)
		if err != nil {
			return nil, fmt.Errorf("web: parsing templates of page %q: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// base is what the layout needs on every page; page data structs embed it.
type base struct {
	Title string
	Nav   string // which top-bar entry is current: "services", "audit"
	User  *rampart.User
	CSRF  string
	Flash *flash
	// Bare pages (login, errors before login) have no top bar.
	Bare bool
}

func (b base) isBare() bool { return b.Bare }

// uploadFields is the argument of the "upload-fields" template: whose
// fields they are (for unique element IDs) and their text.
type uploadFields struct{ ID, Cert, Key string }

// copyField is the argument of the "copy" template: a value with a copy
// button, and the data-field name tests and scripts find it by.
type copyField struct{ Field, Value string }

// initial is the letter in the top bar's avatar circle.
func initial(email string) string {
	for _, r := range email {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// render executes a page into a buffer first, so that a template error turns
// into a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	t, ok := s.pages.sets[page]
	if !ok {
		s.internalError(w, r, fmt.Errorf("no page %q", page))
		return
	}
	layout := "layout"
	if b, ok := data.(interface{ isBare() bool }); ok && b.isBare() {
		layout = "bare"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, layout, data); err != nil {
		s.internalError(w, r, fmt.Errorf("rendering page %q: %w", page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// errorPage is the data of error.html.
type errorPage struct {
	base
	Status  int
	Heading string
	Message string
}

// showError renders an error page. rc may be nil before a session is known;
// the top bar then shows no user.
func (s *server) showError(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, heading, msg string) {
	d := errorPage{Status: status, Heading: heading, Message: msg}
	if rc != nil {
		d.base = rc.base(heading, "")
	} else {
		d.Title, d.Bare = heading, true
	}
	s.render(w, r, status, "error", d)
}

// fail turns an error from the service layer into a response: its own
// message and the status that matches its code. EINTERNAL errors may carry
// paths or SQL, so those are logged and the person sees a generic message.
func (s *server) fail(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	code := rampart.ErrorCode(err)
	switch code {
	case rampart.EUNAUTHORIZED:
		s.toLogin(w, r)
		return
	case rampart.EINTERNAL:
		s.internalError(w, r, err)
		return
	}
	status, heading := statusOf(code)
	s.showError(w, r, rc, status, heading, rampart.ErrorMessage(err))
}

// pageError reports whether err is for the error page rather than beside
// a form: not logged in, a service that is not there (or not the
// caller's), or a bug.
func pageError(err error) bool {
	switch rampart.ErrorCode(err) {
	case rampart.EINTERNAL, rampart.EUNAUTHORIZED, rampart.ENOTFOUND:
		return true
	}
	return false
}

// statusOf maps an error code to an HTTP status and a page heading.
func statusOf(code string) (int, string) {
	switch code {
	case rampart.EINVALID:
		return http.StatusUnprocessableEntity, "That did not work"
	case rampart.ENOTFOUND:
		return http.StatusNotFound, "Not found"
	case rampart.ECONFLICT:
		return http.StatusConflict, "That clashes with the current state"
	case rampart.ETERMPROTECTED:
		return http.StatusConflict, "Termination protection is on"
	case rampart.EFORBIDDEN:
		return http.StatusForbidden, "Not allowed"
	case rampart.ETOOMANY:
		return http.StatusTooManyRequests, "Too many attempts"
	case rampart.EUNAVAILABLE:
		return http.StatusServiceUnavailable, "Not possible right now"
	case rampart.EUNAUTHORIZED:
		return http.StatusUnauthorized, "Log in required"
	}
	return http.StatusInternalServerError, "Something went wrong"
}

// internalError logs err with the request and shows a page without details.
func (s *server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	d := errorPage{Status: http.StatusInternalServerError, Heading: "Something went wrong",
		Message: "The server could not complete the request. The details are in its log; try again in a moment."}
	d.Title, d.Bare = d.Heading, true
	var buf bytes.Buffer
	if t := s.pages.sets["error"]; t == nil || t.ExecuteTemplate(&buf, "bare", d) != nil {
		// The failure may be in rendering itself: fall back to plain HTML.
		buf.Reset()
		buf.WriteString(internalErrorHTML)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = buf.WriteTo(w)
}

const internalErrorHTML = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Error · rampart</title>` +
	`<h1>Something went wrong</h1><p>The server could not complete the request. The details are in its log.</p>` +
	`<p><a href="/">Back to the dashboard</a></p></html>`

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	rc, _ := s.session(r)
	s.showError(w, r, rc, http.StatusNotFound, "Page not found", "There is nothing at "+r.URL.Path+".")
}

// ago formats t relative to now ("3 minutes ago"); the exact time goes in
// the element's title via datetime.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return t.UTC().Format("2 Jan 2006")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// datetime is the exact form of a time, in UTC so that every viewer and the
// server's log agree.
func datetime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
