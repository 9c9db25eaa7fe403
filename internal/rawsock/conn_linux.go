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

	wr func(fd uintptr) bool // WriteRead's callback, bound once
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
	rs.wr = rs.writeRead
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

// WriteRead writes w, then reads the answer into r (at most maxRaw
// bytes), without the read that Read makes first and that finds nothing
// when the peer has yet to answer: after a request, a proxy's Read costs
// two system calls, one that returns EAGAIN and one once the poller says
// the answer is there; WriteRead costs the second only.
//
// Skipping that first read is safe here, and only here: the poller forgets
// any readiness it saw when a read starts, so a wait that does not try the
// socket first could sleep through data that came just before it. The
// write is made inside the read, once the poller's state is reset, and an
// answer to w can only come after w.
//
// When the socket's buffer does not take all of w at once (or w is longer
// than maxRaw, or the connection is closed or past its read deadline
// before anything is written), WriteRead returns how much it wrote, 0 and
// the write's error or nil: the caller writes the rest with Write and
// reads with Read (the package's WriteRead does). Otherwise it returns
// len(w) and Read's results. For a connection with one writer: a
// concurrent Write waits until the answer is read.
func (c *Conn) WriteRead(w, r []byte) (wn, rn int, err error) {
	switch {
	case len(w) > maxRaw:
		return 0, 0, nil
	case len(w) == 0:
		rn, err = c.Read(r)
		return 0, rn, err
	case len(r) == 0:
		wn, err = c.Write(w)
		return wn, 0, err
	}
	if len(r) > maxRaw {
		r = r[:maxRaw]
	}
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.w.buf, c.w.n, c.w.errno = w, 0, 0
	c.r.buf, c.r.n, c.r.errno = r, 0, 0
	perr := c.rc.Read(c.wr)
	wn, rn = c.w.n, c.r.n
	werrno, rerrno := c.w.errno, c.r.errno
	c.w.buf, c.r.buf = nil, nil
	switch {
	case wn < len(w) && werrno != 0:
		return wn, 0, c.opError("write", os.NewSyscallError("write", werrno))
	case wn < len(w):
		return wn, 0, nil // full, or the poller refused: Write says why
	case perr != nil:
		return wn, rn, c.opError("read", perr)
	case rerrno != 0:
		return wn, rn, c.opError("read", os.NewSyscallError("read", rerrno))
	case rn == 0:
		return wn, 0, io.EOF
	}
	return wn, rn, nil
}

// writeRead is WriteRead's callback: the write, as far as the socket
// takes it at once, then a wait without reading, then reads as Read's.
func (c *Conn) writeRead(fd uintptr) bool {
	if c.w.n < len(c.w.buf) {
		if !c.w.write(fd) || c.w.errno != 0 {
			return true // full or failed: WriteRead hands over
		}
		return false // out: wait for the answer
	}
	return c.r.read(fd)
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
