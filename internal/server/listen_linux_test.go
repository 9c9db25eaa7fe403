package server

import (
	"context"
	"io"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rampart-dev/rampart/internal/connguard"
	"github.com/rampart-dev/rampart/internal/rawsock"
)

// TestListenKeepAlive: connections accepted from the edge's listeners
// keep TCP keep-alive with Go's default probes, though it is set once on
// the listening socket rather than per connection.
func TestListenKeepAlive(t *testing.T) {
	lc := listenConfig()
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			var b [1]byte
			_, _ = c.Read(b[:])
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		level, opt int
		val        int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
	}
	_ = rc.Control(func(fd uintptr) {
		for _, w := range want {
			v, err := unix.GetsockoptInt(int(fd), w.level, w.opt)
			if err != nil || v != w.val {
				t.Errorf("%s on an accepted connection = %d (%v), want %d", w.name, v, err, w.val)
			}
		}
	})
}

// TestListenRawSockets: the edge's listeners hand out connections that
// read and write with raw system calls (package rawsock), under the
// connection guard, and they carry a request both ways.
func TestListenRawSockets(t *testing.T) {
	ln, err := listen("http_addr", "127.0.0.1:0", connguard.New("http", connguard.Limits{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("ping"))
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, ok := c.(interface{ NetConn() net.Conn })
	if !ok {
		t.Fatalf("accepted %T: not the connection guard's", c)
	}
	if _, ok := nc.NetConn().(*rawsock.Conn); !ok {
		t.Fatalf("under the guard: %T, want *rawsock.Conn", nc.NetConn())
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
}
