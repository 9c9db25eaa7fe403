package web

import (
	"context"
	"html"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/certs/certstest"
)

func TestUpdateConfigEnv(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	e.createService(otherEmail, "theirs")
	b := e.browser()
	csrf := b.login(memberEmail)
	stored := func() *rampart.Service {
		t.Helper()
		svc, err := e.db.ServiceByName(context.Background(), "blog")
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}

	res := b.get("/services/blog")
	wantContains(t, res, `href="/services/blog/config"`, "Update config")
	res = b.get("/services/blog/config")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="env-form"`, `aria-current="page">Env`)

	text := "# shop settings\nAPP_URL=https://shop.example.com\nexport GREETING=\"hello world\"\nKEY=\"l1\\nl2\"\n"
	res = b.post("/services/blog/config/env", url.Values{"env": {text}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog")
	if got, want := stored().Env, (rampart.Env{"APP_URL": "https://shop.example.com", "GREETING": "hello world", "KEY": "l1\nl2"}); !maps.Equal(got, want) {
		t.Fatalf("stored env = %q, want %q", got, want)
	}
	res = b.get("/services/blog")
	wantContains(t, res, "Environment saved: set APP_URL, GREETING, KEY.", "3 variables", "APP_URL, GREETING, KEY")
	// The form shows the stored environment in the form it was read in.
	res = b.get("/services/blog/config")
	wantContains(t, res, html.EscapeString("APP_URL=https://shop.example.com\nGREETING=hello world\nKEY=\"l1\\nl2\"\n"))

	// A name left out is removed; the audit log names names, not values.
	res = b.post("/services/blog/config/env", url.Values{"env": {"APP_URL=https://shop.example.com\nKEY=\"l1\\nl2\""}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog")
	if _, ok := stored().Env["GREETING"]; ok {
		t.Error("GREETING left out of the text but still stored")
	}
	if res := b.get("/services/blog"); !strings.Contains(res.Body, "Environment saved: removed GREETING.") {
		t.Errorf("flash after removing: %s", res.Body)
	}

	// A bad line: refused with its number, the text kept, nothing stored.
	before := stored()
	bad := "APP_URL=https://x.example\nMY-VAR=1\n"
	res = b.post("/services/blog/config/env", url.Values{"env": {bad}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="env-err"`, "line 2", html.EscapeString(`"MY-VAR"`), html.EscapeString(bad))
	if !maps.Equal(stored().Env, before.Env) {
		t.Error("a refused environment changed the stored one")
	}
	// Without the CSRF token: refused, nothing stored.
	res = b.post("/services/blog/config/env", url.Values{"env": {"X=1"}})
	wantStatus(t, res, http.StatusForbidden)
	if !maps.Equal(stored().Env, before.Env) {
		t.Error("a CSRF-less post changed the environment")
	}
	// Too large a form: 413 with a message, not a CSRF error.
	res = b.post("/services/blog/config/env", url.Values{"env": {strings.Repeat("A=1\n", 80_000)}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusRequestEntityTooLarge)
	wantContains(t, res, "more than 256 KiB")

	// Another tenant's service is not there, for reading or writing.
	wantStatus(t, b.get("/services/theirs/config"), http.StatusNotFound)
	wantStatus(t, b.post("/services/theirs/config/env", url.Values{"env": {"X=1"}, "csrf_token": {csrf}}), http.StatusNotFound)
}

func TestUpdateConfigUpstreams(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	csrf := b.login(memberEmail)

	res := b.get("/services/blog/config?tab=upstreams")
	wantContains(t, res, `id="upstreams-form"`, "http://127.0.0.1:9000")
	res = b.post("/services/blog/config/upstreams", url.Values{"upstreams": {"http://127.0.0.1:9001\nhttp://127.0.0.1:9002\n"}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog")
	svc, _ := e.db.ServiceByName(context.Background(), "blog")
	if strings.Join(svc.Upstreams, " ") != "http://127.0.0.1:9001 http://127.0.0.1:9002" {
		t.Errorf("upstreams = %v", svc.Upstreams)
	}
	res = b.post("/services/blog/config/upstreams", url.Values{"upstreams": {"ftp://files.example"}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="upstreams-err"`, "must start with http:// or https://", "ftp://files.example")
	res = b.post("/services/blog/config/upstreams", url.Values{"upstreams": {"  "}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "at least one upstream URL is required")
	if svc, _ := e.db.ServiceByName(context.Background(), "blog"); len(svc.Upstreams) != 2 {
		t.Errorf("a refused save changed the upstreams to %v", svc.Upstreams)
	}
}

func TestDomainTLSForms(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	csrf := b.login(memberEmail)
	domain := func(name string) *rampart.Domain {
		t.Helper()
		d, err := e.db.DomainByName(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cert, key := certstest.SelfSigned(t, "origin.example", time.Now().Add(30*24*time.Hour))

	// Add with an uploaded certificate, through htmx as the page does.
	res := b.do("POST", "/services/blog/domains", url.Values{"domain": {"origin.example"}, "tls_mode": {"custom"},
		"cert_pem": {string(cert)}, "key_pem": {string(key)}, "csrf_token": {csrf}}, http.Header{"HX-Request": {"true"}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `data-domain="origin.example"`, "Custom certificate")
	if d := domain("origin.example"); d.TLSMode != rampart.TLSCustom || string(d.CertPEM) != string(cert) {
		t.Errorf("stored: %s, certificate stored %v", d.TLSMode, string(d.CertPEM) == string(cert))
	}
	// Hidden upload fields are ignored in the other modes.
	res = b.post("/services/blog/domains", url.Values{"domain": {"shop.example"}, "tls_mode": {"managed"},
		"cert_pem": {"left over"}, "key_pem": {"left over"}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog/domains")
	// A certificate for another name: refused with the reason, kept as typed.
	other, otherKey := certstest.SelfSigned(t, "other.example", time.Now().Add(24*time.Hour))
	res = b.do("POST", "/services/blog/domains", url.Values{"domain": {"third.example"}, "tls_mode": {"custom"},
		"cert_pem": {string(other)}, "key_pem": {string(otherKey)}, "csrf_token": {csrf}}, http.Header{"HX-Request": {"true"}})
	wantContains(t, res, `id="domain-err"`, "third.example", `value="third.example"`, "-----BEGIN CERTIFICATE-----")
	if _, err := e.db.DomainByName(context.Background(), "third.example"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Error("a domain with a refused upload was stored")
	}

	// Change TLS: managed → custom without an upload is refused in the
	// row's form, which comes back open with the message.
	res = b.post("/services/blog/domains/shop.example/tls", url.Values{"tls_mode": {"custom"}, "csrf_token": {csrf}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `<details class="domain-tls" open>`, `data-field="tls-err"`, "needs both a certificate and its private key")
	if d := domain("shop.example"); d.TLSMode != rampart.TLSManaged {
		t.Errorf("refused change stored mode %s", d.TLSMode)
	}
	// Proven by DNS (the domains reconciler's part), a domain switched to
	// TLS off is active at once.
	if err := e.db.VerifyDomain(context.Background(), domain("shop.example").ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	res = b.post("/services/blog/domains/shop.example/tls", url.Values{"tls_mode": {"off"}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog/domains")
	if d := domain("shop.example"); d.TLSMode != rampart.TLSOff || d.State != rampart.DomainActive {
		t.Errorf("after TLS off: %s %s", d.TLSMode, d.State)
	}
	wantContains(t, b.get("/services/blog/domains"), "shop.example: TLS off. rampart no longer requests certificates for it")

	// Replace the uploaded certificate of the custom domain.
	cert2, key2 := certstest.SelfSigned(t, "origin.example", time.Now().Add(60*24*time.Hour))
	res = b.post("/services/blog/domains/origin.example/tls", url.Values{"tls_mode": {"custom"}, "cert_pem": {string(cert2)}, "key_pem": {string(key2)}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog/domains")
	if d := domain("origin.example"); string(d.CertPEM) != string(cert2) {
		t.Error("the replacement certificate was not stored")
	}
	wantStatus(t, b.post("/services/blog/domains/nope.example/tls", url.Values{"tls_mode": {"off"}, "csrf_token": {csrf}}), http.StatusNotFound)
	wantStatus(t, b.post("/services/blog/domains/origin.example/tls", url.Values{"tls_mode": {"off"}}), http.StatusForbidden)
}
