package api

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

func TestUsersAPI(t *testing.T) {
	e := newEnv(t)

	// Members are refused every people operation, and told why.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/users", ""},
		{"POST", "/api/v1/users", `{"email":"carol@example.com","role":"member"}`},
		{"PATCH", "/api/v1/users/bob@example.com", `{"disabled":true}`},
		{"DELETE", "/api/v1/users/bob@example.com", ""},
		{"POST", "/api/v1/users/bob@example.com/reset-password", ""},
		{"GET", "/api/v1/tokens?email=bob@example.com", ""},
	} {
		rec := e.do(c.method, c.path, e.alice, c.body)
		if rec.Code != http.StatusForbidden {
			t.Errorf("member %s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}

	// Bad input is 400.
	wantError(t, e.do("POST", "/api/v1/users", e.admin, `{"email":"not an address","role":"member"}`), http.StatusBadRequest, rampart.EINVALID, "not a valid address")
	wantError(t, e.do("POST", "/api/v1/users", e.admin, `{"email":"carol@example.com","role":"root"}`), http.StatusBadRequest, rampart.EINVALID, "role")
	wantError(t, e.do("POST", "/api/v1/users", e.admin, `{"email":"carol@example.com","role":"member","password":"x"}`), http.StatusBadRequest, rampart.EINVALID, "password")
	wantError(t, e.do("PATCH", "/api/v1/users/bob@example.com", e.admin, `{}`), http.StatusBadRequest, rampart.EINVALID, "nothing to change")
	wantError(t, e.do("PATCH", "/api/v1/users/nobody@example.com", e.admin, `{"role":"admin"}`), http.StatusNotFound, rampart.ENOTFOUND, "no user")

	// Invite: 201, the user invited, a link in their mail.
	rec := e.do("POST", "/api/v1/users", e.admin, `{"email":"Carol@example.com","role":"member"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("invite: %d %s", rec.Code, rec.Body)
	}
	if u := decode[rampart.User](t, rec); u.Email != "carol@example.com" || u.Status != rampart.UserInvited {
		t.Errorf("invited %+v", u)
	}
	if !regexp.MustCompile(`https://rampart\.test/invite/\S{43}`).MatchString(e.mail.Last(t, "carol@example.com").Text) {
		t.Errorf("invitation mail: %s", e.mail.Last(t, "carol@example.com").Text)
	}
	wantError(t, e.do("POST", "/api/v1/users", e.admin, `{"email":"bob@example.com","role":"member"}`), http.StatusConflict, rampart.ECONFLICT, "already has an account")

	rec = e.do("GET", "/api/v1/users", e.admin, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	status := map[string]rampart.UserStatus{}
	for _, u := range decode[rampart.UserList](t, rec).Users {
		status[u.Email] = u.Status
	}
	if status["carol@example.com"] != rampart.UserInvited || status["bob@example.com"] != rampart.UserActive || len(status) != 4 {
		t.Errorf("list: %v", status)
	}

	// Disable: bob's token is refused on the next request; enable brings it back.
	rec = e.do("PATCH", "/api/v1/users/bob@example.com", e.admin, `{"disabled":true}`)
	if rec.Code != http.StatusOK || decode[rampart.User](t, rec).Status != rampart.UserDisabled {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.do("GET", "/api/v1/me", e.bob, ""), http.StatusUnauthorized, rampart.EUNAUTHORIZED, "disabled")
	if rec := e.do("PATCH", "/api/v1/users/bob@example.com", e.admin, `{"disabled":false,"role":"admin"}`); rec.Code != http.StatusOK {
		t.Fatalf("enable and promote: %d %s", rec.Code, rec.Body)
	} else if u := decode[rampart.User](t, rec); u.Status != rampart.UserActive || u.Role != rampart.RoleAdmin {
		t.Errorf("after enable and promote: %+v", u)
	}
	if rec := e.do("GET", "/api/v1/me", e.bob, ""); rec.Code != http.StatusOK {
		t.Errorf("bob's token after enable: %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.do("PATCH", "/api/v1/users/admin@example.com", e.admin, `{"disabled":true}`), http.StatusForbidden, rampart.EFORBIDDEN, "your own account")

	// Reset password: 204 and a link; an unknown user is 404.
	if rec := e.do("POST", "/api/v1/users/alice@example.com/reset-password", e.admin, ""); rec.Code != http.StatusNoContent {
		t.Errorf("reset-password: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(e.mail.Last(t, "alice@example.com").Text, "https://rampart.test/reset/") {
		t.Errorf("reset mail: %s", e.mail.Last(t, "alice@example.com").Text)
	}
	wantError(t, e.do("POST", "/api/v1/users/nobody@example.com/reset-password", e.admin, ""), http.StatusNotFound, rampart.ENOTFOUND, "no user")

	// Delete: refused while alice owns a service, naming it; then 204.
	e.createService(e.alice, "shop")
	wantError(t, e.do("DELETE", "/api/v1/users/alice@example.com", e.admin, ""), http.StatusConflict, rampart.ECONFLICT, "owns 1 service (shop): hand them to another account (rampart service transfer NAME --to EMAIL) or delete them first")
	if rec := e.do("DELETE", "/api/v1/services/shop", e.alice, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete service: %d %s", rec.Code, rec.Body)
	}
	// Her deleted service waits for its purge, and so does her account.
	wantError(t, e.do("DELETE", "/api/v1/users/alice@example.com", e.admin, ""), http.StatusConflict, rampart.ECONFLICT, "owns 1 deleted service in the grace period before the purge (shop)")
	e.purge("shop")
	if rec := e.do("DELETE", "/api/v1/users/alice@example.com", e.admin, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.do("GET", "/api/v1/me", e.alice, ""), http.StatusUnauthorized, rampart.EUNAUTHORIZED, "")
	wantError(t, e.do("DELETE", "/api/v1/users/alice@example.com", e.admin, ""), http.StatusNotFound, rampart.ENOTFOUND, "no user")
}

func TestChangePasswordAPI(t *testing.T) {
	e := newEnv(t)
	rec := e.do("POST", "/api/v1/me/confirm", e.alice, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", rec.Code, rec.Body)
	}
	step := decode[rampart.LoginStep](t, rec)
	if step.Method != rampart.MFAEmail || step.Challenge == "" {
		t.Fatalf("step %+v", step)
	}
	code := e.mail.Code(t, "alice@example.com")
	body := func(current, next, code string) string {
		return `{"current_password":"` + current + `","new_password":"` + next + `","challenge":"` + step.Challenge + `","code":"` + code + `"}`
	}
	wantError(t, e.do("POST", "/api/v1/me/password", e.alice, body("correct horse battery", "short", code)), http.StatusBadRequest, rampart.EINVALID, "too short")
	wantError(t, e.do("POST", "/api/v1/me/password", e.alice, body("wrong password!", "a new long password", code)), http.StatusUnauthorized, rampart.EUNAUTHORIZED, "current password")
	wantError(t, e.do("POST", "/api/v1/me/password", e.alice, `{"current_password":"x","new_password":"y","extra":1}`), http.StatusBadRequest, rampart.EINVALID, "extra")
	if rec := e.do("POST", "/api/v1/me/password", e.alice, body("correct horse battery", "a new long password", code)); rec.Code != http.StatusNoContent {
		t.Fatalf("change: %d %s", rec.Code, rec.Body)
	}
	rec = e.do("POST", "/api/v1/login", "", `{"email":"alice@example.com","password":"a new long password"}`)
	if rec.Code != http.StatusOK {
		t.Errorf("login with the new password: %d %s", rec.Code, rec.Body)
	}
}

func TestTokensAPI(t *testing.T) {
	e := newEnv(t)
	// Created with the default expiry.
	rec := e.do("POST", "/api/v1/tokens", e.alice, `{"name":"laptop"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	created := decode[rampart.TokenCreated](t, rec)
	if created.TokenInfo.ExpiresAt == nil || !created.TokenInfo.ExpiresAt.Equal(e.clock.Now().Add(90*24*time.Hour)) {
		t.Errorf("expiry %v, want 90 days", created.TokenInfo.ExpiresAt)
	}
	if rec := e.do("GET", "/api/v1/me", created.Token, ""); rec.Code != http.StatusOK {
		t.Errorf("the new token: %d %s", rec.Code, rec.Body)
	}
	rec = e.do("POST", "/api/v1/tokens", e.alice, `{"name":"ci","ttl":"1h"}`)
	if rec.Code != http.StatusCreated || !decode[rampart.TokenCreated](t, rec).TokenInfo.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("create with ttl: %d", rec.Code)
	}
	wantError(t, e.do("POST", "/api/v1/tokens", e.alice, `{"name":""}`), http.StatusBadRequest, rampart.EINVALID, "name is required")
	wantError(t, e.do("POST", "/api/v1/tokens", e.alice, `{"name":"x","email":"bob@example.com"}`), http.StatusForbidden, rampart.EFORBIDDEN, "yourself")

	// Listed for the owner and for admins; not for other members.
	rec = e.do("GET", "/api/v1/tokens", e.alice, "")
	if rec.Code != http.StatusOK || len(decode[rampart.TokenList](t, rec).Tokens) != 3 {
		t.Errorf("own list: %d", rec.Code)
	}
	rec = e.do("GET", "/api/v1/tokens?email=alice@example.com", e.admin, "")
	if rec.Code != http.StatusOK || len(decode[rampart.TokenList](t, rec).Tokens) != 3 {
		t.Errorf("admin's list: %d", rec.Code)
	}
	wantError(t, e.do("GET", "/api/v1/tokens?mail=x", e.alice, ""), http.StatusBadRequest, rampart.EINVALID, "email")

	// Revoked: refused from the next request.
	id := strconv.FormatInt(created.TokenInfo.ID, 10)
	wantError(t, e.do("DELETE", "/api/v1/tokens/"+id, e.bob, ""), http.StatusNotFound, rampart.ENOTFOUND, "not found")
	if rec := e.do("DELETE", "/api/v1/tokens/"+id, e.alice, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	wantError(t, e.do("GET", "/api/v1/me", created.Token, ""), http.StatusUnauthorized, rampart.EUNAUTHORIZED, "revoked")
	wantError(t, e.do("DELETE", "/api/v1/tokens/"+id, e.alice, ""), http.StatusNotFound, rampart.ENOTFOUND, "token list")
	wantError(t, e.do("DELETE", "/api/v1/tokens/abc", e.alice, ""), http.StatusNotFound, rampart.ENOTFOUND, "number")
}
