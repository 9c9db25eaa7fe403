package h2lane

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rampart-dev/rampart/internal/edge/httpdate"
)

// responseWriter is the http.ResponseWriter of both paths. It holds back
// up to bodyBuffer bytes so that a handler that returns within them gets
// a Content-Length and one HEADERS plus one DATA frame, as net/http does.
type responseWriter struct {
	c      *conn
	st     *stream
	inline bool // on the reader goroutine: never wait for window
	header http.Header
	head   bool

	status      int
	clen        int64 // the handler's Content-Length, or -1
	sentHeader  bool
	ended       bool // END_STREAM sent
	written     int64
	buf         []byte
	trailerKeys []string // declared in the Trailer header
	pending     []byte   // inline: body waiting for window
	pendingEnd  bool     // the stream ends after pending
	err         error
	done        bool
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 || w.sentHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols {
			return // no upgrades over HTTP/2
		}
		w.writeInterim(code)
		return
	}
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.clen = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *responseWriter) writeInterim(code int) {
	c := w.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if w.err = w.st.err(); w.err != nil {
		return
	}
	c.hbuf.b = c.hbuf.b[:0]
	c.encode(":status", statusText(code))
	c.encodeHeader(w.header, false)
	w.err = c.writeHeaderBlock(w.st.id, false)
	if !w.inline && w.err == nil {
		w.err = c.flushLocked()
	}
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == 204 || status == 304)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, http.ErrHandlerTimeout // after the handler returned
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.clen >= 0 && w.written+int64(len(w.buf))+int64(len(p)) > w.clen {
		return 0, http.ErrContentLength
	}
	if w.head && w.sentHeader {
		w.written += int64(len(p)) // counted, not sent
		return len(p), nil
	}
	if !w.sentHeader && w.clen == w.written+int64(len(w.buf))+int64(len(p)) && !w.hasTrailers() {
		// The whole body is here (a cache hit): head and body go out
		// now, and the stream ends with the body. Trailers set after
		// this are not sent.
		if err := w.send(p, true); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if !w.sentHeader && len(w.buf)+len(p) <= bodyBuffer {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if err := w.send(p, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *responseWriter) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

func (w *responseWriter) Flush() { _ = w.FlushError() }

func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	return w.send(nil, false)
}

// SetReadDeadline sets the deadline of the request body's reads
// (connguard.BodyRate moves it as the body arrives).
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	if w.st.body != nil {
		w.st.body.setDeadline(t)
	}
	return nil
}

// SetWriteDeadline is not supported: every write is bounded by the
// server's WriteTimeout instead.
func (w *responseWriter) SetWriteDeadline(time.Time) error { return http.ErrNotSupported }

// EnableFullDuplex: HTTP/2 always is.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// send writes the head if not yet sent, the held-back body, then p; end
// closes the stream (with trailers, if any).
func (w *responseWriter) send(p []byte, end bool) error {
	c := w.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := w.st.err(); err != nil {
		w.err = err
		return err
	}
	body := w.buf
	if !w.sentHeader {
		w.sentHeader = true
		allowed := bodyAllowed(w.status)
		c.hbuf.b = c.hbuf.b[:0]
		c.encode(":status", statusText(w.status))
		c.encodeHeader(w.header, true)
		if end && allowed && w.clen < 0 && (len(body) > 0 || !w.head) && len(p) == 0 {
			c.encode("content-length", strconv.Itoa(len(body)))
		}
		if _, ok := w.header["Content-Type"]; !ok && allowed && w.header.Get("Content-Encoding") == "" {
			sniff := body
			if len(sniff) == 0 {
				sniff = p
			}
			if len(sniff) > 0 {
				c.encode("content-type", http.DetectContentType(sniff))
			}
		}
		if _, ok := w.header["Date"]; !ok {
			c.encode("date", httpdate.Now())
		}
		for _, v := range w.header["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && httpguts.ValidTrailerHeader(k) {
					w.trailerKeys = append(w.trailerKeys, k)
				}
			}
		}
		endNow := w.head || (end && len(body) == 0 && len(p) == 0 && !w.hasTrailers())
		if err := c.writeHeaderBlock(w.st.id, endNow); err != nil {
			w.err = err
			return err
		}
		if endNow {
			w.ended = true
			if w.head { // HEAD: the body was held back for its length and type
				w.written += int64(len(body) + len(p))
				w.buf = w.buf[:0]
			}
			return w.flushIfNeeded()
		}
	}
	if w.ended {
		return nil
	}
	trailers := end && w.hasTrailers()
	if len(body) > 0 {
		w.buf = w.buf[:0]
		if err := w.data(body, end && len(p) == 0 && !trailers); err != nil {
			return err
		}
	}
	if len(p) > 0 || (end && !trailers && len(body) == 0) {
		if err := w.data(p, end && !trailers); err != nil {
			return err
		}
	}
	if trailers {
		if len(w.pending) > 0 {
			w.pendingEnd = true
			return nil // the sender goroutine sends them
		}
		if err := w.writeTrailers(); err != nil {
			return err
		}
	}
	if end {
		w.ended = true
	}
	return w.flushIfNeeded()
}

func (w *responseWriter) flushIfNeeded() error {
	if w.inline {
		return nil // flushed when the reader has drained its buffer
	}
	if err := w.c.flushLocked(); err != nil {
		w.err = err
		return err
	}
	return nil
}

// data sends body bytes. c.wmu held.
func (w *responseWriter) data(p []byte, end bool) error {
	if len(w.pending) > 0 {
		w.pending = append(w.pending, p...)
		w.pendingEnd = end
		return nil
	}
	n, err := w.c.writeData(w.st, p, end, w.inline)
	w.written += int64(n)
	if err != nil {
		w.err = err
		return err
	}
	if n < len(p) {
		// inline and out of window: the rest goes from a goroutine
		w.pending = append([]byte(nil), p[n:]...)
		w.pendingEnd = end
	}
	return nil
}

func (w *responseWriter) hasTrailers() bool {
	if len(w.trailerKeys) > 0 {
		for _, k := range w.trailerKeys {
			if _, ok := w.header[k]; ok {
				return true
			}
		}
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// writeTrailers sends the trailers with END_STREAM. c.wmu held.
func (w *responseWriter) writeTrailers() error {
	c := w.c
	c.hbuf.b = c.hbuf.b[:0]
	for _, k := range w.trailerKeys {
		for _, v := range w.header[k] {
			c.encodeField(k, v)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			for _, v := range vv {
				c.encodeField(name, v)
			}
		}
	}
	w.ended = true
	if err := c.writeHeaderBlock(w.st.id, true); err != nil {
		w.err = err
		return err
	}
	return nil
}

// finish completes the response after the handler returned.
func (w *responseWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.done = true
	if w.err == nil && !w.ended {
		_ = w.send(nil, true)
	}
	if w.err == nil && w.clen >= 0 && !w.head && bodyAllowed(w.status) && w.written < w.clen && len(w.pending) == 0 {
		// Shorter than its Content-Length: the client must not take it
		// for complete.
		w.reset(http2.ErrCodeInternal)
	}
	if len(w.pending) > 0 && w.err == nil {
		w.startSender()
	}
}

// reset ends the stream with RST_STREAM.
func (w *responseWriter) reset(code http2.ErrCode) {
	c := w.c
	w.st.abort(errStreamReset)
	c.mu.Lock()
	c.noteReset(w.st.id)
	c.mu.Unlock()
	c.wmu.Lock()
	_ = c.fr.WriteRSTStream(w.st.id, code)
	if !w.inline {
		_ = c.flushLocked()
	}
	c.wmu.Unlock()
	if w.err == nil {
		w.err = errStreamReset
	}
}

// startSender hands an inline response that ran out of flow-control
// window to a goroutine, which waits for WINDOW_UPDATEs as a handler
// goroutine would.
func (w *responseWriter) startSender() {
	c := w.c
	st := w.st
	st.wake = make(chan struct{}, 1)
	c.wmu.Lock()
	c.mu.Lock()
	c.streams[st.id] = st
	c.mu.Unlock()
	c.wmu.Unlock()
	rest, end := w.pending, w.pendingEnd
	w.pending = nil
	trailer := w.header.Clone()
	go func() {
		sw := &responseWriter{c: c, st: st, header: trailer, trailerKeys: w.trailerKeys, sentHeader: true, status: w.status, clen: -1}
		c.wmu.Lock()
		n, err := c.writeData(st, rest, end && !sw.hasTrailers(), false)
		if err == nil && n == len(rest) && end && sw.hasTrailers() {
			err = sw.writeTrailers()
		}
		if err == nil {
			err = c.flushLocked()
		}
		c.wmu.Unlock()
		if err != nil && st.err() == nil {
			sw.reset(http2.ErrCodeCancel)
		}
		c.streamDone(st, sw)
	}()
}

// writeData sends p on st as DATA frames within the flow-control windows,
// waiting for window unless inline. It returns how much it sent. c.wmu
// held (released while waiting).
func (c *conn) writeData(st *stream, p []byte, end bool, inline bool) (int, error) {
	sent := 0
	for {
		if c.werr != nil {
			return sent, c.werr
		}
		if err := st.err(); err != nil {
			return sent, err
		}
		if len(p) == 0 {
			if end {
				if err := c.fr.WriteData(st.id, true, nil); err != nil {
					return sent, err
				}
			}
			return sent, nil
		}
		n := min(int64(len(p)), int64(c.peerMaxFrame), c.connSend, int64(st.sendWindow))
		if n <= 0 {
			if inline {
				return sent, nil
			}
			if err := c.waitWindow(st); err != nil {
				if err == errWriteTimeout {
					// The client did not open its window: the stream
					// ends, the handler's writes fail.
					st.abort(err)
					c.mu.Lock()
					c.noteReset(st.id)
					c.mu.Unlock()
					_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeCancel)
					_ = c.flushLocked()
				}
				return sent, err
			}
			continue
		}
		last := end && int(n) == len(p)
		if err := c.fr.WriteData(st.id, last, p[:n]); err != nil {
			return sent, err
		}
		c.connSend -= n
		st.sendWindow -= int32(n)
		c.sentData = true
		p = p[n:]
		sent += int(n)
		if last {
			return sent, nil
		}
	}
}

// waitWindow waits for a WINDOW_UPDATE that concerns st, at most
// WriteTimeout. c.wmu held, released while waiting.
func (c *conn) waitWindow(st *stream) error {
	if err := c.flushLocked(); err != nil {
		return err
	}
	c.waiting[st] = struct{}{}
	c.wmu.Unlock()
	t := time.NewTimer(durOr(c.s.WriteTimeout, DefaultWriteTimeout))
	var err error
	select {
	case <-st.wake:
	case <-t.C:
		err = errWriteTimeout
	case <-st.ctx.Done():
		err = st.err()
		if err == nil {
			err = errConnClosed
		}
	case <-c.done:
		err = errConnClosed
	}
	t.Stop()
	c.wmu.Lock()
	delete(c.waiting, st)
	return err
}

// writeHeaderBlock sends c.hbuf as HEADERS and CONTINUATION frames. c.wmu
// held.
func (c *conn) writeHeaderBlock(id uint32, end bool) error {
	block := c.hbuf.b
	max := int(c.peerMaxFrame)
	first := true
	for first || len(block) > 0 {
		n := min(len(block), max)
		frag := block[:n]
		block = block[n:]
		var err error
		if first {
			err = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: len(block) == 0})
		} else {
			err = c.fr.WriteContinuation(id, len(block) == 0, frag)
		}
		if err != nil {
			c.werr = err
			return err
		}
		first = false
	}
	return nil
}

func (c *conn) encode(name, value string) {
	_ = c.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// encodeField encodes a field of the handler's, lowercased; invalid ones
// are dropped as net/http drops them.
func (c *conn) encodeField(k, v string) {
	lk, ok := c.lowerCache[k]
	if !ok {
		if !httpguts.ValidHeaderFieldName(k) {
			return
		}
		lk = strings.ToLower(k)
		if len(c.lowerCache) < 512 {
			c.lowerCache[k] = lk
		}
	}
	if !httpguts.ValidHeaderFieldValue(v) {
		return
	}
	c.encode(lk, v)
}

// encodeHeader encodes a response's fields, without the connection-
// specific ones HTTP/2 forbids and without trailers.
func (c *conn) encodeHeader(h http.Header, final bool) {
	for k, vv := range h {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade":
			continue
		case "Content-Length", "Trailer":
			if !final {
				continue
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		for _, v := range vv {
			c.encodeField(k, v)
		}
	}
}

var statusTexts [600]string

func init() {
	for i := 100; i < len(statusTexts); i++ {
		statusTexts[i] = strconv.Itoa(i)
	}
}

func statusText(code int) string {
	if code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}
