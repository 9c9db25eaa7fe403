package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestRateLimitAndCacheAPI(t *testing.T) {
	e := newEnv(t)
	if w := e.do("POST", "/api/v1/services", e.alice, `{"name":"shop","upstreams":["http://127.0.0.1:3000"]}`); w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var svc rampart.ServiceView
	w := e.do("GET", "/api/v1/services/shop", e.alice, "")
	json.Unmarshal(w.Body.Bytes(), &svc)
	if !strings.Contains(w.Body.String(), `"rate_limit":{"enabled":true,"requests":150,"per":"minute","allow":[]}`) ||
		!strings.Contains(w.Body.String(), `"cache":{"enabled":true,"ttl":"3s","stale_if_error":"1m0s"}`) {
		t.Errorf("defaults in the answer: %s", w.Body)
	}

	w = e.do("PATCH", "/api/v1/services/shop", e.alice, `{"rate_limit":{"enabled":true,"requests":20,"per":"second","allow":["203.0.113.9"]},"cache":{"enabled":false,"ttl":"10s","stale_if_error":"0s"}}`)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"allow":["203.0.113.9/32"]`) || !strings.Contains(w.Body.String(), `"cache":{"enabled":false,"ttl":"10s"`) {
		t.Errorf("patch: %d %s", w.Code, w.Body)
	}
	before := e.do("GET", "/api/v1/services/shop", e.alice, "").Body.String()
	for _, tc := range []struct{ body, want string }{
		{`{"rate_limit":{"enabled":true,"requests":0,"per":"second","allow":[]}}`, "between 1 and"},
		{`{"rate_limit":{"enabled":true,"requests":5,"per":"hour","allow":[]}}`, `"second" or "minute"`},
		{`{"rate_limit":{"enabled":true,"requests":5,"per":"second","allow":["nope"]}}`, "not an IP address"},
		{`{"rate_limit":{"enabled":true,"requests":5,"per":"second","burst":9,"allow":[]}}`, `unknown field "rate_limit.burst": the fields of rate_limit are "enabled", "requests", "per", "allow"`},
		{`{"rate_limit":{"enabled":true,"request":5,"per":"second","allow":[]}}`, `unknown field "rate_limit.request": did you mean "rate_limit.requests"?`},
		{`{"rate_limit":{"enabled":true,"requests":5,"requests":6,"per":"second","allow":[]}}`, `field "rate_limit.requests" is given twice`},
		{`{"cache":{"enabled":true,"ttl":"forever","stale_if_error":"0s"}}`, "not a duration"},
		{`{"cache":{"enabled":true,"ttl":"2h","stale_if_error":"0s"}}`, "between 1s and 1h0m0s"},
	} {
		w := e.do("PATCH", "/api/v1/services/shop", e.alice, tc.body)
		var er rampart.ErrorResponse
		json.Unmarshal(w.Body.Bytes(), &er)
		if w.Code != http.StatusBadRequest || !strings.Contains(er.Error.Message, tc.want) {
			t.Errorf("PATCH %s: %d %s; want 400 containing %q", tc.body, w.Code, w.Body, tc.want)
		}
	}
	if after := e.do("GET", "/api/v1/services/shop", e.alice, "").Body.String(); after != before {
		t.Errorf("refused patches changed the service:\n%s\n%s", before, after)
	}

	if w := e.do("POST", "/api/v1/services/shop/cache/purge", e.alice, ""); w.Code != http.StatusOK || w.Body.String() != "{\"purged\":0}\n" {
		t.Errorf("purge: %d %q", w.Code, w.Body)
	}
	if w := e.do("POST", "/api/v1/services/shop/cache/purge", e.bob, ""); w.Code != http.StatusNotFound {
		t.Errorf("bob purging alice's cache: %d %s", w.Code, w.Body)
	}
}

// TestHSTSAPI: off in a new service's answer; the owner sets it with PATCH;
// nonsense is refused with the reason; another member cannot set it.
func TestHSTSAPI(t *testing.T) {
	e := newEnv(t)
	if w := e.do("POST", "/api/v1/services", e.alice, `{"name":"shop","upstreams":["http://127.0.0.1:3000"]}`); w.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	if w := e.do("GET", "/api/v1/services/shop", e.alice, ""); !strings.Contains(w.Body.String(), `"hsts":{"enabled":false,"max_age":31536000,"include_subdomains":false,"preload":false}`) {
		t.Errorf("default in the answer: %s", w.Body)
	}
	w := e.do("PATCH", "/api/v1/services/shop", e.alice, `{"hsts":{"enabled":true,"max_age":31536000,"include_subdomains":true,"preload":false}}`)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"hsts":{"enabled":true,"max_age":31536000,"include_subdomains":true,"preload":false}`) {
		t.Errorf("patch: %d %s", w.Code, w.Body)
	}
	if got := e.audit(e.alice, ""); len(got) == 0 || got[0] != "service.update shop" {
		t.Errorf("audit: %q", got)
	}
	before := e.do("GET", "/api/v1/services/shop", e.alice, "").Body.String()
	for _, tc := range []struct{ body, want string }{
		{`{"hsts":{"enabled":true,"max_age":-1,"include_subdomains":false,"preload":false}}`, "max_age must be between 0 and 63072000"},
		{`{"hsts":{"enabled":true,"max_age":99999999,"include_subdomains":false,"preload":false}}`, "max_age must be between 0 and 63072000"},
		{`{"hsts":{"enabled":true,"max_age":600,"include_subdomains":true,"preload":true}}`, "preload requires a max_age of at least 31536000"},
		{`{"hsts":{"enabled":true,"max_age":31536000,"include_subdomains":false,"preload":true}}`, "preload requires include_subdomains"},
		{`{"hsts":{"enabled":true,"maxage":600}}`, `unknown field "hsts.maxage"`},
		{`{"hsts":{"enabled":true,"max_age":"1y"}}`, "max_age"},
	} {
		w := e.do("PATCH", "/api/v1/services/shop", e.alice, tc.body)
		var er rampart.ErrorResponse
		json.Unmarshal(w.Body.Bytes(), &er)
		if w.Code != http.StatusBadRequest || !strings.Contains(er.Error.Message, tc.want) {
			t.Errorf("PATCH %s: %d %s; want 400 containing %q", tc.body, w.Code, w.Body, tc.want)
		}
	}
	if after := e.do("GET", "/api/v1/services/shop", e.alice, "").Body.String(); after != before {
		t.Errorf("refused patches changed the service:\n%s\n%s", before, after)
	}
	if w := e.do("PATCH", "/api/v1/services/shop", e.bob, `{"hsts":{"enabled":false}}`); w.Code != http.StatusNotFound {
		t.Errorf("bob setting alice's HSTS: %d %s", w.Code, w.Body)
	}
}
