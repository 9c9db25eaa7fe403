package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

// TestHSTSForm: the SSL/TLS row of the Security tab states HSTS and its
// options turn it on, with the warning in view; nonsense comes back with
// the reason next to its field and changes nothing; another member cannot
// touch it.
func TestHSTSForm(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, `data-field="hsts">HSTS off<`, `action="/services/blog/hsts"`, `name="max_age" type="text" value="1y"`,
		`id="hsts-enabled" name="enabled" value="on">`, `id="hsts-warning"`, "HSTS is a promise browsers hold you to.", `id="security-domains"`)
	if strings.Contains(sec.Body, `id="hsts-options" open`) {
		t.Error("HSTS options open before anything was submitted")
	}

	form := url.Values{"csrf_token": {tok}, "enabled": {"on"}, "max_age": {" 2y "}, "include_subdomains": {"on"}, "preload": {"on"}}
	wantRedirect(t, b.post("/services/blog/hsts", form), "/services/blog?tab=security")
	want := rampart.HSTS{Enabled: true, MaxAge: 63072000, IncludeSubDomains: true, Preload: true}
	if got := e.stored("blog").HSTS; got != want {
		t.Fatalf("stored HSTS = %+v, want %+v", got, want)
	}
	if ev := e.lastAudit("blog"); ev.Action != "service.update" || ev.Actor != memberEmail || ev.Detail != "hsts=max-age=63072000;includeSubDomains;preload" {
		t.Errorf("audit: %+v", ev)
	}
	wantContains(t, b.get("/services/blog?tab=security"), "HSTS saved: HTTPS responses carry Strict-Transport-Security: max-age=63072000; includeSubDomains; preload.",
		`data-field="hsts">HSTS on: browsers keep to HTTPS for 2 years, subdomains included, preload<`, `value="2y"`,
		`id="hsts-preload" name="preload" value="on" checked`)

	for _, tc := range []struct {
		name                        string
		maxAge, subdomains, preload string
		errID, msg, kept            string
	}{
		{"not a duration", "a while", "on", "", "hsts-max-age-err", "max-age &#34;a while&#34; is not a duration", `value="a while"`},
		{"too long", "3y", "on", "", "hsts-max-age-err", "between 0 and 63072000 seconds", `value="3y"`},
		{"negative", "-5", "", "", "hsts-max-age-err", "between 0 and 63072000", `value="-5"`},
		{"preload, short", "30d", "on", "on", "hsts-preload-err", "preload requires a max_age of at least 31536000", `value="30d"`},
		{"preload, no subdomains", "1y", "", "on", "hsts-preload-err", "preload requires include_subdomains", `value="1y"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := b.post("/services/blog/hsts", url.Values{"csrf_token": {tok}, "enabled": {"on"}, "max_age": {tc.maxAge},
				"include_subdomains": {tc.subdomains}, "preload": {tc.preload}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantContains(t, res, `id="`+tc.errID+`"`, tc.msg, tc.kept, `id="hsts-options" open`, `aria-invalid="true"`,
				`data-field="hsts">HSTS on: browsers keep to HTTPS for 2 years`)
			if got := e.stored("blog").HSTS; got != want {
				t.Errorf("an invalid form changed HSTS to %+v", got)
			}
		})
	}

	// Off: the checkbox is absent from the form; the rest is kept.
	wantRedirect(t, b.post("/services/blog/hsts", url.Values{"csrf_token": {tok}, "max_age": {"180d"}}), "/services/blog?tab=security")
	if got := e.stored("blog").HSTS; got != (rampart.HSTS{MaxAge: 180 * 86400}) {
		t.Errorf("after turning off: %+v", got)
	}
	wantContains(t, b.get("/services/blog?tab=security"), `data-field="hsts">HSTS off<`, `value="180d"`, "Browsers that saw the header keep to HTTPS")

	// Another member's POST is a 404, changes nothing.
	other := e.browser()
	otok := other.login(otherEmail)
	res := other.post("/services/blog/hsts", url.Values{"csrf_token": {otok}, "enabled": {"on"}, "max_age": {"1y"}})
	wantStatus(t, res, http.StatusNotFound)
	if got := e.stored("blog").HSTS; got.Enabled {
		t.Errorf("another member turned HSTS on: %+v", got)
	}
	// Without the session's token nothing changes.
	res = b.post("/services/blog/hsts", url.Values{"enabled": {"on"}, "max_age": {"1y"}})
	if res.StatusCode == http.StatusSeeOther {
		t.Error("a POST without the CSRF token was accepted")
	}
	if got := e.stored("blog").HSTS; got.Enabled {
		t.Errorf("a POST without the CSRF token turned HSTS on: %+v", got)
	}
}

func TestHSTSWords(t *testing.T) {
	for _, tc := range []struct {
		h    rampart.HSTS
		want string
	}{
		{rampart.DefaultHSTS(), "HSTS off"},
		{rampart.HSTS{Enabled: true}, "HSTS on with max-age 0: browsers are told to forget it"},
		{rampart.HSTS{Enabled: true, MaxAge: 31536000}, "HSTS on: browsers keep to HTTPS for 1 year"},
		{rampart.HSTS{Enabled: true, MaxAge: 86400, IncludeSubDomains: true}, "HSTS on: browsers keep to HTTPS for 1 day, subdomains included"},
		{rampart.HSTS{Enabled: true, MaxAge: 90}, "HSTS on: browsers keep to HTTPS for 90 seconds"},
	} {
		if got := hstsWords(tc.h); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
	for secs, want := range map[int64]string{0: "0", 31536000: "1y", 63072000: "2y", 86400 * 180: "180d", 3600: "3600"} {
		if got := hstsAgeText(secs); got != want {
			t.Errorf("hstsAgeText(%d) = %q, want %q", secs, got, want)
		}
	}
}
