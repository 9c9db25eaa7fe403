package edge

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// WebSockets over HTTP/2 (RFC 8441). A browser that sees
// SETTINGS_ENABLE_CONNECT_PROTOCOL on an HTTP/2 connection opens its
// WebSockets on that connection, each as a stream: an extended CONNECT
// with :protocol websocket, answered 200, and then the WebSocket's frames
// as the stream's DATA both ways. Upstreams speak HTTP/1.1, so the edge
// opens the WebSocket there with the Upgrade handshake of RFC 6455 §4
// (with a Sec-WebSocket-Key of its own, which HTTP/2 does not carry) and
// then carries the bytes between the stream and that connection. The
// frames pass unchanged: masking, extensions and the closing handshake
// are the client's and the upstream's business, as they are when the
// edge carries an HTTP/1.1 WebSocket.

// webSocketGUID is RFC 6455 §1.3's constant for Sec-WebSocket-Accept.
const webSocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// webSocketLinger is how long the upstream may go on sending once the
// client has ended its side of the stream: enough for its closing frame,
// not a reason to keep a half-closed stream forever.
const webSocketLinger = 10 * time.Second

var (
	errWebSocketHandshake = errors.New("the upstream answered the WebSocket handshake with 101 but without a valid Upgrade: websocket and Sec-WebSocket-Accept")
	errWebSocketNotOpened = errors.New("the upstream answered the WebSocket handshake with a success that is not 101 Switching Protocols")
)

// isWebSocketConnect reports whether r opens a WebSocket over HTTP/2: an
// extended CONNECT (RFC 8441 §4) with :protocol websocket.
func isWebSocketConnect(r *http.Request) bool {
	if r.Method != http.MethodConnect { // every other request: no map lookup
		return false
	}
	p := r.Header[":protocol"]
	return r.ProtoMajor == 2 && len(p) == 1 && strings.EqualFold(p[0], "websocket")
}

// webSocketAccept is the Sec-WebSocket-Accept that answers key.
func webSocketAccept(key string) string {
	h := sha1.Sum([]byte(key + webSocketGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// webSocket carries the WebSocket that r opens over HTTP/2 to upstream i.
func (u *upstreams) webSocket(w http.ResponseWriter, r *http.Request, i int) {
	e := u.e
	out := &http.Request{
		Method: http.MethodGet, URL: new(*r.URL), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(r.Header)+4), Host: r.Host,
	}
	for k, vv := range r.Header {
		// HTTP/2 has no hop-by-hop fields; the pseudo-field and a key
		// the client should not have sent are the edge's to replace.
		if k == ":protocol" || k == "Sec-Websocket-Key" || k == "Sec-Websocket-Accept" {
			continue
		}
		out.Header[k] = slices.Clip(vv) // an append must not write into the client's
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	out.Header["Connection"] = []string{"Upgrade"}
	out.Header["Upgrade"] = []string{"websocket"}
	out.Header["Sec-Websocket-Key"] = []string{key}
	pr := &httputil.ProxyRequest{In: r, Out: out}
	pr.SetURL(u.rt.targets[i])
	out.Host = r.Host // the upstream sees the name it is known by
	e.setForwardedHeader(out.Header, r)

	ctx := r.Context()
	if u.rt.hold > 0 {
		ctx = context.WithValue(ctx, holdKey{}, u.rt.hold)
	}
	res, err := e.upstreamTransport(u.rt).RoundTrip(out.WithContext(ctx))
	if err != nil {
		e.upstreamError(u.rt, w, r, err)
		return
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		defer res.Body.Close()
		if res.StatusCode < 300 {
			// A 2xx would tell the client that the WebSocket is open.
			e.upstreamError(u.rt, w, r, errWebSocketNotOpened)
			return
		}
		// The upstream refused the WebSocket (401, 403, 404, 426…): its
		// answer is the CONNECT's.
		copyWebSocketHeader(w.Header(), res.Header, u.drop)
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
		return
	}
	conn, ok := res.Body.(io.ReadWriteCloser)
	if !ok || !httpguts.HeaderValuesContainsToken(res.Header["Upgrade"], "websocket") ||
		res.Header.Get("Sec-Websocket-Accept") != webSocketAccept(key) {
		res.Body.Close()
		e.upstreamError(u.rt, w, r, errWebSocketHandshake)
		return
	}
	defer conn.Close()
	// The client leaving (a reset stream, a closed connection) ends the
	// upstream's side too.
	stop := context.AfterFunc(r.Context(), func() { _ = conn.Close() })
	defer stop()

	copyWebSocketHeader(w.Header(), res.Header, u.drop)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}

	// Client to upstream, on a goroutine of its own. The handler waits
	// for it: the request body is not to be read after it returns.
	sent := make(chan struct{})
	var linger *time.Timer // read after sent is closed
	go func() {
		defer close(sent)
		buf := copyBuffers.Get().(*[copyBufferSize]byte)
		defer copyBuffers.Put(buf)
		if _, err := io.CopyBuffer(conn, r.Body, buf[:]); err == nil {
			// The client ended its side after its closing frame:
			// the upstream has a moment to send its own.
			linger = time.AfterFunc(webSocketLinger, func() { _ = conn.Close() })
		} else {
			_ = conn.Close()
		}
	}()

	// Upstream to client, each read sent at once.
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	for {
		n, err := conn.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil || rc.Flush() != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	copyBuffers.Put(buf)
	_ = conn.Close()
	_ = r.Body.Close() // ends the other direction's read
	<-sent
	if linger != nil {
		linger.Stop()
	}
}

// copyWebSocketHeader copies the upstream's response fields to the
// client's, without those of the HTTP/1.1 handshake and connection and
// those the edge drops.
func copyWebSocketHeader(dst, src http.Header, drop []string) {
	conn := src["Connection"]
	for k, vv := range src {
		switch {
		case k == "Sec-Websocket-Accept" || k == "Content-Length" || k == "Transfer-Encoding":
		case slices.Contains(hopHeaders[:], k) || namedIn(conn, k) || slices.Contains(drop, k):
		default:
			dst[k] = vv
		}
	}
}
