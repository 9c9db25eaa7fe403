package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

// The dashboard as opened on the server itself: passkeys' home.
const localBase = "http://localhost:7070"

func (e *env) storedPasskey(email, name string) *rampart.Passkey {
	e.t.Helper()
	p := &rampart.Passkey{UserID: e.users[email].ID, CredentialID: []byte("cred-" + email + name), PublicKey: []byte("key"), RPID: "localhost", Name: name}
	if err := e.db.CreatePasskey(e.t.Context(), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestPasskeyAccountPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	csrf := b.login(adminEmail)

	// Where the dashboard was opened decides whether passkeys can be added.
	wantContains(t, b.get("/account/security"), `id="passkeys-row"`, `id="passkey-site"`, "do not work at example.com")
	wantContains(t, b.get("http://127.0.0.1:7070/account/security"), `id="passkey-site"`, "passkeys need the dashboard opened by its name")
	page := b.get(localBase + "/account/security")
	wantContains(t, page, `id="passkey-add-form"`, `data-passkey-register="/account/passkeys/options"`, "None yet")
	if strings.Contains(page.Body, `id="passkey-site"`) {
		t.Error("the page opened at localhost says passkeys do not work here")
	}

	// The options: JSON, behind the session's CSRF token, the name checked first.
	res := b.post(localBase+"/account/passkeys/options", url.Values{"name": {"laptop"}})
	wantStatus(t, res, http.StatusForbidden)
	res = b.post(localBase+"/account/passkeys/options", url.Values{"name": {"laptop"}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("options Content-Type %q", ct)
	}
	wantContains(t, res, `"rp":{"name":"rampart","id":"localhost"}`, `"challenge":"`)
	res = b.post(localBase+"/account/passkeys/options", url.Values{"name": {" "}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `{"error":"give the passkey a name`)

	// Without JavaScript the form arrives without the browser's answer.
	res = b.post(localBase+"/account/passkeys", url.Values{"name": {"laptop"}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="passkey-err"`, "needs JavaScript", `value="laptop"`)

	// Removal: a confirmation page without JavaScript, own passkeys only.
	p := e.storedPasskey(adminEmail, "laptop")
	theirs := e.storedPasskey(memberEmail, "phone")
	wantContains(t, b.get(localBase+"/account/security"), `data-fill-action="/account/passkeys/`+formatID(p.ID)+`/remove"`, `id="passkey-remove-dialog"`)
	wantStatus(t, b.get("/account/passkeys/"+formatID(theirs.ID)+"/remove"), http.StatusNotFound)
	wantStatus(t, b.post("/account/passkeys/"+formatID(theirs.ID)+"/remove", url.Values{"csrf_token": {csrf}}), http.StatusNotFound)
	if _, err := e.db.PasskeyByID(t.Context(), theirs.ID); err != nil {
		t.Fatalf("another user's passkey was removed: %v", err)
	}
	page = b.get("/account/passkeys/" + formatID(p.ID) + "/remove")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "Remove the passkey laptop?")
	wantStatus(t, b.post("/account/passkeys/"+formatID(p.ID)+"/remove", url.Values{}), http.StatusForbidden)
	wantRedirect(t, b.post("/account/passkeys/"+formatID(p.ID)+"/remove", url.Values{"csrf_token": {csrf}}), "/account/security#passkeys-row")
	wantContains(t, b.get(localBase+"/account/security"), `Passkey &#34;laptop&#34; removed`, "None yet")
}

func TestPasskeyLoginEndpoints(t *testing.T) {
	e := newEnv(t)
	e.storedPasskey(memberEmail, "laptop")
	b := e.browser()
	page := b.get(localBase + "/login")
	res := b.post(localBase+"/login", url.Values{"email": {memberEmail}, "password": {testPassword}, "csrf_token": {csrfOf(t, page.Body)}})
	wantRedirect(t, res, "/login/verify?next=%2F")
	page = b.get(localBase + "/login/verify")
	wantContains(t, page, `id="passkey-use"`, `data-passkey-login="/login/passkey/options"`, `id="code"`)
	csrf := csrfOf(t, page.Body)
	// Opened elsewhere, the page says why the passkey is not offered.
	wantContains(t, b.get("http://127.0.0.1:7070/login/verify"), `id="passkey-note"`, "opened by its name")

	res = b.post(localBase+"/login/passkey/options", url.Values{})
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res, `{"error":`)
	res = b.post(localBase+"/login/passkey/options", url.Values{"csrf_token": {csrf}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `"rpId":"localhost"`, `"allowCredentials":[{"type":"public-key","id":"`)

	wantStatus(t, b.post(localBase+"/login/passkey", url.Values{"credential": {"{}"}}), http.StatusForbidden)
	res = b.post(localBase+"/login/passkey", url.Values{"credential": {`{"id":"x"}`}, "next": {"/"}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnauthorized)
	wantContains(t, res, "that passkey was not accepted", `id="passkey-use"`)
	// The code still works after a refused passkey.
	page = b.get(localBase + "/login/verify")
	res = b.post(localBase+"/login/verify", url.Values{"code": {e.mail.Code(t, memberEmail)}, "next": {"/"}, "csrf_token": {csrfOf(t, page.Body)}})
	wantRedirect(t, res, "/")
}
