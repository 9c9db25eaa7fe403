package main

import (
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// TestSSLHSTS runs `rampart ssl hsts` show and set against a real API.
func TestSSLHSTS(t *testing.T) {
	s := newAPIServer(t, app.Options{})
	as := func(args ...string) (int, string, string) {
		t.Helper()
		return s.run(s.member, "", args...)
	}
	if code, out, errOut := as("service", "create", "shop", "--upstream", "http://203.0.113.10:8080"); code != 0 {
		t.Fatalf("create: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := as("ssl", "hsts", "show", "shop"); code != 0 || !strings.Contains(out, "HSTS of shop: off") || !strings.Contains(out, "max-age 31536000") {
		t.Errorf("show of a new service: exit %d, %q", code, out)
	}

	// Usage mistakes exit 2 and say what to type.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ssl", "hsts", "set", "shop"}, "nothing to change"},
		{[]string{"ssl", "hsts", "set", "shop", "--max-age", "forever"}, "--max-age: hsts: max-age \"forever\" is not a duration"},
		{[]string{"ssl", "hsts", "set", "shop", "--max-age", "3y"}, "between 0 and 63072000"},
	} {
		if code, _, errOut := as(tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %q; want 2 saying %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}

	if code, _, errOut := as("ssl", "hsts", "set", "shop", "--on", "--off"); code == 0 || !strings.Contains(errOut, "none of the others can be") {
		t.Errorf("--on --off: exit %d, %q", code, errOut)
	}

	code, out, errOut := as("ssl", "hsts", "set", "shop", "--on", "--max-age", "2y", "--include-subdomains", "--preload")
	if code != 0 || !strings.Contains(out, "Strict-Transport-Security: max-age=63072000; includeSubDomains; preload") || !strings.Contains(out, "for 2 years") {
		t.Fatalf("set --on: exit %d, %q %q", code, out, errOut)
	}
	// The server's refusal, with its reason; nothing changes.
	code, out, errOut = as("ssl", "hsts", "set", "shop", "--include-subdomains=false")
	if code != 1 || out != "" || !strings.Contains(errOut, "preload requires include_subdomains") {
		t.Errorf("preload without subdomains: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = as("ssl", "hsts", "set", "shop", "--preload=false", "--max-age", "180d")
	if code != 0 || !strings.Contains(out, "max-age=15552000; includeSubDomains\n") || !strings.Contains(out, "for 180 days") {
		t.Errorf("shorter: exit %d, %q", code, out)
	}
	if code, out, _ := as("ssl", "hsts", "show", "shop", "-o", "json"); code != 0 || !strings.Contains(out, `"max_age": 15552000`) || !strings.Contains(out, `"enabled": true`) {
		t.Errorf("show -o json: exit %d, %q", code, out)
	}
	if code, out, _ := as("ssl", "hsts", "set", "shop", "--off"); code != 0 || !strings.Contains(out, "HSTS of shop: off") {
		t.Errorf("off: exit %d, %q", code, out)
	}
	svc, err := s.app.Services.Get(t.Context(), app.OperatorActor(), "shop")
	if err != nil || svc.HSTS != (rampart.HSTS{MaxAge: 15552000, IncludeSubDomains: true}) {
		t.Errorf("stored: %+v %v", svc.HSTS, err)
	}
	// Someone else's service is not there.
	if code, _, errOut := s.run(s.user("bob@example.com", rampart.RoleMember), "", "ssl", "hsts", "set", "shop", "--on"); code != 1 || !strings.Contains(errOut, `service "shop" not found`) {
		t.Errorf("another member: exit %d, %q", code, errOut)
	}
}
