package web

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart"
)

// TestBrowserTerminationProtection drives the Overview tab's termination
// protection toggle in a real headless Chromium: turn it on, find Delete
// disabled with the reason beside it (and the delete page refusing too),
// turn it off, and delete through the modal. Screenshots go to
// $RAMPART_ARTIFACTS, desktop and phone width.
func TestBrowserTerminationProtection(t *testing.T) {
	c := newChrome(t)
	e := newEnv(t)
	e.createService(adminEmail, "blog")
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	step, clickAndLoad, text, js, screenshot := c.step, c.clickAndLoad, c.text, c.js, c.screenshot
	flash := func() string { return text(".flash") }

	c.login(e, srv.URL, adminEmail, testPassword)
	step("overview", chromedp.Navigate(srv.URL+"/services/blog"), chromedp.WaitVisible(chromedp.ID("termination-protection")))
	if got := js(`document.getElementById("protection-toggle").getAttribute("aria-checked")`); got != "false" {
		t.Errorf("a new service's toggle is aria-checked=%q, want false", got)
	}
	if got := js(`String(document.getElementById("delete-button").disabled === true)`); got != "false" {
		t.Error("Delete is disabled while protection is off")
	}

	clickAndLoad("turn protection on", "#protection-toggle")
	if got := flash(); !strings.Contains(got, "Termination protection is on: blog cannot be deleted, shut down, rebooted, powered off, reinstalled or moved to another version until you turn it off.") {
		t.Errorf("flash after turning protection on: %q", got)
	}
	if got := text("#protection-toggle"); got != "On" {
		t.Errorf("the toggle says %q, want On", got)
	}
	if got := js(`String(document.getElementById("delete-button").disabled)`); got != "true" {
		t.Error("Delete is not disabled while protection is on")
	}
	if got := text("#delete-blocked"); !strings.Contains(got, "Termination protection is on: turn it off to delete blog.") {
		t.Errorf("the reason beside Delete says %q", got)
	}
	if got := js(`String(document.getElementById("delete-dialog") === null)`); got != "true" {
		t.Error("the delete dialog is still on the page")
	}
	// A click on the disabled button does nothing.
	step("click the disabled Delete", chromedp.Click(chromedp.ID("delete-button")), chromedp.Sleep(200*time.Millisecond))
	if loc := c.location(); !strings.HasSuffix(loc, "/services/blog") {
		t.Errorf("clicking the disabled Delete went to %s", loc)
	}
	screenshot("protection-on.png")
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("termination-protection")))
	if got := js(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
		t.Errorf("at phone width the page is %s px wide, wider than the screen", js(`String(document.documentElement.scrollWidth)`))
	}
	screenshot("protection-overview-phone.png", true)
	c.scrollTo("#termination-protection")
	screenshot("protection-on-phone.png", true)
	step("desktop viewport", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("termination-protection")))

	// The delete page without JavaScript's modal says why and refuses.
	step("delete page", chromedp.Navigate(srv.URL+"/services/blog/delete"), chromedp.WaitVisible(chromedp.ID("delete-blocked")))
	if got := js(`String(document.querySelector(".delete-form button[type=submit]").disabled)`); got != "true" {
		t.Error("the delete page's button is enabled while protection is on")
	}
	screenshot("protection-delete-page.png")

	step("back to the overview", chromedp.Navigate(srv.URL+"/services/blog"), chromedp.WaitVisible(chromedp.ID("termination-protection")))
	clickAndLoad("turn protection off", "#protection-toggle")
	if got := flash(); !strings.Contains(got, "Termination protection is off: blog can be deleted again.") {
		t.Errorf("flash after turning protection off: %q", got)
	}
	if got := text("#protection-toggle"); got != "Off" {
		t.Errorf("the toggle says %q, want Off", got)
	}
	screenshot("protection-off.png")

	// Delete works again, through the modal.
	step("open the delete dialog", chromedp.Click(chromedp.ID("delete-button")), chromedp.WaitVisible(chromedp.ID("delete-dialog")))
	step("confirm", chromedp.SendKeys(chromedp.ID("confirm-blog"), "blog"))
	clickAndLoad("delete", "#delete-dialog button[type=submit]")
	if got := flash(); !strings.Contains(got, "Service blog deleted.") {
		t.Errorf("flash after delete: %q", got)
	}
	if e.state("blog") != rampart.StateDeleted {
		t.Error("blog is not deleted after the delete")
	}
	c.checkNoJSErrors()
}
