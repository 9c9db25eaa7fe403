package e2e

import (
	"encoding/json"
	"net/http"
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
