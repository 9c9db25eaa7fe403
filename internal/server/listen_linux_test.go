package server

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"
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
