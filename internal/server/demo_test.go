package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs/pebbletest"
	"github.com/rampart-dev/rampart/internal/config"
)

// TestDemoHTTPS: with the demo's platform domain localhost, the demo
// service is served on HTTPS with an internal-CA certificate whose root is
// downloadable from /ca.pem, and plain HTTP keeps working too.
func TestDemoHTTPS(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Node.PublicIPs = []string{"127.0.0.1"}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
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
