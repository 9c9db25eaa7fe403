package api

import (
	"net/http"
	"slices"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestTerminationProtection(t *testing.T) {
	e := newEnv(t)
	if svc := e.createService(e.alice, "alice-app"); svc.TerminationProtection {
		t.Error("a new service is protected; want off by default")
	}
	e.createService(e.bob, "bob-app")
	const path = "/api/v1/services/alice-app/termination-protection"

	// Another tenant's service is not there, whatever the body.
	for _, body := range []string{`{"enabled":true}`, `{"bogus":1}`} {
		wantError(t, e.do("PUT", "/api/v1/services/alice-app/termination-protection", e.bob, body), 404, rampart.ENOTFOUND, `service "alice-app" not found`)
	}
	// A body must say which.
	for _, body := range []string{`{}`, `{"enabled":null}`} {
		wantError(t, e.do("PUT", path, e.alice, body), 400, rampart.EINVALID, `give "enabled": true`)
	}
	wantError(t, e.do("PUT", path, e.alice, `{"enabled":"yes"}`), 400, rampart.EINVALID, "")

	rec := e.do("PUT", path, e.alice, `{"enabled":true}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("protect: %d %s", rec.Code, rec.Body)
	}
	if !decode[rampart.ServiceView](t, rec).TerminationProtection {
		t.Error("the answer to turning protection on says it is off")
	}
	if got := decode[rampart.ServiceView](t, e.do("GET", "/api/v1/services/alice-app", e.alice, "")); !got.TerminationProtection {
		t.Error("GET after turning protection on says it is off")
	}

	// Delete is refused with 409 termination_protected, for the admin too.
	for _, tok := range []string{e.alice, e.admin} {
		wantError(t, e.do("DELETE", "/api/v1/services/alice-app", tok, ""), http.StatusConflict, rampart.ETERMPROTECTED,
			"alice-app has termination protection on: turn it off first (rampart service protect alice-app off")
	}
	if !slices.Contains(e.names(e.alice), "alice-app") {
		t.Fatal("alice-app is gone after a refused delete")
	}

	// Off again (by an admin); then the delete goes through.
	rec = e.do("PUT", path, e.admin, `{"enabled":false}`)
	if rec.Code != http.StatusOK || decode[rampart.ServiceView](t, rec).TerminationProtection {
		t.Fatalf("unprotect: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/api/v1/services/alice-app", e.alice, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete after protection is off: %d %s", rec.Code, rec.Body)
	}
	got := e.audit(e.admin, "")
	for _, want := range []string{"service.protection.on alice-app", "service.protection.off alice-app", "service.delete alice-app"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit log %q lacks %q", got, want)
		}
	}
}

// TestTerminationProtectionEveryAction: each of the seed's protected
// actions is refused with 409 termination_protected and changes nothing;
// with protection off each goes through; saving the environment is
// allowed while protected.
func TestTerminationProtectionEveryAction(t *testing.T) {
	e := newEnv(t)
	rec := e.do("POST", "/api/v1/services", e.admin, `{"name":"app","owner":"alice@example.com","runtime":{"kind":"exec","command":"/bin/sleep","args":["3600"],"port":18081,"version":"1"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("PUT", "/api/v1/services/app/termination-protection", e.alice, `{"enabled":true}`); rec.Code != 200 {
		t.Fatalf("protect: %d %s", rec.Code, rec.Body)
	}
	before := decode[rampart.ServiceView](t, e.do("GET", "/api/v1/services/app", e.alice, ""))
	actions := []struct{ method, path, body string }{
		{"POST", "/api/v1/services/app/stop", ""},
		{"POST", "/api/v1/services/app/kill", ""},
		{"POST", "/api/v1/services/app/restart", ""},
		{"POST", "/api/v1/services/app/reset", ""},
		{"PUT", "/api/v1/services/app/version", `{"version":"2"}`},
		{"DELETE", "/api/v1/services/app", ""},
		{"PATCH", "/api/v1/services/app", `{"state":"stopped"}`},
	}
	for _, a := range actions {
		for _, tok := range []string{e.alice, e.admin} {
			wantError(t, e.do(a.method, a.path, tok, a.body), http.StatusConflict, rampart.ETERMPROTECTED,
				"app has termination protection on: turn it off first (rampart service protect app off")
		}
	}
	after := decode[rampart.ServiceView](t, e.do("GET", "/api/v1/services/app", e.alice, ""))
	if after.State != before.State || after.Generation != before.Generation || after.Runtime.Version != "1" {
		t.Errorf("refused actions changed the service: %+v", after)
	}
	if list := decode[rampart.BackupList](t, e.do("GET", "/api/v1/services/app/backups", e.alice, "")); len(list.Backups) != 0 {
		t.Errorf("a refused reset or delete took a backup: %+v", list.Backups)
	}
	// Saving the environment restarts the service as a configuration
	// change: allowed.
	if rec := e.do("PATCH", "/api/v1/services/app", e.alice, `{"env":{"GREETING":"hi"}}`); rec.Code != 200 {
		t.Errorf("env save while protected: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("PUT", "/api/v1/services/app/termination-protection", e.alice, `{"enabled":false}`); rec.Code != 200 {
		t.Fatalf("unprotect: %d %s", rec.Code, rec.Body)
	}
	for _, a := range actions[:5] {
		if rec := e.do(a.method, a.path, e.alice, a.body); rec.Code != 200 {
			t.Errorf("%s %s without protection: %d %s", a.method, a.path, rec.Code, rec.Body)
		}
	}
	if rec := e.do("DELETE", "/api/v1/services/app", e.alice, ""); rec.Code != http.StatusNoContent {
		t.Errorf("delete without protection: %d %s", rec.Code, rec.Body)
	}
	got := e.audit(e.admin, "")
	for _, want := range []string{"service.protection.on app", "service.protection.off app", "service.stop app", "service.kill app", "service.restart app", "service.reset app", "service.set-version app", "service.delete app"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit log %q lacks %q", got, want)
		}
	}
	// Members cannot set a runtime: it runs commands on the host.
	wantError(t, e.do("POST", "/api/v1/services", e.bob, `{"name":"mine","runtime":{"kind":"exec","command":"/bin/sh","port":18082}}`), http.StatusForbidden, rampart.EFORBIDDEN, "only an admin can set a runtime")
}
