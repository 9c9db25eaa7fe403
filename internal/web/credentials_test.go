package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestChangePassword: the current password and an emailed code; a wrong
// one of either changes nothing; other sessions end, this one stays.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	tok := b.login(memberEmail)
	other := e.browser()
	other.login(memberEmail)

	page := b.get("/account/password")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "Email me a code", `id="password-submit" disabled`)
	form := func(current, code string) url.Values {
		return url.Values{"current_password": {current}, "new_password": {"a brand new password"}, "new_password2": {"a brand new password"}, "code": {code}, "csrf_token": {tok}}
	}
	// No code asked for yet: refused before anything is checked.
	res := b.post("/account/password", form(testPassword, "123456"))
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "no emailed code is waiting")

	wantStatus(t, b.post("/account/password/code", url.Values{"csrf_token": {tok}}), http.StatusOK)
	code := e.mail.Code(t, memberEmail)
	res = b.post("/account/password", form("not my password", code))
	if res.StatusCode < 400 || !strings.Contains(res.Body, "current password is not right") {
		t.Fatalf("wrong current password: %d", res.StatusCode)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	res = b.post("/account/password", form(testPassword, wrong))
	if res.StatusCode < 400 {
		t.Fatalf("wrong code: %d", res.StatusCode)
	}
	// Without the CSRF token nothing happens.
	f := form(testPassword, code)
	f.Del("csrf_token")
	wantStatus(t, b.post("/account/password", f), http.StatusForbidden)

	wantRedirect(t, b.post("/account/password", form(testPassword, code)), "/account/security")
	wantContains(t, b.get("/account/security"), "Password changed")
	if res := other.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the other session survived the password change: %d", res.StatusCode)
	}
	if m := e.mail.Last(t, memberEmail); !strings.Contains(m.Subject, "password") {
		t.Errorf("no notice mailed: %+v", m)
	}
}

// TestAPITokensPage: a token is shown once, works, and stops when revoked.
func TestAPITokensPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	tok := b.login(memberEmail)
	wantContains(t, b.get("/account/security"), "Manage tokens")
	res := b.post("/account/tokens", url.Values{"name": {""}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = b.post("/account/tokens", url.Values{"name": {"deploy script"}, "days": {"30"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusOK)
	m := regexp.MustCompile(`rpt_[A-Za-z0-9_-]+`).FindString(res.Body)
	if m == "" {
		t.Fatalf("no token on the page:\n%s", res.Body)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page with a token is cacheable: %q", res.Header.Get("Cache-Control"))
	}
	if u, err := e.app.Accounts.Authenticate(t.Context(), m); err != nil || u.Email != memberEmail {
		t.Fatalf("the new token: %v", err)
	}
	list := b.get("/account/tokens")
	if strings.Contains(list.Body, m) {
		t.Error("the token is shown again")
	}
	id := regexp.MustCompile(`data-token="(\d+)"`).FindStringSubmatch(list.Body)
	if id == nil {
		t.Fatalf("no token row:\n%s", list.Body)
	}
	// Another member cannot revoke it.
	carol := e.browser()
	ctok := carol.login(otherEmail)
	if res := carol.post("/account/tokens/"+id[1]+"/revoke", url.Values{"csrf_token": {ctok}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("another member revoking: %d", res.StatusCode)
	}
	wantRedirect(t, b.post("/account/tokens/"+id[1]+"/revoke", url.Values{"csrf_token": {tok}}), "/account/tokens")
	if _, err := e.app.Accounts.Authenticate(t.Context(), m); err == nil {
		t.Error("a revoked token still works")
	}
}
