package fastlane

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs/certstest"
	"github.com/rampart-dev/rampart/internal/connguard"
)

// slowHandler waits for its request's context to end, or for wait, and
// reports on ended which it was (nil: the wait ran out), then answers
// "finished".
func slowHandler(wait time.Duration, started chan<- struct{}, ended chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			ended <- r.Context().Err()
		case <-time.After(wait):
			ended <- nil
		}
		io.WriteString(w, "finished")
	})
}

// TestClientGoneOnLane: a client that leaves while the lane answers its
// slow request gets the request's context canceled, as net/http's
// background read does (TestClientGoneDuringHandover), within about two
// watch periods: plain, through connguard's wrapper, and over TLS.
func TestClientGoneOnLane(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the lane asks Linux's TCP state") // CI runs on Linux: never skipped there
	}
	certPEM, keyPEM := certstest.SelfSigned(t, "lane.test", time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		guard bool
		tls   bool
		leave func(net.Conn)
	}{
		{"close", false, false, func(c net.Conn) { c.Close() }},
		{"half-close", false, false, func(c net.Conn) { c.(*net.TCPConn).CloseWrite() }},
		{"reset", false, false, func(c net.Conn) { c.(*net.TCPConn).SetLinger(0); c.Close() }},
		{"connguard", true, false, func(c net.Conn) { c.Close() }},
		{"tls", true, true, func(c net.Conn) { c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			started, ended := make(chan struct{}, 1), make(chan error, 1)
			srv := &http.Server{Handler: slowHandler(6*time.Second, started, ended), ReadHeaderTimeout: 5 * time.Second}
			lane := Install(srv, func(*http.Request) bool { return true })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tc.guard {
				ln = connguard.New("test", connguard.Limits{PerClient: 10, Window: 10 * time.Second, MinBytes: 1}, nil).Listener(ln)
			}
			if tc.tls {
				ln = lane.TLSListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
			} else {
				ln = lane.Listener(ln)
			}
			go srv.Serve(ln)
			defer srv.Close()

			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var c net.Conn = raw
			if tc.tls {
				tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("the request did not reach the handler")
			}
			if lane.Answered() != 1 {
				t.Fatalf("the lane answered %d requests, want 1", lane.Answered())
			}
			left := time.Now()
			tc.leave(raw)
			if err := <-ended; err == nil {
				t.Fatal("the handler's context was not canceled when its client left")
			} else if d := time.Since(left); d > 3*watchEvery {
				t.Errorf("canceled %v after the client left, want within %v", d, 3*watchEvery)
			}
		})
	}
}

// TestClientStaysOnLane: a client that waits, even one that has sent its
// next request already (pipelining), keeps its slow request's context,
// gets the answer, and then the next one.
func TestClientStaysOnLane(t *testing.T) {
	t.Parallel()
	started, ended := make(chan struct{}, 2), make(chan error, 2)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second}
	var n int
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			// Long enough for the watch to look twice.
			started <- struct{}{}
			select {
			case <-r.Context().Done():
				ended <- r.Context().Err()
			case <-time.After(2*watchEvery + 500*time.Millisecond):
				ended <- nil
			}
		}
		io.WriteString(w, "answer "+r.URL.Path)
	})
	lane, addr := laneServer(t, srv)
	got := exchange(t, addr, "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n", 3*watchEvery)
	if err := <-ended; err != nil {
		t.Errorf("the waiting client's request was canceled: %v", err)
	}
	if !strings.Contains(got, "answer /1") || !strings.Contains(got, "answer /2") {
		t.Errorf("got %q", got)
	}
	if lane.Answered() != 2 {
		t.Errorf("the lane answered %d requests, want 2", lane.Answered())
	}
}

// TestWatchStopsWithoutConnections: the watch goroutine runs only while
// the lane has connections.
func TestWatchStopsWithoutConnections(t *testing.T) {
	lane, addr := laneServer(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})})
	watching := func() bool { lane.mu.Lock(); defer lane.mu.Unlock(); return lane.watching }
	if got := exchange(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", time.Second); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("got %q", got)
	}
	deadline := time.Now().Add(3*watchEvery + time.Second)
	for watching() {
		if time.Now().After(deadline) {
			t.Fatal("the watch still runs with no connection left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	c.Read(make([]byte, 100))
	if !watching() {
		t.Error("a new connection did not start the watch again")
	}
}

// laneServer serves srv on loopback through a lane that answers every
// request, until the test ends.
func laneServer(t *testing.T, srv *http.Server) (*Lane, string) {
	t.Helper()
	lane := Install(srv, func(*http.Request) bool { return true })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lane.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return lane, ln.Addr().String()
}

// TestShutdownFinishesLaneRequest: a graceful shutdown lets the request
// the lane is answering finish with its context intact, then closes the
// connection.
func TestShutdownFinishesLaneRequest(t *testing.T) {
	started, ended := make(chan struct{}, 1), make(chan error, 1)
	srv := &http.Server{Handler: slowHandler(500*time.Millisecond, started, ended), ReadHeaderTimeout: 5 * time.Second}
	lane, addr := laneServer(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	if err := <-ended; err != nil {
		t.Errorf("Shutdown canceled the request being answered: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c) // to EOF: the connection closes after the answer
	if !strings.HasSuffix(string(got), "finished") {
		t.Errorf("got %q", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if lane.Answered() != 1 {
		t.Errorf("the lane answered %d requests, want 1", lane.Answered())
	}
}
