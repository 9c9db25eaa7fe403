package h2lane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var (
	certOnce sync.Once
	testCert tls.Certificate
)

func cert(t testing.TB) tls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return testCert
}

// testServer is an h2lane Server on a TLS loopback listener.
type testServer struct {
	*Server
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startH2(t testing.TB, s *Server) *testServer {
	t.Helper()
	if s.ErrorLog == nil {
		s.ErrorLog = log.New(io.Discard, "", 0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String(), ln: ln}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert(t)}, NextProtos: []string{"h2"}}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				tc := tls.Server(raw, cfg)
				if err := tc.Handshake(); err != nil {
					_ = raw.Close()
					return
				}
				st := tc.ConnectionState()
				s.ServeConn(tc, &st)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		_ = s.Close()
		ts.wg.Wait()
	})
	return ts
}

// startNetHTTP is net/http's own HTTP/2 server with the same handler.
func startNetHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert(t)}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func h2Client(t testing.TB) *http.Client {
	tr := h2Transport()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// rawConn is a hand-driven HTTP/2 client connection for attacks.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	fr *http2.Framer
}

func dialRaw(t testing.TB, addr string, settings ...http2.Setting) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, clientPreface); err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, c: c, fr: http2.NewFramer(c, c)}
	rc.fr.ReadMetaHeaders = nil
	if err := rc.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return rc
}

// until reads frames until one satisfies f, or the connection ends
// (then it returns the error).
func (rc *rawConn) until(f func(http2.Frame) bool) error {
	for {
		fr, err := rc.fr.ReadFrame()
		if err != nil {
			return err
		}
		if f(fr) {
			return nil
		}
	}
}

// goAway reads until a GOAWAY and returns its code, or fails.
func (rc *rawConn) goAway() http2.ErrCode {
	rc.t.Helper()
	var code http2.ErrCode
	err := rc.until(func(f http2.Frame) bool {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			code = g.ErrCode
			return true
		}
		return false
	})
	if err != nil {
		rc.t.Fatalf("no GOAWAY: %v", err)
	}
	return code
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// headers sends a request's HEADERS (one frame) with the fields given as
// name, value pairs after the pseudo-fields.
func (rc *rawConn) headers(id uint32, end bool, fields ...string) {
	rc.t.Helper()
	if err := rc.tryHeaders(id, end, fields...); err != nil {
		rc.t.Fatal(err)
	}
}

// tryHeaders is headers for goroutines other than the test's.
func (rc *rawConn) tryHeaders(id uint32, end bool, fields ...string) error {
	var buf headerBuf
	enc := hpack.NewEncoder(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: buf.b, EndStream: end, EndHeaders: true})
}

// get is the pseudo-fields of a GET of path.
func get(path string, more ...string) []string {
	return append([]string{":method", "GET", ":scheme", "https", ":authority", "example.test", ":path", path}, more...)
}

// streamEnd reads until stream id is reset or ended and returns the
// RST_STREAM code (-1: ended normally, -2: the connection went away,
// with the GOAWAY code in the second result).
func (rc *rawConn) streamEnd(id uint32) (int, http2.ErrCode) {
	var code int
	var gcode http2.ErrCode
	err := rc.until(func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				code = int(f.ErrCode)
				return true
			}
		case *http2.GoAwayFrame:
			code, gcode = -2, f.ErrCode
			return true
		case *http2.DataFrame:
			if f.StreamID == id && f.StreamEnded() {
				code = -1
				return true
			}
		case *http2.HeadersFrame:
			if f.StreamID == id && f.StreamEnded() {
				code = -1
				return true
			}
		}
		return false
	})
	if err != nil {
		rc.t.Logf("stream %d: %v", id, err)
		return -3, 0
	}
	return code, gcode
}

func tlsDialNoPreface(addr string) (net.Conn, error) {
	return tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
}

// h2Transport is net/http's client speaking only HTTP/2 over TLS.
func h2Transport() *http.Transport {
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, Protocols: &p}
}
