package h2lane

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// stream is a stream answered on a goroutine of its own (or whose inline
// response waits for window).
type stream struct {
	id     uint32
	c      *conn
	ctx    context.Context
	cancel context.CancelFunc
	body   *pipe // nil: the request had no body

	tunnel bool // an extended CONNECT (counted in conn.tunnels)

	// reader goroutine only
	remoteClosed bool
	clientReset  bool  // the client sent RST_STREAM
	declared     int64 // the request's Content-Length, or -1
	received     int64
	trailer      http.Header // the request's declared trailers

	sendWindow int32 // c.wmu
	wake       chan struct{}
	aborted    atomic.Bool
	abortErr   atomic.Pointer[error]
}

func (st *stream) wakeUp() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// abort ends the stream for its handler: the context is canceled, body
// reads and response writes fail with err.
func (st *stream) abort(err error) {
	if st.aborted.Swap(true) {
		return
	}
	st.abortErr.Store(&err)
	if st.cancel != nil {
		st.cancel()
	}
	if st.body != nil {
		st.body.closeWithError(err)
	}
	st.wakeUp()
}

func (st *stream) err() error {
	if p := st.abortErr.Load(); p != nil {
		return *p
	}
	return nil
}

// onHeaders opens a stream, or takes a stream's trailers.
func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	st := c.streams[id]
	maxID, goingAway, lastID := c.maxID, c.goingAway, c.lastID
	if st == nil && id > maxID && (!goingAway || id <= lastID) {
		c.maxID = id
	}
	c.mu.Unlock()
	if st != nil {
		return c.onTrailers(st, f)
	}
	if id <= maxID {
		c.mu.Lock()
		reset := c.wasReset(id)
		c.mu.Unlock()
		if reset {
			// Late trailers of a stream this side reset (a response
			// that ended before its request): dropped.
			return nil
		}
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	if goingAway && id > lastID {
		return nil
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if f.Truncated {
		// The header list is over MaxHeaderListSize: 431, as net/http.
		c.wmu.Lock()
		c.hbuf.b = c.hbuf.b[:0]
		c.encode(":status", "431")
		c.encode("content-type", "text/plain; charset=utf-8")
		err := c.writeHeaderBlock(id, false)
		if err == nil {
			err = c.fr.WriteData(id, true, []byte("request header list too large (over MaxHeaderListSize); send fewer or shorter headers\n"))
		}
		c.wmu.Unlock()
		if err != nil {
			return err
		}
		if !f.StreamEnded() {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeNo}
		}
		return nil
	}
	c.mu.Lock()
	open := uint32(len(c.streams))
	c.mu.Unlock()
	if open >= c.s.maxStreams() {
		c.unproductive.Add(1)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	r, declared, ok := c.newRequest(f)
	if !ok {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if f.StreamEnded() {
		if declared > 0 {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		if !c.s.DisableInline && c.s.Eligible != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && c.s.Eligible(r) {
			c.s.answered.Add(1)
			c.serveInline(id, r)
			return nil
		}
	}
	tunnel := r.Header[":protocol"] != nil
	if tunnel {
		c.mu.Lock()
		full := c.tunnels >= maxTunnels
		if !full {
			c.tunnels++
		}
		c.mu.Unlock()
		if full {
			c.unproductive.Add(1)
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
		}
	}
	st = &stream{id: id, c: c, declared: declared, wake: make(chan struct{}, 1), remoteClosed: f.StreamEnded(), tunnel: tunnel}
	st.ctx, st.cancel = context.WithCancel(c.ctx)
	c.wmu.Lock()
	st.sendWindow = c.peerWindow
	c.wmu.Unlock()
	if !f.StreamEnded() {
		st.body = &pipe{st: st, avail: c.streamWindow}
		st.body.cond.L = &st.body.mu
		r.Body = st.body
		if httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue") {
			st.body.needContinue = true
			delete(r.Header, "Expect") // answered here, as net/http does
		}
		if vv := r.Header["Trailer"]; len(vv) > 0 {
			for _, v := range vv {
				for _, k := range strings.Split(v, ",") {
					k = http.CanonicalHeaderKey(strings.TrimSpace(k))
					if k != "" && httpguts.ValidTrailerHeader(k) {
						if r.Trailer == nil {
							r.Trailer = make(http.Header)
						}
						r.Trailer[k] = nil
					}
				}
			}
			delete(r.Header, "Trailer")
			st.trailer = r.Trailer
		}
	}
	r = r.WithContext(st.ctx)
	c.mu.Lock()
	c.streams[id] = st
	c.mu.Unlock()
	w := &responseWriter{c: c, st: st, header: make(http.Header), head: r.Method == http.MethodHead, clen: -1}
	go c.runHandler(st, w, r)
	return nil
}

func (c *conn) onTrailers(st *stream, f *http2.MetaHeadersFrame) error {
	if st.remoteClosed || st.aborted.Load() {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeStreamClosed}
	}
	if !f.StreamEnded() || f.PseudoValue("method") != "" || len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	if st.declared >= 0 && st.received != st.declared {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	var tr http.Header
	for _, hf := range f.RegularFields() {
		k := canonical(hf.Name)
		if !httpguts.ValidTrailerHeader(k) {
			return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
		}
		if tr == nil {
			tr = make(http.Header)
		}
		tr[k] = append(tr[k], hf.Value)
	}
	st.remoteClosed = true
	st.body.closeWithTrailers(tr)
	return nil
}

// newRequest builds the request of a HEADERS frame as net/http's HTTP/2
// server would, validating it as RFC 9113 §8.2-8.3 requires.
func (c *conn) newRequest(f *http2.MetaHeadersFrame) (r *http.Request, declared int64, ok bool) {
	var method, scheme, authority, path, protocol string
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			method = hf.Value
		case ":scheme":
			scheme = hf.Value
		case ":authority":
			authority = hf.Value
		case ":path":
			path = hf.Value
		case ":protocol":
			if !c.s.ExtendedConnect || hf.Value == "" {
				return nil, 0, false // not advertised (RFC 8441 §3)
			}
			protocol = hf.Value
		default: // :status, unknown
			return nil, 0, false
		}
	}
	if method == "" {
		return nil, 0, false
	}
	extended := protocol != ""
	switch {
	case extended:
		// RFC 8441 §4: only on CONNECT, and with :scheme, :path and
		// :authority as a request to the target would have them.
		if method != http.MethodConnect || scheme == "" || authority == "" || path == "" || path[0] != '/' {
			return nil, 0, false
		}
	case method == http.MethodConnect:
		if scheme != "" || path != "" || authority == "" {
			return nil, 0, false
		}
	case scheme == "" || path == "" || (path[0] != '/' && !(path == "*" && method == http.MethodOptions)):
		return nil, 0, false
	}
	regular := f.RegularFields()
	hdr := make(http.Header, len(regular))
	vals := make([]string, len(regular))
	declared = -1
	var cookies []string
	host, hosts := "", 0
	for i, hf := range regular {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return nil, 0, false
		case "te":
			if hf.Value != "trailers" {
				return nil, 0, false
			}
		case "content-length":
			n, err := strconv.ParseUint(hf.Value, 10, 63)
			if err != nil || hf.Value == "" || (declared >= 0 && int64(n) != declared) {
				return nil, 0, false
			}
			declared = int64(n)
		case "cookie":
			cookies = append(cookies, hf.Value)
			continue
		case "host":
			// Allowed, but it must agree with :authority, and there
			// may be only one (a proxy behind must not route on a
			// different name than the edge did).
			if hosts++; hosts > 1 {
				return nil, 0, false
			}
			host = hf.Value
			continue
		}
		k := canonical(hf.Name)
		if old, ok := hdr[k]; ok {
			hdr[k] = append(old, hf.Value)
			continue
		}
		vals[i] = hf.Value
		hdr[k] = vals[i : i+1 : i+1]
	}
	switch len(cookies) {
	case 0:
	case 1:
		hdr["Cookie"] = cookies
	default:
		hdr["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	switch {
	case authority == "":
		authority = host
	case hosts > 0 && host != authority:
		return nil, 0, false
	}
	// No userinfo in an http(s) authority (RFC 9113 §8.3.1), and only
	// what a Host field may hold.
	if authority != "" && (strings.IndexByte(authority, '@') >= 0 && (scheme == "http" || scheme == "https") || !httpguts.ValidHostHeader(authority)) {
		return nil, 0, false
	}
	var u *url.URL
	requestURI := path
	switch {
	case method == http.MethodConnect && !extended:
		u = &url.URL{Host: authority}
		requestURI = authority
	case path == "*":
		u = &url.URL{Path: "*"}
	default:
		var err error
		if u, err = url.ParseRequestURI(path); err != nil {
			return nil, 0, false
		}
	}
	r = &http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     hdr,
		Body:       http.NoBody,
		Host:       authority,
		RemoteAddr: c.remote,
		RequestURI: requestURI,
		TLS:        c.tls,
	}
	if extended {
		hdr[":protocol"] = []string{protocol}
	}
	switch {
	case f.StreamEnded():
		r.ContentLength = 0
	default:
		r.ContentLength = declared
	}
	return r, declared, true
}

// serveInline answers a fresh cache hit on the reader goroutine; its
// response goes into the write buffer, flushed with the others.
func (c *conn) serveInline(id uint32, r *http.Request) {
	r = r.WithContext(c.ctx)
	if c.header == nil {
		c.header = make(http.Header, 8) // one group: most answers fit, and it clears cheaply
	}
	clear(c.header)
	// peerWindow changes only on this goroutine.
	st := &stream{id: id, c: c, ctx: c.ctx, remoteClosed: true, sendWindow: c.peerWindow}
	w := &responseWriter{c: c, st: st, inline: true, header: c.header, head: r.Method == http.MethodHead, clen: -1}
	defer func() {
		if err := recover(); err != nil {
			if err != http.ErrAbortHandler {
				c.logf("http2: panic serving %s: %v", c.remote, err)
			}
			c.wmu.Lock()
			_ = c.fr.WriteRSTStream(id, http2.ErrCodeInternal)
			c.wmu.Unlock()
		}
	}()
	c.s.handler().ServeHTTP(w, r)
	w.finish()
	if w.err == nil && w.pending == nil {
		c.unproductive.Store(max(0, c.unproductive.Load()-1))
	}
}

// runHandler answers a stream on its own goroutine.
func (c *conn) runHandler(st *stream, w *responseWriter, r *http.Request) {
	defer func() {
		if err := recover(); err != nil {
			if err != http.ErrAbortHandler {
				c.logf("http2: panic serving %s: %v", c.remote, err)
			}
			w.reset(http2.ErrCodeInternal)
		}
		c.streamDone(st, w)
	}()
	c.s.handler().ServeHTTP(w, r)
	w.finish()
}

// streamDone forgets a stream whose handler has returned. A request body
// still coming is refused with RST_STREAM(NO_ERROR) (RFC 9113 §8.1).
func (c *conn) streamDone(st *stream, w *responseWriter) {
	ok := w.err == nil && !st.aborted.Load()
	c.mu.Lock()
	delete(c.streams, st.id)
	if st.tunnel {
		c.tunnels--
	}
	goingAway := c.closeIdle && len(c.streams) == 0
	c.mu.Unlock()
	// A stream the client reset is not remembered as reset by this side:
	// its late DATA is a STREAM_CLOSED error (RFC 9113 §5.1), not noise.
	if st.body != nil && !st.body.finished() && st.err() != errClientReset {
		c.mu.Lock()
		c.noteReset(st.id)
		c.mu.Unlock()
		if ok {
			c.wmu.Lock()
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeNo)
			_ = c.flushLocked()
			c.wmu.Unlock()
		}
	}
	st.abort(errConnClosed) // cancels the context, drops the body
	if st.body != nil {
		st.body.discard()
	}
	if ok {
		c.unproductive.Store(max(0, c.unproductive.Load()-1))
	}
	if goingAway {
		c.closeIfIdle()
	} else {
		// The reader may be waiting with the idle deadline cleared.
		c.mu.Lock()
		n := len(c.streams)
		c.mu.Unlock()
		if d := durOr(c.s.IdleTimeout, DefaultIdleTimeout); n == 0 && d > 0 {
			c.otherDeadline.Store(true)
			_ = c.nc.SetReadDeadline(time.Now().Add(d))
		}
	}
}

// pipe is a request body: DATA the reader receives, read by the handler.
// Its window is returned to the client as the handler reads.
type pipe struct {
	st           *stream
	mu           sync.Mutex
	cond         sync.Cond
	buf          []byte
	err          error // after buf: io.EOF or why the body ends
	avail        int32 // bytes the client may still send
	unacked      int32 // bytes read, not yet returned in a WINDOW_UPDATE
	closed       bool  // the handler closed the body
	needContinue bool
	deadline     time.Time
	timer        *time.Timer
	timedOut     bool
}

// receive takes n bytes of flow-controlled DATA carrying data.
func (p *pipe) receive(data []byte, n int64) error {
	p.mu.Lock()
	if n > int64(p.avail) {
		p.mu.Unlock()
		return http2.StreamError{StreamID: p.st.id, Code: http2.ErrCodeFlowControl}
	}
	p.avail -= int32(n)
	if pad := n - int64(len(data)); pad > 0 {
		p.unacked += int32(pad)
	}
	closed := p.closed
	if closed {
		p.unacked += int32(len(data))
	} else if len(data) > 0 {
		p.buf = append(p.buf, data...)
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	if closed {
		p.st.c.creditConn(int64(len(data)), false)
	}
	return nil
}

func (p *pipe) closeWithError(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pipe) closeWithTrailers(tr http.Header) {
	p.mu.Lock()
	if t := p.st.trailer; t != nil {
		for k, v := range tr {
			t[k] = v
		}
	}
	if p.err == nil {
		p.err = io.EOF
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// finished reports whether the client ended the body.
func (p *pipe) finished() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err == io.EOF
}

// discard drops what is buffered, returning it to the connection window.
func (p *pipe) discard() {
	p.mu.Lock()
	n := len(p.buf)
	p.buf = nil
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.cond.Broadcast() // a reader still waiting gives up
	p.mu.Unlock()
	p.st.c.creditConn(int64(n), true)
}

func (p *pipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	if p.needContinue {
		p.needContinue = false
		if p.err == nil && len(p.buf) == 0 {
			p.mu.Unlock()
			p.st.c.writeContinue(p.st)
			p.mu.Lock()
		}
	}
	for len(p.buf) == 0 && p.err == nil && !p.timedOut && !p.closed {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		defer p.mu.Unlock()
		switch {
		case p.closed:
			return 0, http.ErrBodyReadAfterClose
		case p.timedOut:
			return 0, os.ErrDeadlineExceeded
		}
		return 0, p.err
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = p.buf[:0:0]
	}
	p.unacked += int32(n)
	var credit int32
	if p.err == nil && p.unacked >= p.st.c.streamWindow/2 {
		credit = p.unacked
		p.unacked = 0
		p.avail += credit
	}
	p.mu.Unlock()
	c := p.st.c
	if credit > 0 && !p.st.aborted.Load() {
		c.wmu.Lock()
		_ = c.fr.WriteWindowUpdate(p.st.id, uint32(credit))
		_ = c.flushLocked()
		c.wmu.Unlock()
	}
	c.creditConn(int64(n), true)
	return n, nil
}

func (p *pipe) Close() error {
	p.mu.Lock()
	n := len(p.buf)
	p.buf = nil
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	p.st.c.creditConn(int64(n), true)
	return nil
}

// setDeadline is the stream's read deadline (http.ResponseController's
// SetReadDeadline): a Read waiting past it fails with
// os.ErrDeadlineExceeded, as a connection's read would over HTTP/1.
func (p *pipe) setDeadline(t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.deadline = t
	p.timedOut = false
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if t.IsZero() {
		return
	}
	d := time.Until(t)
	if d <= 0 {
		p.timedOut = true
		p.cond.Broadcast()
		return
	}
	p.timer = time.AfterFunc(d, func() {
		p.mu.Lock()
		if p.deadline.Equal(t) {
			p.timedOut = true
			p.cond.Broadcast()
		}
		p.mu.Unlock()
	})
}

// writeContinue sends 100 Continue, when the handler first reads the body
// of a request that expects it.
func (c *conn) writeContinue(st *stream) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.hbuf.b = c.hbuf.b[:0]
	c.encode(":status", "100")
	_ = c.writeHeaderBlock(st.id, false)
	_ = c.flushLocked()
}
