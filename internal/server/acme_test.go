package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs/pebbletest"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/testport"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// pebbleNode is a rampart server whose edge listens on free loopback ports,
// whose ACME CA is a fresh Pebble and whose DNS resolver is Pebble's test
// DNS server, running until the test ends.
type pebbleNode struct {
	srv       *Server
	cfg       config.Config
	pb        *pebbletest.Pebble
	httpsPort int
	ctx       context.Context
}

func startPebbleNode(t *testing.T) *pebbleNode {
	t.Helper()
	httpPort, httpsPort := testport.Number(t), testport.Number(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: httpsPort})
	roots := filepath.Join(t.TempDir(), "pebble-api-root.pem")
	if err := os.WriteFile(roots, pb.APIRootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:" + strconv.Itoa(httpPort)
	cfg.HTTPSAddr = "127.0.0.1:" + strconv.Itoa(httpsPort)
	cfg.Platform.Domain = "apps.example.net"
	cfg.Node.PublicIPs = []string{"127.0.0.1"}
	cfg.ACME.Directory = pb.Directory
	cfg.ACME.Email = "ops@example.com"
	cfg.ACME.TrustedRoots = roots
	cfg.DNS.Resolvers = []string{pb.DNS.Addr}
	cfg.Log.AccessLog = false
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	// Unproven names are checked again every 2s instead of 30s, so that a
	// record the test adds is seen in time.
	srv.domains.Recheck = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return &pebbleNode{srv: srv, cfg: cfg, pb: pb, httpsPort: httpsPort, ctx: ctx}
}

// httpsGet asks the edge's HTTPS listener for https://host/, trusting
// Pebble's roots, and returns the status and body, or the error.
func (n *pebbleNode) httpsGet(t *testing.T, host string) (int, string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: n.pb.Roots(t)},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, n.cfg.HTTPSAddr)
		},
	}}
	resp, err := client.Get("https://" + host + ":" + strconv.Itoa(n.httpsPort) + "/")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// httpGet asks the edge's HTTP listener for http://host/.
func (n *pebbleNode) httpGet(t *testing.T, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.cfg.HTTPAddr+"/", nil)
	req.Host = host
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestACMEWithPebble runs the whole path of a custom domain against a real
// ACME CA: the domain is added through the service layer, the background
// DNS check sees it point here (the test's DNS server), Pebble validates
// and issues, and the edge's HTTPS listener serves the service's page
// with Pebble's certificate. A second domain whose DNS points elsewhere
// stays waiting_for_dns with the explanation, and Pebble sees no order
// for it.
func TestACMEWithPebble(t *testing.T) {
	n := startPebbleNode(t)
	srv, cfg, pb, ctx, httpsPort := n.srv, n.cfg, n.pb, n.ctx, n.httpsPort
	pb.DNS.Set("shop.example.com", "127.0.0.1")
	pb.DNS.Set("elsewhere.example.com", "203.0.113.9")

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the shop's page")
	}))
	t.Cleanup(upstream.Close)
	a := srv.App()
	op := app.OperatorActor()
	// domain reads a domain of shop (with its state) through the service layer.
	domain := func(name string) (*rampart.Domain, error) {
		return a.Domains.Get(ctx, op, rampart.DomainRef{Service: "shop", Name: name})
	}
	if _, err := a.Accounts.Create(ctx, op, rampart.UserInput{Email: "admin@example.com", Password: "correct horse battery", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Services.Create(ctx, op, rampart.ServiceInput{Name: "shop", Upstreams: []string{upstream.URL}}); err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pb.Roots(t)},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, cfg.HTTPSAddr)
		},
	}}
	url := "https://shop.example.com:" + strconv.Itoa(httpsPort) + "/"

	added := time.Now()
	if _, err := a.Domains.Add(ctx, op, rampart.DomainInput{Service: "shop", Name: "Shop.Example.com"}); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	ok := pebbletest.WaitFor(ctx, 90*time.Second, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			lastErr = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		lastErr = resp.Status + " " + string(b)
		return resp.StatusCode == 200 && string(b) == "the shop's page"
	})
	if !ok {
		d, _ := domain("shop.example.com")
		t.Fatalf("no HTTPS answer with Pebble's certificate after 90s: last %s; domain %+v", lastErr, d)
	}
	t.Logf("time from 'domain added' to the first successful HTTPS response: %v", time.Since(added).Round(time.Millisecond))

	if !pebbletest.WaitFor(ctx, 10*time.Second, func() bool {
		d, err := domain("shop.example.com")
		return err == nil && d.State == rampart.DomainActive
	}) {
		d, _ := domain("shop.example.com")
		t.Errorf("shop.example.com serves HTTPS but its state is %s (%q), want active", d.State, d.Reason)
	}
	// Port 80 now redirects the name to HTTPS.
	req, _ := http.NewRequest("GET", "http://"+cfg.HTTPAddr+"/cart?x=1", nil)
	req.Host = "shop.example.com"
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://shop.example.com:" + strconv.Itoa(httpsPort) + "/cart?x=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("http://shop.example.com/cart = %d %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	orders := pb.Orders()
	if orders != 1 {
		t.Errorf("Pebble saw %d orders, want 1", orders)
	}

	// A domain whose DNS points elsewhere waits, says why, and is never
	// ordered.
	if _, err := a.Domains.Add(ctx, op, rampart.DomainInput{Service: "shop", Name: "elsewhere.example.com"}); err != nil {
		t.Fatal(err)
	}
	var d *rampart.Domain
	if !pebbletest.WaitFor(ctx, 15*time.Second, func() bool {
		d, err = domain("elsewhere.example.com")
		return err == nil && d.State == rampart.DomainWaitingForDNS && strings.Contains(d.Reason, "203.0.113.9")
	}) {
		t.Fatalf("elsewhere.example.com = %+v, want waiting_for_dns naming 203.0.113.9", d)
	}
	t.Logf("elsewhere.example.com: %s: %s", d.State, d.Reason)
	time.Sleep(2 * time.Second) // a pass or two of the reconciler
	if d, _ := domain("elsewhere.example.com"); d.State != rampart.DomainWaitingForDNS {
		t.Errorf("elsewhere.example.com moved on to %s", d.State)
	}
	if got := pb.Orders(); got != orders {
		t.Errorf("Pebble saw %d orders after adding a domain that points elsewhere, want still %d:\n%s", got, orders, pb.Log())
	}
	if n := pb.DNS.Queries("elsewhere.example.com"); n == 0 {
		t.Error("the DNS check never asked the configured resolver about elsewhere.example.com")
	}
	// The API's check says the same per resolver.
	_, res, err := a.Domains.Check(ctx, op, rampart.DomainRef{Service: "shop", Name: "elsewhere.example.com"})
	if err != nil || res.PointsHere || len(res.Resolvers) != 1 || res.Resolvers[0].Resolver != pb.DNS.Addr {
		t.Errorf("CheckDomain = %+v, %v", res, err)
	}
}

// TestDomainOwnershipWithPebble is issue 8's domain-ownership attack on a
// node shared by several accounts, against a real CA and a real DNS server:
//
//   - a CNAME to the service's platform hostname proves the name: it is
//     routed and certified;
//   - an A record to the node without the TXT record proves nothing: the
//     edge answers the name with its "not configured" page, Pebble sees no
//     order for it, and the domain's reason names the TXT record to add,
//     with the service's token;
//   - a TXT record with another service's token proves nothing either;
//   - with the service's own token the name becomes active;
//   - another tenant cannot add a proven name.
func TestDomainOwnershipWithPebble(t *testing.T) {
	n := startPebbleNode(t)
	ctx, pb := n.ctx, n.pb
	a := n.srv.App()
	op := app.OperatorActor()
	var users []*rampart.User
	for _, in := range []rampart.UserInput{
		{Email: "admin@example.com", Password: "correct horse battery", Role: rampart.RoleAdmin},
		{Email: "mia@example.com", Password: "member password 1", Role: rampart.RoleMember},
		{Email: "mallory@example.com", Password: "member password 2", Role: rampart.RoleMember},
	} {
		u, err := a.Accounts.Create(ctx, op, in)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	mia, mallory := app.UserActor(users[1], "192.0.2.10"), app.UserActor(users[2], "203.0.113.66")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the shop's page")
	}))
	t.Cleanup(upstream.Close)
	// The services point at a loopback upstream, which only an admin may
	// allow: the operator creates them for their owners.
	for _, x := range []struct {
		owner *rampart.User
		name  string
	}{{users[1], "shop"}, {users[2], "grab"}} {
		if _, err := a.Services.Create(ctx, op, rampart.ServiceInput{Name: x.name, Upstreams: []string{upstream.URL}, Owner: x.owner.Email}); err != nil {
			t.Fatal(err)
		}
	}
	pb.DNS.Set("shop.apps.example.net", "127.0.0.1")
	pb.DNS.SetCNAME("www.shop.example", "shop.apps.example.net")
	pb.DNS.Set("shop.example", "127.0.0.1")
	domain := func(name string) *rampart.Domain {
		t.Helper()
		d, err := a.Domains.Get(ctx, mia, rampart.DomainRef{Service: "shop", Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	add := func(actor app.Actor, service, name string) *rampart.Domain {
		t.Helper()
		d, err := a.Domains.Add(ctx, actor, rampart.DomainInput{Service: service, Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	add(mia, "shop", "www.shop.example")
	bare := add(mia, "shop", "shop.example")
	token := bare.Challenge.Value

	// The CNAME: proven, routed and certified.
	var last string
	if !pebbletest.WaitFor(ctx, 90*time.Second, func() bool {
		code, body, err := n.httpsGet(t, "www.shop.example")
		last = fmt.Sprint(code, " ", body, " ", err)
		return err == nil && code == 200 && body == "the shop's page"
	}) {
		t.Fatalf("www.shop.example (a CNAME to shop.apps.example.net): no HTTPS answer with Pebble's certificate after 90s: last %s; domain %+v", last, domain("www.shop.example"))
	}
	if d := domain("www.shop.example"); !d.Verified() {
		t.Errorf("www.shop.example serves but is not recorded as proven: %+v", d.DomainStatus)
	}

	// The A record alone: waiting, with the TXT record in the reason; not
	// routed, not ordered.
	wantTXT := `add a TXT record _rampart-challenge.shop.example with the value "` + token + `"`
	if !pebbletest.WaitFor(ctx, 15*time.Second, func() bool {
		d := domain("shop.example")
		return d.State == rampart.DomainWaitingForDNS && strings.Contains(d.Reason, wantTXT)
	}) {
		t.Fatalf("shop.example = %+v, want waiting_for_dns with %q", domain("shop.example").DomainStatus, wantTXT)
	}
	t.Logf("shop.example: %s", domain("shop.example").Reason)
	orders := pb.Orders()
	time.Sleep(3 * time.Second) // a recheck or two
	if d := domain("shop.example"); d.Verified() || d.State != rampart.DomainWaitingForDNS {
		t.Fatalf("shop.example proven by an A record alone on a shared node: %+v", d.DomainStatus)
	}
	if code, body := n.httpGet(t, "shop.example"); code != http.StatusNotFound || !strings.Contains(body, "No service at shop.example") {
		t.Errorf("http://shop.example/ unproven = %d %q, want the edge's 404 not-configured page", code, body)
	}
	if _, _, err := n.httpsGet(t, "shop.example"); err == nil {
		t.Error("https://shop.example/ unproven: the edge completed a TLS handshake for it")
	}
	if got := pb.Orders(); got != orders {
		t.Errorf("Pebble saw %d orders, want still %d: a certificate was requested for an unproven name", got, orders)
	}

	// Another service's token: not proven, and the reason says what is wrong.
	grabToken := add(mallory, "grab", "grab.example").Challenge.Value
	pb.DNS.SetTXT("_rampart-challenge.shop.example", grabToken)
	_, res, err := a.Domains.Check(ctx, mia, rampart.DomainRef{Service: "shop", Name: "shop.example"})
	if err != nil || res.PointsHere || !strings.Contains(res.Reason, `holds "`+grabToken+`", not this service's token`) {
		t.Fatalf("check with another service's token = %+v, %v; want not proven, naming the wrong value", res, err)
	}
	time.Sleep(3 * time.Second)
	if d := domain("shop.example"); d.Verified() {
		t.Fatalf("shop.example proven by another service's token: %+v", d.DomainStatus)
	}

	// The service's own token: proven, certified, active.
	pb.DNS.SetTXT("_rampart-challenge.shop.example", token)
	if !pebbletest.WaitFor(ctx, 90*time.Second, func() bool {
		code, body, err := n.httpsGet(t, "shop.example")
		last = fmt.Sprint(code, " ", body, " ", err)
		return err == nil && code == 200 && body == "the shop's page"
	}) {
		t.Fatalf("shop.example with its TXT record: no HTTPS answer after 90s: last %s; domain %+v", last, domain("shop.example").DomainStatus)
	}
	if !pebbletest.WaitFor(ctx, 10*time.Second, func() bool { return domain("shop.example").State == rampart.DomainActive }) {
		t.Errorf("shop.example = %+v, want active", domain("shop.example").DomainStatus)
	}

	// Another tenant cannot take a proven name over.
	if _, err := a.Domains.Add(ctx, mallory, rampart.DomainInput{Service: "grab", Name: "shop.example"}); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("another tenant adding shop.example: %v, want a conflict", err)
	}
	if code, body, err := n.httpsGet(t, "shop.example"); err != nil || code != 200 || body != "the shop's page" {
		t.Errorf("after the takeover attempt shop.example = %d %q %v, want the shop's page", code, body, err)
	}
}
