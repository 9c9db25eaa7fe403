package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/dnstest"
)

// api calls the node's REST API with a bearer token and returns the status
// and body.
func (n *node) api(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+n.admin+rampart.APIPrefix+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// showDomain reads a domain through `rampart domain show -o json`.
func (n *node) showDomain(t *testing.T, service, name string) rampart.Domain {
	t.Helper()
	var d rampart.Domain
	if err := json.Unmarshal([]byte(n.must("", "domain", "show", service, name, "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDomainOwnership is issue 8's custom-domain attack, with the real
// binary on a node with two accounts and a DNS server the test controls:
//
//   - a name pointed at the node by an A record is not routed (the edge's
//     "not configured" page) until the TXT record with the service's token
//     is added; its state names that record, and `domain show` prints it;
//   - another tenant cannot add the name while it is on the service,
//     proven or not;
//   - once the owner removes it, it stops routing at once, and the next
//     claimant gets it unproven: the TXT record the first owner left (with
//     the first service's token) proves nothing for them; only their own
//     token does.
func TestDomainOwnership(t *testing.T) {
	dns := dnstest.Start(t)
	n := startNode(t, "--platform-domain", domain, "--node-public-ips", "127.0.0.1", "--dns-resolvers", dns.Addr)
	n.adminSetup()
	n.must("member password one\n", "user", "create", "--data", n.data, "--email", "mallory@example.com", "--password-stdin")
	mallory := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "mallory@example.com"))
	blog, grab := upstream(t, "blog"), upstream(t, "grab")
	n.must("", "service", "create", "blog", "--upstream", blog.URL)
	n.must("", "service", "create", "grab", "--upstream", grab.URL, "--owner", "mallory@example.com")
	const name = "shop.example.com"
	dns.Set(name, "127.0.0.1")

	// TLS off, so that no CA is asked: the proof is the same for every mode.
	n.must("", "domain", "add", "blog", name, "--tls", "off")
	token := n.showDomain(t, "blog", name).Challenge.Value
	if len(token) != 32 {
		t.Fatalf("domain show gives the token %q, want 32 hex digits", token)
	}
	wantTXT := `add a TXT record _rampart-challenge.shop.example.com with the value "` + token + `"`
	eventually(t, "the state to name the TXT record", func() bool {
		d := n.showDomain(t, "blog", name)
		return d.State == rampart.DomainWaitingForDNS && strings.Contains(d.Reason, wantTXT)
	})
	if code, body := n.get(t, name, "/"); code != 404 || !strings.Contains(body, "No service at") {
		t.Errorf("an A record alone on a shared node: %d %q, want the edge's not-configured page", code, body)
	}
	if out := n.must("", "domain", "show", "blog", name); !strings.Contains(out, "_rampart-challenge.shop.example.com") || !strings.Contains(out, `"`+token+`"`) {
		t.Errorf("domain show does not print the TXT record:\n%s", out)
	}
	// Unproven, the name is still the owner's to prove: nobody else may
	// add it meanwhile.
	if code, body := n.api(t, "POST", "services/grab/domains", mallory, `{"name":"shop.example.com","tls_mode":"off"}`); code != http.StatusConflict {
		t.Errorf("another tenant adding an unproven name: %d %s, want 409", code, body)
	}

	// The TXT record, and a check by hand: proven and routed.
	dns.SetTXT("_rampart-challenge."+name, token)
	if out := n.must("", "domain", "check", "blog", name); !strings.Contains(out, "DNS proves shop.example.com is blog's") {
		t.Errorf("domain check with the TXT record said:\n%s", out)
	}
	eventually(t, "the proven name routed", func() bool {
		code, body := n.get(t, name, "/")
		return code == 200 && strings.Contains(body, "hello from blog")
	})
	if d := n.showDomain(t, "blog", name); d.State != rampart.DomainActive || d.VerifiedAt == nil {
		t.Errorf("proven domain = %+v, want active with verified_at", d.DomainStatus)
	}
	if code, body := n.api(t, "POST", "services/grab/domains", mallory, `{"name":"shop.example.com","tls_mode":"off"}`); code != http.StatusConflict {
		t.Errorf("another tenant adding a proven name: %d %s, want 409", code, body)
	}
	if code, _ := n.api(t, "GET", "services/blog/domains/shop.example.com", mallory, ""); code != http.StatusNotFound {
		t.Errorf("another tenant reading the domain (and its token): %d, want 404", code)
	}

	// Removed: the edge stops routing it at once.
	n.must("", "domain", "remove", "blog", name)
	eventually(t, "the removed name to stop routing", func() bool {
		code, _ := n.get(t, name, "/")
		return code == 404
	})

	// The next claimant: unproven, with a token of its own; the old TXT
	// record does not prove the name for it.
	code, body := n.api(t, "POST", "services/grab/domains", mallory, `{"name":"shop.example.com","tls_mode":"off"}`)
	if code != http.StatusCreated {
		t.Fatalf("the freed name for another tenant: %d %s", code, body)
	}
	var claimed rampart.Domain
	if err := json.Unmarshal([]byte(body), &claimed); err != nil {
		t.Fatal(err)
	}
	if claimed.Challenge.Value == token || len(claimed.Challenge.Value) != 32 || claimed.VerifiedAt != nil {
		t.Fatalf("the new claimant's domain = %+v, want unproven with a token other than %q", claimed, token)
	}
	code, body = n.api(t, "POST", "services/grab/domains/shop.example.com/check", mallory, "")
	if code != http.StatusOK || !strings.Contains(body, "not this service's token") {
		t.Errorf("the new claimant's check with the old TXT record: %d %s", code, body)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if code, body := n.get(t, name, "/"); code != 404 {
			t.Fatalf("the new claimant reached the name with the first owner's TXT record: %d %q", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// With their own token, it is theirs.
	dns.SetTXT("_rampart-challenge."+name, claimed.Challenge.Value)
	if code, body := n.api(t, "POST", "services/grab/domains/shop.example.com/check", mallory, ""); code != http.StatusOK || !strings.Contains(body, `"points_here":true`) {
		t.Errorf("the new claimant's check with its own token: %d %s", code, body)
	}
	eventually(t, "the name routed to its new owner", func() bool {
		code, body := n.get(t, name, "/")
		return code == 200 && strings.Contains(body, "hello from grab")
	})
}
