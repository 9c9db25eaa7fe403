package web

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// The Security tab's rate limiter and output cache rows. Each row's options
// are a plain form inside a <details> element, so they open without
// JavaScript; a save is an ordinary POST that redirects back to the tab,
// and a failed save renders the tab again with the options open, what was
// typed kept, and the app's message next to the field it is about.

// rateLimitForm is the rate limiter's options form. Fields hold text as
// typed, so that a rejected value comes back unchanged.
type rateLimitForm struct {
	Open     bool // expanded: after a failed save
	Enabled  bool
	Requests string
	Per      string
	Allow    string // one entry per line
	// Errors, each next to its field; Err is for the rest.
	RequestsErr, PerErr, AllowErr, Err string
}

func rateLimitFormOf(rl rampart.RateLimit) rateLimitForm {
	return rateLimitForm{
		Enabled:  rl.Enabled,
		Requests: strconv.Itoa(rl.Requests),
		Per:      rl.Per,
		Allow:    strings.Join(rl.Allow, "\n"),
	}
}

// cacheForm is the output cache's options form.
type cacheForm struct {
	Open         bool
	Enabled      bool
	TTL          string
	StaleIfError string
	TTLErr       string
	StaleErr     string
	Err          string
}

func cacheFormOf(c rampart.Cache) cacheForm {
	return cacheForm{
		Enabled:      c.Enabled,
		TTL:          shortDuration(time.Duration(c.TTL)),
		StaleIfError: shortDuration(time.Duration(c.StaleIfError)),
	}
}

// purgeCachePage is the data of cache_purge.html, the purge confirmation
// for browsers without JavaScript; with it the same form opens in a modal.
type purgeCachePage struct {
	base
	Service *rampart.Service
	Err     string
}

func (s *server) saveRateLimit(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	// Look the service up first so that a member probing someone else's
	// service gets a 404 whatever the form holds.
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	f := rateLimitForm{
		Open:     true,
		Enabled:  r.PostFormValue("enabled") != "",
		Requests: strings.TrimSpace(r.PostFormValue("requests")),
		Per:      r.PostFormValue("per"),
		Allow:    r.PostFormValue("allow"),
	}
	rl := rampart.RateLimit{Enabled: f.Enabled, Per: f.Per, Allow: splitList(f.Allow)}
	if rl.Requests, err = strconv.Atoi(f.Requests); err != nil {
		// The other fields are checked with a valid count in its place,
		// so that their problems show now rather than after a second try.
		check := rl
		check.Requests = rampart.MinRateLimitRequests
		msgs := rampart.FieldMessages(check.Validate())
		f.PerErr, f.AllowErr = msgs["rate_limit.per"], msgs["rate_limit.allow"]
		f.RequestsErr = fmt.Sprintf("rate limit: requests must be a whole number between 1 and %d, got %q", rampart.MaxRateLimitRequests, f.Requests)
		s.renderSecurity(w, r, rc, svc, http.StatusUnprocessableEntity, func(d *servicePage) { d.RateLimit = f })
		return
	}
	status, msgs, ok := s.saveSetting(w, r, rc, svc, rampart.ServiceUpdate{Name: svc.Name, RateLimit: &rl}, "Rate limit saved: applies at once.")
	if ok {
		return
	}
	f.RequestsErr, f.PerErr, f.AllowErr, f.Err = msgs["rate_limit.requests"], msgs["rate_limit.per"], msgs["rate_limit.allow"], otherMessages(msgs, "rate_limit.requests", "rate_limit.per", "rate_limit.allow")
	s.renderSecurity(w, r, rc, svc, status, func(d *servicePage) { d.RateLimit = f })
}

func (s *server) saveCache(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	f := cacheForm{
		Open:         true,
		Enabled:      r.PostFormValue("enabled") != "",
		TTL:          strings.TrimSpace(r.PostFormValue("ttl")),
		StaleIfError: strings.TrimSpace(r.PostFormValue("stale_if_error")),
	}
	c := rampart.Cache{Enabled: f.Enabled}
	ttl, ttlErr := parseFormDuration("ttl", f.TTL)
	stale, staleErr := parseFormDuration("stale_if_error", f.StaleIfError)
	if ttlErr != "" || staleErr != "" {
		f.TTLErr, f.StaleErr = ttlErr, staleErr
		s.renderSecurity(w, r, rc, svc, http.StatusUnprocessableEntity, func(d *servicePage) { d.Cache = f })
		return
	}
	c.TTL, c.StaleIfError = rampart.Duration(ttl), rampart.Duration(stale)
	status, msgs, ok := s.saveSetting(w, r, rc, svc, rampart.ServiceUpdate{Name: svc.Name, Cache: &c}, "Output cache saved: applies at once.")
	if ok {
		return
	}
	f.TTLErr, f.StaleErr, f.Err = msgs["cache.ttl"], msgs["cache.stale_if_error"], otherMessages(msgs, "cache.ttl", "cache.stale_if_error")
	s.renderSecurity(w, r, rc, svc, status, func(d *servicePage) { d.Cache = f })
}

// saveSetting applies one Security-tab setting. On success it redirects
// with the flash saved and reports ok; an error that is not about the
// form's fields is answered as an error page (ok too: nothing left to do).
// Otherwise it returns the status and each field's message, for the form.
func (s *server) saveSetting(w http.ResponseWriter, r *http.Request, rc *reqCtx, svc *rampart.Service, up rampart.ServiceUpdate, saved string) (status int, msgs map[string]string, ok bool) {
	_, err := s.app.Services.Update(r.Context(), rc.actor, up)
	if err == nil {
		s.setFlash(w, rc.sess, "success", saved)
		http.Redirect(w, r, servicePath(svc.Name, "security"), http.StatusSeeOther)
		return 0, nil, true
	}
	code := rampart.ErrorCode(err)
	if pageError(err) {
		s.fail(w, r, rc, err)
		return 0, nil, true
	}
	status, _ = statusOf(code)
	return status, rampart.FieldMessages(err), false
}

// renderSecurity shows the Security tab after a failed save; form puts the
// submitted form in place of the stored setting.
func (s *server) renderSecurity(w http.ResponseWriter, r *http.Request, rc *reqCtx, svc *rampart.Service, status int, form func(d *servicePage)) {
	d, err := s.servicePageFor(r, rc, svc, "security")
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	form(&d)
	s.render(w, r, status, "service", d)
}

func (s *server) purgeCachePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "cache_purge", purgeCachePage{base: rc.base("Purge cache of "+svc.Name, "services"), Service: svc})
}

func (s *server) purgeCache(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	// The lookup comes first: without an edge the app would answer "no
	// cache to purge" even for a service the member may not see.
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	n, err := s.app.Services.PurgeCache(r.Context(), rc.actor, svc.Name)
	if err != nil {
		code := rampart.ErrorCode(err)
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		d := purgeCachePage{base: rc.base("Purge cache of "+svc.Name, "services"), Service: svc, Err: rampart.ErrorMessage(err)}
		status, _ := statusOf(code)
		s.render(w, r, status, "cache_purge", d)
		return
	}
	s.setFlash(w, rc.sess, "success", "Purged "+plural(n, "cached response")+".")
	http.Redirect(w, r, servicePath(svc.Name, "security"), http.StatusSeeOther)
}

// otherMessages joins the messages of msgs (see rampart.FieldMessages) that
// are about none of the form's fields: they go above the form, so that no
// problem goes unshown.
func otherMessages(msgs map[string]string, formFields ...string) string {
	var out []string
	for field, m := range msgs {
		if !slices.Contains(formFields, field) {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// splitList reads the allow-list textarea: one entry per line, and commas
// or spaces also separate, since neither can be part of an address.
func splitList(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n'
	})
}

// parseFormDuration reads a duration field: Go duration text ("3s", "1m30s"),
// or a bare number of seconds, which the API accepts as well. It returns a
// message for the person, in the app's style, instead of an error.
func parseFormDuration(field, v string) (time.Duration, string) {
	if v == "" {
		return 0, fmt.Sprintf("cache: %s is required: use text like 3s or 1m", field)
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs <= 1e9 {
		return time.Duration(secs * float64(time.Second)), ""
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Sprintf("cache: %s %q is not a duration: use text like 3s, 10s or 1m", field, v)
	}
	return d, ""
}

// rateLimitWords is a rate limit as the Security tab's row states it.
func rateLimitWords(rl rampart.RateLimit) string {
	if !rl.Enabled {
		return "Off"
	}
	return plural64(int64(rl.Requests), "request") + " per " + rl.Per + " per client IP"
}

// cacheWords is an output cache setting as the row states it.
func cacheWords(c rampart.Cache) string {
	if !c.Enabled {
		return "Off"
	}
	return "GET/HEAD responses cached for " + shortDuration(time.Duration(c.TTL))
}
