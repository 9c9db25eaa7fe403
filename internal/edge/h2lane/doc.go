// Package h2lane serves HTTP/2 connections for the edge's TLS listener,
// answering fresh cache hits on the connection's own goroutine.
//
// Why: net/http's HTTP/2 server (x/net/http2, bundled) spends about twice
// nginx's CPU on a cache hit: every stream gets a goroutine, a context, a
// cloned header map and a trip through the server's serve loop and its
// write scheduler, and each response is flushed on its own. A cache hit
// needs none of it. The fast lane (package fastlane) does the same for
// HTTP/1.1.
//
// How: one goroutine per connection reads frames with x/net's exported
// Framer (which also enforces frame sizes, HPACK decoding limits and the
// CONTINUATION rules) and builds each request as net/http's HTTP/2 server
// would (Proto "HTTP/2.0", TLS state, Host from :authority, joined
// Cookie fields), validating it as RFC 9113 §8.2–8.3 requires. A request
// without a body that the Eligible hook (the edge's Fresh: is there a
// fresh stored response?) accepts runs the Handler right there, on a
// ResponseWriter that encodes into the connection's write buffer: the
// HPACK encoder keeps its dynamic table across responses, and the buffer
// is flushed once the read buffer holds no whole frame any more, so the
// responses to everything a client sent in one go leave in as few TLS
// records as possible. Every other stream runs the same Handler on a
// goroutine of its own, with a request body that returns flow-control
// window as the handler reads it and has its own read deadline
// (http.ResponseController.SetReadDeadline, which connguard.BodyRate
// moves), trailers both ways, Flush, 1xx responses, and writes that wait
// for window up to WriteTimeout. The handler chain is the same on both
// paths, so routing, the rate limiter, the cache, metrics and the log
// behave the same.
//
// An inline hit blocks the connection's other streams while it runs,
// which is why only fresh hits go that way: if the stored response went
// stale between Eligible and the handler, that one request is proxied
// inline. A hit larger than the client's flow-control window sends what
// fits and hands the rest to a goroutine.
//
// Safety: handler goroutines are bounded by MaxConcurrentStreams (more
// streams are refused), and frames that make the server work without a
// response (SETTINGS, PING, PRIORITY, empty DATA, WINDOW_UPDATE with
// nothing to send, resets of running streams, refused streams) are
// counted against the responses; too many close the connection with
// ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487, and control-frame
// floods). Header lists over MaxHeaderListSize get 431, and a CONTINUATION
// flood ends the connection (CVE-2023-45288). Writes and waits for window
// are bounded by WriteTimeout, the preface by ReadHeaderTimeout, idle
// connections by IdleTimeout. TestH2Spec checks conformance with h2spec
// against net/http's own server; FuzzConn feeds it arbitrary frames.
//
// Extended CONNECT (RFC 8441, WebSockets over HTTP/2) is there when
// Server.ExtendedConnect says so: SETTINGS_ENABLE_CONNECT_PROTOCOL is
// sent, and the request reaches the Handler as net/http's own server hands
// it over (Method CONNECT, the protocol in Header[":protocol"]) with the
// stream's DATA as its body, read while the response is written; the edge
// turns it into an HTTP/1.1 Upgrade to the upstream.
//
// Not supported: server push, h2c upgrade,
// SetWriteDeadline (http.ErrNotSupported: WriteTimeout bounds writes),
// prioritization (streams are written in the order they write).
package h2lane
