package h2lane

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Defaults of the Server's zero-valued limits.
const (
	DefaultMaxConcurrentStreams = 250
	DefaultMaxHeaderListSize    = 64 << 10 // edge.MaxHeaderBytes
	DefaultIdleTimeout          = 120 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultStreamWindow         = 256 << 10
	DefaultConnWindow           = 1 << 20

	// maxFrameSize is the largest frame the server reads and writes
	// (SETTINGS_MAX_FRAME_SIZE is left at its default).
	maxFrameSize = 16 << 10
	// maxUnproductive is how far the frames that make the server work
	// without asking for a response (SETTINGS, PING, PRIORITY, empty
	// DATA, idle WINDOW_UPDATE, RST_STREAM of running streams, refused
	// streams) may outnumber the responses completed before the
	// connection is closed with ENHANCE_YOUR_CALM.
	maxUnproductive = 1000
	// bodyBuffer is how much of a response body is held back before the
	// head goes out: a handler that returns within it gets a
	// Content-Length, and head and body leave together.
	bodyBuffer = 16 << 10
	// maxTunnels is how many extended CONNECT streams (WebSockets) one
	// connection may hold open at once; more are refused. Over HTTP/1.1
	// each WebSocket takes a connection of its own, which the per-client
	// connection cap counts; over HTTP/2 one connection could otherwise
	// hold MaxConcurrentStreams of them, each an upstream connection
	// that may live for hours. A page needs a few.
	maxTunnels = 16
)

const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Server serves HTTP/2 connections, answering fresh cache hits on the
// connection's goroutine and every other stream on a goroutine of its own,
// both through Handler. The zero values of the limits mean the defaults
// above. Set the fields before the first ServeConn.
type Server struct {
	// Handler answers every request; nil means http.DefaultServeMux.
	Handler http.Handler
	// Eligible reports whether a request without a body may be answered
	// inline, on the connection's goroutine: a fresh cache hit. It must
	// be cheap and have no effects. nil: no request is answered inline.
	Eligible func(*http.Request) bool
	// HTTPServer, if set, is the request contexts' http.ServerContextKey.
	HTTPServer *http.Server

	MaxConcurrentStreams uint32
	MaxHeaderListSize    uint32
	IdleTimeout          time.Duration // no open stream for this long closes the connection
	ReadHeaderTimeout    time.Duration // for the client's preface and first SETTINGS
	// WriteTimeout bounds each write to the connection and each wait of
	// a stream for flow-control window: a client that stops reading or
	// never opens its window cannot hold a handler or memory longer.
	WriteTimeout  time.Duration
	StreamWindow  int32 // initial receive window of each stream (at least 65535)
	ConnWindow    int32 // receive window of the connection (at least 65535)
	ErrorLog      *log.Logger
	DisableInline bool // answer every request on its own goroutine (tests, comparison)
	// ExtendedConnect advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and
	// accepts extended CONNECT (RFC 8441: a WebSocket over HTTP/2). Such
	// a request reaches the Handler as net/http's HTTP/2 server hands it
	// over: Method CONNECT, URL and RequestURI from :path, the protocol
	// in Header[":protocol"], and the stream's DATA as a body of unknown
	// length for as long as the client sends. Off: :protocol is
	// malformed, as it is for a server that did not advertise it.
	ExtendedConnect bool

	answered atomic.Uint64

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown bool
	idle     chan struct{} // signalled when a connection ends
}

// Answered is how many requests the server has answered inline.
func (s *Server) Answered() uint64 { return s.answered.Load() }

func (s *Server) maxStreams() uint32 {
	if s.MaxConcurrentStreams == 0 {
		return DefaultMaxConcurrentStreams
	}
	return s.MaxConcurrentStreams
}

func (s *Server) maxHeaderList() uint32 {
	if s.MaxHeaderListSize == 0 {
		return DefaultMaxHeaderListSize
	}
	return s.MaxHeaderListSize
}

func durOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func windowOr(w, def int32) int32 {
	if w == 0 {
		w = def
	}
	return max(w, 65535)
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) handler() http.Handler {
	if s.Handler == nil {
		return http.DefaultServeMux
	}
	return s.Handler
}

// ServeConn serves the HTTP/2 connection c until it ends, then closes it.
// state is the TLS state requests report (Request.TLS); nil for h2c.
func (s *Server) ServeConn(nc net.Conn, state *tls.ConnectionState) {
	c := s.newConn(nc, state)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = nc.Close()
		c.releaseReader()
		return
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if s.idle != nil {
			select {
			case s.idle <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
	}()
	c.serve()
	c.releaseReader()
}

// releaseReader gives c's read buffer to the next connection once nothing
// reads it (only serve does). A connection that lives for one request (a
// new TLS connection each time) would otherwise allocate and clear 4 KiB.
func (c *conn) releaseReader() {
	br := c.br
	c.br = nil
	br.Reset(nil)
	readers.Put(br)
}

// readers recycles the connections' read buffers.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// readBufSize is a connection's read buffer: a client's frames in one go.
const readBufSize = 4 << 10

// Shutdown sends GOAWAY on every connection, lets the streams in flight
// finish, and returns once all connections have closed or ctx is done
// (then it closes them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	if s.idle == nil {
		s.idle = make(chan struct{}, 1)
	}
	for c := range s.conns {
		go c.goAway(http2.ErrCodeNo, false)
	}
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			c.closeIfIdle()
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for c := range s.conns {
				c.close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-s.idle:
		case <-tick.C:
		}
	}
}

// Close closes every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	for c := range s.conns {
		c.close()
	}
	return nil
}

// conn is one HTTP/2 connection. The reader goroutine (serve) owns the
// frame reader and the stream table's life cycle; everything written goes
// through wmu.
type conn struct {
	s      *Server
	nc     net.Conn
	tls    *tls.ConnectionState
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	closed sync.Once

	br *bufio.Reader
	fr *http2.Framer

	// reader goroutine only
	sawSettings bool
	linger      bool // ended by an error: see lingerClose
	// peerLeft: the client sent GOAWAY. The connection closes without a
	// TLS close_notify of ours (see peerGoAway).
	peerLeft atomic.Bool
	// otherDeadline: a handler goroutine set the read deadline (the idle
	// timeout after the last stream); the reader clears it once streams
	// are open again.
	otherDeadline atomic.Bool
	idleUntil     time.Time
	unproductive  atomic.Int64
	header        http.Header // the inline responses' header map, reused

	streamWindow, connWindow int32
	connRecv                 atomic.Int64 // bytes the client may still send on the connection
	connUnacked              atomic.Int64 // bytes consumed, not yet returned in a WINDOW_UPDATE

	mu        sync.Mutex // guards the fields below
	streams   map[uint32]*stream
	tunnels   int // open extended CONNECT streams (maxTunnels)
	maxID     uint32
	goingAway bool
	lastID    uint32     // GOAWAY's last stream ID once goingAway
	closeIdle bool       // our GOAWAY is out: close once no stream is open
	resetIDs  [32]uint32 // streams reset recently: late DATA for them is dropped
	resetNext int

	wmu          sync.Mutex // guards the writing side below
	bw           outBuf
	enc          *hpack.Encoder
	hbuf         headerBuf
	werr         error
	connSend     int64
	peerWindow   int32
	peerMaxFrame uint32
	sentData     bool
	waiting      map[*stream]struct{}
	writeUntil   time.Time
	lowerCache   map[string]string
}

// headerBuf is the hpack encoder's output.
type headerBuf struct{ b []byte }

func (h *headerBuf) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }

func (s *Server) newConn(nc net.Conn, state *tls.ConnectionState) *conn {
	ctx := context.Background()
	if s.HTTPServer != nil {
		ctx = context.WithValue(ctx, http.ServerContextKey, s.HTTPServer)
	}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, nc.LocalAddr())
	ctx, cancel := context.WithCancel(ctx)
	c := &conn{s: s, nc: nc, tls: state, remote: nc.RemoteAddr().String(), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), streams: make(map[uint32]*stream), waiting: make(map[*stream]struct{}),
		streamWindow: windowOr(s.StreamWindow, DefaultStreamWindow), connWindow: windowOr(s.ConnWindow, DefaultConnWindow),
		connSend: 65535, peerWindow: 65535, peerMaxFrame: 16384, lowerCache: make(map[string]string)}
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(nc)
	c.bw.c = c
	c.fr = http2.NewFramer(&c.bw, c.br)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.fr.SetReuseFrames()
	c.fr.MaxHeaderListSize = s.maxHeaderList()
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.connRecv.Store(int64(c.connWindow))
	return c
}

// outBufSize is the write buffer: the responses to what a client sent in
// one go are written together, up to this much per system call.
const outBufSize = 16 << 10

var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, outBufSize); return &b }}

// outBuf is a connection's write buffer (c.wmu). Small writes (the server
// preface, SETTINGS and PING acknowledgements, WINDOW_UPDATE, RST_STREAM)
// collect in an array of the connection's own; a pool buffer is taken only
// once they outgrow it, as a response does, and it goes back at each flush.
// An idle connection holds none, and neither does one that waits for its
// client's preface with the server's buffered: with thousands of
// handshakes in flight, that wait is long, and 16 KiB each is memory the
// collector must provide and the kernel must fault in.
type outBuf struct {
	c     *conn
	bp    *[]byte // the pool buffer b lives in, or nil while b is small
	b     []byte
	small [outSmallSize]byte
}

// outSmallSize holds the control frames a connection writes on its own
// (the preface's SETTINGS and WINDOW_UPDATE are 40 bytes).
const outSmallSize = 256

func (o *outBuf) Write(p []byte) (int, error) {
	if o.c.werr != nil {
		return 0, o.c.werr
	}
	if len(o.b) > 0 && len(o.b)+len(p) > outBufSize {
		if err := o.flush(); err != nil {
			return 0, err
		}
	}
	if len(p) >= outBufSize {
		return deadlineWriter{o.c}.Write(p)
	}
	if o.bp == nil {
		if len(o.b)+len(p) <= outSmallSize {
			o.b = append(o.small[:len(o.b)], p...)
			return len(p), nil
		}
		o.bp = outBufs.Get().(*[]byte)
		o.b = append((*o.bp)[:0], o.b...)
	}
	o.b = append(o.b, p...)
	return len(p), nil
}

// flush writes the buffer and gives a pool buffer back.
func (o *outBuf) flush() error {
	if len(o.b) == 0 {
		return nil
	}
	_, err := deadlineWriter{o.c}.Write(o.b)
	if o.bp != nil {
		*o.bp = o.b[:0]
		outBufs.Put(o.bp)
		o.bp = nil
	}
	o.b = nil
	if err != nil {
		o.c.werr = err
	}
	return err
}

// deadlineWriter writes to the connection under a write deadline, moved
// only once it is stale by slack.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	c := w.c
	d := durOr(c.s.WriteTimeout, DefaultWriteTimeout)
	if d > 0 {
		now := time.Now()
		if c.writeUntil.Sub(now) < d-slack(d) {
			c.writeUntil = now.Add(d)
			_ = c.nc.SetWriteDeadline(c.writeUntil)
		}
	}
	return c.nc.Write(p)
}

// slack is how much a coarse deadline of d may be cut short: moving a
// deadline costs a timer update, so it moves only when it is this stale.
func slack(d time.Duration) time.Duration {
	return min(time.Second, d/4)
}

func (c *conn) close() {
	c.closed.Do(func() {
		c.cancel()
		close(c.done)
		if tc, ok := c.nc.(*tls.Conn); ok && c.peerLeft.Load() {
			// The client said goodbye (and usually closed): a close_notify
			// would only meet a closed socket (EPIPE, SIGPIPE).
			_ = tc.NetConn().Close()
		} else {
			_ = c.nc.Close()
		}
		c.mu.Lock()
		for _, st := range c.streams {
			st.abort(errConnClosed)
		}
		c.mu.Unlock()
	})
}

var (
	errConnClosed   = errors.New("h2lane: connection closed")
	errStreamReset  = errors.New("h2lane: stream reset")
	errClientReset  = errors.New("h2lane: stream reset by the client")
	errWriteTimeout = errors.New("h2lane: client did not open its flow-control window in time (WriteTimeout)")
)

func (c *conn) logf(format string, args ...any) {
	c.s.logf(format, args...)
}

// serve is the connection's reader loop.
func (c *conn) serve() {
	defer c.close()
	defer func() {
		if c.linger {
			c.lingerClose()
		}
	}()
	defer func() {
		if err := recover(); err != nil {
			c.logf("http2: panic serving %s: %v", c.remote, err)
		}
	}()
	// The server preface is buffered, not flushed: it leaves with the
	// answers to the client's first frames, one write instead of two. A
	// client sends its own preface without waiting for ours (RFC 9113
	// §3.4), and beforeRead flushes as soon as nothing more is buffered.
	c.wmu.Lock()
	settings := []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.s.maxStreams()},
		{ID: http2.SettingInitialWindowSize, Val: uint32(c.streamWindow)},
		{ID: http2.SettingMaxHeaderListSize, Val: c.s.maxHeaderList()},
	}
	if c.s.ExtendedConnect {
		settings = append(settings, http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
	}
	_ = c.fr.WriteSettings(settings...)
	if c.connWindow > 65535 {
		_ = c.fr.WriteWindowUpdate(0, uint32(c.connWindow-65535))
	}
	c.wmu.Unlock()
	_ = c.nc.SetReadDeadline(time.Now().Add(durOr(c.s.ReadHeaderTimeout, DefaultReadHeaderTimeout)))
	var pre [len(clientPreface)]byte
	if _, err := io.ReadFull(c.br, pre[:]); err != nil || string(pre[:]) != clientPreface {
		if err == nil {
			c.goAwayErr(http2.ErrCodeProtocol, "bad client preface")
		}
		return
	}
	for {
		if err := c.beforeRead(); err != nil {
			return
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			if !c.readError(err) {
				return
			}
			continue
		}
		if err := c.process(f); err != nil {
			if !c.frameError(err) {
				return
			}
		}
		if c.unproductive.Load() > maxUnproductive {
			c.goAwayErr(http2.ErrCodeEnhanceYourCalm, "too many frames without requests")
			return
		}
	}
}

// beforeRead flushes what is written once no whole frame is buffered
// (all responses to what the client sent in one go leave together), and
// sets the idle deadline when no stream is open.
func (c *conn) beforeRead() error {
	if !c.frameBuffered() {
		c.wmu.Lock()
		err := c.flushLocked()
		c.wmu.Unlock()
		if err != nil {
			return err
		}
	}
	if !c.sawSettings {
		return nil // the preface deadline holds
	}
	c.mu.Lock()
	open := len(c.streams)
	closeIdle := c.closeIdle
	c.mu.Unlock()
	switch {
	case closeIdle && open == 0:
		c.wmu.Lock()
		_ = c.flushLocked() // answers to frames still buffered when GOAWAY came
		c.wmu.Unlock()
		return errConnClosed
	case open > 0:
		if !c.idleUntil.IsZero() || c.otherDeadline.Swap(false) {
			c.idleUntil = time.Time{}
			_ = c.nc.SetReadDeadline(time.Time{})
		}
	default:
		d := durOr(c.s.IdleTimeout, DefaultIdleTimeout)
		if d < 0 {
			return nil
		}
		now := time.Now()
		if c.idleUntil.IsZero() || c.idleUntil.Sub(now) < d-slack(d) {
			c.idleUntil = now.Add(d)
			_ = c.nc.SetReadDeadline(c.idleUntil)
		}
	}
	return nil
}

// frameBuffered reports whether a whole frame is in the read buffer.
func (c *conn) frameBuffered() bool {
	n := c.br.Buffered()
	if n < 9 {
		return false
	}
	h, _ := c.br.Peek(9)
	l := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	return n >= 9+l
}

func (c *conn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.bw.b) == 0 {
		return nil
	}
	if err := c.bw.flush(); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// readError handles an error of ReadFrame and reports whether reading
// goes on.
func (c *conn) readError(err error) bool {
	var se http2.StreamError
	if errors.As(err, &se) {
		// A malformed HEADERS still opened its stream.
		if se.StreamID%2 == 1 {
			c.mu.Lock()
			if se.StreamID > c.maxID {
				c.maxID = se.StreamID
			}
			c.mu.Unlock()
		}
		return c.frameError(se)
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		c.goAwayErr(http2.ErrCode(ce), "")
		return false
	}
	if errors.Is(err, http2.ErrFrameTooLarge) {
		c.goAwayErr(http2.ErrCodeFrameSize, "")
		return false
	}
	if isTimeout(err) {
		c.mu.Lock()
		open := len(c.streams)
		c.mu.Unlock()
		if open == 0 && c.sawSettings {
			c.goAway(http2.ErrCodeNo, true) // idle timeout
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// frameError answers an error of processing a frame: a stream error
// resets the stream, anything else ends the connection. It reports
// whether reading goes on.
func (c *conn) frameError(err error) bool {
	var se http2.StreamError
	if errors.As(err, &se) {
		c.mu.Lock()
		st := c.streams[se.StreamID]
		c.noteReset(se.StreamID)
		c.mu.Unlock()
		if st != nil {
			st.abort(fmt.Errorf("h2lane: stream reset: %v", se.Code))
		}
		c.wmu.Lock()
		_ = c.fr.WriteRSTStream(se.StreamID, se.Code)
		c.wmu.Unlock()
		return true
	}
	var ce http2.ConnectionError
	if errors.As(err, &ce) {
		c.goAwayErr(http2.ErrCode(ce), "")
		return false
	}
	c.goAwayErr(http2.ErrCodeInternal, "")
	return false
}

// noteReset remembers a stream reset, so that its late DATA is dropped.
// c.mu held.
func (c *conn) noteReset(id uint32) {
	c.resetIDs[c.resetNext] = id
	c.resetNext = (c.resetNext + 1) % len(c.resetIDs)
}

func (c *conn) wasReset(id uint32) bool {
	for _, r := range c.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

// goAwayErr ends the connection with an error code.
func (c *conn) goAwayErr(code http2.ErrCode, debug string) {
	c.mu.Lock()
	c.goingAway, c.closeIdle = true, true
	c.lastID = c.maxID
	last := c.maxID
	c.mu.Unlock()
	c.wmu.Lock()
	_ = c.fr.WriteGoAway(last, code, []byte(debug))
	_ = c.flushLocked()
	c.wmu.Unlock()
	c.linger = true
}

// lingerClose closes a connection ended by an error so that the client
// can read the GOAWAY: closing with unread input would make TCP reset the
// connection, and the client might lose the GOAWAY. What the client still
// sends is read and dropped for up to a second (and 1 MiB).
func (c *conn) lingerClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.CopyN(io.Discard, c.nc, 1<<20)
}

// goAway starts a graceful close: no new streams; the connection closes
// once the open ones are done. now: close at once (idle).
func (c *conn) goAway(code http2.ErrCode, now bool) {
	c.mu.Lock()
	if c.closeIdle {
		c.mu.Unlock()
		return
	}
	if !c.goingAway { // else the client's GOAWAY came first
		c.goingAway = true
		c.lastID = c.maxID
	}
	c.closeIdle = true
	last := c.lastID
	c.mu.Unlock()
	c.wmu.Lock()
	_ = c.fr.WriteGoAway(last, code, nil)
	_ = c.flushLocked()
	c.wmu.Unlock()
	if !now {
		c.closeIfIdle()
	}
}

// peerGoAway handles the client's GOAWAY: no new streams are opened; the
// open ones are served and the connection otherwise goes on as before
// (PINGs answered, the idle timeout) until the client closes it, usually
// at once. No GOAWAY answers it, as nginx does not answer one: the client
// already knows which streams it opened, and an answer to a client that
// has closed only costs a failed write.
func (c *conn) peerGoAway() {
	c.peerLeft.Store(true)
	c.mu.Lock()
	if !c.goingAway {
		c.goingAway = true
		c.lastID = c.maxID
	}
	c.mu.Unlock()
}

// closeIfIdle wakes the reader of a connection going away without open
// streams, which then closes it.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	idle := c.closeIdle && len(c.streams) == 0
	c.mu.Unlock()
	if idle {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// process handles one frame.
func (c *conn) process(f http2.Frame) error {
	if !c.sawSettings {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sawSettings = true
		_ = c.nc.SetReadDeadline(time.Time{})
		return c.onSettings(sf)
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		if !f.IsAck() {
			c.unproductive.Add(1)
		}
		return c.onSettings(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.PingFrame:
		c.unproductive.Add(1)
		if f.IsAck() {
			return nil
		}
		c.wmu.Lock()
		err := c.fr.WritePing(true, f.Data)
		c.wmu.Unlock()
		return err
	case *http2.RSTStreamFrame:
		return c.onRST(f)
	case *http2.PriorityFrame:
		c.unproductive.Add(1)
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	case *http2.GoAwayFrame:
		c.peerGoAway()
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	case *http2.ContinuationFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		return nil // unknown frame types are ignored
	}
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.enc.SetMaxDynamicTableSize(s.Val) // capped at 4096 by the encoder
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = min(s.Val, maxFrameSize)
		case http2.SettingInitialWindowSize:
			delta := int32(s.Val) - c.peerWindow
			c.peerWindow = int32(s.Val)
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, st := range c.streams {
				if int64(st.sendWindow)+int64(delta) > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
				st.sendWindow += delta
				st.wakeUp()
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.fr.WriteSettingsAck()
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.sentData {
		c.unproductive.Add(1)
	}
	c.sentData = false
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		if c.connSend+inc > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.connSend += inc
		for st := range c.waiting {
			st.wakeUp()
		}
		return nil
	}
	c.mu.Lock()
	st := c.streams[f.StreamID]
	idle := f.StreamID > c.maxID
	c.mu.Unlock()
	if st == nil {
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	if int64(st.sendWindow)+inc > 1<<31-1 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	st.sendWindow += int32(inc)
	st.wakeUp()
	return nil
}

func (c *conn) onRST(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	st := c.streams[f.StreamID]
	idle := f.StreamID > c.maxID
	c.mu.Unlock()
	if idle {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st != nil {
		c.unproductive.Add(1)
		st.clientReset = true
		st.abort(errClientReset)
	}
	return nil
}

func (c *conn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Header().Length)
	if n > c.connRecv.Load() {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.connRecv.Add(-n)
	c.mu.Lock()
	st := c.streams[id]
	idle := id > c.maxID
	reset := st == nil && c.wasReset(id)
	c.mu.Unlock()
	if st == nil || st.remoteClosed || st.aborted.Load() {
		c.creditConn(n, false)
		switch {
		case idle:
			return http2.ConnectionError(http2.ErrCodeProtocol)
		case st != nil && st.clientReset:
		case reset || (st != nil && st.aborted.Load() && !st.remoteClosed):
			return nil // late DATA of a stream this side reset
		}
		c.unproductive.Add(1) // each costs a RST_STREAM
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	data := f.Data()
	if len(data) == 0 && !f.StreamEnded() {
		c.unproductive.Add(1)
	}
	if err := st.body.receive(data, n); err != nil {
		c.creditConn(n, false)
		return err
	}
	if pad := n - int64(len(data)); pad > 0 {
		c.creditConn(pad, false)
	}
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if f.StreamEnded() {
		if st.declared >= 0 && st.received != st.declared {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		st.remoteClosed = true
		st.body.closeWithError(io.EOF)
	}
	return nil
}

// creditConn returns n consumed bytes to the connection's window, in a
// WINDOW_UPDATE once half the window is owed. flush: not on the reader.
func (c *conn) creditConn(n int64, flush bool) {
	if n <= 0 {
		return
	}
	owed := c.connUnacked.Add(n)
	if owed < int64(c.connWindow)/2 {
		return
	}
	if !c.connUnacked.CompareAndSwap(owed, 0) {
		return // another consumer took it
	}
	c.connRecv.Add(owed)
	c.wmu.Lock()
	_ = c.fr.WriteWindowUpdate(0, uint32(owed))
	if flush {
		_ = c.flushLocked()
	}
	c.wmu.Unlock()
}
