package connguard

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// conn is an admitted connection: it gives its slot back on Close, and its
// writes must make progress.
type conn struct {
	net.Conn
	g      *Guard
	key    netip.Addr
	keyed  bool
	closed atomic.Bool

	// user is the write deadline the connection's user set (net/http, a
	// handler through http.ResponseController, crypto/tls), in Unix
	// nanoseconds, 0 for none: a progress deadline never extends past it.
	user atomic.Int64
	// dirty says that a SetWriteDeadline call replaced the deadline Write
	// last set.
	dirty atomic.Bool

	wmu sync.Mutex // held by Write: the fields below
	set time.Time  // the write deadline Write last set
}

func (g *Guard) wrap(c net.Conn, key netip.Addr, keyed bool) net.Conn {
	return &conn{Conn: c, g: g, key: key, keyed: keyed}
}

// Close closes the connection and frees its place under the caps.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.g.release(c.key, c.keyed)
	}
	return err
}

// NetConn returns the connection under the guard's, as tls.Conn's does:
// the fast lane asks its socket whether the client is still there.
func (c *conn) NetConn() net.Conn { return c.Conn }

// CloseWrite lets net/http half-close a connection it is done with, as it
// does for a bare *net.TCPConn.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SetWriteDeadline records the caller's deadline, which Write honours.
func (c *conn) SetWriteDeadline(t time.Time) error {
	c.storeUser(t)
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline records the write half as SetWriteDeadline does.
func (c *conn) SetDeadline(t time.Time) error {
	c.storeUser(t)
	return c.Conn.SetDeadline(t)
}

func (c *conn) storeUser(t time.Time) {
	var n int64
	if !t.IsZero() {
		n = t.UnixNano()
	}
	c.user.Store(n)
	c.dirty.Store(true)
}

// WriteRead passes on the socket's WriteRead (package rawsock: a request
// or response written with the read that waits for the answer) when the
// caller's write deadline has not passed. The guard's progress deadline is
// not needed for it: WriteRead writes only what the kernel takes at once,
// and what it leaves, the caller writes with Write, under the guard's
// rules. On other connections it does nothing, for Write and Read to do.
func (c *conn) WriteRead(w, r []byte) (wn, rn int, err error) {
	x, ok := c.Conn.(interface {
		WriteRead(w, r []byte) (int, int, error)
	})
	if !ok {
		return 0, 0, nil
	}
	if u := c.user.Load(); u != 0 && time.Now().UnixNano() >= u {
		return 0, 0, nil // Write says that the deadline passed
	}
	return x.WriteRead(w, r)
}

// ErrSlowReader is returned by a write the client did not take at the
// guard's minimum rate; the connection is then closed.
var ErrSlowReader = errors.New("connguard: the client reads the response too slowly (less than limits.transfer_min_bytes per limits.transfer_window); connection closed")

// Write writes p under a deadline that moves with progress: each Window the
// client must take at least MinBytes, or the connection is closed. A write
// the kernel takes at once (the usual case) costs a clock reading; the
// deadline is moved only when it is more than a tenth of Window stale.
func (c *conn) Write(p []byte) (int, error) {
	l := c.g.limits
	if l.Window <= 0 {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for {
		now := time.Now()
		dl := now.Add(l.Window)
		user := c.user.Load()
		if user != 0 && user < dl.UnixNano() {
			dl = time.Unix(0, user)
		}
		if c.dirty.Swap(false) || dl.Before(c.set) || dl.Sub(c.set) > l.Window/10 {
			if err := c.Conn.SetWriteDeadline(dl); err != nil {
				return written, err
			}
			c.set = dl
		}
		n, err := c.Conn.Write(p)
		written += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return written, err
		}
		// The deadline passed. The caller's own deadline is final; a
		// progress deadline is renewed if the client took enough.
		if u := c.user.Load(); u != 0 && time.Now().UnixNano() >= u {
			return written, err
		}
		if n < l.MinBytes || n == 0 {
			_ = c.Close()
			return written, ErrSlowReader
		}
		p = p[n:]
	}
}
