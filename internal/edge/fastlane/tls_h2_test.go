package fastlane

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs/certstest"
)

// TestTLSListenerH2 checks that TLSListenerH2 gives the connections that
// agree on HTTP/2 to its hook, with their TLS state, and HTTP/1.1 ones to
// net/http as before.
func TestTLSListenerH2(t *testing.T) {
	certPEM, keyPEM := certstest.SelfSigned(t, "lane.test", time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
	}
	lane := Install(srv, func(*http.Request) bool { return false })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hooked atomic.Int32
	h2 := func(c net.Conn, st *tls.ConnectionState) {
		defer c.Close()
		if _, ok := c.(*tls.Conn); ok && st.NegotiatedProtocol == "h2" {
			hooked.Add(1)
		}
	}
	go srv.Serve(lane.TLSListenerH2(ln, srv.TLSConfig, h2))
	defer srv.Close()

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c) // the hook closes it
	c.Close()
	if hooked.Load() != 1 {
		t.Fatal("the HTTP/2 connection did not reach the hook")
	}

	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	defer h1.CloseIdleConnections()
	res, err := h1.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "HTTP/1.1" {
		t.Fatalf("HTTP/1.1 over TLS: %q", b)
	}
}
