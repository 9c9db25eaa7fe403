package edge

// Requests the client ended. A client that goes away, resets its HTTP/2
// stream or sends a body that breaks off makes the proxy fail exactly like
// a broken upstream does (the transport's "readfrom tcp …: unexpected EOF"
// is the client's body, not the upstream); logged as a 502, it would send
// an operator looking for a fault in an application that has none. These
// requests get nginx's 499 (or 400 for a body that does not parse, when
// the client is still there to read it) and are not upstream errors.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// statusClientClosed is nginx's "client closed request": the client went
// away before the whole answer reached it.
const statusClientClosed = 499

// clientBody wraps the body of a proxied request so that a failure to read
// it is known as the client's. The transport may read the body from its
// own goroutine, even after the handler returned, hence the atomic.
type clientBody struct {
	io.ReadCloser
	err atomic.Pointer[error]
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	// A read after Close is the transport tidying up after an upstream
	// failure, not something the client did.
	if err != nil && err != io.EOF && !errors.Is(err, http.ErrBodyReadAfterClose) {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// watchBody puts a clientBody around r's body, if it has one, for
// clientEnded to look at. Requests without a body (cache hits among them)
// pay nothing.
func (rec *recorder) watchBody(r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	b := &clientBody{ReadCloser: r.Body}
	r.Body = b
	rec.body = b
}

// clientEnded reports whether the client ended r before it got the whole
// answer, and if so sets the status and the error the log shows: 499 when
// it went away (closed the connection, reset the stream, its body broke
// off), 400 when it is still there but its body did not parse.
func (rec *recorder) clientEnded(r *http.Request) bool {
	// Canceled, not any error: a deadline on the request would be the
	// edge's own limit, not the client leaving.
	gone := errors.Is(r.Context().Err(), context.Canceled)
	var bodyErr error
	if rec.body != nil {
		if p := rec.body.err.Load(); p != nil {
			bodyErr = *p
		}
	}
	switch {
	case bodyErr != nil && !gone && r.ProtoMajor == 1 && !connEnded(bodyErr):
		rec.status = http.StatusBadRequest
		rec.err = fmt.Errorf("the client sent a malformed request body (%w)", bodyErr)
		return true
	case bodyErr != nil:
		// On HTTP/2 a body that fails means the stream was reset, by the
		// client or because of its protocol error: nobody is left to
		// answer either way.
		rec.err = fmt.Errorf("the client went away before the answer (its request body broke off: %w)", bodyErr)
	case rec.clientErr != nil:
		rec.err = fmt.Errorf("the client went away before the answer (%w)", rec.clientErr)
	case gone && r.ProtoMajor == 2:
		// Reset by the client, or by the server for the client's
		// protocol error: the stream's end does not say which.
		rec.err = errors.New("the client went away before the answer (its HTTP/2 stream was reset or its connection closed)")
	case gone:
		rec.err = errors.New("the client went away before the answer (it closed the connection)")
	default:
		return false
	}
	rec.status = statusClientClosed
	return true
}

// connEnded tells a connection that ended in the middle of a body from a
// body that is malformed.
func connEnded(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}
