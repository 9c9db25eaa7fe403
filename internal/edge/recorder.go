package edge

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// recorder wraps the client's ResponseWriter to learn what the access log
// and the metrics need: status, body bytes, the upstream chosen and the
// upstream error. It passes flushing and hijacking (WebSocket) through.
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
	upstream string
	err      error
	limited  bool       // answered 429 by the rate limiter
	clientIP netip.Addr // resolved once per request; zero until needed
	// clientErr is the first failed write to the client: the client's
	// side, whatever the proxy makes of it.
	clientErr error
	body      *clientBody // the proxied request's body; nil without one
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func newRecorder(w http.ResponseWriter) *recorder {
	rec := recorders.Get().(*recorder)
	rec.ResponseWriter = w
	return rec
}

// release returns rec to the pool. Only call it once the handler has
// returned normally: nothing may hold rec afterwards.
func (rec *recorder) release() {
	*rec = recorder{}
	recorders.Put(rec)
}

// recorderOf finds the recorder under w, which per-route middleware may have
// wrapped in writers of its own.
func recorderOf(w http.ResponseWriter) *recorder {
	for {
		switch t := w.(type) {
		case *recorder:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// noteLimit is the rate limiter's Observe hook: it tells the request's
// recorder what the limiter decided, for the access log, the metrics and
// the traffic counts, and saves working the client's address out again.
func noteLimit(w http.ResponseWriter, client netip.Addr, refused bool) {
	if rec := recorderOf(w); rec != nil {
		rec.clientIP = client
		rec.limited = refused
	}
}

// statusCode is the status the client got: what was written, 101 for a
// hijacked (upgraded) connection, 200 when the handler wrote nothing.
func (rec *recorder) statusCode() int {
	switch {
	case rec.status != 0:
		return rec.status
	case rec.hijacked:
		return http.StatusSwitchingProtocols
	default:
		return http.StatusOK
	}
}

func (rec *recorder) WriteHeader(code int) {
	// 1xx informational responses (103 Early Hints) precede the real one.
	if rec.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	if err != nil && rec.clientErr == nil {
		rec.clientErr = err
	}
	return n, err
}

// Flush lets the proxy stream server-sent events and chunked responses.
func (rec *recorder) Flush() {
	_ = rec.FlushError()
}

// FlushError is what http.ResponseController calls.
func (rec *recorder) FlushError() error {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	err := http.NewResponseController(rec.ResponseWriter).Flush()
	// A writer that cannot flush (a test's) says nothing about the client.
	if err != nil && rec.clientErr == nil && !errors.Is(err, http.ErrNotSupported) {
		rec.clientErr = err
	}
	return err
}

// Hijack hands the connection over for a protocol upgrade. httputil writes
// the 101 response on the hijacked connection itself, so it is recorded
// here.
func (rec *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rec.ResponseWriter).Hijack()
	if err == nil {
		rec.hijacked = true
	}
	return conn, brw, err
}

// Unwrap gives http.ResponseController access to the underlying writer
// (deadlines, full-duplex).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

var (
	_ http.ResponseWriter = (*recorder)(nil)
	_ http.Flusher        = (*recorder)(nil)
	_ http.Hijacker       = (*recorder)(nil)
)
