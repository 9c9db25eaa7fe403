package forward

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/rawsock"
	"github.com/rampart-dev/rampart/internal/rawsock/rawsocktest"
)

// TestDialRaw: connections to upstreams read and write with raw system
// calls (package rawsock), and alive still looks through to the socket.
func TestDialRaw(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	p := NewPool(nil, nil)
	pc, err := p.Host(ln.Addr().String()).dial(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, ok := pc.Conn.(*rawsock.Conn); !ok {
		t.Fatalf("dialed %T, want *rawsock.Conn", pc.Conn)
	}
	if !alive(pc.Conn) {
		t.Fatal("an open upstream connection does not look alive")
	}
}

// TestOneReadPerAnswer: a request without a body goes out with the wait
// for its answer (rawsock.WriteRead), so an upstream that takes a while
// costs one read(2) per response, not two. Counted on the test's thread,
// to which the goroutine that forwards is locked.
func TestOneReadPerAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			req.Body.Close()
			time.Sleep(20 * time.Millisecond)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h := NewPool(nil, nil).Host(ln.Addr().String())
	forward := func() int {
		rec := httptest.NewRecorder()
		before := rawsocktest.ThreadReads(t)
		err := h.Forward(context.Background(), rec, &Request{Method: "GET", Target: "/", Host: "example.test", Header: http.Header{}}, t.Logf)
		n := rawsocktest.ThreadReads(t) - before
		if err != nil || rec.Body.String() != "ok" {
			t.Fatalf("Forward = %v, body %q", err, rec.Body)
		}
		return n
	}
	forward() // dials; the second request reuses the connection
	self := rawsocktest.ThreadReads(t)
	self = rawsocktest.ThreadReads(t) - self // what counting costs
	if n := forward() - self; n != 1 {
		t.Fatalf("a proxied response took %d read(2) calls; want 1", n)
	}
}
