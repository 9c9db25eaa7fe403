// Package fastlane answers an edge listener's plain requests without
// net/http's per-request machinery, on the same connections net/http
// serves.
//
// Why: on a loopback benchmark a bare net/http "hello world" costs about as
// much CPU per request as nginx answering from its micro-cache, before
// rampart has routed, rate-limited or looked anything up. net/http's cost
// is per request, not per byte: a goroutine and a read deadline to watch
// for the client going away, a cloned header map, a context, pooled
// buffers. A cache hit needs none of it, and neither does a proxied
// request that the edge's forwarder streams back.
//
// How: the lane sits between net/http and the TCP (or TLS) connection. When
// net/http reads the next request head — the connection is new, or
// ConnState has just reported it idle — the lane reads the head itself. If
// the head is a plain request — HTTP/1.1, origin-form target, no body or
// one of Content-Length, no Expect, no upgrade — and the Eligible hook
// (the edge's Routed: is the host one of its services?) says yes, the
// lane builds the *http.Request, runs the server's own Handler on a lean ResponseWriter and
// writes the response (a cache hit's in one system call); then it reads
// the next head. The handler chain is the same on both paths, so routing,
// the rate limiter, the cache, metrics and the edge log behave
// identically; only the framing code differs. The ResponseWriter streams
// any response as net/http's does: bodies of any size, with or without a
// Content-Length (chunked), Flush and http.ResponseController's
// FlushError, trailers (announced or with http.TrailerPrefix), 1xx
// responses; a handler that panics, http.ErrAbortHandler included, gets
// its connection closed. It holds back up to 32 KiB of a body without a
// length (net/http: 2 KiB), so the chunks of a long body may be cut
// elsewhere than net/http would cut them.
//
// A request body is read straight from the connection, exactly its
// Content-Length; the response supports http.ResponseController's
// SetReadDeadline, so connguard's BodyRate bounds a slow body as under
// net/http. A handler that leaves the body unread gets the connection
// closed after its response, where net/http would read up to 256 KiB of
// the rest to keep it: closing can never misplace where the next request
// starts.
//
// What the lane does not do that net/http does: keep a read outstanding
// while the handler runs, which cancels the request's context as soon as
// the client leaves. That costs a goroutine wake-up and a deadline change
// per request, and a request answered quickly learns of a departed client
// anyway, when its answer is written. A slow one (a miss whose upstream
// takes its time) would keep the upstream busy for nobody meanwhile, so
// the lane looks once a second at the requests that have run longer than
// that and asks the kernel (TCP_INFO, reading nothing) whether their
// client closed or reset its connection; for those it cancels the
// context, and the forwarder closes the upstream connection. A client that
// leaves is thus noticed within about two seconds rather than at once (on
// systems other than Linux, only when its answer is written). The header
// timeout, the idle timeout and the listener's write deadlines (connguard)
// apply on the lane as they do under net/http.
//
// Anything else is handed to net/http: the lane lets net/http read exactly
// that request's bytes (head and Content-Length body) and takes the
// connection back once net/http reports it idle. While net/http answers,
// bytes of a pipelined next request wait in the lane's buffer, and a read
// error reaches net/http's background read, so a handler still learns that
// its client went away. What the lane cannot frame exactly — chunked or
// doubly framed bodies, upgrades, bare LF, obsolete line folding, heads
// over 4 KiB — gives the rest of the connection to net/http for good.
// Being strict where net/http is lenient is what keeps the two from
// disagreeing on where a request ends (request smuggling): FuzzScan checks
// the lane's framing against net/http's parser, and TestSameAsNetHTTP
// checks byte for byte that a server with the lane answers any stream of
// requests as net/http alone does.
//
// Over TLS the lane does the handshakes itself ([Lane.TLSListener]), since
// it must know the protocol first: HTTP/2 connections go to net/http
// untouched.
package fastlane
