package web

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// TestBrowserAccount enrols an authenticator app from the account's
// Security tab the way a person would (scan the QR code, type the app's
// code, Validate), keeps the recovery codes, logs out and back in with
// the app, and turns two-factor authentication off through the modal.
func TestBrowserAccount(t *testing.T) {
	c := newChrome(t)
	e := newEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()

	// Log in with the password and the emailed code.
	c.step("open login", chromedp.Navigate(srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	c.step("fill login", chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	c.clickAndLoad("submit login", `#login-form button[type=submit]`)
	c.step("type the emailed code", chromedp.SendKeys(chromedp.ID("code"), e.mail.Code(t, adminEmail)))
	c.clickAndLoad("submit code", `#verify-submit`)

	// The account sits behind the email in the top bar.
	c.clickAndLoad("open account", `.account-link`)
	if loc := c.location(); !strings.HasSuffix(loc, "/account/security") {
		t.Fatalf("the account link leads to %s", loc)
	}
	if got := c.text("#mfa-row [data-field=mfa-method]"); got != "Email codes to a••••@example.com" {
		t.Errorf("Security tab shows %q for the second factor", got)
	}
	c.screenshot("account-security.png")

	// Configure → Authenticator App: a QR code and the secret.
	c.clickAndLoad("configure", `#mfa-configure`)
	c.step("authenticator app tab", chromedp.Click(chromedp.CSS(`a[data-tab=app]`)), chromedp.WaitVisible(chromedp.ID("totp-qr")))
	if loc := c.location(); !strings.HasSuffix(loc, "/account/security/mfa?tab=app") {
		t.Errorf("URL after the tab switch: %s", loc)
	}
	secret := strings.ReplaceAll(c.text("[data-field=totp-secret]"), " ", "")
	// The QR code is what the phone reads: decode it as a phone would.
	src := c.js(`document.getElementById("totp-qr").getAttribute("src")`)
	otpauth := decodeQRDataURI(t, src)
	u, err := url.Parse(otpauth)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != secret {
		t.Fatalf("the QR code holds %q, want an otpauth URL with the secret shown beside it (%s)", otpauth, secret)
	}
	if got := c.text("#secret-advice"); !strings.Contains(got, "Keep this key somewhere safe") {
		t.Errorf("the secret's advice says %q", got)
	}
	c.screenshot("account-totp-enrol.png")
	c.step("dark mode", colorScheme("dark"), chromedp.Sleep(300*time.Millisecond))
	c.screenshot("account-totp-enrol-dark.png")
	c.step("light mode", colorScheme("light"))

	// A wrong code is refused beside the field.
	c.step("type a wrong code", chromedp.SendKeys(chromedp.ID("totp-code"), "000000"))
	c.clickAndLoad("validate wrong code", `#totp-validate`)
	if got := c.text("#totp-code-err"); !strings.Contains(got, "that code does not match") {
		t.Errorf("a wrong code shows %q", got)
	}
	c.screenshot("account-totp-wrong.png")

	app := &appCodes{t: t, secret: otpauthSecret(t, otpauth)}
	c.step("type the app's code", chromedp.SetValue(chromedp.ID("totp-code"), app.next()))
	c.clickAndLoad("validate", `#totp-validate`)
	codes := c.js(`[...document.querySelectorAll("[data-field=recovery-code]")].map(e => e.textContent).join(" ")`)
	recovery := strings.Fields(codes)
	if len(recovery) != 10 {
		t.Fatalf("the page after Validate shows %d recovery codes, want 10: %q", len(recovery), codes)
	}
	if got := c.text("#codes-advice"); !strings.Contains(got, "only time they are shown") {
		t.Errorf("the recovery codes' advice says %q", got)
	}
	c.screenshot("account-recovery-codes.png")
	c.step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	c.screenshot("account-recovery-codes-phone.png")
	c.step("desktop viewport", clearViewport)
	c.clickAndLoad("saved them", `#codes-done`)
	if got := c.text("#mfa-row [data-field=mfa-method]"); got != "Authenticator app" {
		t.Errorf("Security tab shows %q after enrolling", got)
	}
	if got := c.text("#recovery-row [data-field=recovery-count]"); got != "10 of 10 left" {
		t.Errorf("recovery codes row shows %q", got)
	}
	body := c.js(`document.body.innerText`)
	for _, code := range recovery {
		if strings.Contains(body, code) {
			t.Fatal("the Security tab shows a recovery code again")
		}
	}
	c.screenshot("account-security-totp.png")

	// Regenerating asks first, in a modal.
	c.step("open regenerate modal", chromedp.Click(chromedp.ID("recovery-regenerate")), chromedp.WaitVisible(chromedp.ID("recovery-dialog")))
	c.screenshot("account-recovery-modal.png", true)
	c.step("cancel regenerate", chromedp.Click(chromedp.CSS(`#recovery-dialog [data-close-dialog]`)))
	if got := c.js(`String(document.getElementById("recovery-dialog").open)`); got != "false" {
		t.Error("Cancel left the regenerate modal open")
	}

	// Log out; log in with the password and the app's code.
	c.clickAndLoad("log out", `form[action="/logout"] button`)
	c.step("fill login again", chromedp.WaitVisible(chromedp.ID("email")), chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	mails := len(e.mail.All(adminEmail))
	c.clickAndLoad("submit login again", `#login-form button[type=submit]`)
	if got := c.text("#verify-lead"); !strings.Contains(got, "authenticator app") {
		t.Errorf("the code page says %q, want it to ask for the app's code", got)
	}
	if n := len(e.mail.All(adminEmail)); n != mails {
		t.Error("a login with the app on emailed a code")
	}
	c.screenshot("account-login-totp.png")
	c.step("type the app's next code", chromedp.SendKeys(chromedp.ID("code"), app.next()))
	c.clickAndLoad("submit app code", `#verify-submit`)
	if got := c.text(".account-email"); got != adminEmail {
		t.Fatalf("top bar shows %q after the TOTP login", got)
	}

	// The phone is lost: a recovery code stands in for the app's code, once.
	c.clickAndLoad("log out for recovery", `form[action="/logout"] button`)
	c.step("fill login for recovery", chromedp.WaitVisible(chromedp.ID("email")), chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	c.clickAndLoad("submit login for recovery", `#login-form button[type=submit]`)
	c.step("type a recovery code", chromedp.SendKeys(chromedp.ID("code"), recovery[0]))
	c.clickAndLoad("submit recovery code", `#verify-submit`)
	if got := c.text(".account-email"); got != adminEmail {
		t.Fatalf("top bar shows %q after the recovery-code login", got)
	}
	c.step("security tab after recovery", chromedp.Navigate(srv.URL+"/account/security"), chromedp.WaitVisible(chromedp.ID("recovery-row")))
	if got := c.text("#recovery-row [data-field=recovery-count]"); got != "9 of 10 left" {
		t.Errorf("after using one, the recovery row shows %q", got)
	}

	// Disabled: the modal wants the word and the app's code.
	c.step("open disabled tab", chromedp.Navigate(srv.URL+"/account/security/mfa?tab=disabled"), chromedp.WaitVisible(chromedp.ID("disable-open")))
	c.step("open disable modal", chromedp.Click(chromedp.ID("disable-open")), chromedp.WaitVisible(chromedp.ID("disable-dialog")))
	if got := c.js(`String(document.getElementById("disable-submit").disabled)`); got != "true" {
		t.Error("Disable is clickable before the word is typed")
	}
	c.step("type disable", chromedp.SendKeys(chromedp.ID("disable-confirm"), "disable"))
	if got := c.js(`String(document.getElementById("disable-submit").disabled)`); got != "false" {
		t.Error("Disable stays off after typing the word")
	}
	c.step("type the code to disable", chromedp.SendKeys(chromedp.ID("disable-code"), app.next()))
	c.screenshot("account-disable-modal.png", true)
	c.clickAndLoad("confirm disable", `#disable-submit`)
	if got := c.text(".flash-success"); !strings.Contains(got, "Two-factor authentication is off") {
		t.Errorf("flash after Disable: %q", got)
	}
	if got := c.text("#mfa-row [data-field=mfa-method]"); got != "Off: logins need only your password" {
		t.Errorf("Security tab shows %q after Disable", got)
	}
	c.screenshot("account-security-off.png")

	// Email Based turns on with one click from Off; turning it off again
	// asks for an emailed code, sent from inside the modal.
	c.step("open email tab", chromedp.Navigate(srv.URL+"/account/security/mfa?tab=email"), chromedp.WaitVisible(chromedp.ID("email-enable")))
	c.clickAndLoad("enable email", `#email-enable`)
	if got := c.text("#mfa-row [data-field=mfa-method]"); got != "Email codes to a••••@example.com" {
		t.Errorf("Security tab shows %q after Enable", got)
	}
	c.step("open disabled tab again", chromedp.Navigate(srv.URL+"/account/security/mfa?tab=disabled"), chromedp.WaitVisible(chromedp.ID("disable-open")))
	c.step("open disable modal again", chromedp.Click(chromedp.ID("disable-open")), chromedp.WaitVisible(chromedp.ID("disable-dialog")))
	c.js(`window.rampartNoReload = "still here", ""`)
	mails = len(e.mail.All(adminEmail))
	c.step("email me a code", chromedp.Click(chromedp.ID("send-code")), chromedp.WaitVisible(chromedp.CSS(`#code-status [data-field=code-status]`)))
	if got := c.text("#code-status"); !strings.Contains(got, "A code is on its way to a••••@example.com") {
		t.Errorf("after Email me a code the modal says %q", got)
	}
	if got := c.js(`String(window.rampartNoReload) + " " + document.getElementById("disable-dialog").open`); got != "still here true" {
		t.Errorf("sending the code left the modal (%s)", got)
	}
	if n := len(e.mail.All(adminEmail)); n != mails+1 {
		t.Fatalf("%d mails after Email me a code, want %d", n, mails+1)
	}
	c.step("type disable and the emailed code", chromedp.SendKeys(chromedp.ID("disable-confirm"), "disable"),
		chromedp.SendKeys(chromedp.ID("disable-code"), e.mail.Code(t, adminEmail)))
	c.screenshot("account-disable-email-modal.png", true)
	c.clickAndLoad("confirm disable with the emailed code", `#disable-submit`)
	if got := c.text("#mfa-row [data-field=mfa-method]"); got != "Off: logins need only your password" {
		t.Errorf("Security tab shows %q after the second Disable", got)
	}

	// Phone width: the Security tab and the enrolment.
	c.step("phone account", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload())
	c.screenshot("account-security-phone.png")
	c.step("phone enrol", chromedp.Navigate(srv.URL+"/account/security/mfa?tab=app"), chromedp.WaitVisible(chromedp.ID("totp-qr")))
	c.screenshot("account-totp-enrol-phone.png")
	c.step("desktop viewport", clearViewport)
	c.checkNoJSErrors()
}

// decodeQRDataURI reads the text of a QR code in a data:image/png URI.
func decodeQRDataURI(t *testing.T, uri string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(uri, "data:image/png;base64,")
	if !ok {
		t.Fatalf("the QR code's src is not a PNG data URI: %.40q", uri)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decoding the QR code: %v", err)
	}
	return res.GetText()
}

// otpauthSecret is the secret of an otpauth:// URL.
func otpauthSecret(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("secret")
}
