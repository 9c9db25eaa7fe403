package api

import (
	"net/http"
	"slices"
	"testing"

	"github.com/rampart-dev/rampart"
)

// TestTransferAPI: POST /services/{name}/transfer is an admin's; the
// owner is told so, anyone else that there is no such service, and a bad
// body or account changes nothing.
func TestTransferAPI(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "shop")

	wantError(t, e.do("POST", "/api/v1/services/shop/transfer", e.alice, `{"owner":"bob@example.com"}`), http.StatusForbidden, rampart.EFORBIDDEN, "only an admin")
	wantError(t, e.do("POST", "/api/v1/services/shop/transfer", e.bob, `{"owner":"bob@example.com"}`), http.StatusNotFound, rampart.ENOTFOUND, `service "shop" not found`)
	wantError(t, e.do("POST", "/api/v1/services/shop/transfer", e.admin, `{"owner":"nobody@example.com"}`), http.StatusBadRequest, rampart.EINVALID, "nobody@example.com has no account")
	wantError(t, e.do("POST", "/api/v1/services/shop/transfer", e.admin, `{"owner":""}`), http.StatusBadRequest, rampart.EINVALID, "name the account")
	wantError(t, e.do("POST", "/api/v1/services/shop/transfer", e.admin, `{"owner":"bob@example.com","extra":1}`), http.StatusBadRequest, rampart.EINVALID, "")
	if got := e.names(e.alice); !slices.Equal(got, []string{"shop"}) {
		t.Fatalf("after the refusals alice has %v", got)
	}

	rec := e.do("POST", "/api/v1/services/shop/transfer", e.admin, `{"owner":"bob@example.com"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("transfer: %d %s", rec.Code, rec.Body)
	}
	if v := decode[rampart.ServiceView](t, rec); v.Owner != "bob@example.com" || v.Name != "shop" {
		t.Errorf("transfer answered owner %q for %q", v.Owner, v.Name)
	}
	if got := e.names(e.alice); len(got) != 0 {
		t.Errorf("alice still has %v", got)
	}
	if got := e.names(e.bob); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("bob has %v", got)
	}
	wantError(t, e.do("GET", "/api/v1/services/shop", e.alice, ""), http.StatusNotFound, rampart.ENOTFOUND, "")
}
