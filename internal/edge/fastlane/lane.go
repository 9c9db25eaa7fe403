package fastlane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/internal/rawsock"
)

// bufSize is the lane's read buffer per connection. A head that does not
// fit (large cookies, say) is given up to net/http, whose limit is higher.
const bufSize = 4 << 10

// Lane answers a server's plain requests on its connections. Create it with
// [Install].
type Lane struct {
	srv      *http.Server
	eligible func(*http.Request) bool
	state    func(net.Conn, http.ConnState) // the server's own ConnState hook

	answered atomic.Uint64

	mu       sync.Mutex
	conns    map[*conn]struct{}
	watching bool          // the watch for clients that leave runs (gone.go)
	ticks    atomic.Uint64 // the watch's ticks so far, plus one
}

// Install puts a lane in front of srv: srv.Handler answers the requests
// that eligible accepts on the lane, and everything else as usual.
// eligible must be cheap and have no effects: it is asked about every plain
// GET and HEAD, and the lane answers a request only if it says yes. Call
// Install before srv serves, and serve through [Lane.Listener].
func Install(srv *http.Server, eligible func(*http.Request) bool) *Lane {
	l := &Lane{srv: srv, eligible: eligible, state: srv.ConnState, conns: make(map[*conn]struct{})}
	l.ticks.Store(1)
	srv.ConnState = l.connState
	srv.RegisterOnShutdown(l.closeIdle)
	return l
}

// Answered is how many requests the lane has taken to answer itself.
func (l *Lane) Answered() uint64 { return l.answered.Load() }

// Listener wraps ln so that the connections it accepts go through the lane.
func (l *Lane) Listener(ln net.Listener) net.Listener { return listener{ln, l} }

type listener struct {
	net.Listener
	l *Lane
}

func (ln listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return ln.l.newConn(c), nil
}

// connState follows net/http's view of each connection: once it is idle
// between requests, the next head is the lane's to read; once hijacked,
// the connection is no longer HTTP.
func (l *Lane) connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*conn)
	if tc, isTLS := nc.(tlsConn); isTLS {
		c, ok = tc.conn, true
	}
	if ok {
		switch st {
		case http.StateIdle:
			c.mode.Store(modeFilter)
		case http.StateHijacked:
			c.mode.Store(modePass)
		case http.StateClosed:
			c.cancel()
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
		}
	}
	if l.state != nil {
		l.state(nc, st)
	}
}

// closeIdle closes the connections that wait for a request head on the
// lane, at Shutdown. net/http closes the connections it knows to be idle,
// but to net/http a connection whose requests all went the lane's way is a
// new one, which it would give 5 seconds to send its first request.
func (l *Lane) closeIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if c.mode.Load() == modeFilter {
			_ = c.Close()
		}
	}
}

// Read modes of a connection.
const (
	// modeFilter: net/http waits for a request head; the lane reads
	// heads and answers those it can, until one it cannot.
	modeFilter int32 = iota
	// modeBody: net/http reads a handed-over request, head and body,
	// and may read no further than its end.
	modeBody
	// modeHold: net/http is answering a handed-over request; bytes that
	// arrive meanwhile are the next request's and wait in the lane's
	// buffer. Only a read error reaches net/http (its background read
	// detects a client that went away).
	modeHold
	// modePass: net/http has the connection for good.
	modePass
)

// conn is a connection as net/http sees it. Its Read is where the lane
// works: it runs on net/http's own goroutine for the connection, inside the
// read net/http makes for the next request head.
type conn struct {
	net.Conn
	l      *Lane
	remote string
	tls    *tls.ConnectionState // nil: plain HTTP
	ctx    context.Context
	cancel context.CancelFunc

	mode atomic.Int32

	buf        []byte // buf[start:end] is read but not yet consumed
	start, end int
	remain     int64     // modeBody: bytes net/http may still read
	rerr       error     // the connection's read error, once it has one
	headTimer  bool      // modeFilter: the header timeout runs for the buffered head
	idleUntil  time.Time // the idle deadline the lane set last; zero: another is in force
	fields     []field
	wbuf       []byte
	header     http.Header   // the response's, reused
	base       *http.Request // empty but for the connection's context

	serving sync.Mutex    // held while the lane answers a request
	closing atomic.Bool   // Close was called while the lane answered
	since   atomic.Uint64 // the lane's ticks when the handler was called; 0: none runs

	// pending is the last response, whole, held back from the handler's
	// return to the read of the next request, with which it goes out
	// (rawsock.WriteRead): the read then waits for the client without
	// first trying the socket, one read(2) less per request. net/http
	// too holds a small response until the handler returns. Only on a
	// plain connection whose socket can (canHold), and only while no
	// request is buffered. held is set while pending is, until its write
	// is done: Close then leaves the closing to the lane.
	pending []byte
	held    atomic.Bool
	canHold bool
}

func (l *Lane) newConn(nc net.Conn) *conn {
	ctx := context.WithValue(context.Background(), http.ServerContextKey, l.srv)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, nc.LocalAddr())
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{Conn: nc, l: l, remote: nc.RemoteAddr().String(), ctx: ctx, cancel: cancel, buf: make([]byte, bufSize)}
	_, c.canHold = nc.(rawsock.WriteReader)
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.startWatch()
	l.mu.Unlock()
	return c
}

// Close closes the connection, after the response the lane is writing,
// if any: net/http's Shutdown closes connections it believes idle. The
// request being answered keeps its context until then, or a graceful
// shutdown would abort it (the forwarder gives up on a canceled one).
func (c *conn) Close() error {
	c.closing.Store(true)
	if c.serving.TryLock() {
		defer c.serving.Unlock()
		if c.held.Load() {
			// The last response still has to go out: wake the read it
			// goes out with, after which the lane closes (endHeld).
			return c.Conn.SetReadDeadline(aLongTimeAgo)
		}
		c.cancel()
		return c.Conn.Close()
	}
	return nil
}

// aLongTimeAgo is a deadline in the past: it ends a wait at once.
var aLongTimeAgo = time.Unix(1, 0)

// flushPending writes the response held back, if any. It returns false
// when the connection is done: the write failed, or Close came meanwhile.
func (c *conn) flushPending() bool {
	if c.pending == nil {
		return true
	}
	p := c.pending
	c.pending = nil
	_, err := c.Conn.Write(p)
	return c.endHeld(err)
}

// endHeld follows the write of a held response: a failed write ends the
// connection, and so does a Close that came while it was held.
func (c *conn) endHeld(werr error) bool {
	c.held.Store(false)
	if werr != nil && c.rerr == nil {
		c.rerr = werr
	}
	if c.closing.Load() {
		c.cancel()
		_ = c.Conn.Close()
		if c.rerr == nil {
			c.rerr = net.ErrClosed
		}
	}
	return c.rerr == nil
}

func (c *conn) Read(p []byte) (int, error) {
	for {
		switch c.mode.Load() {
		case modePass:
			if c.start < c.end {
				n := copy(p, c.buf[c.start:c.end])
				c.start += n
				return n, nil
			}
			if c.rerr != nil {
				return 0, c.rerr
			}
			return c.Conn.Read(p)

		case modeBody:
			if c.remain == 0 {
				c.mode.Store(modeHold)
				continue
			}
			if int64(len(p)) > c.remain {
				p = p[:c.remain]
			}
			if c.start < c.end {
				n := copy(p, c.buf[c.start:c.end])
				c.start += n
				c.remain -= int64(n)
				return n, nil
			}
			if c.rerr != nil {
				return 0, c.rerr
			}
			n, err := c.Conn.Read(p)
			c.remain -= int64(n)
			return n, err

		case modeHold:
			if c.rerr != nil {
				return 0, c.rerr
			}
			if c.compact() == len(c.buf) {
				c.mode.Store(modePass) // a long pipeline: net/http takes it
				continue
			}
			if err := c.fill(); err != nil && !isTimeout(err) {
				continue // sticky now; returned above
			} else if err != nil {
				return 0, err // net/http ending its background read
			}

		case modeFilter:
			n, err := c.filter()
			if n < 0 {
				continue // the mode changed
			}
			return 0, err
		}
	}
}

// filter answers the heads in the buffer and on the wire until one needs
// net/http. It returns -1 when it changed the mode, or an error for
// net/http.
func (c *conn) filter() (int, error) {
	for {
		if c.start == c.end {
			c.start, c.end = 0, 0
		}
		if c.pending != nil && (c.start < c.end || c.rerr != nil) {
			// A request is buffered already (pipelined), or the
			// connection has failed: no read to go out with.
			c.flushPending()
		}
		h, v := scan(c.buf[c.start:c.end], c.fields[:0])
		switch v {
		case needMore:
			if c.compact() == len(c.buf) {
				c.mode.Store(modePass)
				return -1, nil
			}
			if c.rerr != nil {
				if c.start < c.end {
					c.mode.Store(modePass) // net/http says what is wrong with the rest
					return -1, nil
				}
				return 0, c.rerr
			}
			if c.start < c.end && !c.headTimer {
				c.headTimer = true
				c.idleUntil = time.Time{}
				if d := c.l.srv.ReadHeaderTimeout; d > 0 {
					_ = c.Conn.SetReadDeadline(time.Now().Add(d))
				}
			}
			if err := c.fill(); err != nil {
				if c.start < c.end {
					c.mode.Store(modePass)
					return -1, nil
				}
				return 0, err
			}
			continue
		case answer:
			r, ok := c.request(&h)
			if ok && c.l.eligible(r) {
				c.fields = h.fields[:0]
				c.start += h.size
				c.l.answered.Add(1) // before the client can see the answer
				if !c.serve(r, &h) {
					return 0, io.EOF // net/http closes the connection
				}
				c.headTimer = false
				if h.bodyLen > 0 {
					c.idleUntil = time.Time{} // the body's reader moved the deadline
				}
				if c.start == c.end {
					c.idle()
				}
				continue
			}
			fallthrough
		case handOver:
			c.remain = int64(h.size) + h.bodyLen
			c.mode.Store(modeBody)
			c.headTimer = false
			c.idleUntil = time.Time{} // net/http sets its own deadlines
			return -1, nil
		default: // giveUp
			c.mode.Store(modePass)
			return -1, nil
		}
	}
}

// idle starts the idle timeout, as net/http does between requests. Moving
// a deadline costs a timer update, so one set less than a second ago is
// left as it is: the connection may stay idle up to a second less.
func (c *conn) idle() {
	d := c.l.srv.IdleTimeout
	if d <= 0 {
		d = c.l.srv.ReadTimeout
	}
	if d <= 0 {
		_ = c.Conn.SetReadDeadline(time.Time{})
		return
	}
	now := time.Now()
	if !c.idleUntil.IsZero() && c.idleUntil.Sub(now) > d-time.Second {
		return
	}
	c.idleUntil = now.Add(d)
	_ = c.Conn.SetReadDeadline(c.idleUntil)
}

// compact moves the unread bytes to the front of the buffer and returns
// how many there are.
func (c *conn) compact() int {
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	return c.end
}

// fill reads once from the connection into the free end of the buffer,
// after writing the response held back, if any. A read error other than a
// timeout is kept: it ends the connection.
func (c *conn) fill() error {
	var n int
	var err error
	if c.pending != nil {
		if c.closing.Load() {
			// Close came before the read began (and its deadline
			// may be gone: idle set another): write and close.
			c.flushPending()
			return c.rerr
		}
		p := c.pending
		c.pending = nil
		var werr error
		n, werr, err = rawsock.WriteRead(c.Conn, p, c.buf[c.end:])
		if !c.endHeld(werr) {
			return c.rerr
		}
	} else {
		n, err = c.Conn.Read(c.buf[c.end:])
	}
	c.end += n
	if err != nil && !isTimeout(err) {
		c.rerr = err
	}
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// request builds the *http.Request for h, as net/http would.
func (c *conn) request(h *head) (*http.Request, bool) {
	u, err := url.ParseRequestURI(h.target)
	if err != nil {
		return nil, false
	}
	hdr := make(http.Header, len(h.fields))
	vals := make([]string, len(h.fields))
	for i, f := range h.fields {
		if f.name == "Host" {
			continue
		}
		if old, ok := hdr[f.name]; ok {
			hdr[f.name] = append(old, f.value)
			continue
		}
		vals[i] = f.value
		hdr[f.name] = vals[i : i+1 : i+1]
	}
	// A copy of the connection's empty request carries its context:
	// one allocation where WithContext would make two.
	if c.base == nil {
		c.base = (&http.Request{}).WithContext(c.ctx)
	}
	r := new(http.Request)
	*r = *c.base
	r.Method = h.method
	r.URL = u
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header = hdr
	r.Body = http.NoBody
	if h.bodyLen > 0 {
		r.Body = &body{c: c, remain: h.bodyLen}
		r.ContentLength = h.bodyLen
	}
	r.Host = h.host
	r.RemoteAddr = c.remote
	r.RequestURI = h.target
	r.Close = h.close
	r.TLS = c.tls
	return r, true
}

// serve answers r on the lane and reports whether the connection stays
// open.
func (c *conn) serve(r *http.Request, h *head) (keep bool) {
	c.serving.Lock()
	defer func() {
		if !keep || c.closing.Load() {
			c.flushPending() // the connection ends: the response goes now
		}
		c.serving.Unlock()
		if c.closing.Load() {
			if c.held.Load() {
				return // Close came just now: the lane closes after the write
			}
			c.cancel()
			_ = c.Conn.Close()
			keep = false
		}
	}()
	if !c.flushPending() {
		return false
	}
	// The header map is the connection's, cleared for each response:
	// nothing may keep it once the handler has returned. It starts small
	// (8 fields, one group: clearing it is cheap), which most responses
	// fit.
	if c.header == nil {
		c.header = make(http.Header, 8)
	}
	clear(c.header)
	w := &response{c: c, head: h.method == http.MethodHead, header: c.header, close: h.close}
	defer func() {
		c.since.Store(0)
		if err := recover(); err != nil {
			keep = false
			if err != http.ErrAbortHandler {
				c.logf("http: panic serving %s: %v", c.remote, err)
			}
		}
	}()
	if b, ok := r.Body.(*body); ok {
		defer b.end() // after a panic too: no later read may touch the connection
	}
	handler := c.l.srv.Handler
	if handler == nil {
		handler = http.DefaultServeMux
	}
	c.since.Store(c.l.ticks.Load())
	handler.ServeHTTP(w, r)
	// A canceled context: the client left (gone.go).
	keep = w.finish() && !w.close && c.ctx.Err() == nil
	if b, ok := r.Body.(*body); ok && !b.end() {
		// The handler left some of the body unread. net/http reads up
		// to 256 KiB of it to keep the connection; the lane closes it,
		// which cannot misplace where the next request starts.
		keep = false
	}
	return keep
}

// body is the body of a request the lane answers: the next remain bytes of
// the connection. Only the handler's goroutine reads it while the handler
// runs; a transport that reads it later (http.Transport may, from its own
// goroutine) gets an error once the handler returned.
type body struct {
	c      *conn
	mu     sync.Mutex
	remain int64
	done   bool // the handler returned: the connection is the lane's again
	err    error
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.done:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	case b.remain == 0:
		return 0, io.EOF
	}
	if int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	c := b.c
	var n int
	var err error
	if c.start < c.end {
		n = copy(p, c.buf[c.start:c.end])
		c.start += n
	} else if c.rerr != nil {
		err = c.rerr
	} else {
		n, err = c.Conn.Read(p)
		if err != nil && !isTimeout(err) {
			c.rerr = err // the connection is over
		}
	}
	b.remain -= int64(n)
	if err == io.EOF && b.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		b.err = err
	}
	if b.remain == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (b *body) Close() error { return nil }

// end stops the body's reads and reports whether it was read to its end.
func (b *body) end() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	return b.remain == 0 && b.err == nil
}

func (c *conn) logf(format string, args ...any) { c.l.logf(format, args...) }

// logf logs to the server's ErrorLog, as net/http does.
func (l *Lane) logf(format string, args ...any) {
	if l := l.srv.ErrorLog; l != nil {
		l.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}
