package fastlane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TLSListener returns a listener that does the TLS handshake on the
// connections ln accepts, each on its own goroutine, and hands them to the
// server: HTTP/1.1 ones through the lane, HTTP/2 (and any other protocol
// agreed by ALPN) as *tls.Conn, so that net/http serves them as it would
// from ServeTLS. Serve the server with Serve on it, not ServeTLS.
//
// The handshake runs here rather than in net/http because the lane must
// know the protocol before net/http sees the connection. Failed handshakes
// are logged as net/http logs them, and a plain HTTP request on the TLS
// port gets net/http's 400.
func (l *Lane) TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return l.TLSListenerH2(ln, cfg, nil)
}

// TLSListenerH2 is TLSListener, except that the connections that agree on
// HTTP/2 go to serveH2 (h2lane's Server.ServeConn), which serves them on
// the handshake's goroutine and closes them, instead of to net/http. nil
// serveH2 leaves them to net/http. net/http's Shutdown does not know these
// connections: register the HTTP/2 server's own with RegisterOnShutdown.
func (l *Lane) TLSListenerH2(ln net.Listener, cfg *tls.Config, serveH2 func(net.Conn, *tls.ConnectionState)) net.Listener {
	cfg = cfg.Clone()
	if !slices.Contains(cfg.NextProtos, "http/1.1") {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	tl := &tlsListener{Listener: ln, l: l, cfg: cfg, serveH2: serveH2, conns: make(chan net.Conn), errs: make(chan error, 1),
		ready: make(chan net.Conn), ctx: ctx, cancel: cancel}
	go tl.acceptLoop()
	return tl
}

type tlsListener struct {
	net.Listener
	l     *Lane
	cfg   *tls.Config
	conns chan net.Conn
	errs  chan error
	ctx   context.Context
	stop  sync.Once

	serveH2 func(net.Conn, *tls.ConnectionState)

	ready chan net.Conn // to a worker waiting for its next connection
	idle  atomic.Int32  // workers waiting

	cancel context.CancelFunc
}

func (tl *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-tl.conns:
		return c, nil
	case err := <-tl.errs:
		return nil, err
	case <-tl.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (tl *tlsListener) Close() error {
	tl.stop.Do(tl.cancel)
	return tl.Listener.Close()
}

// acceptLoop accepts until the listener fails for good. Temporary errors
// are passed on too: net/http's Serve waits a little and accepts again.
func (tl *tlsListener) acceptLoop() {
	for {
		raw, err := tl.Listener.Accept()
		if err != nil {
			select {
			case tl.errs <- err:
			case <-tl.ctx.Done():
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case tl.ready <- raw:
		default:
			go tl.worker(raw)
		}
	}
}

// maxIdleWorkers bounds the workers that wait for a next connection.
const maxIdleWorkers = 256

// worker handles connections one after another: the handshake, and an
// HTTP/2 connection to its end. Those grow a goroutine's stack several
// times over, and a new goroutine per connection would pay for the growth
// (copying the stack each time) on every handshake; a worker keeps its
// stack for the next one. Workers beyond maxIdleWorkers end instead of
// waiting, and all end when the listener closes.
func (tl *tlsListener) worker(raw net.Conn) {
	for {
		tl.handshake(raw)
		if tl.idle.Add(1) > maxIdleWorkers {
			tl.idle.Add(-1)
			return
		}
		select {
		case raw = <-tl.ready:
			tl.idle.Add(-1)
		case <-tl.ctx.Done():
			tl.idle.Add(-1)
			return
		}
	}
}

func (tl *tlsListener) handshake(raw net.Conn) {
	srv := tl.l.srv
	tc := tls.Server(raw, tl.cfg)
	timeout := srv.ReadHeaderTimeout
	for _, d := range []time.Duration{srv.ReadTimeout, srv.WriteTimeout} {
		if d > 0 && (timeout <= 0 || d < timeout) {
			timeout = d
		}
	}
	if timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(timeout)) // bounds the handshake
	}
	if err := tc.HandshakeContext(tl.ctx); err != nil {
		reason := err.Error()
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			reason = "client sent an HTTP request to an HTTPS server"
		}
		_ = raw.Close()
		tl.l.logf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), reason)
		return
	}
	_ = raw.SetDeadline(time.Time{})

	var c net.Conn = tc
	state := tc.ConnectionState()
	if state.NegotiatedProtocol == "h2" && tl.serveH2 != nil {
		tl.serveH2(tc, &state) // on this connection's own goroutine
		return
	}
	if p := state.NegotiatedProtocol; p == "" || p == "http/1.1" {
		lc := tl.l.newConn(tc)
		lc.tls = &state
		c = tlsConn{lc}
	}
	select {
	case tl.conns <- c:
	case <-tl.ctx.Done():
		_ = c.Close()
	}
}

// looksLikeHTTP reports whether a TLS record header is the start of a
// plain HTTP request, as net/http decides it.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// tlsConn is a lane connection over TLS. Its ConnectionState is how
// net/http learns that requests it reads from a connection that is not a
// *tls.Conn came over TLS (Request.TLS).
type tlsConn struct{ *conn }

func (c tlsConn) ConnectionState() tls.ConnectionState { return *c.tls }
