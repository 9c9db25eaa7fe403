package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-dev/rampart/internal/rawsock"
)

// Request is what Forward sends upstream.
type Request struct {
	Method string
	// Target is the request-target: the path and query, as the edge
	// rewrote them.
	Target string
	// Host is the Host field's value.
	Host string
	// Header is the fields to send, already rewritten by the caller
	// (hop-by-hop fields removed, the edge's X-Forwarded-* set). Host,
	// Content-Length, Transfer-Encoding and Trailer in it are ignored;
	// User-Agent is sent after Host, the rest in name order, as net/http
	// writes a request.
	Header http.Header
	// Body, if ContentLength > 0, is read for exactly ContentLength
	// bytes.
	Body          io.Reader
	ContentLength int64
	// Drop names response fields (canonical) that the upstream must not
	// set on the client's response.
	Drop []string
	// Hold is how long a new connection may wait for an upstream that
	// refuses it (see [DialHolding]); 0: a refusal fails at once.
	Hold time.Duration
	// With Hold, a request that may be sent twice and whose new
	// connection is closed before any answer is sent once more: a
	// process on its way out resets the connections still waiting in
	// its listen backlog. HoldClosed waits such closes out for all of
	// Hold instead: the port is a proxy's (Docker's, for a container)
	// that accepts connections while the app behind it is not there yet.
	// Not for an app's own port, where a close may be the app's answer
	// to this request (a crash), which must not be sent again and again.
	HoldClosed bool
}

// errUpgrade: the forwarder carries no upgrades (the edge sends those
// through httputil), so a 101 answers nothing that was asked.
var errUpgrade = errors.New("the upstream switched protocols (101) though no upgrade was requested")

// errTooMany1xx: like http.Transport, at most 5 interim responses.
var errTooMany1xx = errors.New("the upstream sent more than 5 interim (1xx) responses")

// errClosedEarly: the upstream closed the connection before a complete
// response head.
var errClosedEarly = errors.New("the upstream closed the connection before sending a response")

const bufSize = 32 << 10

var buffers = sync.Pool{New: func() any { return new([bufSize]byte) }}

// Forward sends r to h's upstream and streams the response to w. It
// returns an error only when nothing but interim (1xx) responses was
// written to w, so that the caller can answer with an error page; the
// error is ctx's when ctx ended first. Once the response head is written,
// a failure logs through logf (an upstream that broke the body off; not a
// client that went away) and panics with http.ErrAbortHandler, as
// httputil.ReverseProxy does under a server: the only way left to tell the
// client that the response is cut short is to close the connection.
func (h *Host) Forward(ctx context.Context, w http.ResponseWriter, r *Request, logf func(string, ...any)) error {
	for _, vv := range r.Header {
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return errors.New("forward: invalid request field value")
			}
		}
	}
	bp := buffers.Get().(*[bufSize]byte)
	defer buffers.Put(bp)
	buf := bp[:]
	head := appendRequestHead(buf[:0], r)
	if len(head) > len(buf) {
		return errors.New("forward: the request head is larger than 32 KiB")
	}

	// A request the upstream may see twice: no body (or one already
	// gone), and a method that changes nothing.
	retryable := r.ContentLength <= 0 && idempotent(r.Method)
	// A route with a hold waits at most that long for its upstream, from
	// here, whatever it waits for.
	var start time.Time
	if r.Hold > 0 {
		start = time.Now()
	}
	wait, closes := firstRedial, 0
	for attempt := 0; ; attempt++ {
		var pc *pconn
		if attempt == 0 {
			pc = h.get()
			// A request that cannot be sent twice gets a connection
			// the upstream has not closed meanwhile, as far as can be
			// seen from here.
			for pc != nil && !retryable && !alive(pc.Conn) {
				_ = pc.Close()
				pc = h.get()
			}
		}
		reused := pc != nil
		if !reused {
			var err error
			var hold time.Duration // what is left of r.Hold; 0: no wait
			if r.Hold > 0 {
				hold = max(r.Hold-time.Since(start), 0)
			}
			if pc, err = h.dial(ctx, hold); err != nil {
				return err
			}
		}
		res, err := h.exchange(ctx, pc, w, r, head, buf, logf)
		if res == resRetry && reused && retryable && ctx.Err() == nil {
			// The upstream had closed the pooled connection before
			// it read the request: once more on a new one.
			continue
		}
		if res == resRetry && !reused && retryable && r.Hold > 0 && (r.HoldClosed || closes == 0) && ctx.Err() == nil {
			// A new connection closed before any answer: the backlog
			// of a process that is going away (once more), or a port
			// that something in front of the app accepts while the app
			// is not there (Docker's proxy for a container being
			// replaced: waited out like a refusal).
			closes++
			if left := r.Hold - time.Since(start); left > 0 {
				if !pause(ctx, min(wait, left)) {
					return ctx.Err()
				}
				wait = nextRedial(wait)
				continue
			}
			return fmt.Errorf("%w (waited %s for the service to answer)", err, r.Hold)
		}
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
}

// Outcomes of one exchange on a connection.
const (
	resDone  = iota
	resRetry // the connection was closed before any of the response
	resFail
)

// exchange sends the request on pc and streams the response. On return
// pc is back in the pool or closed.
func (h *Host) exchange(ctx context.Context, pc *pconn, w http.ResponseWriter, r *Request, head, buf []byte, logf func(string, ...any)) (outcome int, err error) {
	keep := false
	var stop func() bool
	if ctx.Done() != nil {
		// A client that goes away (net/http cancels the request's
		// context, and the fast lane does for a slow request) must not
		// keep the upstream busy: break any wait.
		stop = context.AfterFunc(ctx, func() { _ = pc.SetDeadline(aLongTimeAgo) })
	}
	defer func() {
		if stop != nil && !stop() {
			keep = false // its deadlines are spoilt
		}
		if keep {
			h.put(pc)
		} else {
			_ = pc.Close()
		}
	}()
	pc.headDeadline(h.p.HeaderTimeout)
	// A request without a body goes out with the first read of the
	// answer (rawsock.WriteRead): one system call less per request.
	pending := head
	if r.ContentLength > 0 {
		pending = nil
		if _, err := pc.Write(head); err != nil {
			return resRetry, err
		}
		if err := copyBody(pc, r.Body, r.ContentLength, buf); err != nil {
			return resFail, err
		}
	}

	// The response head, after any interim ones.
	n, interim := 0, 0
	var rh resHead
	var arr [20]field // most heads have fewer fields
	fields := arr[:0]
	for {
		var perr error
		rh, perr = parseHead(buf[:n], r.Method, fields[:0])
		if perr == nil && rh.status >= 100 && rh.status < 200 && rh.status != 101 {
			interim++
			if interim > 5 {
				return resFail, errTooMany1xx
			}
			writeInterim(w, &rh)
			n = copy(buf, buf[rh.size:n])
			fields = rh.fields
			continue
		}
		if perr == nil {
			break
		}
		if perr != errNeedMore {
			return resFail, perr
		}
		var m int
		var rerr error
		if pending != nil {
			// head is in buf: it is all written before buf is read into.
			var werr error
			m, werr, rerr = rawsock.WriteRead(pc.Conn, pending, buf[n:])
			pending = nil
			if werr != nil {
				return resRetry, werr
			}
		} else {
			m, rerr = pc.Read(buf[n:])
		}
		n += m
		if rerr != nil && m == 0 {
			if n == 0 && interim == 0 && (rerr == io.EOF || isReset(rerr)) {
				return resRetry, rerr
			}
			if rerr == io.EOF {
				rerr = errClosedEarly
			}
			return resFail, rerr
		}
	}
	if rh.status == 101 {
		return resFail, errUpgrade
	}
	announced, err := trailerNames(&rh)
	if err != nil {
		return resFail, err
	}

	// The client's response head: the upstream's fields but the
	// hop-by-hop ones and those the caller drops.
	hdr := w.Header()
	vals := make([]string, len(rh.fields))
	for i, f := range rh.fields {
		if hopByHop(f.name, &rh) || slices.Contains(r.Drop, f.name) {
			continue
		}
		if old, ok := hdr[f.name]; ok {
			hdr[f.name] = append(old, f.value)
			continue
		}
		vals[i] = f.value
		hdr[f.name] = vals[i : i+1 : i+1]
	}
	if len(announced) > 0 {
		hdr.Add("Trailer", strings.Join(announced, ", "))
	}
	w.WriteHeader(rh.status)

	// The body. Responses without a length and event streams are flushed
	// write by write, so that a stream reaches the client as it comes,
	// and their head at once, before the body's first bytes (so without
	// a sniffed Content-Type), as ReverseProxy does.
	flush := rh.framing == bodyChunked || rh.framing == bodyClose || eventStream(&rh)
	if !(rh.framing == bodyNone || rh.framing == bodyLength && int64(n-rh.size) >= rh.length) {
		// More of the body to read, for as long as it takes.
		pc.noDeadline()
	}
	if flush && rh.framing != bodyNone {
		if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			panic(http.ErrAbortHandler)
		}
	}
	body := buf[rh.size:n]
	var trailers []field
	var copyErr error
	switch rh.framing {
	case bodyLength:
		copyErr = copyLength(w, pc, body, buf, rh.length, flush)
	case bodyChunked:
		var rest int
		trailers, rest, copyErr = copyChunked(w, pc, buf, rh.size, n, flush)
		if copyErr == nil && rest > 0 {
			rh.close = true // more than the response: not to be trusted
		}
	case bodyClose:
		copyErr = copyToEOF(w, pc, body, buf)
	case bodyNone:
		if len(body) > 0 {
			rh.close = true
		}
	}
	if copyErr != nil {
		var we *writeError
		if !errors.As(copyErr, &we) && ctx.Err() == nil {
			logf("forward: read error during body copy from %s: %v", h.addr, copyErr)
		}
		panic(http.ErrAbortHandler)
	}
	if rh.framing == bodyLength && int64(len(body)) > rh.length {
		rh.close = true
	}
	keep = !rh.close && rh.framing != bodyClose && ctx.Err() == nil

	if len(announced) > 0 || len(trailers) > 0 {
		// Trailers need a chunked response: flushing now keeps the
		// server from giving a short body a Content-Length.
		if len(announced) > 0 {
			_ = http.NewResponseController(w).Flush()
		}
		setTrailers(hdr, announced, trailers)
	}
	return resDone, nil
}

// setTrailers sets the upstream's trailers on the client's response:
// under their own names when the head announced them all, with
// http.TrailerPrefix when some came unannounced, as ReverseProxy does.
func setTrailers(hdr http.Header, announced []string, got []field) {
	all := len(got) == 0
	if !all {
		all = true
		for _, f := range got {
			if !slices.Contains(announced, f.name) {
				all = false
				break
			}
		}
	}
	for _, f := range got {
		if all {
			hdr[f.name] = append(hdr[f.name], f.value)
		} else {
			hdr.Add(http.TrailerPrefix+f.name, f.value)
		}
	}
}

// writeInterim passes a 1xx response on, as ReverseProxy does: its fields
// join the response's, go out with it, and are then all cleared.
func writeInterim(w http.ResponseWriter, rh *resHead) {
	hdr := w.Header()
	for _, f := range rh.fields {
		hdr[f.name] = append(hdr[f.name], f.value)
	}
	w.WriteHeader(rh.status)
	clear(hdr)
}

// trailerNames returns the trailer fields a chunked response announces,
// refusing the ones that may not be trailers.
func trailerNames(rh *resHead) ([]string, error) {
	if rh.framing != bodyChunked {
		return nil, nil
	}
	var names []string
	for _, f := range rh.fields {
		if f.name != "Trailer" {
			continue
		}
		for tok := range strings.SplitSeq(f.value, ",") {
			tok = textproto.CanonicalMIMEHeaderKey(textproto.TrimString(tok))
			switch tok {
			case "":
				continue
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, malformed("a bad trailer name: " + tok)
			}
			if !slices.Contains(names, tok) {
				names = append(names, tok)
			}
		}
	}
	return names, nil
}

// hopByHop reports whether a response field is the connection's, not the
// message's (RFC 9110 §7.6.1): the standard ones and those the
// Connection field names.
func hopByHop(name string, rh *resHead) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	for _, f := range rh.fields {
		if f.name != "Connection" {
			continue
		}
		for tok := range strings.SplitSeq(f.value, ",") {
			if strings.EqualFold(textproto.TrimString(tok), name) {
				return true
			}
		}
	}
	return false
}

func eventStream(rh *resHead) bool {
	for _, f := range rh.fields {
		if f.name == "Content-Type" && len(f.value) >= len("text/event-stream") && strings.EqualFold(f.value[:len("text/event-stream")], "text/event-stream") {
			mt, _, err := mime.ParseMediaType(f.value)
			return err == nil && mt == "text/event-stream"
		}
	}
	return false
}

// writeError is a failed write to the client: the client's doing, not
// the upstream's, so not logged.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func write(w http.ResponseWriter, p []byte, flush bool) error {
	if _, err := w.Write(p); err != nil {
		return &writeError{err}
	}
	if flush {
		if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return &writeError{err}
		}
	}
	return nil
}

// copyLength copies a body of n bytes, of which the first are in have.
func copyLength(w http.ResponseWriter, c net.Conn, have, buf []byte, n int64, flush bool) error {
	if int64(len(have)) > n {
		have = have[:n]
	}
	if len(have) > 0 {
		if err := write(w, have, flush); err != nil {
			return err
		}
		n -= int64(len(have))
	}
	return copyExactly(func(p []byte) error { return write(w, p, flush) }, c, n, buf)
}

// copyToEOF copies a body that ends when the upstream closes.
func copyToEOF(w http.ResponseWriter, c net.Conn, have, buf []byte) error {
	if len(have) > 0 {
		if err := write(w, have, true); err != nil {
			return err
		}
	}
	for {
		m, err := c.Read(buf)
		if m > 0 {
			if werr := write(w, buf[:m], true); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// copyBody sends a request body of exactly n bytes.
func copyBody(c net.Conn, body io.Reader, n int64, buf []byte) error {
	return copyExactly(func(p []byte) error { _, err := c.Write(p); return err }, body, n, buf)
}

// copyExactly copies n bytes from src to dst through buf; a src that ends
// sooner is io.ErrUnexpectedEOF. It reads no further than n, so that a
// connection's next message stays unread.
func copyExactly(dst func([]byte) error, src io.Reader, n int64, buf []byte) error {
	for n > 0 {
		p := buf
		if int64(len(p)) > n {
			p = p[:n]
		}
		m, err := src.Read(p)
		if m > 0 {
			n -= int64(m)
			if werr := dst(p[:m]); werr != nil {
				return werr
			}
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// appendRequestHead appends r's head as net/http's client writes it:
// request line, Host, User-Agent, Content-Length, then the other fields
// in name order.
func appendRequestHead(b []byte, r *Request) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.Target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	if ua := r.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		b = append(b, "User-Agent: "...)
		b = appendValue(b, ua[0])
		b = append(b, "\r\n"...)
	}
	switch {
	case r.ContentLength > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH":
		b = append(b, "Content-Length: 0\r\n"...)
	}
	var arr [32]string
	names := arr[:0]
	for name := range r.Header {
		switch name {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range r.Header[name] {
			b = append(b, name...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

// appendValue appends a field value trimmed, with CR and LF as spaces.
func appendValue(b []byte, v string) []byte {
	v = textproto.TrimString(v)
	for i := range len(v) {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// aLongTimeAgo is a deadline that has passed: it breaks a blocked read or
// write at once.
var aLongTimeAgo = time.Unix(1, 0)

// isReset reports whether err is the upstream resetting or having closed
// the connection.
func isReset(err error) bool {
	var ne *net.OpError
	if !errors.As(err, &ne) {
		return false
	}
	s := ne.Err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "broken pipe")
}
