package web

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestBrowserPasskey registers a passkey from the account's Security tab
// with Chromium's virtual authenticator (the DevTools protocol's WebAuthn
// domain: a software authenticator the browser treats as a real one), logs
// out, logs in with the password and then the passkey, and removes the
// passkey through its modal.
//
// Browsers allow WebAuthn only in a secure context, and http://localhost
// is one while http://127.0.0.1 makes a poor relying party ID: the test
// opens the dashboard as http://localhost:PORT, as a person on the server
// would.
func TestBrowserPasskey(t *testing.T) {
	c := newChrome(t)
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "http://localhost:" + port

	c.step("open login", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	var authID webauthn.AuthenticatorID
	c.step("add a virtual authenticator", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return chromedp.Void{}, err
		}
		res, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		authID = res.AuthenticatorID
		return chromedp.Void{}, err
	})
	credentials := func() []*webauthn.Credential {
		t.Helper()
		res, err := chromedp.Run(c.ctx, func(ctx context.Context, tg *chromedp.Target) (webauthn.GetCredentialsResult, error) {
			return cdp.Call(ctx, tg, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
		})
		if err != nil {
			t.Fatalf("reading the virtual authenticator: %v", err)
		}
		return res.Credentials
	}

	// Log in with the password and the emailed code.
	c.step("fill login", chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	c.clickAndLoad("submit login", `#login-form button[type=submit]`)
	if got := c.js(`String(!!document.getElementById("passkey-use"))`); got != "false" {
		t.Error("the code page offers a passkey to an account without one")
	}
	c.step("type the emailed code", chromedp.SendKeys(chromedp.ID("code"), e.mail.Code(t, adminEmail)))
	c.clickAndLoad("submit code", `#verify-submit`)

	// The Security tab's Passkeys row: none yet; add "laptop".
	c.step("open account", chromedp.Navigate(base+"/account/security"), chromedp.WaitVisible(chromedp.ID("passkeys-row")))
	if got := c.text("#passkeys-row [data-field=passkey-count]"); got != "None yet" {
		t.Errorf("Passkeys row shows %q before any was added", got)
	}
	c.screenshot("passkey-account-empty.png")
	c.step("name the passkey", chromedp.SendKeys(chromedp.ID("passkey-name"), "laptop"))
	mails := len(e.mail.All(adminEmail))
	c.clickAndLoad("add passkey", `#passkey-add`)

	// The account had no recovery codes: it gets them now, once.
	codes := strings.Fields(c.js(`[...document.querySelectorAll("[data-field=recovery-code]")].map(e => e.textContent).join(" ")`))
	if len(codes) != rampart.RecoveryCodeCount {
		t.Fatalf("after Add passkey the page shows %d recovery codes, want %d (page %s: %.300s)", len(codes), rampart.RecoveryCodeCount,
			c.location(), c.js(`document.body.innerText`))
	}
	if got := c.text("h1"); got != "Passkey added" {
		t.Errorf("the page after Add passkey is headed %q", got)
	}
	c.screenshot("passkey-added-codes.png")
	if n := len(credentials()); n != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", n)
	}
	if cred := credentials()[0]; cred.RpID != "localhost" {
		t.Errorf("the passkey is for %q, want localhost", cred.RpID)
	}
	if all := e.mail.All(adminEmail); len(all) != mails+1 || !strings.Contains(all[len(all)-1].Subject, "passkey was added") {
		t.Errorf("no notice of the new passkey was emailed (%d mails)", len(all)-mails)
	}
	c.clickAndLoad("saved the codes", `#codes-done`)
	if got := c.text("#passkey-list [data-field=passkey-name]"); got != "laptop" {
		t.Errorf("Passkeys row lists %q", got)
	}
	if got := c.text("#passkey-list [data-field=passkey-used]"); got != "Never" {
		t.Errorf("a new passkey's last use shows %q", got)
	}
	c.screenshot("passkey-account-list.png")
	c.step("phone account", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload())
	c.screenshot("passkey-account-phone.png")
	c.step("desktop account", clearViewport, chromedp.Reload())

	// The same name again is refused beside the field, before any prompt.
	c.step("name a second passkey laptop", chromedp.SendKeys(chromedp.ID("passkey-name"), "laptop"), chromedp.Click(chromedp.ID("passkey-add")),
		chromedp.WaitVisible(chromedp.CSS(`#passkey-status.text-error`)))
	if got := c.text("#passkey-status"); !strings.Contains(got, `already have a passkey named "laptop"`) {
		t.Errorf("a duplicate name says %q", got)
	}
	c.screenshot("passkey-duplicate-name.png")

	// Log out; log in with the password, then the passkey.
	c.clickAndLoad("log out", `form[action="/logout"] button`)
	c.step("fill login again", chromedp.WaitVisible(chromedp.ID("email")), chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	c.clickAndLoad("submit login again", `#login-form button[type=submit]`)
	if got := c.text("#passkey-use"); got != "Use a passkey" {
		t.Fatalf("the code page's passkey button says %q", got)
	}
	c.screenshot("passkey-login.png")
	c.step("phone login", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	c.screenshot("passkey-login-phone.png")
	c.step("desktop viewport", clearViewport)
	c.clickAndLoad("use a passkey", `#passkey-use`)
	if got := c.text(".account-email"); got != adminEmail {
		t.Fatalf("top bar shows %q after the passkey login (page %s: %.300s)", got, c.location(), c.js(`document.body.innerText`))
	}
	evs, err := e.app.Audit.List(t.Context(), app.OperatorActor(), rampart.AuditFilter{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		found = found || ev.Action == "login.success" && ev.Detail == "second factor: passkey"
	}
	if !found {
		t.Error(`no "login.success" audit event with "second factor: passkey"`)
	}

	// Remove it, through the modal.
	c.step("open account again", chromedp.Navigate(base+"/account/security"), chromedp.WaitVisible(chromedp.ID("passkey-list")))
	if got := c.text("#passkey-list [data-field=passkey-used]"); got == "Never" {
		t.Error("the passkey's last use is still Never after logging in with it")
	}
	c.step("dark mode", colorScheme("dark"))
	c.screenshot("passkey-account-used-dark.png")
	c.step("light mode", colorScheme("light"))
	c.step("open the remove modal", chromedp.Click(chromedp.CSS(`#passkey-list a[data-open-dialog]`)), chromedp.WaitVisible(chromedp.ID("passkey-remove-dialog")))
	if got := c.text("#passkey-remove-title"); got != "Remove the passkey laptop?" {
		t.Errorf("the modal asks %q", got)
	}
	c.screenshot("passkey-remove-modal.png", true)
	c.clickAndLoad("confirm removal", `#passkey-remove-submit`)
	if got := c.text(".flash-success"); !strings.Contains(got, `Passkey "laptop" removed`) {
		t.Errorf("flash after removal: %q", got)
	}
	if got := c.text("#passkeys-row [data-field=passkey-count]"); got != "None yet" {
		t.Errorf("Passkeys row shows %q after removal", got)
	}
	c.screenshot("passkey-removed.png")
	if all := e.mail.All(adminEmail); !strings.Contains(all[len(all)-1].Subject, "passkey was removed") {
		t.Errorf("the last mail is %q, want the removal notice", all[len(all)-1].Subject)
	}
	c.checkNoJSErrors()
}
