package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestBrowserFirewall drives the Security tab's Firewall and SSH keys rows
// in a real headless Chromium, as an admin of a server whose firewall is
// enforced (no reconciler touches the host here: the test plays its part
// of rolling back at the deadline): add a rule, meet the guard that keeps
// port 80 open for a managed domain, toggle a tool port, restrict SSH and
// confirm through the countdown banner, remove a rule through the modal,
// watch an unconfirmed change roll back, and add, refuse and remove SSH
// keys. Screenshots go to $RAMPART_ARTIFACTS, desktop and phone width.
func TestBrowserFirewall(t *testing.T) {
	c := newChrome(t)
	e := newEnvWith(t, edge{firewall: app.FirewallOptions{Enforce: true}})
	e.createService(adminEmail, "blog")
	admin := app.UserActor(e.users[adminEmail], "192.0.2.1")
	if _, err := e.app.Domains.Add(context.Background(), admin, rampart.DomainInput{Service: "blog", Name: "blog.example.org"}); err != nil {
		t.Fatal(err)
	}
	// The firewall reconciler rolls back a change that was not confirmed
	// by its deadline; this stands in for it.
	rollbackCtx, stopRollback := context.WithCancel(context.Background())
	defer stopRollback()
	go func() {
		for rollbackCtx.Err() == nil {
			_, _ = e.app.Firewall.RollbackExpired(rollbackCtx)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	step, clickAndLoad, text, screenshot := c.step, c.clickAndLoad, c.text, c.screenshot
	js, waitFor, scrollTo := c.js, c.waitFor, c.scrollTo
	flash := func() string { return text(".flash") }

	c.login(e, srv.URL, adminEmail, testPassword)
	step("security tab", chromedp.Navigate(srv.URL+"/services/blog?tab=security"), chromedp.WaitVisible(chromedp.ID("firewall")))
	if got := text("#security-notice"); strings.Contains(got, "still being built") || !strings.Contains(got, "the firewall is enforced") {
		t.Errorf("the tab's notice says %q", got)
	}
	if got := text("[data-field=firewall-mode]"); !strings.HasPrefix(got, "Enforced") {
		t.Errorf("firewall mode shows %q", got)
	}
	screenshot("firewall-rows.png")

	// Add a rule.
	step("show firewall settings", chromedp.Click(chromedp.CSS(`#firewall-options > summary`)), chromedp.WaitVisible(chromedp.ID("fw-add-form")))
	step("fill the rule", chromedp.SetValue(chromedp.ID("fw-add-ports"), "8000-8100"),
		chromedp.SetValue(chromedp.ID("fw-add-sources"), "203.0.113.7/24\n2001:db8::/32"), chromedp.SetValue(chromedp.ID("fw-add-comment"), "office"))
	clickAndLoad("add the rule", `#fw-add-form button[type=submit]`)
	if got := flash(); !strings.Contains(got, "Rule added: 8000-8100/tcp open to 203.0.113.0/24, 2001:db8::/32") || !strings.Contains(got, "203.0.113.7/24") {
		t.Errorf("flash after adding a rule: %q", got)
	}
	if got := text(`tr[data-rule="8000-8100/tcp"] [data-field=rule-sources]`); got != "203.0.113.0/24, 2001:db8::/32" {
		t.Errorf("the new rule's sources show %q", got)
	}

	// The guard: port 80 stays open to everyone while a domain uses
	// managed TLS. The refusal shows in the rule's own form; nothing changes.
	clickAndLoad("edit 80/tcp", `tr[data-rule="80/tcp"] a[href*="edit_rule"]`)
	http80 := js(`document.querySelector('tr[data-rule="80/tcp"]').id.replace("fw-rule-", "")`)
	form80 := "#fw-edit-" + http80 + "-form"
	step("restrict port 80", chromedp.WaitVisible(chromedp.CSS(form80)), chromedp.SetValue(chromedp.ID("fw-edit-"+http80+"-sources"), "203.0.113.0/24"))
	clickAndLoad("save port 80", form80+` button[type=submit]`)
	if got := text("#fw-edit-" + http80 + "-err"); !strings.Contains(got, "80/tcp must stay open to everyone while any domain uses managed TLS (blog.example.org does)") {
		t.Errorf("the guard's message shows %q", got)
	}
	if got := js(`document.getElementById(%q).value`, "fw-edit-"+http80+"-sources"); got != "203.0.113.0/24" {
		t.Errorf("the edit form lost what was typed: %q", got)
	}
	if r := e.rule("80", "tcp"); len(r.Sources) != 0 {
		t.Errorf("port 80 was restricted despite the guard: %v", r.Sources)
	}
	scrollTo("#fw-edit-" + http80)
	js(`window.scrollBy(0, -120), ""`)
	screenshot("firewall-guard.png", true)

	// A tool port, by its toggle.
	clickAndLoad("cancel the edit", form80+` a.btn`)
	step("back to the rules", chromedp.WaitVisible(chromedp.ID("tool-ports")))
	clickAndLoad("open the terminal port", `li[data-tool-port="18344"] button[role=switch]`)
	if got := js(`document.querySelector('li[data-tool-port="18344"] button[role=switch]').getAttribute("aria-checked")`); got != "true" {
		t.Errorf("the terminal port's toggle is %s after opening it", got)
	}
	if e.rule("18344", "tcp") == nil {
		t.Error("18344/tcp not opened")
	}

	// Restricting SSH opens a confirm window: a banner counts down, and
	// Confirm keeps the change.
	clickAndLoad("edit 22/tcp", `tr[data-rule="22/tcp"] a[href*="edit_rule"]`)
	ssh22 := js(`document.querySelector('tr[data-rule="22/tcp"]').id.replace("fw-rule-", "")`)
	step("restrict SSH", chromedp.SetValue(chromedp.ID("fw-edit-"+ssh22+"-sources"), "127.0.0.1\n192.0.2.0/24"),
		chromedp.SetValue(chromedp.ID("fw-edit-"+ssh22+"-comment"), "SSH from the office"))
	clickAndLoad("save SSH", "#fw-edit-"+ssh22+"-form button[type=submit]")
	step("the banner", chromedp.WaitVisible(chromedp.ID("fw-pending")))
	first := text("#fw-countdown")
	waitFor("the countdown moves", `document.getElementById("fw-countdown").textContent !== `+jsString(first), 5*time.Second)
	if got := text("#fw-countdown"); !strings.HasPrefix(got, "0:5") && !strings.HasPrefix(got, "1:00") {
		t.Errorf("countdown shows %q, want about a minute", got)
	}
	if got := text("#fw-pending"); !strings.Contains(got, "touches SSH or the admin port") {
		t.Errorf("the banner does not say why: %q", got)
	}
	if loc := c.location(); !strings.HasSuffix(loc, "#fw-banner") {
		t.Errorf("a change that waits for a confirmation lands on %s, not on the banner", loc)
	}
	screenshot("firewall-confirm.png", true)
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("fw-pending")))
	scrollTo("#fw-banner")
	screenshot("firewall-confirm-phone.png", true)
	step("desktop viewport", clearViewport, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("fw-confirm")))
	clickAndLoad("confirm", "#fw-confirm")
	if got := flash(); got != "Firewall change confirmed: the rules stay as they are." {
		t.Errorf("flash after Confirm: %q", got)
	}
	if got := js(`String(document.getElementById("fw-pending") === null)`); got != "true" {
		t.Error("the banner stays after Confirm")
	}

	// Remove through the modal.
	step("the rules after Confirm", chromedp.WaitVisible(chromedp.ID("fw-rules")))
	screenshot("firewall-settings.png")
	step("open the remove modal", chromedp.Click(chromedp.CSS(`tr[data-rule="8000-8100/tcp"] [data-open-dialog]`)), chromedp.WaitVisible(chromedp.ID("remove-rule-dialog")))
	if got := text("#remove-rule-title"); got != "Remove the rule for 8000-8100/tcp?" {
		t.Errorf("remove modal title: %q", got)
	}
	screenshot("firewall-remove-modal.png", true)
	clickAndLoad("remove the rule", "#remove-rule-submit")
	if got := flash(); !strings.Contains(got, "removed: 8000-8100/tcp is closed") {
		t.Errorf("flash after removing: %q", got)
	}
	if e.rule("8000-8100", "tcp") != nil {
		t.Error("the removed rule is still stored")
	}

	// SSH keys: add one, refuse a private key without showing it, remove.
	pub, priv := testSSHKey(t)
	step("show SSH keys", chromedp.Click(chromedp.CSS(`#ssh-keys-options > summary`)), chromedp.WaitVisible(chromedp.ID("ssh-key-form")))
	step("fill the key", chromedp.SetValue(chromedp.ID("key-title"), "ada's laptop"), chromedp.SetValue(chromedp.ID("key-text"), pub))
	clickAndLoad("add the key", `#ssh-key-form button[type=submit]`)
	if got := flash(); !strings.Contains(got, "SSH key ada's laptop added (SHA256:") {
		t.Errorf("flash after adding a key: %q", got)
	}
	step("the key list", chromedp.WaitVisible(chromedp.ID("ssh-key-list")))
	if got := text("#ssh-key-list [data-field=key-type]"); got != "ssh-ed25519 · 256 bits" {
		t.Errorf("the key's type shows %q", got)
	}
	step("paste a private key", chromedp.SetValue(chromedp.ID("key-title"), "oops"), chromedp.SetValue(chromedp.ID("key-text"), priv))
	clickAndLoad("add the private key", `#ssh-key-form button[type=submit]`)
	if got := text("#key-text-err"); !strings.Contains(got, "this is a private key") {
		t.Errorf("the refusal says %q", got)
	}
	if got := js(`document.getElementById("key-text").value`); got != "" {
		t.Error("the refused paste is back in the textarea")
	}
	if got := js(`String(document.documentElement.outerHTML.includes("PRIVATE KEY-----"))`); got != "false" {
		t.Error("the page shows the private key")
	}
	scrollTo("#ssh-keys")
	screenshot("ssh-keys-error.png", true)
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("ssh-key-list")))
	scrollTo("#ssh-keys")
	screenshot("ssh-keys-phone.png", true)
	step("firewall on a phone", chromedp.Click(chromedp.CSS(`#ssh-keys-options > summary`)), chromedp.Click(chromedp.CSS(`#firewall-options > summary`)), chromedp.WaitVisible(chromedp.ID("fw-rules")))
	scrollTo("#fw-rules")
	screenshot("firewall-phone.png", true)
	scrollTo("#tool-ports")
	screenshot("firewall-phone-tools.png", true)
	scrollTo("#fw-add-form")
	screenshot("firewall-phone-add.png", true)
	step("desktop viewport", clearViewport, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("ssh-key-list")))
	step("open the key's remove modal", chromedp.Click(chromedp.CSS(`#ssh-key-list [data-open-dialog]`)), chromedp.WaitVisible(chromedp.ID("remove-key-dialog")))
	if got := text("#remove-key-title"); got != "Remove the SSH key ada's laptop?" {
		t.Errorf("key remove modal title: %q", got)
	}
	screenshot("ssh-keys-remove-modal.png", true)
	clickAndLoad("remove the key", "#remove-key-submit")
	if got := flash(); !strings.Contains(got, "SSH key ada's laptop removed") {
		t.Errorf("flash after removing the key: %q", got)
	}
	if keys, _ := e.db.ListSSHKeys(context.Background(), rampart.LocalNode); len(keys) != 0 {
		t.Error("the removed key is still stored")
	}

	// A change nobody confirms (made here with the CLI's apply
	// --confirm-within): at zero the banner says the rules are being
	// restored, then that they were, without a reload.
	if _, err := e.app.Firewall.Apply(context.Background(), admin, rampart.FirewallApplyInput{FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(4 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	step("reload with a window open", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("fw-countdown")))
	js(`window.rampartNoReload = "still here", ""`)
	waitFor("the rollback shows", `document.getElementById("fw-rolled-back") !== null`, 15*time.Second)
	if got := js(`String(window.rampartNoReload)`); got != "still here" {
		t.Error("the page reloaded to show the rollback")
	}
	if got := text("#fw-rolled-back"); !strings.Contains(got, "was not confirmed in time") {
		t.Errorf("the rollback banner says %q", got)
	}
	scrollTo("#fw-banner")
	screenshot("firewall-rolled-back.png", true)
	step("dark mode", colorScheme("dark"), chromedp.Click(chromedp.CSS(`#firewall-options > summary`)), chromedp.Sleep(300*time.Millisecond))
	screenshot("firewall-dark.png")
	step("light mode", colorScheme("light"))

	c.checkNoJSErrors()
}
