package web

import (
	"context"
	"html"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
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

// TestUpdateConfigRuntime: an admin moves a service from proxy to exec,
// then compose, then back to proxy on the Runtime tab; the store holds
// exactly what the form said, with the version kept (it is changed by its
// own, protected, action), and each flash says what happens.
func TestUpdateConfigRuntime(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "shop")
	b := e.browser()
	csrf := b.login(adminEmail)
	save := func(form url.Values) *response {
		t.Helper()
		form.Set("csrf_token", csrf)
		return b.post("/services/shop/config/runtime", form)
	}
	wantStored := func(want rampart.Runtime, upstream string) {
		t.Helper()
		svc := e.stored("shop")
		if !reflect.DeepEqual(svc.Runtime, want) {
			t.Errorf("stored runtime = %+v, want %+v", svc.Runtime, want)
		}
		if got := strings.Join(svc.Upstreams, " "); got != upstream {
			t.Errorf("upstreams = %s, want %s", got, upstream)
		}
	}

	res := b.get("/services/shop/config?tab=runtime")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `aria-current="page">Runtime`, `id="runtime-form"`, `data-runtime-form`, `value="proxy" checked`,
		`data-runtime-group="exec compose"`, `data-runtime-group="exec"`, `data-runtime-group="compose"`, "Change software version", "at most 64 KiB")

	// proxy → exec. Fields of the other kind (a compose file) are ignored;
	// argument lines are one argument each, CRLF and blank lines aside.
	res = save(url.Values{"kind": {"exec"}, "port": {" 9100 "}, "command": {"/opt/shop/${VERSION}/server"},
		"args": {"--listen\r\n127.0.0.1:9100\r\n\r\n--name=my shop\r\n"}, "dir": {""}, "user": {""}, "stop_timeout": {"30s"},
		"compose_file": {"services: {}"}})
	wantRedirect(t, res, "/services/shop")
	wantStored(rampart.Runtime{Kind: rampart.RuntimeExec, Port: 9100, Command: "/opt/shop/${VERSION}/server",
		Args: []string{"--listen", "127.0.0.1:9100", "--name=my shop"}, StopTimeout: rampart.Duration(30 * time.Second)}, "http://127.0.0.1:9100")
	res = b.get("/services/shop")
	wantContains(t, res, "Runtime saved: rampart starts shop (exec), and the edge sends its requests to http://127.0.0.1:9100.",
		`Runtime <span class="mono">exec</span>`)
	res = b.get("/services/shop/config?tab=runtime")
	wantContains(t, res, `value="exec" checked`, `value="9100"`, `value="30s"`, "--listen\n127.0.0.1:9100\n--name=my shop</textarea>")
	// The same again changes nothing and says so.
	res = save(url.Values{"kind": {"exec"}, "port": {"9100"}, "command": {"/opt/shop/${VERSION}/server"},
		"args": {"--listen\n127.0.0.1:9100\n--name=my shop"}, "stop_timeout": {"30s"}})
	wantRedirect(t, res, "/services/shop")
	wantContains(t, b.get("/services/shop"), "Runtime unchanged.")

	if _, err := e.app.Services.SetVersion(context.Background(), app.UserActor(e.users[adminEmail], "192.0.2.1"), "shop", "1.2"); err != nil {
		t.Fatal(err)
	}
	wantContains(t, b.get("/services/shop/config?tab=runtime"), `<span class="mono" data-field="runtime-version">1.2</span>`)

	// exec → compose: the exec fields left in the form are not sent, the
	// compose file is stored with plain newlines, the version is kept and
	// the upstream follows the port.
	compose := "services:\n  app:\n    image: shop:${VERSION}\n    ports: [\"127.0.0.1:${PORT}:8080\"]\n"
	res = save(url.Values{"kind": {"compose"}, "port": {"9200"}, "command": {"/opt/shop/${VERSION}/server"}, "args": {"--listen"},
		"user": {"shop"}, "compose_file": {strings.ReplaceAll(compose, "\n", "\r\n")}})
	wantRedirect(t, res, "/services/shop")
	wantStored(rampart.Runtime{Kind: rampart.RuntimeCompose, Version: "1.2", Port: 9200, ComposeFile: compose}, "http://127.0.0.1:9200")
	wantContains(t, b.get("/services/shop"), "Runtime saved: rampart restarts shop with the new runtime (compose), and the edge sends its requests to http://127.0.0.1:9200.")

	// compose → proxy: nothing else is sent; the upstream stays where the
	// process was, and the flash says so.
	res = save(url.Values{"kind": {"proxy"}, "port": {"9200"}, "compose_file": {compose}})
	wantRedirect(t, res, "/services/shop")
	wantStored(rampart.Runtime{Kind: rampart.RuntimeProxy, Version: "1.2"}, "http://127.0.0.1:9200")
	wantContains(t, b.get("/services/shop"), "Runtime saved: rampart no longer runs shop; its data directory stays. The edge still sends its requests to http://127.0.0.1:9200, where nothing of rampart&#39;s listens any more",
		`Runtime <span class="mono">proxy</span>`)
}

// TestUpdateConfigRuntimeRefused: input the handler cannot read gets a
// message next to its field, the app's refusals one above the form; the
// form keeps what was typed and nothing changes. A post without the CSRF
// token changes nothing either.
func TestUpdateConfigRuntimeRefused(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "shop")
	b := e.browser()
	csrf := b.login(adminEmail)
	before := e.stored("shop")
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"port not a number", url.Values{"kind": {"exec"}, "port": {"80x80"}, "command": {"/bin/app"}},
			[]string{`id="runtime-port-err"`, html.EscapeString(`port "80x80" is not a port number`), `value="80x80"`, `value="/bin/app"`, `aria-invalid="true"`}},
		{"port out of range", url.Values{"kind": {"compose"}, "port": {"70000"}, "compose_file": {"services: {}"}},
			[]string{`id="runtime-port-err"`, "between 1 and 65535", `value="compose" checked`}},
		{"no port", url.Values{"kind": {"exec"}, "command": {"/bin/app"}},
			[]string{`id="runtime-port-err"`, "runtime exec needs the port"}},
		{"no command", url.Values{"kind": {"exec"}, "port": {"9100"}, "args": {"--verbose"}},
			[]string{`id="runtime-err"`, "runtime exec needs a command", "--verbose</textarea>"}},
		{"no compose file", url.Values{"kind": {"compose"}, "port": {"9100"}},
			[]string{`id="runtime-err"`, "runtime compose needs a compose file"}},
		{"compose file too long", url.Values{"kind": {"compose"}, "port": {"9100"}, "compose_file": {strings.Repeat("#", rampart.MaxComposeFileLength+1)}},
			[]string{`id="runtime-compose-file-err"`, "the compose file is 65537 bytes: at most 65536 (64 KiB) are allowed"}},
		{"bad stop timeout", url.Values{"kind": {"exec"}, "port": {"9100"}, "command": {"/bin/app"}, "stop_timeout": {"soon"}},
			[]string{`id="runtime-stop-timeout-err"`, html.EscapeString(`stop timeout "soon" is not a duration`)}},
		{"stop timeout too long", url.Values{"kind": {"exec"}, "port": {"9100"}, "command": {"/bin/app"}, "stop_timeout": {"1h"}},
			[]string{`id="runtime-stop-timeout-err"`, "between 0 and 10m"}},
		{"relative directory", url.Values{"kind": {"exec"}, "port": {"9100"}, "command": {"/bin/app"}, "dir": {"srv/app"}},
			[]string{`id="runtime-err"`, "must be an absolute path"}},
		{"no kind", url.Values{"port": {"9100"}}, []string{`id="runtime-kind-err"`, "choose who runs the app"}},
		{"unknown kind", url.Values{"kind": {"systemd"}}, []string{`id="runtime-kind-err"`, html.EscapeString(`runtime "systemd" is unknown`)}},
	} {
		tc.form.Set("csrf_token", csrf)
		res := b.post("/services/shop/config/runtime", tc.form)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: status %d, want 422", tc.name, res.StatusCode)
		}
		wantContains(t, res, append(tc.want, `id="runtime-form"`)...)
		if after := e.stored("shop"); !reflect.DeepEqual(after.Runtime, before.Runtime) || !slices.Equal(after.Upstreams, before.Upstreams) {
			t.Errorf("%s: a refused save changed the service: runtime %+v, upstreams %v", tc.name, after.Runtime, after.Upstreams)
		}
	}
	res := b.post("/services/shop/config/runtime", url.Values{"kind": {"exec"}, "port": {"9100"}, "command": {"/bin/app"}})
	wantStatus(t, res, http.StatusForbidden)
	if after := e.stored("shop"); after.Runtime.Kind != rampart.RuntimeProxy {
		t.Errorf("a CSRF-less post set runtime %s", after.Runtime.Kind)
	}
}

// TestUpdateConfigRuntimeMember: a member sees the runtime of their
// service but no form, and one sentence saying why; the app refuses a
// member's post of a runtime that runs something. Another member's
// service is not there at all.
func TestUpdateConfigRuntimeMember(t *testing.T) {
	e := newEnv(t)
	e.createExec(memberEmail, "app")
	e.createService(memberEmail, "blog")
	e.createService(otherEmail, "theirs")
	b := e.browser()
	csrf := b.login(memberEmail)

	res := b.get("/services/app/config?tab=runtime")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="runtime-view"`, "A process rampart runs (exec)", `data-field="runtime-port">9100`,
		`data-field="runtime-command">/opt/app/${VERSION}/server`, "the service's data directory", "1.0.0",
		"Only an admin can change the runtime, because a runtime other than proxy runs commands on the host.")
	for _, no := range []string{`id="runtime-form"`, `name="kind"`, "/config/runtime"} {
		if strings.Contains(res.Body, no) {
			t.Errorf("the member's Runtime tab has %s", no)
		}
	}
	res = b.get("/services/blog/config?tab=runtime")
	wantContains(t, res, "Elsewhere (proxy)", "http://127.0.0.1:9000", `id="runtime-admin-only"`)

	// Posted anyway: refused by the app, shown with its message, nothing
	// changed.
	for name, form := range map[string]url.Values{
		"blog": {"kind": {"exec"}, "port": {"9100"}, "command": {"/bin/sh"}},
		"app":  {"kind": {"compose"}, "port": {"9100"}, "compose_file": {"services: {}"}},
	} {
		before := e.stored(name)
		form.Set("csrf_token", csrf)
		res := b.post("/services/"+name+"/config/runtime", form)
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res, `id="runtime-err"`, "only an admin can", `id="runtime-view"`)
		if after := e.stored(name); !reflect.DeepEqual(after.Runtime, before.Runtime) {
			t.Errorf("%s: a member's refused post changed the runtime to %+v", name, after.Runtime)
		}
	}

	// The environment of a service rampart runs reaches it by a restart.
	wantContains(t, b.get("/services/app/config"), "saving restarts it with them")
	wantRedirect(t, b.post("/services/app/config/env", url.Values{"env": {"APP_URL=https://app.example.com"}, "csrf_token": {csrf}}), "/services/app")
	wantContains(t, b.get("/services/app"), "Environment saved: set APP_URL. rampart restarts app with the new variables.")
	wantContains(t, b.get("/services/blog/config"), "rampart keeps these variables but hands them to nothing")

	// Another member's service.
	wantStatus(t, b.get("/services/theirs/config?tab=runtime"), http.StatusNotFound)
	wantStatus(t, b.post("/services/theirs/config/runtime", url.Values{"kind": {"proxy"}, "csrf_token": {csrf}}), http.StatusNotFound)
	if got := e.stored("theirs").Runtime.Kind; got != rampart.RuntimeProxy {
		t.Errorf("another member's service has runtime %s", got)
	}

	// An admin gets the form for the member's service, filled in.
	admin := e.browser()
	admin.login(adminEmail)
	wantContains(t, admin.get("/services/app/config?tab=runtime"), `id="runtime-form"`, `value="exec" checked`, `value="/opt/app/${VERSION}/server"`, `value="9100"`)
}
