package fastlane

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/rawsock"
)

// countingListener counts the WriteRead calls of the connections it
// accepts, which pass them on to the raw socket.
type countingListener struct {
	net.Listener
	calls atomic.Int64
}

func (ln *countingListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, calls: &ln.calls}, nil
}

type countingConn struct {
	net.Conn
	calls *atomic.Int64
}

func (c *countingConn) WriteRead(w, r []byte) (int, int, error) {
	c.calls.Add(1)
	return c.Conn.(rawsock.WriteReader).WriteRead(w, r)
}

// startHolding serves h on a lane over raw sockets whose WriteRead calls
// it counts.
func startHolding(t *testing.T, h http.HandlerFunc) (addr string, srv *http.Server, calls *atomic.Int64, lane *Lane) {
	t.Helper()
	srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: rawsock.Listener(ln)}
	lane = Install(srv, func(*http.Request) bool { return true })
	go func() { _ = srv.Serve(lane.Listener(cl)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ln.Addr().String(), srv, &cl.calls, lane
}

func hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "5")
	_, _ = io.WriteString(w, "hello")
}

// readResponses reads n responses from br and checks each is hello's.
func readResponses(t *testing.T, br *bufio.Reader, n int) {
	t.Helper()
	for i := range n {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil || string(body) != "hello" {
			t.Fatalf("response %d: body %q, %v", i+1, body, err)
		}
	}
}

// Each response waits for the read of the next request and goes out with
// it: one WriteRead per request, every answer whole and in order.
func TestHeldResponseGoesWithTheNextRead(t *testing.T) {
	addr, _, calls, _ := startHolding(t, hello)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for range 5 {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		readResponses(t, br, 1)
	}
	// The fifth answer went out with the read that now waits for a sixth
	// request.
	deadline := time.Now().Add(2 * time.Second)
	for calls.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := calls.Load(); n != 5 {
		t.Fatalf("%d WriteRead calls for 5 requests; want 5", n)
	}
}

// Pipelined requests: a request already buffered needs no read, so the
// answer before it goes out at once, and all come in order.
func TestHeldResponsePipelined(t *testing.T) {
	addr, _, _, _ := startHolding(t, hello)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 3)); err != nil {
		t.Fatal(err)
	}
	readResponses(t, bufio.NewReader(c), 3)
}

// A response on a connection that ends (Connection: close, or a shutdown
// that comes while the handler runs) is written before the close.
func TestHeldResponseBeforeClose(t *testing.T) {
	var srv atomic.Pointer[http.Server]
	addr, s, _, _ := startHolding(t, func(w http.ResponseWriter, r *http.Request) {
		hello(w, r)
		if r.URL.Path == "/shutdown" {
			go srv.Load().Shutdown(context.Background())
			time.Sleep(100 * time.Millisecond) // the lane's Close comes now
		}
	})
	srv.Store(s)
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /shutdown HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		readResponses(t, br, 1)
		if b, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("%q: after the response, %q, %v; want the connection closed", req, b, err)
		}
		c.Close()
	}
}

// A shutdown while the lane waits for the next request, its last answer
// out: the connection closes at once, not at the idle timeout.
func TestHeldResponseShutdownWhileWaiting(t *testing.T) {
	addr, srv, _, _ := startHolding(t, hello)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	readResponses(t, br, 1)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after Shutdown the client reads %v; want EOF", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
}

// A client that resets the connection before its answer goes out: the
// write fails, the connection ends, nothing waits.
func TestHeldResponseClientGone(t *testing.T) {
	addr, _, _, lane := startHolding(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // the client leaves meanwhile
		hello(w, r)
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		lane.mu.Lock()
		open := len(lane.conns)
		lane.mu.Unlock()
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open 3 s after the client reset its own", open)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Flush sends a response held back at once, as net/http's Flush sends its
// buffer, though the handler goes on: whether the response was whole at
// the Write or only at the Flush.
func TestHeldResponseFlush(t *testing.T) {
	release := make(chan struct{})
	addr, _, _, _ := startHolding(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/parts" {
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hel")
			_, _ = io.WriteString(w, "lo")
		} else {
			hello(w, r)
		}
		w.(http.Flusher).Flush()
		<-release
	})
	defer close(release)
	for _, path := range []string{"/", "/parts"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		readResponses(t, bufio.NewReader(c), 1) // before the handler returns
	}
}
