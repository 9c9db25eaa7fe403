package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserInvite: an admin invites someone from the People page; the
// invited person opens the emailed link in their own browser, chooses a
// password, and logs in with it and the emailed code.
func TestBrowserInvite(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()

	admin := newChrome(t)
	admin.step("open login", chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	admin.step("fill login", chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	admin.clickAndLoad("submit login", `#login-form button[type=submit]`)
	admin.step("type the emailed code", chromedp.WaitVisible(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), e.mail.Code(t, adminEmail)))
	admin.clickAndLoad("submit code", `#verify-submit`)
	admin.clickAndLoad("open People", `nav.mainnav a[href="/people"]`)
	admin.screenshot("people.png")
	admin.step("fill invitation", chromedp.SendKeys(chromedp.ID("invite-email"), "dan@example.com"))
	admin.clickAndLoad("send invitation", `#invite-submit`)
	if got := admin.text(".flash"); !strings.Contains(got, "Invitation sent to dan@example.com") {
		t.Fatalf("after inviting, the page says %q", got)
	}
	if got := admin.text(`tr[data-person="dan@example.com"] [data-field=status]`); !strings.Contains(got, "Invited") {
		t.Errorf("dan's status: %q", got)
	}
	admin.screenshot("people-invited.png")
	admin.step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload())
	admin.screenshot("people-phone.png")
	admin.checkNoJSErrors()

	// Dan, in a browser of his own.
	link := linkRE.FindStringSubmatch(e.mail.Last(t, "dan@example.com").Text)
	if link == nil {
		t.Fatalf("no link in the invitation:\n%s", e.mail.Last(t, "dan@example.com").Text)
	}
	dan := newChrome(t)
	dan.step("open the emailed link", chromedp.Navigate(srv.URL+link[1]), chromedp.WaitVisible(chromedp.ID("password")))
	if got := dan.text("#link-lead"); !strings.Contains(got, "dan@example.com") {
		t.Errorf("the link page says %q", got)
	}
	dan.screenshot("invite-link.png")
	dan.step("choose a password", chromedp.SendKeys(chromedp.ID("password"), "dan's own password"), chromedp.SendKeys(chromedp.ID("password2"), "dan's own password"))
	dan.clickAndLoad("save password", `#link-submit`)
	if got := dan.text("#login-info"); !strings.Contains(got, "Your password is saved") {
		t.Fatalf("after saving the password: %q", got)
	}
	dan.step("log in", chromedp.SendKeys(chromedp.ID("password"), "dan's own password"))
	dan.clickAndLoad("submit login", `#login-form button[type=submit]`)
	if loc := dan.location(); !strings.Contains(loc, "/login/verify") {
		dan.screenshot("FAILED-invite-login.png")
		t.Fatalf("after the password, the browser is at %s: %s", loc, dan.text(".alert"))
	}
	dan.step("type the emailed code", chromedp.WaitVisible(chromedp.ID("code")), chromedp.SendKeys(chromedp.ID("code"), e.mail.Code(t, "dan@example.com")))
	dan.clickAndLoad("submit code", `#verify-submit`)
	if got := dan.text(".account-email"); got != "dan@example.com" {
		t.Fatalf("top bar after dan's first login: %q", got)
	}
	dan.screenshot("invite-first-login.png")

	// He enrols an authenticator app, as the invitation suggests.
	dan.step("open the app tab", chromedp.Navigate(srv.URL+"/account/security/mfa?tab=app"), chromedp.WaitVisible(chromedp.ID("totp-qr")))
	codes := &appCodes{t: t, secret: strings.ReplaceAll(dan.text("[data-field=totp-secret]"), " ", "")}
	dan.step("type the app's code", chromedp.SendKeys(chromedp.ID("totp-code"), codes.next()))
	dan.clickAndLoad("validate", `#totp-validate`)
	if n := len(strings.Fields(dan.js(`[...document.querySelectorAll("[data-field=recovery-code]")].map(e => e.textContent).join(" ")`))); n != 10 {
		t.Fatalf("after enrolling, %d recovery codes are shown, want 10", n)
	}

	// His own API token, from the account page.
	dan.clickAndLoad("open account", `a.account-link`)
	dan.clickAndLoad("open tokens", `#manage-tokens`)
	dan.step("name a token", chromedp.SendKeys(chromedp.ID("token-name"), "laptop CLI"))
	dan.clickAndLoad("make token", `#token-submit`)
	if got := dan.text("#token-created"); !strings.Contains(got, "rpt_") {
		t.Errorf("the new token is not shown: %q", got)
	}
	dan.screenshot("account-tokens.png")
	dan.step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(srv.URL+"/account/tokens"), chromedp.WaitVisible(chromedp.ID("tokens")))
	dan.screenshot("account-tokens-phone.png")
	dan.step("desktop viewport", chromedp.EmulateViewport(1280, 900))
	dan.step("open password page", chromedp.Navigate(srv.URL+"/account/password"), chromedp.WaitVisible(chromedp.ID("password-form")))
	dan.screenshot("account-password.png")
	dan.checkNoJSErrors()
}
