package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

func TestServiceLifecycle(t *testing.T) {
	e := newEnv(t)

	rec := e.do("POST", "/api/v1/services", e.alice, `{"name":"blog","upstreams":["http://127.0.0.1:8080"]}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != "/api/v1/services/blog" {
		t.Errorf("Location = %q", loc)
	}
	svc := decode[rampart.ServiceView](t, rec)
	if svc.Name != "blog" || svc.Owner != "alice@example.com" || svc.State != rampart.StateActive ||
		svc.Hostname != "blog.example.net" || !slices.Equal(svc.Upstreams, []string{"http://127.0.0.1:8080"}) || svc.ID == 0 {
		t.Errorf("created %+v", svc)
	}

	rec = e.do("GET", "/api/v1/services/blog", e.alice, "")
	if got := decode[rampart.ServiceView](t, rec); rec.Code != http.StatusOK || got.ID != svc.ID || got.Hostname != "blog.example.net" {
		t.Errorf("get: %d %+v", rec.Code, got)
	}
	if got := e.names(e.alice); !slices.Equal(got, []string{"blog"}) {
		t.Errorf("list = %v", got)
	}

	rec = e.do("PATCH", "/api/v1/services/blog", e.alice, `{"state":"stopped"}`)
	if got := decode[rampart.ServiceView](t, rec); rec.Code != http.StatusOK || got.State != rampart.StateStopped || len(got.Upstreams) != 1 {
		t.Errorf("patch state: %d %+v", rec.Code, got)
	}
	rec = e.do("PATCH", "/api/v1/services/blog", e.alice, `{"upstreams":["http://10.0.0.1:80","https://app.internal/base"]}`)
	if got := decode[rampart.ServiceView](t, rec); rec.Code != http.StatusOK || len(got.Upstreams) != 2 || got.State != rampart.StateStopped {
		t.Errorf("patch upstreams: %d %+v", rec.Code, got)
	}
	wantError(t, e.do("PATCH", "/api/v1/services/blog", e.alice, `{}`), 400, rampart.EINVALID, "nothing to change")
	wantError(t, e.do("PATCH", "/api/v1/services/blog", e.alice, `{"state":"paused"}`), 400, rampart.EINVALID, `state "paused" is unknown`)
	wantError(t, e.do("PATCH", "/api/v1/services/blog", e.alice, `{"upstreams":[]}`), 400, rampart.EINVALID, "at least one upstream")

	rec = e.do("DELETE", "/api/v1/services/blog", e.alice, "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("delete: %d %q", rec.Code, rec.Body)
	}
	// Deleted, it waits out its grace period: shown as deleted, changed
	// by nothing but a restore.
	rec = e.do("GET", "/api/v1/services/blog", e.alice, "")
	if got := decode[rampart.ServiceView](t, rec); rec.Code != 200 || got.State != rampart.StateDeleted || got.PurgeAfter == nil || !got.PurgeAfter.Equal(got.DeletedAt.Add(rampart.DefaultDeleteGrace)) {
		t.Errorf("get after delete: %d %+v", rec.Code, got)
	}
	wantError(t, e.do("DELETE", "/api/v1/services/blog", e.alice, ""), 409, rampart.ECONFLICT, `service "blog" is deleted: restore it first`)
	wantError(t, e.do("PATCH", "/api/v1/services/blog", e.alice, `{"upstreams":["http://127.0.0.1:1"]}`), 409, rampart.ECONFLICT, `service "blog" is deleted`)
	wantError(t, e.do("POST", "/api/v1/services", e.bob, `{"name":"blog","upstreams":["http://127.0.0.1:1"]}`), 409, rampart.ECONFLICT, `belongs to a deleted service`)
	e.purge("blog")
	wantError(t, e.do("GET", "/api/v1/services/blog", e.alice, ""), 404, rampart.ENOTFOUND, `service "blog" not found`)
	if got := e.names(e.alice); len(got) != 0 {
		t.Errorf("list after the purge = %v", got)
	}
	// An empty list is [], not null, so that clients can range over it.
	if body := e.do("GET", "/api/v1/services", e.alice, "").Body.String(); body != `{"services":[]}`+"\n" {
		t.Errorf("empty list = %s", body)
	}

	want := []string{"service.delete blog", "service.update blog", "service.update blog", "service.create blog"}
	if got := e.audit(e.alice, ""); !slices.Equal(got, want) {
		t.Errorf("audit = %q, want %q", got, want)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "alice-app")
	e.createService(e.bob, "bob-app")

	if got := e.names(e.alice); !slices.Equal(got, []string{"alice-app"}) {
		t.Errorf("alice sees %v", got)
	}
	if got := e.names(e.bob); !slices.Equal(got, []string{"bob-app"}) {
		t.Errorf("bob sees %v", got)
	}
	if got := e.names(e.admin); !slices.Equal(got, []string{"alice-app", "bob-app"}) {
		t.Errorf("admin sees %v", got)
	}

	// Another tenant's service looks exactly like one that does not exist.
	for _, tc := range []struct{ method, body string }{
		{"GET", ""},
		{"PATCH", `{"state":"stopped"}`},
		{"PATCH", `{"bogus":1}`}, // 404 before the body is judged
		{"DELETE", ""},
	} {
		t.Run(tc.method, func(t *testing.T) {
			theirs := wantError(t, e.do(tc.method, "/api/v1/services/bob-app", e.alice, tc.body), 404, rampart.ENOTFOUND, `service "bob-app" not found`)
			missing := wantError(t, e.do(tc.method, "/api/v1/services/nobody-app", e.alice, tc.body), 404, rampart.ENOTFOUND, "")
			if strings.ReplaceAll(missing.Message, "nobody-app", "bob-app") != theirs.Message {
				t.Errorf("messages differ: %q vs %q", theirs.Message, missing.Message)
			}
		})
	}
	if got := e.names(e.bob); !slices.Equal(got, []string{"bob-app"}) {
		t.Errorf("bob's services after alice's attempts: %v", got)
	}
	bobs := decode[rampart.ServiceView](t, e.do("GET", "/api/v1/services/bob-app", e.bob, ""))
	if bobs.State != rampart.StateActive {
		t.Errorf("alice changed bob's service: %+v", bobs)
	}

	// Members cannot create services for others; admins can.
	wantError(t, e.do("POST", "/api/v1/services", e.alice, `{"name":"gift","upstreams":["http://127.0.0.1:1"],"owner":"bob@example.com"}`),
		403, rampart.EFORBIDDEN, "only an admin")
	rec := e.do("POST", "/api/v1/services", e.admin, `{"name":"gift","upstreams":["http://127.0.0.1:1"],"owner":"bob@example.com"}`)
	if svc := decode[rampart.ServiceView](t, rec); rec.Code != 201 || svc.Owner != "bob@example.com" {
		t.Errorf("admin creating for bob: %d %+v", rec.Code, svc)
	}
	wantError(t, e.do("POST", "/api/v1/services", e.admin, `{"name":"gift2","upstreams":["http://127.0.0.1:1"],"owner":"carol@example.com"}`),
		400, rampart.EINVALID, `owner "carol@example.com" has no account`)

	// Admins reach every service.
	if rec := e.do("PATCH", "/api/v1/services/alice-app", e.admin, `{"state":"stopped"}`); rec.Code != 200 {
		t.Errorf("admin patch: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/api/v1/services/bob-app", e.admin, ""); rec.Code != 204 {
		t.Errorf("admin delete: %d %s", rec.Code, rec.Body)
	}
	if got := e.names(e.bob); !slices.Equal(got, []string{"bob-app", "gift"}) {
		t.Errorf("bob sees %v after the admin's changes", got)
	}
	if rec := e.do("GET", "/api/v1/services/bob-app", e.bob, ""); decode[rampart.ServiceView](t, rec).State != rampart.StateDeleted {
		t.Errorf("bob's deleted service: %s", rec.Body)
	}
}

func TestCreateServiceRefused(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "taken")
	services, events := e.names(e.admin), e.audit(e.admin, "")

	long := strings.Repeat("a", 64)
	for _, tc := range []struct {
		name, body string
		status     int
		code, msg  string
	}{
		{"upper case", `{"name":"Blog","upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, `has upper-case letters: use "blog"`},
		{"too long", `{"name":"` + long + `","upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, "is 64 characters long: a DNS label has at most 63"},
		{"leading hyphen", `{"name":"-blog","upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, "must not start or end with a hyphen"},
		{"trailing hyphen", `{"name":"blog-","upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, "must not start or end with a hyphen"},
		{"dot", `{"name":"my.blog","upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, `has the character "."`},
		{"punycode", `{"name":"xn--blog","upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, "3rd and 4th position"},
		{"empty name", `{"upstreams":["http://127.0.0.1:8080"]}`, 400, rampart.EINVALID, "service name is required"},
		{"duplicate", `{"name":"taken","upstreams":["http://127.0.0.1:8080"]}`, 409, rampart.ECONFLICT, "taken"},
		{"no upstreams", `{"name":"blog"}`, 400, rampart.EINVALID, "at least one upstream URL is required"},
		{"ftp upstream", `{"name":"blog","upstreams":["ftp://127.0.0.1"]}`, 400, rampart.EINVALID, "must start with http:// or https://"},
		{"bare host upstream", `{"name":"blog","upstreams":["127.0.0.1:8080"]}`, 400, rampart.EINVALID, `upstream "127.0.0.1:8080"`},
		{"no host", `{"name":"blog","upstreams":["http://"]}`, 400, rampart.EINVALID, "has no host"},
		{"credentials", `{"name":"blog","upstreams":["http://user:pw@127.0.0.1"]}`, 400, rampart.EINVALID, "must not contain credentials"},
		{"query", `{"name":"blog","upstreams":["http://127.0.0.1/?a=b"]}`, 400, rampart.EINVALID, "must not have a query or fragment"},
		{"bad port", `{"name":"blog","upstreams":["http://127.0.0.1:99999"]}`, 400, rampart.EINVALID, "is not between 1 and 65535"},
		{"bad host", `{"name":"blog","upstreams":["http://exa mple.com"]}`, 400, rampart.EINVALID, "not a valid URL"},
		{"twice", `{"name":"blog","upstreams":["http://a:1","http://a:1"]}`, 400, rampart.EINVALID, "is listed twice"},
		{"too many", `{"name":"blog","upstreams":["http://a:1","http://a:2","http://a:3","http://a:4","http://a:5","http://a:6","http://a:7","http://a:8","http://a:9"]}`, 400, rampart.EINVALID, "at most 8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("POST", "/api/v1/services", e.alice, tc.body), tc.status, tc.code, tc.msg)
		})
	}
	if got := e.names(e.admin); !slices.Equal(got, services) {
		t.Errorf("services changed by refused requests: %v, was %v", got, services)
	}
	if got := e.audit(e.admin, ""); !slices.Equal(got, events) {
		t.Errorf("audit log changed by refused requests: %v, was %v", got, events)
	}
}

// TestEveryFieldError: a request with several bad fields is answered with
// every problem at once, in the message and under each field.
func TestEveryFieldError(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "blog")
	body := wantError(t, e.do("PATCH", "/api/v1/services/blog", e.alice,
		`{"upstreams":["ftp://127.0.0.1"],"rate_limit":{"enabled":true,"requests":10,"per":"minute","allow":["10.0.0.300"]}}`),
		400, rampart.EINVALID, `upstream "ftp://127.0.0.1" must start with http:// or https://`)
	want := map[string]string{
		"upstreams":        `upstream "ftp://127.0.0.1" must start with http:// or https://`,
		"rate_limit.allow": `allow-list entry "10.0.0.300" is not an IP address`,
	}
	if len(body.Fields) != len(want) {
		t.Errorf("fields = %v, want %d", body.Fields, len(want))
	}
	for field, msg := range want {
		if !strings.Contains(body.Fields[field], msg) {
			t.Errorf("fields[%q] = %q, want it to contain %q", field, body.Fields[field], msg)
		}
		if !strings.Contains(body.Message, msg) {
			t.Errorf("message %q lacks %q", body.Message, msg)
		}
	}
	// An error about no field has no fields object.
	if body := wantError(t, e.do("PATCH", "/api/v1/services/blog", e.alice, `{}`), 400, rampart.EINVALID, "nothing to change"); body.Fields != nil {
		t.Errorf("fields = %v for an error about no field", body.Fields)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	expiring := e.token("alice@example.com", time.Hour)
	e.clock.Advance(2 * time.Hour)
	const noToken = `Bearer realm="rampart"`
	const badToken = `Bearer realm="rampart", error="invalid_token"`

	for _, tc := range []struct {
		name, header, wantAuth, msg string
	}{
		{"missing", "", noToken, "no API token given"},
		{"basic", "Basic YWxpY2U6c2VjcmV0", badToken, `uses the "Basic" scheme`},
		{"no scheme", e.alice, badToken, "has no scheme"},
		{"bearer alone", "Bearer", badToken, `no token after "Bearer"`},
		{"bearer blank", "Bearer   ", badToken, `no token after "Bearer"`},
		{"not a token", "Bearer hunter2", badToken, "not a rampart API token"},
		{"unknown token", "Bearer rpt_" + strings.Repeat("A", 43), badToken, "not valid (revoked or never issued)"},
		{"expired", "Bearer " + expiring, badToken, "API token expired at 2026-03-01T13:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/me", "/api/v1/services", "/api/v1/audit"} {
				hdr := http.Header{}
				if tc.header != "" {
					hdr.Set("Authorization", tc.header)
				}
				rec := e.doHeader("GET", path, "", "", hdr)
				body := wantError(t, rec, 401, rampart.EUNAUTHORIZED, tc.msg)
				if got := rec.Header().Get("WWW-Authenticate"); got != tc.wantAuth {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuth)
				}
				if strings.Contains(body.Message, e.alice) {
					t.Errorf("message repeats the credential: %q", body.Message)
				}
			}
		})
	}
	// Scheme names are case-insensitive (RFC 9110 §11.1).
	if rec := e.doHeader("GET", "/api/v1/me", "", "", http.Header{"Authorization": {"bearer " + e.alice}}); rec.Code != 200 {
		t.Errorf("lower-case bearer: %d %s", rec.Code, rec.Body)
	}
	// Refused requests change nothing.
	hdr := http.Header{"Authorization": {"Bearer " + expiring}, "Content-Type": {"application/json"}}
	e.doHeader("POST", "/api/v1/services", "", `{"name":"x","upstreams":["http://a:1"]}`, hdr)
	if got := e.names(e.admin); len(got) != 0 {
		t.Errorf("expired token created %v", got)
	}
	// The document is public.
	if rec := e.do("GET", "/api/v1/openapi.json", "", ""); rec.Code != 200 {
		t.Errorf("openapi.json without a token: %d", rec.Code)
	}
}

func TestMe(t *testing.T) {
	e := newEnv(t)
	rec := e.do("GET", "/api/v1/me", e.bob, "")
	u := decode[rampart.User](t, rec)
	if rec.Code != 200 || u.Email != "bob@example.com" || u.Role != rampart.RoleMember || u.ID == 0 {
		t.Errorf("me: %d %+v", rec.Code, u)
	}
	// rampart.User has a json:"-" tag for it, but check the wire anyway.
	if strings.Contains(rec.Body.String(), "argon2") || strings.Contains(rec.Body.String(), "password") {
		t.Errorf("me leaks the password hash: %s", rec.Body)
	}
}

func TestRequestBodies(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "blog")
	json := http.Header{"Content-Type": {"application/json"}}
	for _, tc := range []struct {
		name, method, path string
		hdr                http.Header
		body               string
		status             int
		code, msg          string
	}{
		{"typo", "POST", "/services", json, `{"name":"x","upstream":["http://a:1"]}`, 400, rampart.EINVALID, `unknown field "upstream": did you mean "upstreams"?`},
		{"case", "POST", "/services", json, `{"Name":"x","upstreams":["http://a:1"]}`, 400, rampart.EINVALID, `unknown field "Name": did you mean "name"?`},
		{"duplicate", "POST", "/services", json, `{"name":"x","upstreams":["http://a:1"],"name":"y"}`, 400, rampart.EINVALID, `field "name" is given twice`},
		{"nested unknown", "POST", "/services", json, `{"name":"x","upstreams":["http://a:1"],"owner":{"email":"a@b"}}`, 400, rampart.EINVALID, `field "owner" must be a string, not an object`},
		{"unrelated field", "POST", "/services", json, `{"name":"x","upstreams":["http://a:1"],"replicas":3}`, 400, rampart.EINVALID, `unknown field "replicas": the fields are "name", "upstreams", "owner"`},
		{"patch typo", "PATCH", "/services/blog", json, `{"sate":"stopped"}`, 400, rampart.EINVALID, `unknown field "sate": did you mean "state"?`},
		{"patch read-only field", "PATCH", "/services/blog", json, `{"name":"other"}`, 400, rampart.EINVALID, `unknown field "name": the fields are "upstreams", "state"`},
		{"wrong type", "POST", "/services", json, `{"name":"x","upstreams":"http://a:1"}`, 400, rampart.EINVALID, `field "upstreams" must be an array of strings, not a string`},
		{"wrong element type", "POST", "/services", json, `{"name":"x","upstreams":[1]}`, 400, rampart.EINVALID, `field "upstreams" must be a string, not a number`},
		{"wrong name type", "POST", "/services", json, `{"name":true}`, 400, rampart.EINVALID, `field "name" must be a string, not a bool`},
		{"array", "POST", "/services", json, `[{"name":"x"}]`, 400, rampart.EINVALID, "must be a JSON object"},
		{"null", "POST", "/services", json, `null`, 400, rampart.EINVALID, "must be a JSON object"},
		{"empty", "POST", "/services", json, ``, 400, rampart.EINVALID, `request body is empty: send a JSON object, e.g. {"name": …, "upstreams": …, "owner": …, "env": …, "allow_private_upstreams": …, "runtime": …}`},
		{"blank", "POST", "/services", json, "  \n", 400, rampart.EINVALID, "request body is empty"},
		{"syntax", "POST", "/services", json, `{"name":"x",}`, 400, rampart.EINVALID, "not valid JSON at byte"},
		{"truncated", "POST", "/services", json, `{"name":"x"`, 400, rampart.EINVALID, "ends before the JSON object is complete"},
		{"two objects", "POST", "/services", json, `{"name":"x","upstreams":["http://a:1"]}{}`, 400, rampart.EINVALID, "more data after the JSON object"},
		{"trailing garbage", "POST", "/services", json, `{"name":"x","upstreams":["http://a:1"]} x`, 400, rampart.EINVALID, "more data after the JSON object"},
		{"no content type", "POST", "/services", nil, `{"name":"x","upstreams":["http://a:1"]}`, 415, rampart.CodeUnsupportedMediaType, "request has no Content-Type: send a JSON body with the header Content-Type: application/json"},
		{"text/plain", "POST", "/services", http.Header{"Content-Type": {"text/plain"}}, `{"name":"x","upstreams":["http://a:1"]}`, 415, rampart.CodeUnsupportedMediaType, `Content-Type "text/plain"`},
		{"form", "PATCH", "/services/blog", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, `state=stopped`, 415, rampart.CodeUnsupportedMediaType, "application/json"},
		{"too large", "POST", "/services", json, `{"name":"x","upstreams":["http://a:1"],"owner":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, rampart.CodeRequestTooLarge, "larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.doHeader(tc.method, "/api/v1"+tc.path, e.alice, tc.body, tc.hdr), tc.status, tc.code, tc.msg)
		})
	}
	// A charset parameter is fine.
	rec := e.doHeader("POST", "/api/v1/services", e.alice, `{"name":"x","upstreams":["http://a:1"]}`, http.Header{"Content-Type": {"application/json; charset=utf-8"}})
	if rec.Code != 201 {
		t.Errorf("with charset: %d %s", rec.Code, rec.Body)
	}
	if got := e.names(e.admin); !slices.Equal(got, []string{"blog", "x"}) {
		t.Errorf("services = %v", got)
	}
	if svc := decode[rampart.ServiceView](t, e.do("GET", "/api/v1/services/blog", e.alice, "")); svc.State != rampart.StateActive {
		t.Errorf("a refused PATCH changed the service: %+v", svc)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/api/v1/nope", 404, rampart.ENOTFOUND, ""},
		{"GET", "/api/v1/", 404, rampart.ENOTFOUND, ""},
		{"GET", "/api/v1/services/a/b", 404, rampart.ENOTFOUND, ""},
		{"PUT", "/api/v1/services", 405, rampart.CodeMethodNotAllowed, "GET, POST, HEAD"},
		{"DELETE", "/api/v1/services", 405, rampart.CodeMethodNotAllowed, "GET, POST, HEAD"},
		{"POST", "/api/v1/services/blog", 405, rampart.CodeMethodNotAllowed, "GET, PATCH, DELETE, HEAD"},
		{"POST", "/api/v1/me", 405, rampart.CodeMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/api/v1/openapi.json", 405, rampart.CodeMethodNotAllowed, "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := e.do(tc.method, tc.path, e.alice, "")
			wantError(t, rec, tc.status, tc.code, tc.method)
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	// Unknown paths are 404 even without a token: nothing there to protect.
	wantError(t, e.do("GET", "/api/v1/nope", "", ""), 404, rampart.ENOTFOUND, "see /api/v1/openapi.json")

	rec := e.do("HEAD", "/api/v1/services", e.alice, "")
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("HEAD: %d %v", rec.Code, rec.Header())
	}
}

func TestAuditLog(t *testing.T) {
	e := newEnv(t)
	e.createService(e.alice, "alice-app")
	e.createService(e.bob, "bob-app")
	e.createService(e.admin, "admin-app")
	// An admin's change to alice's service is part of alice's history.
	e.do("PATCH", "/api/v1/services/alice-app", e.admin, `{"state":"stopped"}`)

	if got, want := e.audit(e.alice, ""), []string{"service.update alice-app", "service.create alice-app"}; !slices.Equal(got, want) {
		t.Errorf("alice reads %q, want %q", got, want)
	}
	if got, want := e.audit(e.bob, ""), []string{"service.create bob-app"}; !slices.Equal(got, want) {
		t.Errorf("bob reads %q, want %q", got, want)
	}
	if got := e.audit(e.alice, "?service=bob-app"); len(got) != 0 {
		t.Errorf("alice reads bob's history: %q", got)
	}
	all := e.audit(e.admin, "")
	for _, want := range []string{"service.create alice-app", "service.create bob-app", "service.create admin-app", "service.update alice-app", "user.create", "token.create"} {
		if !slices.Contains(all, want) {
			t.Errorf("admin's log %q lacks %q", all, want)
		}
	}
	if got, want := e.audit(e.admin, "?service=alice-app"), []string{"service.update alice-app", "service.create alice-app"}; !slices.Equal(got, want) {
		t.Errorf("admin, service=alice-app: %q, want %q", got, want)
	}

	// Events record who acted and from where.
	rec := e.do("GET", "/api/v1/audit?service=alice-app&limit=1", e.alice, "")
	page := decode[rampart.AuditList](t, rec)
	if len(page.Events) != 1 || page.Events[0].Actor != "admin@example.com" || page.Events[0].IP != "192.0.2.1" || page.NextBefore != page.Events[0].ID {
		t.Fatalf("first page: %+v (event %+v)", page, page.Events[0])
	}
	rec = e.do("GET", "/api/v1/audit?service=alice-app&limit=1&before="+itoa(page.NextBefore), e.alice, "")
	page = decode[rampart.AuditList](t, rec)
	if len(page.Events) != 1 || page.Events[0].Action != "service.create" || page.Events[0].Actor != "alice@example.com" {
		t.Fatalf("second page: %+v", page)
	}
	rec = e.do("GET", "/api/v1/audit?service=alice-app&limit=1&before="+itoa(page.NextBefore), e.alice, "")
	if body := rec.Body.String(); body != `{"events":[]}`+"\n" {
		t.Errorf("third page = %s, want no events and no next_before", body)
	}

	for _, tc := range []struct{ query, msg string }{
		{"?limit=0", `limit="0" is out of range: use 1 to 1000`},
		{"?limit=1001", "use 1 to 1000"},
		{"?limit=ten", "use 1 to 1000"},
		{"?before=-3", "not an event id"},
		{"?before=x", "not an event id"},
		{"?service=Alice-App", "upper-case"},
		{"?servce=blog", `unknown query parameter "servce": did you mean "service"?`},
		{"?owner=bob", `unknown query parameter "owner": use "service", "before", "limit"`},
		{"?limit=1&limit=2", `"limit" is given 2 times`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			wantError(t, e.do("GET", "/api/v1/audit"+tc.query, e.alice, ""), 400, rampart.EINVALID, tc.msg)
		})
	}
}

// TestConcurrentCreates races creators of one name and of distinct names:
// exactly one of each name wins, the rest get 409, and nothing is lost.
func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t)
	const n = 8
	codes := make(chan int, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			codes <- e.do("POST", "/api/v1/services", e.alice, `{"name":"same","upstreams":["http://a:1"]}`).Code
		})
		wg.Go(func() {
			codes <- e.do("POST", "/api/v1/services", e.bob, `{"name":"svc-`+strconv.Itoa(i)+`","upstreams":["http://a:1"]}`).Code
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != n+1 || count[409] != n-1 || len(count) != 2 {
		t.Errorf("statuses: %v, want %d×201 and %d×409", count, n+1, n-1)
	}
	if got := len(e.names(e.admin)); got != n+1 {
		t.Errorf("%d services, want %d", got, n+1)
	}
}

func TestClientIP(t *testing.T) {
	e := newEnvWith(t, Options{ClientIP: func(r *http.Request) string { return r.Header.Get("X-Test-IP") }})
	e.doHeader("POST", "/api/v1/services", e.alice, `{"name":"blog","upstreams":["http://a:1"]}`,
		http.Header{"Content-Type": {"application/json"}, "X-Test-IP": {"2001:db8::7"}})
	page := decode[rampart.AuditList](t, e.do("GET", "/api/v1/audit?service=blog", e.alice, ""))
	if len(page.Events) != 1 || page.Events[0].IP != "2001:db8::7" {
		t.Errorf("events = %+v", page.Events)
	}
}

func TestInternalErrorsStayInTheLog(t *testing.T) {
	e := newEnv(t)
	e.db.Close() // every store call now fails with a database/sql error
	rec := e.do("GET", "/api/v1/services", e.alice, "")
	body := wantError(t, rec, 500, rampart.EINTERNAL, "internal error: the server could not complete the request; its log has the details under request_id=")
	if strings.Contains(strings.ToLower(body.Message), "sql") {
		t.Errorf("message leaks the cause: %q", body.Message)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestServiceURL: a service's url carries the edge's HTTP port unless it is
// 80, in every answer that shows the service.
func TestServiceURL(t *testing.T) {
	for _, tc := range []struct {
		port int
		want string
	}{
		{0, "http://blog." + testDomain},
		{80, "http://blog." + testDomain},
		{8080, "http://blog." + testDomain + ":8080"},
	} {
		e := newEnvWith(t, Options{EdgeHTTPPort: tc.port})
		if got := e.createService(e.alice, "blog").URL; got != tc.want {
			t.Errorf("port %d: created url %q, want %q", tc.port, got, tc.want)
		}
		rec := e.do("GET", "/api/v1/services/blog", e.alice, "")
		if got := decode[rampart.ServiceView](t, rec).URL; got != tc.want {
			t.Errorf("port %d: shown url %q, want %q", tc.port, got, tc.want)
		}
		rec = e.do("GET", "/api/v1/services", e.alice, "")
		if got := decode[rampart.ServiceList](t, rec).Services[0].URL; got != tc.want {
			t.Errorf("port %d: listed url %q, want %q", tc.port, got, tc.want)
		}
	}
}
