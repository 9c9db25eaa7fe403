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
	r  half // Read's
	w  half // Write's
}

// half is one direction's call in progress: the poller's callback finds
// its buffer here and leaves its result. One call at a time per direction,
// as on any net.Conn, and the callback is bound once: no allocation per
// call.
type half struct {
	mu    sync.Mutex
	buf   []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // false: nothing could be done yet, wait
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
	rs.r.fn = rs.r.read
	rs.w.fn = rs.w.write
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
	n, err := c.call(&c.r, p, "read")
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
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
	return c.call(&c.w, p, "write")
}

// call runs h's callback on p through the poller and describes its
// outcome as a TCPConn would.
func (c *Conn) call(h *half, p []byte, op string) (int, error) {
	h.mu.Lock()
	h.buf, h.n, h.errno = p, 0, 0
	var err error
	if h == &c.r {
		err = c.rc.Read(h.fn)
	} else {
		err = c.rc.Write(h.fn)
	}
	n, errno := h.n, h.errno
	h.buf = nil
	h.mu.Unlock()
	switch {
	case err != nil:
		return n, c.opError(op, err)
	case errno != 0:
		return n, c.opError(op, os.NewSyscallError(op, errno))
	}
	return n, nil
}

// read is Read's callback: one read(2), again after a signal.
func (h *half) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, h.buf)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			h.n = n
		default:
			h.errno = e
		}
		return true
	}
}

// write is Write's callback: write(2) until all of the buffer is out or
// the socket's buffer is full.
func (h *half) write(fd uintptr) bool {
	for h.n < len(h.buf) {
		n, e := sysWrite(fd, h.buf[h.n:])
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			h.n += n
		default:
			h.errno = e
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
