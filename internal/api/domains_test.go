package api

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/rampart-dev/rampart"
)

// TestDomainChallengeVisibility: the owner (and an admin) read a domain
// with the TXT record that proves it; another member gets 404 for it and
// cannot add the name while it is on the owner's service.
func TestDomainChallengeVisibility(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "shop")
	e.createService(e.bob, "grab")
	rec := e.do("POST", "/api/v1/services/shop/domains", e.alice, `{"name":"shop.example.com"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	added := decode[rampart.Domain](t, rec)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(added.Challenge.Value) || added.Challenge.Name != "_rampart-challenge.shop.example.com" {
		t.Fatalf("added domain's challenge = %+v", added.Challenge)
	}
	if added.State != rampart.DomainWaitingForDNS || added.VerifiedAt != nil {
		t.Errorf("a new domain = %+v, want waiting_for_dns and no verified_at", added.DomainStatus)
	}
	for _, who := range []struct{ name, token string }{{"owner", e.alice}, {"admin", e.admin}} {
		rec := e.do("GET", "/api/v1/services/shop/domains/shop.example.com", who.token, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: GET the domain: %d %s", who.name, rec.Code, rec.Body)
		}
		if got := decode[rampart.Domain](t, rec); got.Challenge != added.Challenge {
			t.Errorf("%s sees challenge %+v, want %+v", who.name, got.Challenge, added.Challenge)
		}
	}
	rec = e.do("GET", "/api/v1/services/shop/domains/shop.example.com", e.bob, "")
	wantError(t, rec, http.StatusNotFound, rampart.ENOTFOUND, "")
	rec = e.do("POST", "/api/v1/services/grab/domains", e.bob, `{"name":"shop.example.com"}`)
	wantError(t, rec, http.StatusConflict, rampart.ECONFLICT, "already used by another service")
}
