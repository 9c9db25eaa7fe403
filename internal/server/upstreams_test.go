package server

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite/sqlitetest"
)

// TestUpstreamDNSRebinding wires the parts as serve does — one egress
// policy for the service layer and the edge's transport, routes from the
// store through agent.RoutesFor — around a real DNS server whose answer
// changes: a member's upstream name resolves to a public address when the
// service is saved, and to loopback afterwards. The save is accepted; the
// edge's dial is refused with a 502, and nothing reaches the loopback
// program.
func TestUpstreamDNSRebinding(t *testing.T) {
	dns := dnstest.Start(t)
	public := netip.MustParseAddr("192.0.2.10")
	dns.Set("rebind.test", public.String())
	resolver := dns.Resolver()

	private := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the loopback program got %s %s through the edge", r.Method, r.URL)
	}))
	defer private.Close()
	_, port, _ := net.SplitHostPort(private.Listener.Addr().String())

	policy := egress.New(nil)
	db := sqlitetest.Open(t)
	a := app.New(db, app.Options{Upstreams: policy, Resolver: resolver})
	ctx := t.Context()
	member, err := a.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: "mia@example.com", Password: "member password", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := a.Services.Create(ctx, app.UserActor(member, "192.0.2.1"), rampart.ServiceInput{Name: "app", Upstreams: []string{"http://rebind.test:" + port}})
	if err != nil {
		t.Fatalf("saving a service whose name resolves to %s: %v", public, err)
	}
	// The attacker's DNS answer changes.
	dns.Set("rebind.test", "127.0.0.1")
	// A new save now sees it.
	if _, err := a.Services.Update(ctx, app.UserActor(member, "192.0.2.1"), rampart.ServiceUpdate{Name: "app", Upstreams: []string{"http://rebind.test:" + port + "/"}}); rampart.ErrorField(err) != "upstreams" || !strings.Contains(rampart.ErrorMessage(err), "rebind.test resolves to 127.0.0.1") {
		t.Errorf("saving again after the change: %v", err)
	}

	entries := make(chan edge.LogEntry, 4)
	e, err := edge.New(edge.Config{Transport: edge.NewUpstreamTransport(policy, resolver), OnRequest: func(le edge.LogEntry) { entries <- le }})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := db.ListServices(ctx, store.ServiceFilter{})
	if err != nil || len(svcs) != 1 || svcs[0].ID != svc.ID || svcs[0].AllowPrivateUpstreams {
		t.Fatalf("stored services: %+v, %v", svcs, err)
	}
	if err := e.SetRoutes(agent.RoutesFor(svcs, nil, "apps.test")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "app.apps.test"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
	if le := <-entries; !strings.Contains(le.Error, "upstream address 127.0.0.1 is not allowed: it is a loopback address") {
		t.Errorf("log entry error %q, want the refusal", le.Error)
	}
}
