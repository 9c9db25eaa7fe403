package edge

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewServer(t *testing.T) {
	var gotURI string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURI = r.RequestURI
	}))
	defer up.Close()
	e, err := New(Config{ErrorLog: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetRoutes([]Route{{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{up.URL}}}); err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", e, nil, SlowClients{})
	if srv.ReadHeaderTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("server without limits: %+v", srv)
	}
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Fatal("ReadTimeout/WriteTimeout would cut off streams and WebSockets")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// "OPTIONS *" reaches the service instead of being answered by net/http.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: app.example.com\r\nConnection: close\r\n\r\n")
	resp, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 200") {
		t.Fatalf("OPTIONS *: %q", resp)
	}
	if gotURI == "" {
		t.Fatal("OPTIONS * did not reach the upstream")
	}
}
