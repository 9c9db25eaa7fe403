package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

var linkRE = regexp.MustCompile(`https://rampart\.example\.net(/(?:invite|reset)/[A-Za-z0-9_-]+)`)

// linkIn returns the path of the link in the last mail to email.
func (e *env) linkIn(email string) string {
	e.t.Helper()
	m := linkRE.FindStringSubmatch(e.mail.Last(e.t, email).Text)
	if m == nil {
		e.t.Fatalf("no link in the last mail to %s:\n%s", email, e.mail.Last(e.t, email).Text)
	}
	return m[1]
}

// TestInviteThroughTheDashboard: an admin invites; the person opens the
// emailed link, chooses a password, and logs in with it and a code.
func TestInviteThroughTheDashboard(t *testing.T) {
	e := newEnv(t)
	admin := e.browser()
	tok := admin.login(adminEmail)
	page := admin.get("/people")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, adminEmail, memberEmail, "Invite someone")

	// Bad input is said next to the form, and keeps what was typed.
	res := admin.post("/people/invite", url.Values{"email": {"not an address"}, "role": {"member"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="invite-error"`, `value="not an address"`)
	// Without the session's token nothing happens.
	wantStatus(t, admin.post("/people/invite", url.Values{"email": {"dan@example.com"}, "role": {"member"}}), http.StatusForbidden)
	if len(e.mail.All("dan@example.com")) != 0 {
		t.Fatal("a forged invitation was sent")
	}

	wantRedirect(t, admin.post("/people/invite", url.Values{"email": {"Dan@Example.com"}, "role": {"member"}, "csrf_token": {tok}}), "/people")
	wantContains(t, admin.get("/people"), "Invitation sent to dan@example.com", `data-person="dan@example.com"`, "Invited")
	link := e.linkIn("dan@example.com")

	// The invited person cannot log in before choosing a password.
	dan := e.browser()
	lp := dan.get("/login")
	res = dan.post("/login", url.Values{"email": {"dan@example.com"}, "password": {""}, "csrf_token": {csrfOf(t, lp.Body)}})
	if res.StatusCode == http.StatusSeeOther {
		t.Fatal("an invited account logged in without a password")
	}

	// A reset page does not take an invitation's secret.
	wantStatus(t, dan.get(strings.Replace(link, "/invite/", "/reset/", 1)), http.StatusNotFound)

	form := dan.get(link)
	wantStatus(t, form, http.StatusOK)
	wantContains(t, form, "Welcome to rampart", "dan@example.com")
	if form.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("link page Referrer-Policy %q, want no-referrer", form.Header.Get("Referrer-Policy"))
	}
	ltok := csrfOf(t, form.Body)
	res = dan.post(link, url.Values{"password": {"dan's own password"}, "password2": {"dan's other password"}, "csrf_token": {ltok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "The two passwords differ")
	res = dan.post(link, url.Values{"password": {"short"}, "password2": {"short"}, "csrf_token": {ltok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = dan.post(link, url.Values{"password": {"dan's own password"}, "password2": {"dan's own password"}, "csrf_token": {ltok}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "Your password is saved", `value="dan@example.com"`)

	// The link worked once.
	gone := dan.get(link)
	wantStatus(t, gone, http.StatusNotFound)
	wantContains(t, gone, "This link no longer works")

	// Now the login: the password, then the emailed code.
	lp = dan.get("/login")
	res = dan.post("/login", url.Values{"email": {"dan@example.com"}, "password": {"dan's own password"}, "csrf_token": {csrfOf(t, lp.Body)}})
	wantRedirect(t, dan.enterCode("dan@example.com", res), "/")
	home := dan.get("/")
	wantContains(t, home, "dan@example.com")
	if strings.Contains(home.Body, `href="/people"`) {
		t.Error("a member's top bar links to People")
	}
	// Members have no People page.
	if res := dan.get("/people"); res.StatusCode != http.StatusForbidden {
		t.Errorf("member GET /people: %d", res.StatusCode)
	}
}

// TestPeopleActions: role, disable (the session ends at once), reset
// password, delete with its guards.
func TestPeopleActions(t *testing.T) {
	e := newEnv(t)
	admin := e.browser()
	tok := admin.login(adminEmail)
	bob := e.browser()
	bob.login(memberEmail)

	wantRedirect(t, admin.post("/people/"+memberEmail+"/admin", url.Values{"csrf_token": {tok}}), "/people")
	if u, _ := e.db.UserByEmail(t.Context(), memberEmail); u.Role != rampart.RoleAdmin {
		t.Fatalf("bob's role: %s", u.Role)
	}
	wantRedirect(t, admin.post("/people/"+memberEmail+"/member", url.Values{"csrf_token": {tok}}), "/people")

	// Nobody changes their own role or disables themselves: the page says why.
	res := admin.post("/people/"+adminEmail+"/disable", url.Values{"csrf_token": {tok}})
	if res.StatusCode < 400 {
		t.Fatalf("an admin disabled themselves: %d", res.StatusCode)
	}

	// Disabling ends bob's session on his next request.
	wantRedirect(t, admin.post("/people/"+memberEmail+"/disable", url.Values{"csrf_token": {tok}}), "/people")
	if res := bob.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("disabled member's session still works: %d", res.StatusCode)
	}
	wantContains(t, admin.get("/people"), "Disabled")
	wantRedirect(t, admin.post("/people/"+memberEmail+"/enable", url.Values{"csrf_token": {tok}}), "/people")

	// Bob lost his phone: an admin resets his second factor to email codes.
	u, _ := e.db.UserByEmail(t.Context(), memberEmail)
	u.MFA = rampart.MFATOTP
	if err := e.db.SetUserMFA(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	wantContains(t, admin.get("/people"), `data-action="reset-mfa"`)
	wantRedirect(t, admin.post("/people/"+memberEmail+"/reset-mfa", url.Values{"csrf_token": {tok}}), "/people")
	if u, _ := e.db.UserByEmail(t.Context(), memberEmail); u.MFA != rampart.MFAEmail {
		t.Errorf("after the reset bob's second factor is %s", u.MFA)
	}

	// A reset sends bob a link; his password works until he uses it.
	wantRedirect(t, admin.post("/people/"+memberEmail+"/reset-password", url.Values{"csrf_token": {tok}}), "/people")
	link := e.linkIn(memberEmail)
	if !strings.HasPrefix(link, "/reset/") {
		t.Fatalf("reset link %s", link)
	}
	bob2 := e.browser()
	bob2.login(memberEmail)
	form := bob2.get(link)
	wantContains(t, form, "Choose a new password")
	res = bob2.post(link, url.Values{"password": {"bob's new password"}, "password2": {"bob's new password"}, "csrf_token": {csrfOf(t, form.Body)}})
	wantStatus(t, res, http.StatusOK)

	// Delete: the email must be typed; an owner of services is refused.
	e.createService(memberEmail, "blog")
	page := admin.get("/people/" + memberEmail + "/delete")
	wantStatus(t, page, http.StatusOK)
	res = admin.post("/people/"+memberEmail+"/delete", url.Values{"confirm": {"bob"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	res = admin.post("/people/"+memberEmail+"/delete", url.Values{"confirm": {memberEmail}, "csrf_token": {tok}})
	if res.StatusCode < 400 || !strings.Contains(res.Body, "blog") {
		t.Fatalf("deleting the owner of a service: %d\n%s", res.StatusCode, res.Body)
	}
	// Members cannot act on people.
	carol := e.browser()
	ctok := carol.login(otherEmail)
	if res := carol.post("/people/"+adminEmail+"/member", url.Values{"csrf_token": {ctok}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("member demoting the admin: %d", res.StatusCode)
	}
	wantRedirect(t, admin.post("/people/"+otherEmail+"/delete", url.Values{"confirm": {otherEmail}, "csrf_token": {tok}}), "/people")
	if _, err := e.db.UserByEmail(t.Context(), otherEmail); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("carol after delete: %v", err)
	}
	if res := carol.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a deleted account's session still works: %d", res.StatusCode)
	}
}
