package fastlane

import (
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-dev/rampart/internal/edge/httpdate"
)

// maxBuffered is how much of a body without Content-Length the lane holds
// back to send it with one; a longer one goes out chunked.
const maxBuffered = 32 << 10

// response is the lane's http.ResponseWriter. It writes what net/http's
// would, field for field (TestSameAsNetHTTP compares the bytes), except
// that it holds back up to maxBuffered bytes of a body without a length
// rather than 2 KiB. A response whose body comes in one Write with its
// Content-Length set (a cache hit) goes out in one system call.
type response struct {
	c      *conn
	header http.Header
	head   bool // HEAD: the body is counted, not sent
	close  bool // the connection closes after this response

	status  int
	length  int64 // the handler's Content-Length, or -1
	sent    bool  // the head is on the wire
	chunked bool
	written int64
	body    []byte // held back until the head is sent
	err     error

	// trailers: the head announced trailer fields (a Trailer field, or
	// a name with http.TrailerPrefix), so a body without a length goes
	// chunked and the last chunk carries them.
	trailers bool
	declared []string    // the names the Trailer field announced
	snap     http.Header // with trailers: the fields as WriteHeader saw them
}

// announceTrailers notes the trailers the fields announce when the status
// is set. The head keeps the fields of that moment, as net/http's does,
// so that a trailer's final value, set after the body, is not written in
// the head too when the head goes out with the whole body at the end.
func (w *response) announceTrailers() {
	for name := range w.header {
		if strings.HasPrefix(name, http.TrailerPrefix) {
			w.trailers = true
		}
	}
	for _, v := range w.header["Trailer"] {
		w.trailers = true
		for tok := range strings.SplitSeq(v, ",") {
			tok = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(tok))
			switch tok {
			case "", "Transfer-Encoding", "Content-Length", "Trailer":
			default:
				w.declared = append(w.declared, tok)
			}
		}
	}
	if w.trailers {
		w.snap = w.header.Clone()
	}
}

func (w *response) Header() http.Header { return w.header }

// SetReadDeadline is what http.ResponseController calls: connguard's
// BodyRate moves the deadline of a request body's reads with progress.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.Conn.SetReadDeadline(t) }

func (w *response) WriteHeader(code int) {
	if w.status != 0 || w.sent {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		// An interim response (103 Early Hints) goes out at once with the
		// fields set so far. The lane never answers upgrades, so 101
		// cannot come.
		b := appendHead(w.c.wbuf[:0], code, w.header, nil, extra{clen: -1, noDate: true})
		w.c.keepWbuf(b)
		if _, err := w.c.Conn.Write(b); err != nil {
			w.err = err
		}
		return
	}
	w.status = code
	w.length = -1
	w.announceTrailers()
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.length = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.length >= 0 && w.written+int64(len(w.body))+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	switch {
	case w.sent && w.head:
		w.written += int64(len(p))
		return len(p), nil
	case w.sent:
		n, err := w.send(p)
		w.written += int64(n)
		return n, err
	case w.length >= 0 && !w.head && len(w.body) == 0 && int64(len(p)) == w.length:
		// Head and body in one system call: a cache hit's whole
		// response, or a proxied one that came in one read. A body that
		// comes in parts is held back as net/http's buffer does, so that
		// a response cut short early (an upstream that broke off) ends
		// in a closed connection with nothing sent, as there.
		if err := w.sendHead(p, false); err != nil {
			return 0, err
		}
		w.written += int64(len(p))
		return len(p), nil
	case len(w.body)+len(p) <= maxBuffered:
		w.body = append(w.body, p...)
		return len(p), nil
	default:
		if err := w.FlushError(); err != nil {
			return 0, err
		}
		return w.Write(p)
	}
}

// Flush sends the head and what is held back; later Writes go out as they
// come.
func (w *response) Flush() { _ = w.FlushError() }

func (w *response) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if !w.sent {
		body := w.body
		w.body = nil
		if err := w.sendHead(body, false); err != nil {
			return err
		}
		w.written += int64(len(body))
	}
	w.writeHeld()
	return w.err
}

// writeHeld writes the whole response held back for the next read
// (conn.pending), if any: a Flush sends it now. A Close that came
// meanwhile is serve's to carry out, after the handler.
func (w *response) writeHeld() {
	p := w.c.pending
	if p == nil {
		return
	}
	w.c.pending = nil
	if _, err := w.c.Conn.Write(p); err != nil {
		w.err = err
	}
	w.c.held.Store(false)
}

// finish completes the response once the handler has returned, and
// reports whether the connection can carry another request.
func (w *response) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return false
	}
	if !w.sent {
		body := w.body
		w.body = nil
		if w.sendHead(body, true) != nil {
			return false
		}
		w.written += int64(len(body))
	}
	if w.chunked {
		end := lastChunk
		if w.trailers {
			end = w.appendTrailers(w.c.wbuf[:0])
			w.c.keepWbuf(end)
		}
		if _, err := w.c.Conn.Write(end); err != nil {
			return false
		}
	}
	// A body shorter than its Content-Length: only closing the
	// connection tells the client the response is cut short.
	return w.length < 0 || w.written == w.length || !bodyAllowed(w.status) || w.head
}

var lastChunk = []byte("0\r\n\r\n")

// appendTrailers appends the last chunk with the trailer fields: those the
// Trailer field announced, with the values the handler set by now, and
// those named with http.TrailerPrefix, in name order, as net/http writes
// them.
func (w *response) appendTrailers(b []byte) []byte {
	t := make(http.Header)
	for name, vals := range w.header {
		if k, ok := strings.CutPrefix(name, http.TrailerPrefix); ok {
			t[k] = vals
		}
	}
	for _, k := range w.declared {
		for _, v := range w.header[k] {
			t.Add(k, v)
		}
	}
	b = append(b, "0\r\n"...)
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range t[name] {
			b = append(b, name...)
			b = append(b, ": "...)
			b = appendValue(b, textproto.TrimString(v))
			b = append(b, crlf...)
		}
	}
	return append(b, crlf...)
}

// sendHead decides the fields net/http would add or drop, and writes the
// head followed by the first body bytes p (all of them when done).
func (w *response) sendHead(p []byte, done bool) error {
	w.sent = true
	h := w.header
	ex := extra{clen: -1}
	var skip []string
	allowed := bodyAllowed(w.status)
	hasCL := w.length >= 0
	if w.snap != nil {
		h = w.snap
		for name := range h {
			if strings.HasPrefix(name, http.TrailerPrefix) {
				skip = append(skip, name)
			}
		}
	}
	if done && allowed && !hasCL && !w.trailers && (!w.head || len(p) > 0) {
		ex.clen = int64(len(p))
		w.length = ex.clen
		hasCL = true
	}
	if allowed {
		_, haveType := h["Content-Type"]
		if !haveType && len(p) > 0 && h.Get("Content-Encoding") == "" {
			ex.ctype = http.DetectContentType(p)
		}
	} else {
		skip = append(skip, suppressed(w.status)...)
	}
	if !w.head && allowed && !hasCL {
		w.chunked = true
		ex.chunked = true
	}
	closeField := hasToken(h["Connection"], "close")
	if w.close && !closeField {
		skip = append(skip, "Connection")
		ex.conn = "close"
	}
	w.close = w.close || closeField

	b := appendHead(w.c.wbuf[:0], w.status, h, skip, ex)
	if w.head || !allowed {
		p = nil
	}
	// The whole response, in the connection's buffer: it can wait for
	// the read of the next request (conn.pending).
	whole := !w.chunked && (w.head || !allowed || w.written+int64(len(p)) == w.length)
	var err error
	switch {
	case whole && w.c.canHold && len(b)+len(p) <= smallWrite:
		b = append(b, p...)
		w.c.pending = b
		w.c.held.Store(true)
	case len(p) == 0:
		_, err = w.c.Conn.Write(b)
	case w.chunked:
		b = appendChunkHead(b, len(p))
		bufs := net.Buffers{b, p, crlf}
		_, err = bufs.WriteTo(w.c.Conn)
	case len(b)+len(p) <= smallWrite:
		b = append(b, p...)
		_, err = w.c.Conn.Write(b)
	case w.c.tls == nil:
		bufs := net.Buffers{b, p} // one writev
		_, err = bufs.WriteTo(w.c.Conn)
	default:
		// TLS has no writev: one Write makes the fewest records.
		big := bigBuffers.Get().(*[]byte)
		*big = append(append((*big)[:0], b...), p...)
		_, err = w.c.Conn.Write(*big)
		if cap(*big) <= 2*maxBuffered {
			bigBuffers.Put(big)
		}
	}
	w.c.keepWbuf(b)
	if err != nil {
		w.err = err
	}
	return err
}

var crlf = []byte("\r\n")

// smallWrite is the largest response the lane copies into the
// connection's own write buffer to send it in one write; the buffer stays
// with the connection, so it is kept small.
const smallWrite = 4 << 10

// bigBuffers are for larger responses over TLS.
var bigBuffers = sync.Pool{New: func() any { b := make([]byte, 0, maxBuffered+smallWrite); return &b }}

// keepWbuf keeps b as the connection's write buffer unless a large head
// grew it past what an idle connection should hold.
func (c *conn) keepWbuf(b []byte) {
	if cap(b) > 2*smallWrite {
		c.wbuf = nil
		return
	}
	c.wbuf = b[:0]
}

// send writes body bytes after the head, as a chunk if chunked.
func (w *response) send(p []byte) (int, error) {
	if len(p) == 0 || w.head {
		return len(p), nil
	}
	var err error
	if w.chunked {
		bufs := net.Buffers{appendChunkHead(w.c.wbuf[:0], len(p)), p, crlf}
		_, err = bufs.WriteTo(w.c.Conn)
	} else {
		_, err = w.c.Conn.Write(p)
	}
	if err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

func appendChunkHead(b []byte, n int) []byte {
	b = strconv.AppendInt(b, int64(n), 16)
	return append(b, crlf...)
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// suppressed are the fields net/http leaves out for a status without a
// body.
func suppressed(status int) []string {
	if status == http.StatusNotModified {
		return []string{"Content-Type", "Content-Length", "Transfer-Encoding"}
	}
	return []string{"Content-Length", "Transfer-Encoding"}
}

func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), token) {
				return true
			}
		}
	}
	return false
}

// extra are the fields net/http adds after the handler's, in its order.
type extra struct {
	noDate  bool  // an interim response: net/http sends no Date with one
	clen    int64 // -1: none
	ctype   string
	conn    string
	chunked bool
}

// appendHead appends a status line, the handler's fields in name order
// (less skip; CR and LF in values turned into spaces and invalid names
// left out, as net/http writes them), Date unless the handler set one, and
// ex.
func appendHead(b []byte, status int, h http.Header, skip []string, ex extra) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	b = append(b, crlf...)

	var arr [24]string
	names := arr[:0]
	for name := range h {
		if !slices.Contains(skip, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if !httpguts.ValidHeaderFieldName(name) {
			continue
		}
		for _, v := range h[name] {
			b = append(b, name...)
			b = append(b, ": "...)
			b = appendValue(b, textproto.TrimString(v))
			b = append(b, crlf...)
		}
	}
	if _, ok := h["Date"]; !ok && !ex.noDate {
		b = append(b, "Date: "...)
		b = append(b, httpdate.Now()...)
		b = append(b, crlf...)
	}
	if ex.clen >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, ex.clen, 10)
		b = append(b, crlf...)
	}
	for _, f := range [...]struct{ name, value string }{{"Content-Type", ex.ctype}, {"Connection", ex.conn}} {
		if f.value != "" {
			b = append(b, f.name...)
			b = append(b, ": "...)
			b = append(b, f.value...)
			b = append(b, crlf...)
		}
	}
	if ex.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(b, crlf...)
}

func appendValue(b []byte, v string) []byte {
	for i := range len(v) {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
)
