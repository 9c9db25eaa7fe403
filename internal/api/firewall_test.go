package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestFirewallAPI(t *testing.T) {
	e := newEnv(t)
	// Members are refused everywhere: the firewall is the node's.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/firewall", ""},
		{"GET", "/api/v1/firewall/rules", ""},
		{"POST", "/api/v1/firewall/rules", `{"proto":"tcp","ports":"8000"}`},
		{"DELETE", "/api/v1/firewall/rules/1", ""},
		{"PUT", "/api/v1/firewall/tool-ports/4242", `{"open":true}`},
		{"POST", "/api/v1/firewall/apply", ""},
		{"POST", "/api/v1/firewall/confirm", ""},
	} {
		rec := e.do(c.method, c.path, e.alice, c.body)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "only an admin") {
			t.Errorf("member %s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}

	rec := e.do("GET", "/api/v1/firewall", e.admin, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /firewall: %d %s", rec.Code, rec.Body)
	}
	var st rampart.FirewallState
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Rules) != 3 || st.Enforce || !strings.Contains(st.Plan, "table inet rampart") || len(st.ToolPorts) != 6 {
		t.Fatalf("state: %+v", st)
	}
	ssh := st.Rules[0]

	rec = e.do("POST", "/api/v1/firewall/rules", e.admin, `{"proto":"tcp","ports":"8000-8100","sources":["203.0.113.9/24"],"comment":"office"}`)
	if rec.Code != http.StatusCreated || rec.Header().Get("Location") == "" || !strings.Contains(rec.Body.String(), "203.0.113.0/24") || !strings.Contains(rec.Body.String(), `"notes"`) {
		t.Errorf("add: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"POST", "/api/v1/firewall/rules", `{"proto":"tcp","ports":"8050"}`, 400, "overlap"},
		{"POST", "/api/v1/firewall/rules", `{"proto":"tcp","ports":"70000"}`, 400, "65535"},
		{"POST", "/api/v1/firewall/rules", `{"proto":"tcp","ports":"9000","colour":"red"}`, 400, "colour"},
		{"DELETE", "/api/v1/firewall/rules/" + itoa(ssh.ID), "", 409, "cannot be removed"},
		{"PATCH", "/api/v1/firewall/rules/" + itoa(ssh.ID), `{"sources":["198.51.100.0/24"]}`, 409, "192.0.2.1"},
		{"DELETE", "/api/v1/firewall/rules/abc", "", 404, "not found"},
		{"DELETE", "/api/v1/firewall/rules/1?confirm_within=soon", "", 400, "duration"},
		{"PUT", "/api/v1/firewall/tool-ports/22", `{"open":false}`, 404, "tool port"},
		{"POST", "/api/v1/firewall/confirm", "", 404, "nothing to confirm"},
	} {
		rec := e.do(c.method, c.path, e.admin, c.body)
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, rec.Code, rec.Body, c.status, c.want)
		}
	}
	// With force the restriction goes through, behind an explicit window.
	rec = e.do("PATCH", "/api/v1/firewall/rules/"+itoa(ssh.ID), e.admin, `{"sources":["198.51.100.0/24"],"force":true,"confirm_within":"30s"}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"deadline"`) || strings.Contains(rec.Body.String(), `"previous"`) {
		t.Fatalf("forced restriction: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("POST", "/api/v1/firewall/confirm", e.admin, ""); rec.Code != http.StatusNoContent {
		t.Errorf("confirm: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("PUT", "/api/v1/firewall/tool-ports/18344", e.admin, `{"open":true}`); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "18344") {
		t.Errorf("open tool port: %d %s", rec.Code, rec.Body)
	}
}
