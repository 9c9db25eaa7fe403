package server

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenConfig sets TCP keep-alive once, on the listening socket: Linux
// copies it to every connection accepted from it. Go would otherwise make
// four setsockopt calls per accepted connection, a measurable part of a
// short TLS connection's cost. The probes are Go's defaults: after 15 s of
// silence, every 15 s, 9 of them.
func listenConfig() net.ListenConfig {
	return net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			for _, o := range [...]struct{ level, opt, val int }{
				{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
				{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
				{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
				{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
			} {
				if e := unix.SetsockoptInt(int(fd), o.level, o.opt, o.val); e != nil && serr == nil {
					serr = e
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
}
