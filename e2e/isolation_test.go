package e2e

// What one tenant's service, or one client, can do to the others: a refused
// configuration, a loop back into the edge, a client that walks away.

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
	_ "github.com/rampart-dev/rampart/internal/store/sqlite"
)

// TestRefusedRouteIsIsolated injects a configuration that the edge refuses
// (written into the database behind the service layer's back, as a bug or
// a hand edit would) and checks that only that service is left out: its
// status says why in `service show`, its JSON and the API, while every
// other service's changes keep applying.
func TestRefusedRouteIsIsolated(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	token := n.adminSetup()
	app := upstream(t, "app")
	for _, name := range []string{"broken", "fine"} {
		n.must("", "service", "create", name, "--upstream", app.URL)
	}
	eventually(t, "both routed", func() bool {
		a, _ := n.get(t, "broken."+domain, "/")
		b, _ := n.get(t, "fine."+domain, "/")
		return a == 200 && b == 200
	})

	// The injection: a cache TTL the edge refuses.
	db, err := store.Open(t.Context(), store.DefaultDSN(n.data))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := db.ServiceByName(t.Context(), "broken")
	if err != nil {
		t.Fatal(err)
	}
	svc.Cache.TTL = rampart.Duration(5 * time.Hour)
	if err := db.UpdateService(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	db.Close()

	eventually(t, "broken left out", func() bool { code, _ := n.get(t, "broken."+domain, "/"); return code == 404 })
	var shown rampart.ServiceView
	eventually(t, "broken's status", func() bool {
		return json.Unmarshal([]byte(n.must("", "service", "show", "broken", "-o", "json")), &shown) == nil && shown.Status.State == rampart.StatusError
	})
	c := shown.Status.Failed()
	if c == nil || c.Type != rampart.ConditionRouting || !strings.Contains(c.Message, "TTL 5h0m0s") {
		t.Errorf("status = %+v, want the routing condition naming the TTL", shown.Status)
	}
	if out := n.must("", "service", "show", "broken"); !strings.Contains(out, "refused by the edge") || !strings.Contains(out, "TTL 5h0m0s") {
		t.Errorf("service show does not say why:\n%s", out)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.admin+rampart.APIPrefix+"services/broken", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var api rampart.ServiceView
	err = json.NewDecoder(resp.Body).Decode(&api)
	resp.Body.Close()
	if err != nil || api.Status.State != rampart.StatusError {
		t.Errorf("API status = %+v (%v)", api.Status, err)
	}

	// Every other service keeps updating: a new one goes live, a stopped
	// one stops.
	n.must("", "service", "create", "later", "--upstream", app.URL)
	eventually(t, "later routed", func() bool { code, _ := n.get(t, "later."+domain, "/"); return code == 200 })
	n.must("", "service", "update", "fine", "--state", "stopped")
	eventually(t, "fine stopped", func() bool { code, _ := n.get(t, "fine."+domain, "/"); return code == 503 })
	if out := n.must("", "service", "show", "later"); !strings.Contains(out, "applied") {
		t.Errorf("a healthy service's status is not applied:\n%s", out)
	}

	// Fixing the setting through the service layer brings it back.
	n.must("", "cache", "set", "broken", "--ttl", "3s")
	eventually(t, "broken back", func() bool { code, _ := n.get(t, "broken."+domain, "/"); return code == 200 })
	eventually(t, "broken's status clears", func() bool {
		return json.Unmarshal([]byte(n.must("", "service", "show", "broken", "-o", "json")), &shown) == nil && shown.Status.State == rampart.StatusOK
	})
}

// TestUpstreamLoop: a member points a service at the edge itself. One POST
// must cost the node two requests (the client's and the edge's own copy,
// answered 508), not thousands.
func TestUpstreamLoop(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	n.must("", "service", "create", "loop", "--upstream", "http://"+n.http)
	host := "loop." + domain
	eventually(t, "the loop to be routed", func() bool { code, _ := n.get(t, host, "/warm-up"); return code == 508 })

	req, _ := http.NewRequest(http.MethodPost, "http://"+n.http+"/once", strings.NewReader("payload"))
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusLoopDetected {
		t.Fatalf("POST: status %d, want 508", res.StatusCode)
	}

	var once []string
	eventually(t, "both passes in the log", func() bool {
		once = once[:0]
		for _, l := range strings.Split(strings.TrimSpace(n.must("", "logs", "--service", "loop", "-n", "1000", "-o", "json")), "\n") {
			var e struct {
				Path  string `json:"path"`
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(l), &e) == nil && e.Path == "/once" {
				once = append(once, e.Error)
			}
		}
		return len(once) >= 2
	})
	if len(once) != 2 {
		t.Fatalf("the edge logged %d requests for one POST, want 2: %q", len(once), once)
	}
	if !strings.Contains(once[0]+once[1], "loop detected") {
		t.Errorf("no log entry says it was a loop: %q", once)
	}
}

// TestClientGoneIsNotAnUpstreamError: through the real server (the fast
// lane in front of the edge), an upload the client cuts short is the
// client's doing. It used to read as the app's failure: 502, "readfrom
// tcp …: unexpected EOF". Now the client gets no answer that looks like
// success, `rampart logs` says 499 and why, and the upstream-errors
// metric stays at zero.
func TestClientGoneIsNotAnUpstreamError(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			arrived <- struct{}{}
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(up.Close)
	n.must("", "service", "create", "shop", "--upstream", up.URL)
	eventually(t, "shop to be routed", func() bool {
		code, _ := n.get(t, "shop."+domain, "/warm-up")
		return code == 200
	})

	conn, err := net.Dial("tcp", n.http)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: shop."+domain+"\r\nContent-Length: 100000\r\n\r\nonly a few bytes")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload never reached the upstream")
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(conn); len(got) != 0 || err != nil {
		t.Errorf("client read %q, %v; want the connection closed", got, err)
	}

	var logged struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	eventually(t, "the upload in the log", func() bool {
		for _, l := range strings.Split(n.must("", "logs", "--service", "shop", "-n", "5", "-o", "json"), "\n") {
			if strings.Contains(l, `"/upload"`) {
				return json.Unmarshal([]byte(l), &logged) == nil
			}
		}
		return false
	})
	if logged.Status != 499 || !strings.HasPrefix(logged.Error, "the client went away before the answer (its request body broke off") {
		t.Errorf("logged %d %q", logged.Status, logged.Error)
	}

	resp, err := http.Get("http://" + n.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `rampart_edge_requests_total{code="499",service="shop"} 1`) {
		t.Error("metrics do not count the upload as 499")
	}
	for _, l := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(l, `rampart_edge_upstream_errors_total{service="shop"}`) && !strings.HasSuffix(l, " 0") ||
			strings.HasPrefix(l, `rampart_edge_requests_total{code="502",service="shop"}`) {
			t.Errorf("metrics blame the upstream: %s", l)
		}
	}
}
