package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs/pebbletest"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/edge"
)

// TestDemoHTTPS: with the demo's platform domain localhost, the demo
// service is served on HTTPS with an internal-CA certificate whose root is
// downloadable from /ca.pem, and plain HTTP keeps working too.
func TestDemoHTTPS(t *testing.T) {
	srv := newLocalServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	d, err := SetUpDemo(ctx, srv.App())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	resp, err := http.Get("http://" + srv.AdminAddr() + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("/ca.pem is not a PEM certificate: %q", pemBytes)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, srv.HTTPSAddr())
		},
	}}
	var body string
	if !pebbletest.WaitFor(ctx, 15*time.Second, func() bool {
		resp, err := client.Get("https://demo.localhost/")
		if err != nil {
			body = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200 && resp.ProtoMajor == 2
	}) {
		t.Fatalf("https://demo.localhost/ over HTTP/2 with the internal root: %s", body)
	}
	if !strings.Contains(body, "Hello from the demo app") {
		t.Errorf("demo page over HTTPS: %q", body)
	}
	// HTTP/2 on the HTTPS listener is h2lane's: its inline answers have
	// their own listener label in the fast lane's metric.
	if resp, err := http.Get("http://" + srv.AdminAddr() + "/metrics"); err != nil {
		t.Error(err)
	} else {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), `rampart_edge_fastlane_requests_total{listener="https-h2"}`) {
			t.Error(`/metrics lacks rampart_edge_fastlane_requests_total{listener="https-h2"}`)
		}
	}
	// The dashboard at admin.domain, on the same listener and root: HSTS,
	// Secure cookies; /metrics is not published there.
	if !pebbletest.WaitFor(ctx, 15*time.Second, func() bool {
		resp, err := client.Get("https://rampart.localhost/login")
		if err != nil {
			body = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		if resp.StatusCode != 200 {
			return false
		}
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("no HSTS on the dashboard over HTTPS")
		}
		for _, c := range resp.Cookies() {
			if !c.Secure {
				t.Errorf("cookie %s is not Secure over HTTPS", c.Name)
			}
		}
		return true
	}) {
		t.Fatalf("https://rampart.localhost/login: %s", body)
	}
	if !strings.Contains(body, `name="password"`) {
		t.Errorf("dashboard login over HTTPS: %q", body)
	}
	resp, err = client.Get("https://rampart.localhost/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "go_goroutines") {
		t.Error("/metrics is published on the HTTPS dashboard")
	}
	// A member cannot take the dashboard's name as a service.
	if _, err := srv.App().Services.Create(ctx, app.OperatorActor(), rampart.ServiceInput{Name: "rampart", Upstreams: []string{d.UpstreamURL}}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("service named rampart beside admin.domain rampart.localhost: %v", err)
	}
	req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr()+"/", nil)
	req.Host = "demo.localhost"
	resp, err = (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("http://demo.localhost/ = %d, want 200 (platform hostnames stay on HTTP too)", resp.StatusCode)
	}
}

// newLocalServer is a server of the demo's shape (platform domain
// localhost) on free loopback ports, with a scratch data directory.
func newLocalServer(t *testing.T) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Node.PublicIPs = []string{"127.0.0.1"}
	cfg.Admin.Domain = "rampart.localhost"
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestShutdownWithSeveralListenersFailing: when requests outlast the
// shutdown on several listeners at once, Run reports it, and (under -race)
// the listeners' shutdowns do not race on the error.
func TestShutdownWithSeveralListenersFailing(t *testing.T) {
	srv := newLocalServer(t)
	srv.shutdownTimeout = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if res, err := http.Get("http://" + srv.AdminAddr() + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A request head that never ends keeps a connection active on the
	// admin listener; a request to an upstream that never answers keeps
	// the edge's HTTP listener busy.
	c, err := net.Dial("tcp", srv.AdminAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	hang, arrived := make(chan struct{}), make(chan struct{}, 2)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { arrived <- struct{}{}; <-hang }))
	defer slow.Close()
	defer close(hang) // before slow.Close, which waits for its handlers
	op := app.OperatorActor()
	if _, err := srv.App().Accounts.Create(ctx, op, rampart.UserInput{Email: "ops@example.com", Password: "long enough password", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.App().Services.Create(ctx, op, rampart.ServiceInput{Name: "slow", Upstreams: []string{slow.URL}, Owner: "ops@example.com"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if svc, err := srv.App().Services.Get(ctx, op, "slow"); err == nil && svc.Status.State == rampart.StatusOK {
			break // routed
		}
		if time.Now().After(deadline) {
			t.Fatal("the service was not routed")
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr()+"/", strings.NewReader("x")) // a POST: never from the cache
	req.Host = "slow.localhost"
	go http.DefaultClient.Do(req)
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the upstream")
	}
	time.Sleep(100 * time.Millisecond) // let the admin server see its connection
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "graceful shutdown") || strings.Count(err.Error(), "context deadline exceeded") != 2 {
			t.Errorf("Run = %v, want the graceful shutdown's failure on both listeners", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestNodeName: node.name is the edge's name in Via, and a name that cannot
// be one is refused at start, naming the setting.
func TestNodeName(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Node.Name = "edge one"
	if _, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "node.name:") {
		t.Fatalf("a name with a space: err = %v, want one naming node.name", err)
	}

	var via string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { via = r.Header.Get("Via") }))
	defer up.Close()
	cfg.Node.Name = "edge-1.example"
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	if err := srv.edge.SetRoutes([]edge.Route{{Service: "blog", Hosts: []string{"blog.localhost"}, Upstreams: []string{up.URL}, AllowPrivate: true}}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://blog.localhost/", nil)
	srv.edge.ServeHTTP(httptest.NewRecorder(), req)
	if via != "1.1 edge-1.example" {
		t.Errorf("Via = %q, want %q", via, "1.1 edge-1.example")
	}
}
