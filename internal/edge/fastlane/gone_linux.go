package fastlane

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerGone reports whether the client of c has closed its side of the
// connection (a FIN: CLOSE_WAIT) or reset it (CLOSE), going by the
// kernel's TCP state. Bytes the client sent and nobody read yet do not
// hide either.
func peerGone(c net.Conn) bool {
	rc, ok := rawConn(c)
	if !ok {
		return false
	}
	gone := false
	_ = rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return
		}
		switch info.State {
		case tcpEstablished, tcpFinWait1, tcpFinWait2:
			// Open, or closing from this end (the response is being
			// finished): the client is there as far as it is known.
		default:
			gone = true
		}
	})
	return gone
}

// TCP states (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpFinWait1    = 4
	tcpFinWait2    = 5
)

// rawConn finds the socket under c: through a *tls.Conn, and through
// wrappers (such as connguard's) that give theirs with NetConn.
func rawConn(c net.Conn) (syscall.RawConn, bool) {
	for range 8 {
		if sc, ok := c.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			return rc, err == nil
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, false
		}
		c = u.NetConn()
	}
	return nil, false
}
