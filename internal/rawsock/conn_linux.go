package rawsock

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// maxRaw is the most one raw call copies, and the longest write made
// raw: a longer one would keep the P for the whole copy.
const maxRaw = 64 << 10

// Conn is a *net.TCPConn whose Read and Write, up to maxRaw bytes, are raw
// system calls. Every other method is the TCPConn's own.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn

	rmu    sync.Mutex // one Read at a time: the fields below
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	readFn func(uintptr) bool // c.read, bound once: no allocation per call

	wmu     sync.Mutex // one raw Write at a time: the fields below
	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(uintptr) bool
}

// Wrap returns c with raw Read and Write when it is a *net.TCPConn, and c
// itself otherwise.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	rs := &Conn{TCPConn: tc, rc: rc}
	rs.readFn = rs.read
	rs.writeFn = rs.write
	return rs
}

// NetConn returns the TCPConn under c, as tls.Conn's NetConn does.
func (c *Conn) NetConn() net.Conn { return c.TCPConn }

// Read reads up to len(p) bytes (at most maxRaw), waiting in the poller
// while there are none. It returns io.EOF once the peer has closed its
// side.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > maxRaw {
		p = p[:maxRaw]
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.rn, c.rerr
	c.rbuf = nil
	c.rmu.Unlock()
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is the poller's callback: false means "nothing yet, wait".
func (c *Conn) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, c.rbuf)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.rn = n
		default:
			c.rerr = e
		}
		return true
	}
}

// Write writes all of p, waiting in the poller while the socket's buffer is
// full. On an error (a deadline, a reset) it returns how much went out.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) > maxRaw {
		return c.TCPConn.Write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n, errno := c.wn, c.werr
	c.wbuf = nil
	c.wmu.Unlock()
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case errno != 0:
		return n, c.opError("write", os.NewSyscallError("write", errno))
	}
	return n, nil
}

func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, e := sysWrite(fd, c.wbuf[c.wn:])
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			c.wn += n
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// opError describes err as a TCPConn's Read and Write do. An error from
// the poller (closed, deadline) already is an *net.OpError, named
// "raw-read" or "raw-write": it gets the plain name.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
