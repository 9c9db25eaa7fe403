package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/app"
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
	var answer atomic.Pointer[netip.Addr]
	public := netip.MustParseAddr("192.0.2.10")
	answer.Store(&public)
	resolver := rebindingResolver(t, &answer)

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
	loopback := netip.MustParseAddr("127.0.0.1")
	answer.Store(&loopback)
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

// rebindingResolver is a resolver that asks only a DNS server on loopback
// which answers every A query with *addr at the time, with a TTL of 0.
func rebindingResolver(t *testing.T, addr *atomic.Pointer[netip.Addr]) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0},
				A:   addr.Load().AsSlice(),
			})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}
