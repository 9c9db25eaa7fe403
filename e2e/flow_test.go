package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/testport"
)

// upstream is an app of the user's: it says who it is and which host it saw.
func upstream(t *testing.T, name string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s (host %s, path %s, xff %s)", name, r.Host, r.URL.Path, r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

const domain = "apps.test"

// TestOperatorFlow is the scripted flow: serve → user create (admin)
// → token create → login → service create → traffic through the edge →
// service delete → 404; then a member who sees only their own services.
func TestOperatorFlow(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	blog := upstream(t, "blog")

	out := n.must("correct horse battery staple\n", "user", "create", "--data", n.data, "--email", "admin@example.com", "--admin", "--password-stdin")
	if !strings.Contains(out, "Created admin admin@example.com") {
		t.Errorf("user create said %q", out)
	}
	token := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "admin@example.com"))
	if !strings.HasPrefix(token, "rpt_") {
		t.Fatalf("token create printed %q", token)
	}
	out = n.must(token, "login", "--server", "http://"+n.admin, "--token-stdin")
	if !strings.Contains(out, "admin@example.com") {
		t.Errorf("login said %q", out)
	}

	out = n.must("", "service", "create", "blog", "--upstream", blog.URL)
	// The edge is not on port 80, so the URL to open carries its port.
	_, edgePort, _ := net.SplitHostPort(n.http)
	blogURL := "http://blog." + domain + ":" + edgePort
	if !strings.Contains(out, "blog."+domain) || !strings.Contains(out, blogURL+" ") {
		t.Errorf("service create said %q, want the URL %s", out, blogURL)
	}
	eventually(t, "blog to be routed", func() bool {
		code, body := n.get(t, "blog."+domain, "/hello")
		return code == 200 && strings.Contains(body, "hello from blog (host blog.apps.test, path /hello, xff 127.0.0.1)")
	})

	// -o json on list and show.
	var list []map[string]any
	if err := json.Unmarshal([]byte(n.must("", "service", "list", "-o", "json")), &list); err != nil || len(list) != 1 || list[0]["name"] != "blog" {
		t.Errorf("service list -o json = %v (%v)", list, err)
	}
	out = n.must("", "service", "show", "blog")
	for _, want := range []string{"blog." + domain, blogURL, blog.URL, "active", "admin@example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("service show lacks %q:\n%s", want, out)
		}
	}

	n.must("", "service", "delete", "blog")
	eventually(t, "blog to be gone from the edge", func() bool {
		code, _ := n.get(t, "blog."+domain, "/")
		return code == 404
	})
	if out := n.must("", "service", "show", "blog"); !strings.Contains(out, "restorable until") || !strings.Contains(out, "rampart service restore blog") {
		t.Errorf("show after delete does not say until when it can be restored:\n%s", out)
	}
	// An admin can purge it at once; then it is gone.
	if r := n.rampart("", "service", "purge", "blog"); r.code != 2 || !strings.Contains(r.stderr, "--yes") {
		t.Errorf("purge without --yes: exit %d, stderr %q", r.code, r.stderr)
	}
	n.must("", "service", "purge", "blog", "--yes")
	r := n.rampart("", "service", "show", "blog")
	if r.code == 0 || !strings.Contains(r.stderr, `service "blog" not found`) {
		t.Errorf("show after the purge: exit %d, stderr %q", r.code, r.stderr)
	}

	// A member sees and changes only their own services.
	n.must("member password 123\n", "user", "create", "--data", n.data, "--email", "mia@example.com", "--password-stdin")
	memberToken := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "mia@example.com"))
	shop := upstream(t, "shop")
	n.must("", "service", "create", "admins-app", "--upstream", blog.URL)
	asMember := func(args ...string) result { return n.rampart("", append(args, "--token", memberToken)...) }
	// The shop's app runs on this host (loopback), which a member may
	// not point a service at (see upstreams_test.go); an admin may.
	if r := asMember("service", "create", "shop", "--upstream", shop.URL); r.code != 1 || !strings.Contains(r.stderr, "loopback") {
		t.Fatalf("member create on loopback: %+v, want refused", r)
	}
	n.must("", "service", "create", "shop", "--upstream", shop.URL, "--owner", "mia@example.com")
	r = asMember("service", "list")
	if !strings.Contains(r.stdout, "shop") || strings.Contains(r.stdout, "admins-app") {
		t.Errorf("member's list shows others' services or not theirs:\n%s", r.stdout)
	}
	for _, args := range [][]string{
		{"service", "show", "admins-app"},
		{"service", "delete", "admins-app"},
		{"service", "update", "admins-app", "--upstream", shop.URL},
	} {
		r := asMember(args...)
		if r.code != 1 || !strings.Contains(r.stderr, `service "admins-app" not found`) {
			t.Errorf("member %v: exit %d, stderr %q; want 1 and not found", args, r.code, r.stderr)
		}
	}
	if r := asMember("service", "create", "x", "--upstream", shop.URL, "--owner", "admin@example.com"); r.code != 1 || !strings.Contains(r.stderr, "only an admin") {
		t.Errorf("member creating for another owner: %+v", r)
	}
	// The admin's service still routes, and the admin sees both.
	eventually(t, "admins-app routed", func() bool { code, _ := n.get(t, "admins-app."+domain, "/"); return code == 200 })
	out = n.must("", "service", "list")
	if !strings.Contains(out, "shop") || !strings.Contains(out, "admins-app") {
		t.Errorf("admin's list:\n%s", out)
	}
	code, body := n.get(t, "shop."+domain, "/")
	if code != 200 || !strings.Contains(body, "hello from shop") {
		t.Errorf("shop through the edge: %d %q", code, body)
	}
	// The audit log records who did what.
	out = n.must("", "audit", "--limit", "100")
	for _, want := range []string{"service.create", "service.delete", "mia@example.com", "admin@example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit lacks %q:\n%s", want, out)
		}
	}
}

// TestBadInputChangesNothing: each bad request gets a clear error, a
// non-zero exit, and leaves the service list as it was.
func TestBadInputChangesNothing(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.must("correct horse battery staple\n", "user", "create", "--data", n.data, "--email", "admin@example.com", "--admin", "--password-stdin")
	token := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "admin@example.com"))
	n.must(token, "login", "--server", "http://"+n.admin, "--token-stdin")
	n.must("", "service", "create", "taken", "--upstream", "http://127.0.0.1:9")
	before := n.must("", "service", "list", "-o", "json")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"service", "create", "Blog", "--upstream", "http://127.0.0.1:1"}, "upper-case"},
		{[]string{"service", "create", strings.Repeat("a", 64), "--upstream", "http://127.0.0.1:1"}, "at most 63"},
		{[]string{"service", "create", "--upstream", "http://127.0.0.1:1", "--", "-blog"}, "hyphen"},
		{[]string{"service", "create", "taken", "--upstream", "http://127.0.0.1:1"}, "already exists"},
		{[]string{"service", "create", "ok", "--upstream", "ftp://127.0.0.1:1"}, "http://"},
		{[]string{"service", "create", "ok", "--upstream", "http://"}, "no host"},
		{[]string{"service", "create", "ok", "--upstream", "http://127.0.0.1:99999"}, "port"},
		{[]string{"service", "create", "ok", "--upstream", "http://user:pw@127.0.0.1:1"}, "credentials"},
		{[]string{"service", "create", "ok", "--upstream", "http://127.0.0.1:1", "--token", "rpt_" + strings.Repeat("x", 43)}, "not valid"},
		{[]string{"service", "create", "ok", "--upstream", "http://127.0.0.1:1", "--token", "garbage"}, "not a rampart API token"},
	} {
		r := n.rampart("", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("rampart %v: exit %d, stderr %q; want an error containing %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// An expired token.
	expiring := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "admin@example.com", "--ttl", "1s"))
	time.Sleep(1100 * time.Millisecond)
	if r := n.rampart("", "service", "list", "--token", expiring); r.code == 0 || !strings.Contains(r.stderr, "expired") {
		t.Errorf("expired token: %+v", r)
	}
	if after := n.must("", "service", "list", "-o", "json"); after != before {
		t.Errorf("bad input changed the service list:\nbefore %s\nafter  %s", before, after)
	}
	// Usage errors exit 2 with a hint.
	if r := n.rampart("", "service", "create"); r.code != 2 || !strings.Contains(r.stderr, "--help") {
		t.Errorf("missing NAME: %+v", r)
	}
}

// TestDemo runs the README's demo command (with ports moved out of the way)
// and fetches the demo app through the edge, as the README's curl does.
func TestDemo(t *testing.T) {
	admin, edge := testport.Addr(t), testport.Addr(t)
	cmd := exec.Command(bin, "serve", "--demo", "--admin-addr", admin, "--http-addr", edge, "--https-addr", testport.Addr(t))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var body string
	eventually(t, "the demo app through the edge", func() bool {
		req, _ := http.NewRequest("GET", "http://"+edge+"/", nil)
		req.Host = "demo.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !strings.Contains(body, "Hello from the demo app") {
		t.Errorf("demo page: %q", body)
	}
	// The banner's second try: /cached, asked twice, comes from the output
	// cache the second time, with the same body.
	var first, xcache []string
	for range 2 {
		req, _ := http.NewRequest("GET", "http://"+edge+"/cached", nil)
		req.Host = "demo.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first = append(first, string(b))
		xcache = append(xcache, resp.Header.Get("X-Cache"))
	}
	if xcache[0] != "MISS" || xcache[1] != "HIT" || first[0] != first[1] || !strings.Contains(first[0], "output cache") {
		t.Errorf("/cached twice: X-Cache %q, same body %v", xcache, first[0] == first[1])
	}
	for _, want := range []string{"Password", "admin@demo.localhost", "http://" + admin + "/", "/cached", "Login code"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo banner lacks %q:\n%s", want, out.String())
		}
	}
	// Logging in as the banner says: the password, then the code the demo
	// prints in its terminal.
	m := regexp.MustCompile(`Password\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no password in the banner:\n%s", out.String())
	}
	var res rampart.LoginResponse
	postJSON(t, "http://"+admin+"/api/v1/login", rampart.LoginRequest{Email: "admin@demo.localhost", Password: m[1]}, 200, &res)
	if res.Step == nil || res.Step.Method != rampart.MFAEmail {
		t.Fatalf("login step: %+v", res)
	}
	var code string
	eventually(t, "the login code in the demo's terminal", func() bool {
		c := regexp.MustCompile(`login code: (\d{6})`).FindStringSubmatch(out.String())
		if c != nil {
			code = c[1]
		}
		return c != nil
	})
	postJSON(t, "http://"+admin+"/api/v1/login/code", rampart.LoginCodeRequest{Challenge: res.Step.Challenge, Code: code}, 201, &res)
	if res.Token == "" {
		t.Fatalf("no token after the code: %+v", res)
	}
}

// postJSON posts in as JSON and decodes the answer, which must have status
// want, into out.
func postJSON(t *testing.T, url string, in any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, body, want)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, body)
	}
}

// TestGracefulShutdown: after SIGTERM, a request already in flight finishes
// with its full answer, new connections are refused, and serve exits 0.
func TestGracefulShutdown(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	released := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready" {
			w.Write([]byte("ready"))
			return
		}
		started <- struct{}{}
		<-released
		w.Write([]byte("finished"))
	}))
	defer slow.Close()
	n.must("correct horse battery staple\n", "user", "create", "--data", n.data, "--email", "admin@example.com", "--admin", "--password-stdin")
	token := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "admin@example.com"))
	n.must("", "service", "create", "slow", "--upstream", slow.URL, "--server", "http://"+n.admin, "--token", token)
	// The edge takes the new route a moment after the API answers.
	eventually(t, "the edge to route slow."+domain, func() bool {
		code, _ := n.get(t, "slow."+domain, "/ready")
		return code == http.StatusOK
	})

	type answer struct {
		code int
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+n.http+"/", nil)
		req.Host = "slow." + domain
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, string(b), err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes promptly while the request is still in flight.
	eventually(t, "the edge to stop accepting", func() bool {
		c, err := net.DialTimeout("tcp", n.http, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(released)
	a := <-done
	if a.err != nil || a.code != 200 || a.body != "finished" {
		t.Errorf("in-flight request: %+v", a)
	}
	select {
	case err := <-n.waited:
		n.waited <- err // for the cleanup
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	if !strings.Contains(n.out.String(), "rampart stopped") {
		t.Errorf("no shutdown log line:\n%s", n.out.String())
	}
}

// TestTrustedProxies: the edge believes X-Forwarded-For only from peers in
// trusted_proxies; the upstream sees the client the edge decided on.
func TestTrustedProxies(t *testing.T) {
	app := upstream(t, "app")
	for _, tc := range []struct {
		name    string
		flags   []string
		wantXFF string
	}{
		{"untrusted peer: spoofed header ignored", nil, "xff 127.0.0.1"},
		{"trusted peer: header used", []string{"--trusted-proxies", "127.0.0.1"}, "xff 203.0.113.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, append([]string{"--platform-domain", domain}, tc.flags...)...)
			n.must("correct horse battery staple\n", "user", "create", "--data", n.data, "--email", "admin@example.com", "--admin", "--password-stdin")
			token := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "admin@example.com"))
			n.must("", "service", "create", "app", "--upstream", app.URL, "--server", "http://"+n.admin, "--token", token)
			var body string
			eventually(t, "app routed", func() bool {
				req, _ := http.NewRequest("GET", "http://"+n.http+"/", nil)
				req.Host = "app." + domain
				req.Header.Set("X-Forwarded-For", "203.0.113.5")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return resp.StatusCode == 200
			})
			if !strings.Contains(body, tc.wantXFF+")") {
				t.Errorf("upstream saw %q, want %s", body, tc.wantXFF)
			}
		})
	}
}
