package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rampart-dev/rampart"
)

// TestBrowserLifecycle drives the Overview's Actions, the Backups tab and
// the deleted services list in a real headless Chromium: the run state
// follows the runtime's reports live; with termination protection on the
// six protected actions are disabled with the reason beside them; Shut
// down, Start and Power off work; Back up now adds a row; Delete (typing
// the name in the modal) lists the service under Deleted services with
// the time left; Restore brings it back. Screenshots go to
// $RAMPART_ARTIFACTS: desktop, phone width and dark mode.
func TestBrowserLifecycle(t *testing.T) {
	c := newChrome(t)
	e := newEnv(t)
	svc := e.createExec(adminEmail, "app")
	report := func(rs *rampart.RunState) {
		t.Helper()
		if err := e.db.SetServiceRunState(context.Background(), svc.ID, rs); err != nil {
			t.Fatal(err)
		}
	}
	// What the runtime would report of a process it runs.
	report(&rampart.RunState{State: "running", PID: 4242, Since: time.Now().Add(-3 * time.Minute)})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	step, clickAndLoad, text, js, screenshot := c.step, c.clickAndLoad, c.text, c.js, c.screenshot
	flash := func() string { return text(".flash") }
	disabled := func(id string) bool { return js(`String(document.getElementById(%q).disabled)`, id) == "true" }
	fitsPhone := func(what string) {
		t.Helper()
		if got := js(`String(document.documentElement.scrollWidth <= 390)`); got != "true" {
			t.Errorf("%s: at phone width the page is %s px wide, wider than the screen", what, js(`String(document.documentElement.scrollWidth)`))
		}
	}
	overview := func() {
		t.Helper()
		step("overview", chromedp.Navigate(srv.URL+"/services/app"), chromedp.WaitVisible(chromedp.ID("actions")))
	}

	c.login(e, srv.URL, adminEmail, testPassword)
	overview()
	if got := text(`[data-field="run-state"]`); got != "Running since 3 minutes ago (pid 4242)" {
		t.Errorf("run state %q", got)
	}
	if got := text(".actions-runtime"); got != "Runtime exec · version 1.0.0" {
		t.Errorf("runtime line %q", got)
	}
	// The run state is live: a new report shows within a poll.
	report(&rampart.RunState{State: "crash-looping", LastExit: "exit status 1", Restarts: 3, NextStart: time.Now().Add(time.Minute)})
	c.waitFor("the crash loop shows", `document.querySelector('[data-field="run-state"]').textContent.startsWith("Crash-looping: exit status 1, 3 restarts, next try in")`, 10*time.Second)
	report(&rampart.RunState{State: "running", PID: 4243, Since: time.Now()})
	c.waitFor("running again shows", `document.querySelector('[data-field="run-state"]').textContent.includes("(pid 4243)")`, 10*time.Second)

	clickAndLoad("turn protection on", "#protection-toggle")
	for id, verb := range map[string]string{"stop": "shut down", "restart": "reboot", "kill": "power off", "reset": "reinstall", "version": "change the software version of", "delete": "delete"} {
		if !disabled(id + "-button") {
			t.Errorf("%s is enabled while protection is on", id)
		}
		reason := "#" + id + "-blocked"
		if id == "version" {
			reason = "#version-help"
		}
		if got, want := text(reason), "Termination protection is on: turn it off to "+verb+" app."; got != want {
			t.Errorf("beside %s: %q, want %q", id, got, want)
		}
	}
	if disabled("start-button") {
		t.Error("Start is disabled while protection is on")
	}
	if got := js(`String(document.querySelector("#kill-dialog, #reset-dialog, #delete-dialog") === null)`); got != "true" {
		t.Error("a protected action's dialog is on the page")
	}
	screenshot("lifecycle-protected.png")
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("actions")))
	fitsPhone("protected overview")
	c.scrollTo("#actions")
	screenshot("lifecycle-protected-phone.png", true)
	step("desktop, dark", chromedp.EmulateViewport(1280, 900), colorScheme("dark"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("actions")))
	screenshot("lifecycle-protected-dark.png")
	step("light again", colorScheme("light"))

	clickAndLoad("turn protection off", "#protection-toggle")
	for _, id := range []string{"stop", "restart", "version", "start"} {
		if disabled(id + "-button") {
			t.Errorf("%s is disabled while protection is off", id)
		}
	}
	clickAndLoad("shut down", "#stop-button")
	if got := flash(); !strings.Contains(got, "app is shut down: visitors get a 503 page until you start it again.") {
		t.Errorf("flash after Shut down: %q", got)
	}
	if got := e.state("app"); got != rampart.StateStopped {
		t.Errorf("after Shut down: %s", got)
	}
	clickAndLoad("start", "#start-button")
	if got := flash(); !strings.Contains(got, "app is started") {
		t.Errorf("flash after Start: %q", got)
	}
	if got := e.state("app"); got != rampart.StateActive {
		t.Errorf("after Start: %s", got)
	}
	// Power off asks first.
	step("open power off", chromedp.Click(chromedp.ID("kill-button")), chromedp.WaitVisible(chromedp.ID("kill-dialog")))
	screenshot("lifecycle-power-off-modal.png", true)
	step("cancel", chromedp.Click(chromedp.CSS(`#kill-dialog [data-close-dialog]`)), chromedp.WaitNotVisible(chromedp.ID("kill-dialog")))
	if got := e.state("app"); got != rampart.StateActive {
		t.Errorf("after cancelling Power off: %s", got)
	}

	// Back up from the Backups tab.
	step("backups tab", chromedp.Navigate(srv.URL+"/services/app?tab=backups"), chromedp.WaitVisible(chromedp.ID("backups-empty")))
	clickAndLoad("back up now", "#backup-now")
	if got := flash(); !strings.Contains(got, "Backed up app") {
		t.Errorf("flash after Back up now: %q", got)
	}
	if got := js(`String(document.querySelectorAll("#backup-list tbody tr").length)`); got != "1" {
		t.Errorf("%s backup rows, want 1", got)
	}
	if got := text(`[data-field="backup-kind"]`); got != "Manual" {
		t.Errorf("kind %q", got)
	}
	screenshot("lifecycle-backups.png")
	step("open restore", chromedp.Click(chromedp.CSS(`[data-field="backup-restore"]`)), chromedp.WaitVisible(chromedp.ID("restore-dialog")))
	if got := text("#restore-title"); !strings.HasPrefix(got, "Restore app from the backup of 20") || !strings.HasSuffix(got, "UTC?") {
		t.Errorf("restore modal title %q", got)
	}
	screenshot("lifecycle-restore-modal.png", true)
	step("cancel restore", chromedp.Click(chromedp.CSS(`#restore-dialog [data-close-dialog]`)), chromedp.WaitNotVisible(chromedp.ID("restore-dialog")))
	step("phone backups", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("backup-list")))
	fitsPhone("backups tab")
	screenshot("lifecycle-backups-phone.png", true)
	step("desktop viewport", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("backup-list")))

	// Delete through the modal, typing the name.
	overview()
	step("open the delete dialog", chromedp.Click(chromedp.ID("delete-button")), chromedp.WaitVisible(chromedp.ID("delete-dialog")))
	if got := text(`#delete-dialog [data-field="delete-grace"]`); !strings.Contains(got, "You can restore it, with its data, for 7 days: until 20") {
		t.Errorf("the delete dialog says %q", got)
	}
	if js(`String(document.querySelector("#delete-dialog button[type=submit]").disabled)`) != "true" {
		t.Error("the delete button is enabled before the name is typed")
	}
	step("confirm", chromedp.SendKeys(chromedp.ID("confirm-app"), "app"))
	screenshot("lifecycle-delete-modal.png", true)
	clickAndLoad("delete", "#delete-dialog button[type=submit]")
	if got := flash(); !strings.Contains(got, "Service app deleted. A final backup was taken") {
		t.Errorf("flash after delete: %q", got)
	}
	if got := e.state("app"); got != rampart.StateDeleted {
		t.Fatalf("after Delete: %s", got)
	}
	if got := text(`[data-deleted-service="app"] [data-field="time-left"]`); !strings.HasPrefix(got, "Restorable for 6 days 23 hours") || !strings.Contains(got, "until 20") {
		t.Errorf("time left %q", got)
	}
	screenshot("lifecycle-deleted.png")
	step("phone deleted", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("deleted-services")))
	fitsPhone("deleted services")
	screenshot("lifecycle-deleted-phone.png", true)
	step("dark deleted", colorScheme("dark"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("deleted-services")))
	screenshot("lifecycle-deleted-phone-dark.png", true)
	step("desktop viewport, light", chromedp.EmulateViewport(1280, 900), colorScheme("light"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("deleted-services")))

	clickAndLoad("restore", "#restore-app")
	if got := flash(); !strings.Contains(got, "Restored app with the data of its final backup.") {
		t.Errorf("flash after Restore: %q", got)
	}
	if got := e.state("app"); got != rampart.StateActive {
		t.Errorf("after Restore: %s", got)
	}
	if !strings.HasSuffix(c.location(), "/services/app") {
		t.Errorf("Restore led to %s", c.location())
	}

	// Update config → Runtime: an admin has rampart run a proxy service.
	// app.js shows only the fields of the checked kind; a port that is no
	// number is refused next to its field, and the save's flash and the
	// Overview say what runs now.
	e.createService(adminEmail, "site")
	visible := func(sel string) bool {
		t.Helper()
		return js(`String(document.querySelector(%q).checkVisibility())`, sel) == "true"
	}
	step("runtime tab", chromedp.Navigate(srv.URL+"/services/site/config?tab=runtime"), chromedp.WaitVisible(chromedp.ID("runtime-form")))
	if visible("#runtime-command") || visible("#runtime-compose-file") || visible("#runtime-port") {
		t.Error("with proxy checked, fields of exec or compose show")
	}
	step("pick exec", chromedp.Click(chromedp.CSS(`input[name=kind][value=exec]`)), chromedp.WaitVisible(chromedp.ID("runtime-command")))
	if !visible("#runtime-port") || !visible("#runtime-args") || visible("#runtime-compose-file") {
		t.Errorf("with exec checked: port shows %v, arguments %v, compose file %v", visible("#runtime-port"), visible("#runtime-args"), visible("#runtime-compose-file"))
	}
	step("fill exec", chromedp.SendKeys(chromedp.ID("runtime-port"), "93OO"), chromedp.SendKeys(chromedp.ID("runtime-command"), "/opt/site/${VERSION}/server"),
		chromedp.SetValue(chromedp.ID("runtime-args"), "--listen\n127.0.0.1:9300"), chromedp.SendKeys(chromedp.ID("runtime-stop-timeout"), "20s"))
	screenshot("config-runtime.png")
	clickAndLoad("save a bad port", "#runtime-form button[type=submit]")
	if got := text("#runtime-port-err"); !strings.Contains(got, `port "93OO" is not a port number`) {
		t.Errorf("port error %q", got)
	}
	if visible("#runtime-compose-file") || js(`document.getElementById("runtime-command").value`) != "/opt/site/${VERSION}/server" {
		t.Error("the refused form lost exec or what was typed")
	}
	screenshot("config-runtime-error.png")
	step("fix the port", chromedp.SetValue(chromedp.ID("runtime-port"), "9300"))
	clickAndLoad("save runtime", "#runtime-form button[type=submit]")
	if got, want := flash(), "Runtime saved: rampart starts site (exec), and the edge sends its requests to http://127.0.0.1:9300."; got != want {
		t.Errorf("flash after saving the runtime: %q, want %q", got, want)
	}
	if got := text(".actions-runtime"); got != "Runtime exec" {
		t.Errorf("the Overview's runtime line says %q", got)
	}
	if rt := e.stored("site").Runtime; rt.Kind != rampart.RuntimeExec || rt.Port != 9300 || rt.Command != "/opt/site/${VERSION}/server" ||
		strings.Join(rt.Args, " ") != "--listen 127.0.0.1:9300" || rt.StopTimeout != rampart.Duration(20*time.Second) {
		t.Errorf("stored runtime %+v", rt)
	}
	// Compose, chosen but not saved: only its fields show.
	step("runtime tab again", chromedp.Navigate(srv.URL+"/services/site/config?tab=runtime"), chromedp.WaitVisible(chromedp.ID("runtime-command")))
	step("pick compose", chromedp.Click(chromedp.CSS(`input[name=kind][value=compose]`)), chromedp.WaitVisible(chromedp.ID("runtime-compose-file")))
	if visible("#runtime-command") || !visible("#runtime-port") {
		t.Error("with compose checked, the command shows or the port does not")
	}
	screenshot("config-runtime-compose.png")
	step("dark", colorScheme("dark"), chromedp.Click(chromedp.CSS(`input[name=kind][value=exec]`)), chromedp.Sleep(300*time.Millisecond))
	screenshot("config-runtime-dark.png")
	step("phone", colorScheme("light"), chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("runtime-command")))
	fitsPhone("runtime tab")
	step("desktop viewport", chromedp.EmulateViewport(1280, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("runtime-form")))

	// The Owner card: an admin hands site to a member.
	step("overview of site", chromedp.Navigate(srv.URL+"/services/site"), chromedp.WaitVisible(chromedp.ID("transfer")))
	step("choose the member", chromedp.SetValue(chromedp.ID("transfer-to"), memberEmail))
	c.scrollTo("#transfer")
	screenshot("overview-transfer.png")
	clickAndLoad("transfer", "#transfer-button")
	if got, want := flash(), "site belongs to "+memberEmail+" now: both owners were emailed, and each finds it in their audit log."; got != want {
		t.Errorf("flash after the transfer: %q, want %q", got, want)
	}
	if got := text(`[data-field="owner"]`); got != memberEmail {
		t.Errorf("Details say the owner is %q", got)
	}

	// A member sees what runs their service, and no form.
	e.createExec(memberEmail, "worker")
	clickAndLoad("log out", `form[action="/logout"] button`)
	c.login(e, srv.URL, memberEmail, testPassword)
	step("member's runtime tab", chromedp.Navigate(srv.URL+"/services/worker/config?tab=runtime"), chromedp.WaitVisible(chromedp.ID("runtime-view")))
	if got := js(`String(document.getElementById("runtime-form") === null)`); got != "true" {
		t.Error("a member's Runtime tab has the form")
	}
	screenshot("config-runtime-member.png")
	c.checkNoJSErrors()
}
