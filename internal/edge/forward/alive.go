package forward

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether c, idle in the pool, still looks open: nothing to
// read and no end of stream. One non-blocking peek, no deadlines; it is
// asked only before a request that could not be sent twice.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	ok = true
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n == 0 && rerr == nil: // the upstream closed it
			ok = false
		case n > 0: // bytes no request asked for
			ok = false
		case rerr != nil && !errors.Is(rerr, syscall.EAGAIN):
			ok = false
		}
		return true
	})
	return ok && err == nil
}
