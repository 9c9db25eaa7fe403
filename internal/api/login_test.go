package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// TestLoginThroughTheAPI: the password alone gets no token; the emailed
// code gets one that works, once.
func TestLoginThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	step := e.startLogin("alice@example.com")
	if step.Method != rampart.MFAEmail || step.SentTo != "a••••@example.com" {
		t.Errorf("step = %+v", step)
	}
	code := e.mail.Code(t, "alice@example.com")
	body, _ := json.Marshal(rampart.LoginCodeRequest{Challenge: step.Challenge, Code: code, TokenName: "laptop"})
	rec := e.do("POST", "/api/v1/login/code", "", string(body))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /login/code: %d %s", rec.Code, rec.Body)
	}
	res := decode[rampart.LoginResponse](t, rec)
	if res.Token == "" || res.TokenInfo == nil || res.TokenInfo.Name != "laptop" || res.TokenInfo.ExpiresAt == nil {
		t.Fatalf("login answered %+v: want a named token that expires", res)
	}
	if got := res.TokenInfo.ExpiresAt.Sub(e.clock.Now()); got != rampart.LoginTokenTTL {
		t.Errorf("token lifetime %s, want %s", got, rampart.LoginTokenTTL)
	}
	rec = e.do("GET", "/api/v1/me", res.Token, "")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "alice@example.com") {
		t.Fatalf("GET /me with the new token: %d %s", rec.Code, rec.Body)
	}
	// The same code again: the login is spent.
	if rec := e.do("POST", "/api/v1/login/code", "", string(body)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("second use of a code: %d %s", rec.Code, rec.Body)
	}
}

// TestLoginRefusals: an unknown account and a wrong password look the
// same; a wrong code is refused; a made-up challenge leads nowhere.
func TestLoginRefusals(t *testing.T) {
	e := newEnv(t)
	var bodies []string
	for _, email := range []string{"alice@example.com", "nobody@example.com"} {
		rec := e.do("POST", "/api/v1/login", "", `{"email":"`+email+`","password":"not the password"}`)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("wrong login for %s: %d %s", email, rec.Code, rec.Body)
		}
		bodies = append(bodies, rec.Body.String())
	}
	if bodies[0] != bodies[1] {
		t.Errorf("known and unknown emails answer differently:\n%s\n%s", bodies[0], bodies[1])
	}
	if n := len(e.mail.All("")); n != 0 {
		t.Errorf("%d mails sent for wrong passwords", n)
	}
	step := e.startLogin("bob@example.com")
	wrong := "000000"
	if e.mail.Code(t, "bob@example.com") == wrong {
		wrong = "111111"
	}
	for _, tc := range []struct{ challenge, code string }{{step.Challenge, wrong}, {"made-up", "123456"}, {"", ""}} {
		body, _ := json.Marshal(rampart.LoginCodeRequest{Challenge: tc.challenge, Code: tc.code})
		if rec := e.do("POST", "/api/v1/login/code", "", string(body)); rec.Code != http.StatusUnauthorized {
			t.Errorf("code %q for challenge %q: %d %s", tc.code, tc.challenge, rec.Code, rec.Body)
		}
	}
	// Unknown fields are refused, as everywhere in the API.
	if rec := e.do("POST", "/api/v1/login", "", `{"email":"bob@example.com","password":"correct horse battery","mfa":"none"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown field: %d %s", rec.Code, rec.Body)
	}
}

// TestResetMFAThroughTheAPI: admins only, audited.
func TestResetMFAThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	if rec := e.do("POST", "/api/v1/users/bob@example.com/reset-mfa", e.alice, ""); rec.Code != http.StatusForbidden {
		t.Fatalf("member resetting another's MFA: %d %s", rec.Code, rec.Body)
	}
	rec := e.do("POST", "/api/v1/users/bob@example.com/reset-mfa", e.admin, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("admin reset: %d %s", rec.Code, rec.Body)
	}
	if u := decode[rampart.User](t, rec); u.MFA != rampart.MFAEmail {
		t.Errorf("after reset: %+v", u)
	}
	events, err := e.db.ListAudit(t.Context(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range events {
		found = found || ev.Action == "mfa.reset" && strings.Contains(ev.Detail, "bob@example.com")
	}
	if !found {
		t.Error("no mfa.reset audit entry")
	}
	if m := e.mail.Last(t, "bob@example.com"); !strings.Contains(m.Subject, "reset") {
		t.Errorf("bob's notice: %+v", m)
	}
	if rec := e.do("POST", "/api/v1/users/nobody@example.com/reset-mfa", e.admin, ""); rec.Code != http.StatusNotFound {
		t.Errorf("unknown user: %d %s", rec.Code, rec.Body)
	}
}
