package e2e

// Where services may point: a member only at the networks the operator
// allows, an admin at more per service, nobody at rampart's own admin
// listener.

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
	_ "github.com/rampart-dev/rampart/internal/store/sqlite"
)

func TestUpstreamTargets(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	n.must("member password 123\n", "user", "create", "--data", n.data, "--email", "mia@example.com", "--password-stdin")
	memberToken := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "mia@example.com"))
	asMember := func(args ...string) result { return n.rampart("", append(args, "--token", memberToken)...) }
	app := upstream(t, "app")
	_, appPort, _ := net.SplitHostPort(app.Listener.Addr().String())
	_, adminPort, _ := net.SplitHostPort(n.admin)

	// A member: refused, with a message that names the address and what
	// would allow it.
	for _, tc := range []struct{ upstream, want string }{
		{"http://" + n.admin, "is rampart's own listener (admin_addr), which is never reachable through the edge"},
		{app.URL, "127.0.0.1 is a loopback address, which only an admin can allow"},
		{"http://[::1]:" + appPort, "::1 is a loopback address"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is the cloud metadata address"},
		{"http://localhost:" + appPort, "localhost resolves to"},
	} {
		r := asMember("service", "create", "grab", "--upstream", tc.upstream)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("member's service at %s: exit %d, stderr %q; want 1 and %q", tc.upstream, r.code, r.stderr, tc.want)
		}
		if tc.upstream == app.URL && !strings.Contains(r.stderr, "allow_private_upstreams") {
			t.Errorf("the refusal does not name the setting that would allow it: %q", r.stderr)
		}
	}
	if r := asMember("service", "create", "grab", "--upstream", app.URL, "--allow-private-upstreams"); r.code != 1 || !strings.Contains(r.stderr, "only an admin can set allow_private_upstreams") {
		t.Errorf("member setting the override: exit %d, stderr %q", r.code, r.stderr)
	}

	// An admin: a service on this host works, with the override turned on
	// (and said so).
	out := n.must("", "service", "create", "local", "--upstream", app.URL, "--owner", "mia@example.com")
	if !strings.Contains(out, "private upstreams are allowed for it") {
		t.Errorf("service create does not say the override was turned on:\n%s", out)
	}
	if out := n.must("", "service", "show", "local"); !strings.Contains(out, "Private upstreams:") || !strings.Contains(out, "allowed by an admin") {
		t.Errorf("service show:\n%s", out)
	}
	eventually(t, "local routed", func() bool {
		code, body := n.get(t, "local."+domain, "/")
		return code == 200 && strings.Contains(body, "hello from app")
	})
	// Its owner may not move it elsewhere on loopback.
	if r := asMember("service", "update", "local", "--upstream", "http://127.0.0.1:"+adminPort); r.code != 1 || !strings.Contains(r.stderr, "rampart's own listener") {
		t.Errorf("member moving the service to the admin listener: exit %d, stderr %q", r.code, r.stderr)
	}

	// Not even an admin reaches the admin listener, by address or by name.
	for _, up := range []string{"http://" + n.admin, "http://localhost:" + adminPort, "http://0.0.0.0:" + adminPort} {
		r := n.rampart("", "service", "create", "sneaky", "--upstream", up, "--allow-private-upstreams")
		if r.code != 1 || !strings.Contains(r.stderr, "rampart's own listener (admin_addr)") {
			t.Errorf("admin's service at %s: exit %d, stderr %q", up, r.code, r.stderr)
		}
	}

	// Nor does a service whose stored upstream points there (written
	// behind the service layer's back, as a hand edit or an old version
	// would). By address, the routes reconciler leaves the service out and
	// its status says why; by name, the edge refuses the connection itself
	// at dial time.
	setUpstream := func(up string) {
		t.Helper()
		db, err := store.Open(t.Context(), store.DefaultDSN(n.data))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		svc, err := db.ServiceByName(t.Context(), "local")
		if err != nil {
			t.Fatal(err)
		}
		svc.Upstreams = []string{up}
		// Without the output cache (it would serve the app's page stale)
		// and the rate limiter (the test polls).
		svc.Cache.Enabled, svc.RateLimit.Enabled = false, false
		if !svc.AllowPrivateUpstreams {
			t.Fatal("the stored service lost its override")
		}
		if err := db.UpdateService(t.Context(), svc); err != nil {
			t.Fatal(err)
		}
	}
	setUpstream("http://127.0.0.1:" + adminPort)
	eventually(t, "the service to be left out", func() bool { code, _ := n.get(t, "local."+domain, "/"); return code == 404 })
	if out := n.must("", "service", "show", "local"); !strings.Contains(out, "refused") || !strings.Contains(out, "rampart's own listener (admin_addr)") {
		t.Errorf("service show of a service pointed at the admin listener:\n%s", out)
	}
	setUpstream("http://localhost:" + adminPort)
	eventually(t, "the edge to refuse the admin listener", func() bool { code, _ := n.get(t, "local."+domain, "/"); return code == 502 })
	for _, path := range []string{"/", "/metrics", "/api/v1/openapi.json", "/login"} {
		code, body := n.get(t, "local."+domain, path)
		if code != 502 || strings.Contains(body, "rampart_") || strings.Contains(body, "openapi") || strings.Contains(body, "password") {
			t.Errorf("GET %s through the edge: %d\n%s", path, code, body)
		}
	}
	var entry struct {
		Error string `json:"error"`
	}
	line := strings.SplitN(strings.TrimSpace(n.must("", "logs", "--service", "local", "-n", "1", "-o", "json")), "\n", 2)[0]
	if err := json.Unmarshal([]byte(line), &entry); err != nil || !strings.Contains(entry.Error, "upstream address 127.0.0.1 is not allowed: it is rampart's own listener (admin_addr)") {
		t.Errorf("log entry %s: error %q, want the refusal", line, entry.Error)
	}

	// Turning the override off under a loopback upstream is refused by
	// name; pointing it elsewhere allowed works for the member.
	n.must("", "service", "update", "local", "--upstream", app.URL)
	if r := n.rampart("", "service", "update", "local", "--allow-private-upstreams=false"); r.code != 1 || !strings.Contains(r.stderr, "set allow_private_upstreams") {
		t.Errorf("turning the override off under a loopback upstream: exit %d, stderr %q", r.code, r.stderr)
	}
	var shown rampart.ServiceView
	if err := json.Unmarshal([]byte(n.must("", "service", "show", "local", "-o", "json")), &shown); err != nil || !shown.AllowPrivateUpstreams {
		t.Errorf("service show -o json: %+v, %v", shown, err)
	}
}
