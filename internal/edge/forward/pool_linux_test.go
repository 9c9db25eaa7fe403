package forward

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/rawsock"
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
	pc, err := p.Host(ln.Addr().String()).dial(context.Background())
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
