package api

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/limits"
)

// TestServiceQuota: a member past the default services quota gets 409 with
// a message naming the setting and what to do; an admin is not held to it.
func TestServiceQuota(t *testing.T) {
	e := newEnv(t)
	n := limits.DefaultQuotas().ServicesPerAccount
	for i := range n {
		e.createService(e.alice, fmt.Sprintf("app%d", i))
	}
	events := e.audit(e.admin, "")
	wantError(t, e.do("POST", "/api/v1/services", e.alice, `{"name":"one-more","upstreams":["http://127.0.0.1:8080"]}`), http.StatusConflict, rampart.ECONFLICT,
		fmt.Sprintf("you have %d services, the most this server allows per account (quotas.services_per_account): delete one, or ask an admin to raise the quota", n))
	if got := e.audit(e.admin, ""); len(got) != len(events) {
		t.Errorf("a refused create was audited: %v", got[0])
	}
	e.createService(e.bob, "bobs") // another member's count is their own
	rec := e.do("POST", "/api/v1/services", e.admin, `{"name":"one-more","owner":"alice@example.com","upstreams":["http://127.0.0.1:8080"]}`)
	if rec.Code != http.StatusCreated {
		t.Errorf("admin creating past alice's quota: %d %s", rec.Code, rec.Body)
	}
}
