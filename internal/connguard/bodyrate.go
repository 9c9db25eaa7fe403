package connguard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// BodyRate returns a handler that requires every request body to move: at
// least minBytes every window of time the handler spends waiting for it,
// else the read fails and net/http closes the connection. It is the read
// side of the guard (a client that sends headers announcing a body and
// then nothing, the "slow body" attack, holds its connection for one
// window), and it leaves alone
//
//   - uploads that move, however long they take;
//   - requests without a body, such as WebSocket upgrades and the GETs of
//     server-sent events: their connections are bounded by the idle and
//     header timeouts and by the guard's write progress;
//   - time the handler spends not reading (a slow upstream): only waiting
//     for the client counts.
//
// A body the handler does not read at all has one window from the start of
// the request, which bounds net/http's draining of it after the response.
// window <= 0 returns next unchanged.
func BodyRate(next http.Handler, window time.Duration, minBytes int) http.Handler {
	if window <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A WebSocket's traffic comes when it comes: over HTTP/1.1 an
		// Upgrade, over HTTP/2 an extended CONNECT (RFC 8441).
		if r.Body == nil || r.Body == http.NoBody || r.Header.Get("Upgrade") != "" || r.Method == http.MethodConnect {
			next.ServeHTTP(w, r)
			return
		}
		b := &body{src: r.Body, rc: http.NewResponseController(w), window: window, min: int64(minBytes)}
		b.deadline(time.Now().Add(window))
		r2 := *r
		r2.Body = b
		next.ServeHTTP(w, &r2)
		if !b.done {
			// net/http reads what is left of the body (up to 256 KiB)
			// once the handler returns: the client has one more window.
			b.deadline(time.Now().Add(window))
		}
	})
}

// ErrSlowBody is returned by a body read that timed out because the client
// sent less than the minimum in a window.
type ErrSlowBody struct {
	Window   time.Duration
	MinBytes int64
}

func (e *ErrSlowBody) Error() string {
	return fmt.Sprintf("request body too slow: the client sent less than %d bytes in %s (limits.transfer_min_bytes, limits.transfer_window); connection closed", e.MinBytes, e.Window)
}

// Unwrap returns the deadline error it replaces, so that callers that look
// for a timeout (a net.Error) still find one.
func (e *ErrSlowBody) Unwrap() error { return os.ErrDeadlineExceeded }

// body is a request body under a deadline that moves with progress. Only
// the handler's goroutine uses it (net/http's request bodies allow no
// concurrent reads either).
type body struct {
	src    io.ReadCloser
	rc     *http.ResponseController
	window time.Duration
	min    int64
	waited time.Duration // waiting for the client in this window
	got    int64         // bytes received in this window
	set    time.Time     // the read deadline last set
	done   bool          // EOF, error or Close: no deadline any more
}

func (b *body) deadline(t time.Time) {
	if err := b.rc.SetReadDeadline(t); err == nil {
		b.set = t
	}
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return b.src.Read(p)
	}
	start := time.Now()
	// Moving a deadline costs a timer update: while the handler reads
	// steadily the deadline stays where it is; it moves when a window
	// completes or after the handler paused.
	if dl := start.Add(b.window - b.waited); dl.Sub(b.set) > b.window/20 || dl.Before(b.set) {
		b.deadline(dl)
	}
	n, err := b.src.Read(p)
	b.waited += time.Since(start)
	b.got += int64(n)
	if b.got >= b.min {
		b.got, b.waited = 0, 0
	}
	if err != nil {
		b.done = true
		if err == io.EOF {
			// net/http's background read, which notices a client that
			// goes away while the handler answers, must not time out.
			_ = b.rc.SetReadDeadline(time.Time{})
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &ErrSlowBody{Window: b.window, MinBytes: b.min}
		}
	}
	return n, err
}

func (b *body) Close() error {
	return b.src.Close()
}
