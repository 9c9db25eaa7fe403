package server

import (
	"context"
	"crypto/tls"
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
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestACMEWithPebble runs the whole path of a custom domain against a real
// ACME CA: the domain is added through the service layer, the background
// DNS check sees it point here (the test's DNS server), Pebble validates
// and issues, and the edge's HTTPS listener serves the service's page
// with Pebble's certificate. A second domain whose DNS points elsewhere
// stays waiting_for_dns with the explanation, and Pebble sees no order
// for it.
func TestACMEWithPebble(t *testing.T) {
	httpPort, httpsPort := freePort(t), freePort(t)
	pb := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: httpsPort})
	pb.DNS.Set("shop.example.com", "127.0.0.1")
	pb.DNS.Set("elsewhere.example.com", "203.0.113.9")

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
