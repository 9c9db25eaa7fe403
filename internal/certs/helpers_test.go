package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/certs/pebbletest"
)

// testLogger writes the manager's log into the test's output. Level: warn,
// or RAMPART_TEST_LOG (debug, info, warn, error).
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if v := os.Getenv("RAMPART_TEST_LOG"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// newManager creates a manager in a temporary directory (unless cfg.Dir is
// set) and closes it when the test ends.
func newManager(t testing.TB, cfg certs.Config) *certs.Manager {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	m, err := certs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// edge is a stand-in for the edge: an HTTP and an HTTPS listener on
// loopback whose ports are known before the manager exists (Pebble must be
// told where to validate).
type edge struct {
	httpLn, httpsLn     net.Listener
	httpPort, httpsPort int
	httpSrv, httpsSrv   *http.Server
	httpsAddr, httpAddr string
	cur                 atomic.Pointer[certs.Manager]
}

func newEdge(t testing.TB) *edge {
	t.Helper()
	e := &edge{}
	var err error
	if e.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if e.httpsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	e.httpAddr, e.httpsAddr = e.httpLn.Addr().String(), e.httpsLn.Addr().String()
	e.httpPort, e.httpsPort = port(e.httpAddr), port(e.httpsAddr)
	t.Cleanup(func() {
		e.httpLn.Close()
		e.httpsLn.Close()
		if e.httpSrv != nil {
			e.httpSrv.Close()
			e.httpsSrv.Close()
		}
	})
	return e
}

func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// serve makes m the manager behind the edge's listeners, starting them
// the first time: HTTP through m.HTTPHandler, HTTPS with m.TLSConfig, both
// in front of a handler that names the host it answered for.
func (e *edge) serve(m *certs.Manager) {
	if e.cur.Swap(m) != nil {
		return
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s over %s", r.Host, r.Proto)
	})
	tc := m.TLSConfig()
	tc.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return e.cur.Load().GetCertificate(h) }
	e.httpSrv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.cur.Load().HTTPHandler(app).ServeHTTP(w, r)
	}), ErrorLog: quietLog()}
	e.httpsSrv = &http.Server{Handler: app, TLSConfig: tc, ErrorLog: quietLog()}
	go func() { _ = e.httpSrv.Serve(e.httpLn) }()
	go func() { _ = e.httpsSrv.ServeTLS(e.httpsLn, "", "") }()
}

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// get makes one HTTPS request for host to the edge, on a new connection,
// verifying the certificate against roots. It returns the body and the
// certificate the server presented.
func (e *edge) get(ctx context.Context, host string, roots *x509.CertPool) (string, *x509.Certificate, error) {
	return httpsGet(ctx, e.httpsAddr, host, roots)
}

func httpsGet(ctx context.Context, addr, host string, roots *x509.CertPool) (string, *x509.Certificate, error) {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(host, strconv.Itoa(port(addr)))+"/", nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("status %s: %s", resp.Status, b)
	}
	return string(b), resp.TLS.PeerCertificates[0], nil
}

// waitHTTPS polls until an HTTPS request for host succeeds and its
// certificate satisfies ok (nil: any verified certificate).
func (e *edge) waitHTTPS(t testing.TB, host string, roots func() *x509.CertPool, within time.Duration, ok func(*x509.Certificate) bool) (string, *x509.Certificate) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var lastErr error
	for {
		body, leaf, err := e.get(ctx, host, roots())
		if err == nil && (ok == nil || ok(leaf)) {
			return body, leaf
		}
		if err == nil {
			err = errors.New("the certificate served is not the expected one yet")
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("no good HTTPS answer for %s within %v: %v", host, within, lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitStatus polls m.Status(name) until cond holds.
func waitStatus(t testing.TB, m *certs.Manager, name string, within time.Duration, cond func(certs.Status) bool) certs.Status {
	t.Helper()
	var st certs.Status
	if !pebbletest.WaitFor(t.Context(), within, func() bool { st = m.Status(name); return cond(st) }) {
		t.Fatalf("status of %s did not reach the expected state within %v; last: %+v", name, within, st)
	}
	return st
}

// acmeConfig points a manager at p, with challenges answered on e.
func acmeConfig(p *pebbletest.Pebble, e *edge) certs.ACME {
	return certs.ACME{
		Directory:       p.Directory,
		Email:           "ops@example.test",
		TrustedRootsPEM: p.APIRootPEM,
		AltHTTPPort:     e.httpPort,
		AltTLSALPNPort:  e.httpsPort,
	}
}

func poolOf(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemBytes)
	return p
}
