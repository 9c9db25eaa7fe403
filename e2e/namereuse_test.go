package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

// TestNameReuse is the attack of issue 8: user A's service "x" has a page
// cached for an hour; A deletes x, an admin purges it (a deleted service
// keeps its name for its grace period otherwise) and user B creates a new "x", with B's
// own upstream, within milliseconds. From the moment the edge has applied
// B's service, no request may get A's page, in any of 50 rounds. While
// the names change hands, requests keep coming: before B's service is
// applied they may get A's page (A's service may not be gone from the edge
// yet), a 404 or B's, never A's after.
func TestNameReuse(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	env := newReuseEnv(t, n)
	upA := fixedPage(t, "A")
	upB := fixedPage(t, "B")
	host := "x." + domain
	checker, hammer := client("127.0.0.2"), client("127.0.0.3")

	const rounds = 50
	var maxGap time.Duration
	for round := range rounds {
		env.create("a@example.com", upA.URL)
		env.call(env.tokenA, http.MethodPatch, "services/x", `{"cache":{"enabled":true,"ttl":"1h","stale_if_error":"0s"}}`, http.StatusOK)
		eventually(t, "A's page cached", func() bool {
			_, body, xc := fetchPage(t, checker, n, host)
			return body == "A" && xc == "HIT"
		})

		var seen []sample // read once the goroutine that writes it is done
		gap, applied := func() (time.Duration, time.Time) {
			// Requests all through the change, from another client
			// address.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					start := time.Now()
					_, body, _ := fetchPage(t, hammer, n, host)
					seen = append(seen, sample{start, body})
					time.Sleep(time.Millisecond)
				}
			}()
			defer func() { close(stop); wg.Wait() }()

			begin := time.Now()
			env.call(env.tokenA, http.MethodDelete, "services/x", "", http.StatusNoContent)
			// A deleted service keeps its name for its grace period;
			// the admin's purge frees it at once.
			env.call(env.admin, http.MethodPost, "services/x/purge", "", http.StatusNoContent)
			env.create("b@example.com", upB.URL)
			gap := time.Since(begin)
			applied := env.waitApplied("x")
			for i := range 5 {
				if code, body, xc := fetchPage(t, checker, n, host); body != "B" {
					t.Fatalf("round %d: request %d after B's service was applied: %d %q (X-Cache %s)", round, i, code, body, xc)
				}
			}
			return gap, applied
		}()
		maxGap = max(maxGap, gap)
		for _, s := range seen {
			if s.body == "A" && s.start.After(applied) {
				t.Fatalf("round %d: a request sent %v after B's service was applied got A's page", round, s.start.Sub(applied))
			}
		}
		env.call(env.tokenB, http.MethodDelete, "services/x", "", http.StatusNoContent)
		env.call(env.admin, http.MethodPost, "services/x/purge", "", http.StatusNoContent)
		eventually(t, "x gone", func() bool { code, _, _ := fetchPage(t, checker, n, host); return code == http.StatusNotFound })
	}
	t.Logf("%d rounds; the longest delete and re-create took %v", rounds, maxGap)
}

type sample struct {
	start time.Time
	body  string
}

// reuseEnv is the name-reuse test's accounts: an admin, and members A and
// B, each with an API token.
type reuseEnv struct {
	t                     *testing.T
	n                     *node
	admin, tokenA, tokenB string
}

func newReuseEnv(t *testing.T, n *node) *reuseEnv {
	e := &reuseEnv{t: t, n: n, admin: n.adminSetup()}
	for _, u := range []struct {
		email string
		token *string
	}{{"a@example.com", &e.tokenA}, {"b@example.com", &e.tokenB}} {
		n.must("member password 123\n", "user", "create", "--data", n.data, "--email", u.email, "--password-stdin")
		*u.token = strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", u.email))
	}
	return e
}

// create creates service x for owner with the given upstream. The admin
// creates it on the owner's behalf, because members may not point
// services at loopback addresses; what matters here is that x has another
// owner each time.
func (e *reuseEnv) create(owner, upstream string) {
	e.t.Helper()
	body := fmt.Sprintf(`{"name":"x","upstreams":[%q],"owner":%q}`, upstream, owner)
	e.call(e.admin, http.MethodPost, "services", body, http.StatusCreated)
}

// call sends one API request and fails the test unless it gets want.
func (e *reuseEnv) call(token, method, path, body string, want int) []byte {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+e.n.admin+rampart.APIPrefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, bytes.TrimSpace(out), want)
	}
	return out
}

// waitApplied waits until the edge has applied the service name and
// returns when that was seen.
func (e *reuseEnv) waitApplied(name string) time.Time {
	e.t.Helper()
	var at time.Time
	eventually(e.t, name+" applied", func() bool {
		var v rampart.ServiceView
		if err := json.Unmarshal(e.call(e.admin, http.MethodGet, "services/"+name, "", http.StatusOK), &v); err != nil {
			e.t.Fatal(err)
		}
		at = time.Now()
		return v.Status.State == rampart.StatusOK
	})
	return at
}

// fixedPage is an upstream that answers every request with body,
// cacheable.
func fixedPage(t *testing.T, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fetchPage gets / of host through the edge with c: status, body, X-Cache.
// Errors are a status of 0, so that it can run on any goroutine.
func fetchPage(t *testing.T, c *http.Client, n *node, host string) (int, string, string) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.http+"/", nil)
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("GET %s/: %v", host, err)
		return 0, "", ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("X-Cache")
}
