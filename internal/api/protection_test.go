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
