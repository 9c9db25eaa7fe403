package edge

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/egress"
)

// TestUpstreamTransportRebinding: a host name that resolved to an allowed
// address when the service was saved, and to loopback when the edge dials
// it, is refused at the dial with a 502 and the reason in the log. The
// same name through a route with the override works, and a connection
// that route opened is never lent to a route without it. An own listener
// is refused even with the override.
func TestUpstreamTransportRebinding(t *testing.T) {
	// A real DNS server whose answer the test changes, as a DNS rebinding
	// attacker's would (TTL 0).
	dns := dnstest.Start(t)
	public := netip.MustParseAddr("192.0.2.10")
	dns.Set("app.rebind.test", public.String())
	resolver := dns.Resolver()

	policy := egress.New(nil)
	// What the service layer does when the service is saved.
	addrs, err := resolver.LookupNetIP(context.Background(), "ip4", "app.rebind.test")
	if err != nil || len(addrs) != 1 || addrs[0] != public {
		t.Fatalf("lookup at save time: %v %v", addrs, err)
	}
	if err := policy.CheckAddr(addrs[0], false); err != nil {
		t.Fatalf("save-time check of %s: %v", addrs[0], err)
	}

	// Later the name points at loopback, where something private listens.
	dns.Set("app.rebind.test", "127.0.0.1")
	private := echoUpstream(t, "private")
	port := private.Listener.Addr().(*net.TCPAddr).Port
	target := "http://app.rebind.test:" + strconv.Itoa(port)

	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the admin listener got %s %s through the edge", r.Method, r.URL)
	}))
	defer admin.Close()
	policy.Protect("admin_addr", admin.Listener.Addr().(*net.TCPAddr).AddrPort())

	entries := make(chan LogEntry, 10)
	_, srv := newEdge(t, Config{Transport: NewUpstreamTransport(policy, resolver), OnRequest: func(e LogEntry) { entries <- e }},
		Route{Service: "member", Hosts: []string{"member.example.com"}, Upstreams: []string{target}},
		Route{Service: "trusted", Hosts: []string{"trusted.example.com"}, Upstreams: []string{target}, AllowPrivate: true},
		Route{Service: "sneaky", Hosts: []string{"sneaky.example.com"}, Upstreams: []string{admin.URL}, AllowPrivate: true},
	)

	refused := func(host, want string) {
		t.Helper()
		res, body := get(t, srv, host, "/")
		if res.StatusCode != http.StatusBadGateway || strings.Contains(body, "private") {
			t.Fatalf("%s: status %d, want 502:\n%s", host, res.StatusCode, body)
		}
		if ent := <-entries; !strings.Contains(ent.Error, want) {
			t.Errorf("%s: log entry error %q, want it to say %q", host, ent.Error, want)
		}
	}
	refused("member.example.com", "upstream address 127.0.0.1 is not allowed: it is a loopback address")

	res, body := get(t, srv, "trusted.example.com", "/")
	if res.StatusCode != http.StatusOK || decode(t, body).Name != "private" {
		t.Fatalf("with the override: status %d:\n%s", res.StatusCode, body)
	}
	<-entries
	// The overridden route's connection to app.rebind.test is idle in
	// its pool now; the member's route must still be refused.
	refused("member.example.com", "not allowed")
	refused("sneaky.example.com", "rampart's own listener (admin_addr)")

	// And once the name points somewhere allowed again, it works: the
	// refusal is about the address, not the name. 127.0.0.1 is still
	// where the upstream is, so a policy that allows loopback explicitly
	// stands in for "somewhere allowed".
	open := egress.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	_, srv2 := newEdge(t, Config{Transport: NewUpstreamTransport(open, resolver)},
		Route{Service: "member", Hosts: []string{"member.example.com"}, Upstreams: []string{target}})
	if res, body := get(t, srv2, "member.example.com", "/"); res.StatusCode != http.StatusOK {
		t.Fatalf("allowed by the operator's networks: status %d:\n%s", res.StatusCode, body)
	}
}

// TestUpstreamTransportLiteral: an upstream given as an IP literal is
// checked the same way (the dialer sees the address either way).
func TestUpstreamTransportLiteral(t *testing.T) {
	up := echoUpstream(t, "up")
	u, _ := url.Parse(up.URL)
	for _, host := range []string{u.Host, "[::ffff:127.0.0.1]:" + u.Port(), "localhost:" + u.Port()} {
		_, srv := newEdge(t, Config{Transport: NewUpstreamTransport(egress.New(nil), nil)},
			Route{Service: "s", Hosts: []string{"s.example.com"}, Upstreams: []string{"http://" + host}})
		if res, body := get(t, srv, "s.example.com", "/"); res.StatusCode != http.StatusBadGateway {
			t.Errorf("upstream %s: status %d, want 502:\n%s", host, res.StatusCode, body)
		}
	}
}
