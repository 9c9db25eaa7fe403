package certs_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs"
)

// benchManager returns a manager serving bench.localhost from the internal
// CA (an ECDSA P-256 leaf, like the ones certmagic obtains from ACME).
func benchManager(b *testing.B) *certs.Manager {
	b.Helper()
	m := newManager(b, certs.Config{})
	if err := m.SetDomains([]certs.Domain{{Name: "bench.localhost", Mode: certs.ModeInternal}}); err != nil {
		b.Fatal(err)
	}
	waitStatus(b, m, "bench.localhost", 10*time.Second, func(s certs.Status) bool { return s.State == certs.StateActive })
	return m
}

// BenchmarkGetCertificate is the per-handshake cost of choosing a
// certificate.
func BenchmarkGetCertificate(b *testing.B) {
	m := benchManager(b)
	for _, c := range []struct{ name, sni string }{
		{"listed", "bench.localhost"},
		{"no-sni", ""},
		{"unlisted", "stranger.example"},
	} {
		b.Run(c.name, func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: c.sni}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = m.GetCertificate(hello)
			}
		})
	}
}

// BenchmarkHandshake is full TLS handshakes per second against
// TLSConfig (no session resumption), client and server on this machine.
func BenchmarkHandshake(b *testing.B) {
	m := benchManager(b)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	addr := ln.Addr().String()
	for _, c := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"tls13-sni", &tls.Config{ServerName: "bench.localhost", InsecureSkipVerify: true}},
		{"tls13-no-sni", &tls.Config{InsecureSkipVerify: true}},
		{"tls12-sni", &tls.Config{ServerName: "bench.localhost", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}},
	} {
		b.Run(c.name, func(b *testing.B) {
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					conn, err := tls.Dial("tcp", addr, c.cfg)
					if err != nil {
						b.Error(err)
						return
					}
					conn.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkHTTPS is requests per second over kept-alive connections to a
// trivial handler behind TLSConfig.
func BenchmarkHTTPS(b *testing.B) {
	m := benchManager(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		TLSConfig: m.TLSConfig(),
		ErrorLog:  quietLog(),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	b.Cleanup(func() { srv.Close() })
	url := "https://bench.localhost:" + strconv.Itoa(port(ln.Addr().String())) + "/"
	for _, h2 := range []bool{false, true} {
		name := "http1"
		if h2 {
			name = "h2"
		}
		b.Run(name, func(b *testing.B) {
			tr := &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: poolOf(m.InternalRootPEM())},
				ForceAttemptHTTP2:   h2,
				MaxIdleConnsPerHost: 64,
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
				},
			}
			if !h2 {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(url)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
