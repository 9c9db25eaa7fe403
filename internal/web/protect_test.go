package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// protected reports whether the named service's termination protection is on.
func (e *env) protected(name string) bool {
	e.t.Helper()
	svc, err := e.app.Services.Get(context.Background(), app.OperatorActor(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc.TerminationProtection
}

func TestTerminationProtectionToggle(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)
	const toggle = "/services/blog/termination-protection"

	// Off at first: the toggle asks for on, and Delete is offered.
	page := b.get("/services/blog")
	wantContains(t, page, `action="/services/blog/termination-protection"`, `name="enabled" value="on"`, `aria-checked="false"`,
		`href="/services/blog/delete" data-open-dialog="delete-dialog" id="delete-button"`)

	// Without the session's CSRF token nothing changes.
	for _, form := range []url.Values{{"enabled": {"on"}}, {"enabled": {"on"}, "csrf_token": {"forged"}}} {
		wantStatus(t, b.post(toggle, form), http.StatusForbidden)
	}
	if e.protected("blog") {
		t.Fatal("protection turned on without the CSRF token")
	}
	wantStatus(t, b.post(toggle, url.Values{"csrf_token": {tok}, "enabled": {"yes"}}), http.StatusUnprocessableEntity)

	res := b.post(toggle, url.Values{"csrf_token": {tok}, "enabled": {"on"}})
	wantRedirect(t, res, "/services/blog")
	if !e.protected("blog") {
		t.Fatal("protection is still off")
	}
	page = b.get("/services/blog")
	wantContains(t, page, "Termination protection is on: blog cannot be deleted, shut down, rebooted, powered off, reinstalled or moved to another version until you turn it off.",
		`name="enabled" value="off"`, `aria-checked="true"`,
		`disabled aria-describedby="delete-blocked" id="delete-button"`, "Termination protection is on: turn it off to delete blog.")
	if strings.Contains(page.Body, `href="/services/blog/delete"`) || strings.Contains(page.Body, `id="delete-dialog"`) {
		t.Error("the Overview tab still offers Delete while protection is on")
	}
	// The delete page says why and its button is disabled; a POST anyway
	// is refused with the service layer's message.
	wantContains(t, b.get("/services/blog/delete"), "Termination protection is on", `disabled aria-describedby="delete-blocked"`, "rampart service protect blog off")
	res = b.post("/services/blog/delete", url.Values{"csrf_token": {tok}, "confirm": {"blog"}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res, "blog has termination protection on: turn it off first")
	if !e.serviceExists("blog") {
		t.Fatal("a protected service was deleted")
	}

	// Turning it on again (a stale page) changes nothing and is not audited.
	wantRedirect(t, b.post(toggle, url.Values{"csrf_token": {tok}, "enabled": {"on"}}), "/services/blog")
	res = b.post(toggle, url.Values{"csrf_token": {tok}, "enabled": {"off"}})
	wantRedirect(t, res, "/services/blog")
	wantContains(t, b.get("/services/blog"), "Termination protection is off: blog can be deleted again.", `id="delete-button"`, `href="/services/blog/delete"`)
	wantRedirect(t, b.post("/services/blog/delete", url.Values{"csrf_token": {tok}, "confirm": {"blog"}}), "/")
	if e.state("blog") != rampart.StateDeleted {
		t.Fatal("blog survived the delete after protection was turned off")
	}
	evs, err := e.app.Audit.List(context.Background(), app.OperatorActor(), rampart.AuditFilter{Service: "blog"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, " "); got != "service.delete service.protection.off service.protection.on service.create" {
		t.Errorf("audit: %s", got)
	}
}

func TestTerminationProtectionOthersService(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "bobs")
	b := e.browser()
	tok := b.login(otherEmail)
	for _, enabled := range []string{"on", "off", "bogus"} {
		wantStatus(t, b.post("/services/bobs/termination-protection", url.Values{"csrf_token": {tok}, "enabled": {enabled}}), http.StatusNotFound)
	}
	if e.protected("bobs") {
		t.Fatal("carol turned on protection of bob's service")
	}
}
