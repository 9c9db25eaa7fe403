package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/auth/totp"
)

// appCodes stands in for a phone's authenticator app. The server accepts
// a code of the current step ±1 and never a step it has seen, so each
// code comes from the step after the last one used, waiting when that
// step is beyond the server's window.
type appCodes struct {
	t      *testing.T
	secret string
	last   int64
}

func (c *appCodes) next() string {
	c.t.Helper()
	cur := time.Now().Unix() / totp.Period
	s := max(c.last+1, cur)
	if s > cur+totp.Skew {
		time.Sleep(time.Until(time.Unix((s-totp.Skew)*totp.Period, 0)) + 50*time.Millisecond)
	}
	c.last = s
	code, err := totp.Code(c.secret, time.Unix(s*totp.Period, 0))
	if err != nil {
		c.t.Fatal(err)
	}
	return code
}

var (
	secretRE       = regexp.MustCompile(`<code data-field="totp-secret">([A-Z2-7 ]+)</code>`)
	recoveryCodeRE = regexp.MustCompile(`<code data-field="recovery-code">([a-z2-7-]+)</code>`)
)

// enrolPage opens the Authenticator App tab and returns its page and the
// secret it shows.
func (b *browser) enrolPage() (*response, string) {
	t := b.e.t
	t.Helper()
	page := b.get("/account/security/mfa?tab=app")
	wantStatus(t, page, http.StatusOK)
	m := secretRE.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("the Authenticator App tab shows no secret:\n%s", page.Body)
	}
	return page, strings.ReplaceAll(m[1], " ", "")
}

// recoveryCodes returns the recovery codes a page shows.
func recoveryCodes(body string) []string {
	var out []string
	for _, m := range recoveryCodeRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// enrolTOTP turns the authenticator app on for b's user and returns the
// app and the recovery codes shown.
func (b *browser) enrolTOTP() (*appCodes, []string) {
	t := b.e.t
	t.Helper()
	page, secret := b.enrolPage()
	app := &appCodes{t: t, secret: secret}
	res := b.post("/account/security/mfa/app", url.Values{"code": {app.next()}, "csrf_token": {csrfOf(t, page.Body)}})
	wantStatus(t, res, http.StatusOK)
	codes := recoveryCodes(res.Body)
	if len(codes) != rampart.RecoveryCodeCount {
		t.Fatalf("enrolling shows %d recovery codes, want %d:\n%s", len(codes), rampart.RecoveryCodeCount, res.Body)
	}
	return app, codes
}

// loginWith logs in with the password and then the code code gives, and
// returns the answer to the code.
func (b *browser) loginWith(email string, code func() string) *response {
	t := b.e.t
	t.Helper()
	page := b.get("/login")
	res := b.post("/login", url.Values{"email": {email}, "password": {testPassword}, "csrf_token": {csrfOf(t, page.Body)}})
	wantRedirect(t, res, "/login/verify?next=%2F")
	verify := b.get("/login/verify")
	wantStatus(t, verify, http.StatusOK)
	return b.post("/login/verify", url.Values{"code": {code()}, "next": {"/"}, "csrf_token": {csrfOf(t, verify.Body)}})
}

func (b *browser) logout() {
	t := b.e.t
	t.Helper()
	home := b.get("/")
	wantStatus(t, home, http.StatusOK)
	wantRedirect(t, b.post("/logout", url.Values{"csrf_token": {csrfOf(t, home.Body)}}), "/login")
}

func (e *env) mfa(email string) *app.MFAStatus {
	e.t.Helper()
	st, err := e.app.Accounts.MFAStatus(context.Background(), app.UserActor(e.users[email], "192.0.2.1"))
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// wantRotated checks that a change gave b a new session id and that the
// old one no longer opens anything.
func wantRotated(t *testing.T, b *browser, old string) {
	t.Helper()
	c := b.cookies[sessionCookie]
	if c == nil || c.Value == old {
		t.Fatal("the session id did not change with the second factor")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("new session cookie = %+v", c)
	}
	// Other browsers, so that b's flash cookie stays for the next page.
	stale, fresh := b.e.browser(), b.e.browser()
	stale.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: old}
	fresh.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: c.Value}
	wantRedirect(t, stale.get("/account/security"), "/login?next=%2Faccount%2Fsecurity")
	wantStatus(t, fresh.get("/account/security"), http.StatusOK)
}

func TestAccountPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)

	wantRedirect(t, b.get("/account"), "/account/security")
	page := b.get("/account/security")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "Manage Two-Factor Authentication", `href="/account/security/mfa"`, "Email codes to a••••@example.com",
		"Sign out other sessions", "Recovery codes", `class="account-link" href="/account/security"`)
	// Configure opens on the tab of the method that is on.
	cfg := b.get("/account/security/mfa")
	wantStatus(t, cfg, http.StatusOK)
	wantContains(t, cfg, "Authenticator App", "Email Based", "Disabled", `id="mfa-tab-email"`, "Email codes are on")

	// Logged out, the account page is behind the login.
	wantRedirect(t, e.browser().get("/account/security"), "/login?next=%2Faccount%2Fsecurity")
}

func TestAccountEnrolTOTP(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	bob := e.browser()
	bob.login(memberEmail)

	page, secret := b.enrolPage()
	wantContains(t, page, `src="data:image/png;base64,`, "Keep this key somewhere safe", "Validate")
	// A reload shows the same seed: one that is being typed in stays valid.
	if _, again := b.enrolPage(); again != secret {
		t.Fatal("reloading the Authenticator App tab changed the secret")
	}
	tok := csrfOf(t, page.Body)

	// Without the CSRF token nothing happens, even with the right code.
	codes := &appCodes{t: t, secret: secret}
	wantStatus(t, b.post("/account/security/mfa/app", url.Values{"code": {"123456"}}), http.StatusForbidden)
	// A wrong code is refused, next to the field; the app stays off.
	res := b.post("/account/security/mfa/app", url.Values{"code": {"000000"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="totp-code-err"`, "that code does not match")
	res = b.post("/account/security/mfa/app", url.Values{"code": {"12"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "type the 6 digits your authenticator app shows")
	if m := e.mfa(adminEmail).Method; m != rampart.MFAEmail {
		t.Fatalf("after refused codes the method is %s, want email", m)
	}

	// The right code turns it on and shows the ten codes, once.
	old := b.cookies[sessionCookie].Value
	res = b.post("/account/security/mfa/app", url.Values{"code": {codes.next()}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "Authenticator app turned on", "only time they are shown", "Copy all", `download="rampart-recovery-codes.txt"`)
	recovery := recoveryCodes(res.Body)
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(recovery))
	}
	if m := e.mfa(adminEmail).Method; m != rampart.MFATOTP {
		t.Fatalf("method after Validate: %s", m)
	}
	wantRotated(t, b, old)
	// The page of the answer carries the new session's CSRF token.
	if got := csrfOf(t, res.Body); got == tok {
		t.Error("the recovery codes page has the old session's CSRF token")
	}
	for _, p := range []string{"/account/security", "/account/security/mfa?tab=app", "/account/security/mfa"} {
		r := b.get(p)
		wantStatus(t, r, http.StatusOK)
		for _, c := range recovery {
			if strings.Contains(r.Body, c) {
				t.Fatalf("%s shows a recovery code again", p)
			}
		}
		if strings.Contains(r.Body, secret) || strings.Contains(r.Body, totp.FormatSecret(secret)) {
			t.Fatalf("%s shows the app's secret after enrolment", p)
		}
	}
	wantContains(t, b.get("/account/security"), "Authenticator app", `<strong data-field="recovery-count">10 of 10 left</strong>`)
	wantContains(t, b.get("/account/security/mfa"), "Your authenticator app is on")
	// Bob's session knows nothing of it.
	wantStatus(t, bob.get("/account/security"), http.StatusOK)

	// Log out; the password now leads to the app's code, and a recovery
	// code works in its place, once.
	b.logout()
	wantRedirect(t, b.loginWith(adminEmail, func() string { return strings.ToUpper(recovery[3]) }), "/")
	wantContains(t, b.get("/account/security"), `<strong data-field="recovery-count">9 of 10 left</strong>`)
	b.logout()
	res = b.loginWith(adminEmail, func() string { return recovery[3] })
	wantStatus(t, res, http.StatusUnauthorized)
	wantContains(t, res, "that code is not right")
	// An emailed code is no longer a way in.
	mailsBefore := len(e.mail.All(adminEmail))
	verify := b.get("/login/verify")
	wantContains(t, verify, "Enter your app's code")
	if n := len(e.mail.All(adminEmail)); n != mailsBefore {
		t.Fatal("a login with the app on emailed a code")
	}
	wantRedirect(t, b.post("/login/verify", url.Values{"code": {codes.next()}, "next": {"/"}, "csrf_token": {csrfOf(t, verify.Body)}}), "/")

	// The secret, the codes and the recovery codes are nowhere in the log.
	logs := e.logs.String()
	for _, s := range append([]string{secret}, recovery...) {
		if strings.Contains(logs, s) {
			t.Fatalf("the server log contains a secret: %q", s)
		}
	}
}

func TestAccountBackToEmail(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	codes, _ := b.enrolTOTP()

	page := b.get("/account/security/mfa?tab=email")
	wantContains(t, page, "Code from your authenticator app", "Enable")
	tok := csrfOf(t, page.Body)
	wantStatus(t, b.post("/account/security/mfa/email", url.Values{"code": {"123456"}}), http.StatusForbidden)
	// Leaving the app takes a code from it.
	for _, code := range []string{"", "000000"} {
		res := b.post("/account/security/mfa/email", url.Values{"code": {code}, "csrf_token": {tok}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantContains(t, res, `id="email-code-err"`)
		if m := e.mfa(adminEmail).Method; m != rampart.MFATOTP {
			t.Fatalf("a refused code switched the method to %s", m)
		}
	}
	old := b.cookies[sessionCookie].Value
	res := b.post("/account/security/mfa/email", url.Values{"code": {codes.next()}, "csrf_token": {tok}})
	wantRedirect(t, res, "/account/security")
	if m := e.mfa(adminEmail).Method; m != rampart.MFAEmail {
		t.Fatalf("method after Enable: %s", m)
	}
	wantRotated(t, b, old)
	wantContains(t, b.get("/account/security"), "Email Based two-factor authentication is on", "Email codes to a••••@example.com")

	// From email to email is nothing to confirm; and back on the app tab
	// a fresh enrolment starts.
	tok = csrfOf(t, b.get("/account/security").Body)
	wantRedirect(t, b.post("/account/security/mfa/email", url.Values{"csrf_token": {tok}}), "/account/security/mfa?tab=email")
	if _, secret := b.enrolPage(); secret == codes.secret {
		t.Error("switching to email kept the old app secret for a new enrolment")
	}
}

func TestAccountDisableWithEmailCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)

	page := b.get("/account/security/mfa?tab=disabled")
	wantContains(t, page, `id="disable-dialog"`, `data-confirm-match="disable"`, "Email me a code", "Code from the email")
	tok := csrfOf(t, page.Body)
	wantStatus(t, b.get("/account/security/mfa/disable"), http.StatusOK)

	// No code asked for yet.
	res := b.post("/account/security/mfa/disable", url.Values{"confirm": {"disable"}, "code": {"123456"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "no emailed code is waiting")

	mails := len(e.mail.All(adminEmail))
	wantStatus(t, b.post("/account/security/mfa/code", url.Values{"confirm": {"disable"}}), http.StatusForbidden)
	res = b.post("/account/security/mfa/code", url.Values{"confirm": {"disable"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "A code is on its way to a••••@example.com", `value="disable"`)
	if n := len(e.mail.All(adminEmail)); n != mails+1 {
		t.Fatalf("%d mails after asking for a code, want %d", n, mails+1)
	}
	c := b.cookies[confirmCookie]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != mfaPath {
		t.Fatalf("confirm cookie = %+v", c)
	}
	code := e.mail.Code(t, adminEmail)
	// From the modal (htmx), the answer is the line that says so; asking
	// again at once is throttled, and says that instead.
	res = b.do("POST", "/account/security/mfa/code", url.Values{"csrf_token": {tok}}, http.Header{"HX-Request": {"true"}})
	wantStatus(t, res, http.StatusOK)
	if strings.Contains(res.Body, "<html") || !strings.Contains(res.Body, "wait") {
		t.Fatalf("htmx answer to a quick second code: %s", res.Body)
	}

	// The word must be typed, and the code must be right.
	res = b.post("/account/security/mfa/disable", url.Values{"confirm": {"yes"}, "code": {code}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "type &#34;disable&#34; to confirm")
	res = b.post("/account/security/mfa/disable", url.Values{"confirm": {"disable"}, "code": {"000000"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "that code is not right", `value="disable"`)
	if strings.Contains(res.Body, code) {
		t.Error("the refused form echoes a code")
	}
	wantStatus(t, b.post("/account/security/mfa/disable", url.Values{"confirm": {"disable"}, "code": {code}}), http.StatusForbidden)
	if m := e.mfa(adminEmail).Method; m != rampart.MFAEmail {
		t.Fatalf("refused confirmations changed the method to %s", m)
	}

	old := b.cookies[sessionCookie].Value
	res = b.post("/account/security/mfa/disable", url.Values{"confirm": {"disable"}, "code": {code}, "csrf_token": {tok}})
	wantRedirect(t, res, "/account/security")
	if m := e.mfa(adminEmail).Method; m != rampart.MFANone {
		t.Fatalf("method after Disable: %s", m)
	}
	if _, ok := b.cookies[confirmCookie]; ok {
		t.Error("the confirm cookie outlived the confirmation")
	}
	wantRotated(t, b, old)
	wantContains(t, b.get("/account/security"), "Two-factor authentication is off", "Off: logins need only your password")
	wantContains(t, b.get("/account/security/mfa"), `id="mfa-tab-disabled"`, "Two-factor authentication is off")

	// Turning email codes back on from Off needs no code.
	tok = csrfOf(t, b.get("/account/security/mfa?tab=email").Body)
	wantRedirect(t, b.post("/account/security/mfa/email", url.Values{"csrf_token": {tok}}), "/account/security")
	if m := e.mfa(adminEmail).Method; m != rampart.MFAEmail {
		t.Fatalf("method after Enable from Off: %s", m)
	}
	tok = csrfOf(t, b.get("/account/security/mfa?tab=disabled").Body)
	wantStatus(t, b.post("/account/security/mfa/code", url.Values{"csrf_token": {tok}}), http.StatusOK)
	wantRedirect(t, b.post("/account/security/mfa/disable", url.Values{"confirm": {"disable"}, "code": {e.mail.Code(t, adminEmail)}, "csrf_token": {tok}}), "/account/security")

	// The password alone now logs in.
	b.logout()
	page = b.get("/login")
	wantRedirect(t, b.post("/login", url.Values{"email": {adminEmail}, "password": {testPassword}, "csrf_token": {csrfOf(t, page.Body)}}), "/")
}

func TestAccountDisableWithAppCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	codes, recovery := b.enrolTOTP()

	page := b.get("/account/security/mfa?tab=disabled")
	wantContains(t, page, "Code from your authenticator app")
	if strings.Contains(page.Body, "Email me a code") {
		t.Error("the app's disable form offers an emailed code")
	}
	tok := csrfOf(t, page.Body)
	res := b.post("/account/security/mfa/disable", url.Values{"confirm": {"disable"}, "code": {"000000"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "that code is not right")
	res = b.post("/account/security/mfa/disable", url.Values{"confirm": {""}, "code": {codes.next()}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	if m := e.mfa(adminEmail).Method; m != rampart.MFATOTP {
		t.Fatalf("method after refused disables: %s", m)
	}
	// A recovery code stands in for the phone.
	old := b.cookies[sessionCookie].Value
	wantRedirect(t, b.post("/account/security/mfa/disable", url.Values{"confirm": {" Disable "}, "code": {recovery[0]}, "csrf_token": {tok}}), "/account/security")
	if m := e.mfa(adminEmail).Method; m != rampart.MFANone {
		t.Fatalf("method after Disable: %s", m)
	}
	wantRotated(t, b, old)
}

func TestAccountRegenerateRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	_, first := b.enrolTOTP()

	page := b.get("/account/security")
	wantContains(t, page, `data-open-dialog="recovery-dialog"`, "Regenerate recovery codes")
	wantContains(t, b.get("/account/security/recovery-codes"), "Make new recovery codes?", "Your 10 unused codes stop working at once.")
	tok := csrfOf(t, page.Body)
	wantStatus(t, b.post("/account/security/recovery-codes", url.Values{}), http.StatusForbidden)
	old := b.cookies[sessionCookie].Value
	res := b.post("/account/security/recovery-codes", url.Values{"csrf_token": {tok}})
	wantStatus(t, res, http.StatusOK)
	second := recoveryCodes(res.Body)
	if len(second) != 10 {
		t.Fatalf("%d new codes shown, want 10", len(second))
	}
	wantRotated(t, b, old)
	b.logout()
	wantStatus(t, b.loginWith(adminEmail, func() string { return first[0] }), http.StatusUnauthorized)
	wantRedirect(t, b.loginWith(adminEmail, func() string { return second[0] }), "/")
}

func TestAccountSignOutOthers(t *testing.T) {
	e := newEnv(t)
	laptop, phone, bob := e.browser(), e.browser(), e.browser()
	laptop.login(adminEmail)
	phone.login(adminEmail)
	bob.login(memberEmail)

	page := laptop.get("/account/security")
	wantContains(t, page, "This session started", "192.0.2.10")
	tok := csrfOf(t, page.Body)
	wantStatus(t, laptop.post("/account/security/sessions", url.Values{}), http.StatusForbidden)
	wantStatus(t, phone.get("/"), http.StatusOK)

	own := laptop.cookies[sessionCookie].Value
	wantRedirect(t, laptop.post("/account/security/sessions", url.Values{"csrf_token": {tok}}), "/account/security")
	wantContains(t, laptop.get("/account/security"), "Signed out 1 other session: only this browser is still logged in.")
	if laptop.cookies[sessionCookie].Value != own {
		t.Error("signing out the others changed this session")
	}
	wantRedirect(t, phone.get("/"), "/login")
	wantStatus(t, bob.get("/"), http.StatusOK)

	// Again: nothing left to end.
	wantRedirect(t, laptop.post("/account/security/sessions", url.Values{"csrf_token": {tok}}), "/account/security")
	wantContains(t, laptop.get("/account/security"), "No other session was open")

	// Bob's own sign-out ends Bob's other sessions, and nobody else's.
	bob2 := e.browser()
	bob2.login(memberEmail)
	wantRedirect(t, bob.post("/account/security/sessions", url.Values{"csrf_token": {csrfOf(t, bob.get("/account/security").Body)}}), "/account/security")
	wantRedirect(t, bob2.get("/"), "/login")
	wantStatus(t, laptop.get("/"), http.StatusOK)
}

// TestAccountCSRF posts every account form without its token, and with
// another session's: nothing changes.
func TestAccountCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	bobTok := e.browser().login(memberEmail)
	for _, p := range []string{"/account/security/sessions", "/account/security/recovery-codes", "/account/security/mfa/app",
		"/account/security/mfa/email", "/account/security/mfa/code", "/account/security/mfa/disable"} {
		for _, tok := range []string{"", bobTok} {
			res := b.post(p, url.Values{"csrf_token": {tok}, "confirm": {"disable"}, "code": {"123456"}})
			wantStatus(t, res, http.StatusForbidden)
		}
	}
	if m := e.mfa(adminEmail).Method; m != rampart.MFAEmail {
		t.Fatalf("method after forged posts: %s", m)
	}
}
