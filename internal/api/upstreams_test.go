package api

import (
	"net/http"
	"testing"

	"github.com/rampart-dev/rampart"
)

// TestAllowPrivateUpstreams: the override travels through the API both
// ways; members get 403 for trying to set it and 400 naming the field for
// an upstream the operator does not allow.
func TestAllowPrivateUpstreams(t *testing.T) {
	e := newEnv(t) // the operator allows loopback, not link-local

	wantError(t, e.do("POST", "/api/v1/services", e.alice, `{"name":"meta","upstreams":["http://169.254.169.254"]}`),
		400, rampart.EINVALID, `upstream "http://169.254.169.254": 169.254.169.254 is the cloud metadata address, which only an admin can allow`)
	wantError(t, e.do("POST", "/api/v1/services", e.alice, `{"name":"meta","upstreams":["http://169.254.169.254"],"allow_private_upstreams":true}`),
		403, rampart.EFORBIDDEN, "only an admin can set allow_private_upstreams")

	rec := e.do("POST", "/api/v1/services", e.admin, `{"name":"meta","owner":"alice@example.com","upstreams":["http://169.254.169.254"],"allow_private_upstreams":true}`)
	if svc := decode[rampart.ServiceView](t, rec); rec.Code != http.StatusCreated || !svc.AllowPrivateUpstreams {
		t.Fatalf("admin create: %d %s", rec.Code, rec.Body)
	}
	rec = e.do("GET", "/api/v1/services/meta", e.alice, "")
	if svc := decode[rampart.ServiceView](t, rec); rec.Code != http.StatusOK || !svc.AllowPrivateUpstreams {
		t.Errorf("owner reads: %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.do("PATCH", "/api/v1/services/meta", e.alice, `{"allow_private_upstreams":true}`), 403, rampart.EFORBIDDEN, "only an admin")
	wantError(t, e.do("PATCH", "/api/v1/services/meta", e.admin, `{"allow_private_upstreams":false}`),
		400, rampart.EINVALID, "set allow_private_upstreams to allow it")
	rec = e.do("PATCH", "/api/v1/services/meta", e.alice, `{"upstreams":["http://127.0.0.1:8080"]}`)
	if svc := decode[rampart.ServiceView](t, rec); rec.Code != http.StatusOK || svc.AllowPrivateUpstreams {
		t.Errorf("owner's new upstream (allowed by the operator) should clear the override: %d %s", rec.Code, rec.Body)
	}
}
