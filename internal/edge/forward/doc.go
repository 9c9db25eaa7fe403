// Package forward carries the edge's proxied requests to HTTP/1.1
// upstreams over pooled keep-alive connections, without
// httputil.ReverseProxy and http.Transport.
//
// Why: on a loopback benchmark the transport's machinery (a reader and a
// writer goroutine per connection, channels between them and the
// handler, a response header map, a request clone) cost more CPU per
// request than the rest of the edge together. A request that has its
// whole head and a known-length body needs none of it: the handler's
// goroutine writes the head, reads the response head into a pooled
// buffer, and copies the body to the client.
//
// The response head parser is strict: it refuses a head whose framing
// could be read two ways (Content-Length with Transfer-Encoding,
// differing Content-Lengths, a transfer coding other than chunked, bare
// LF, obsolete line folding), so that what the edge relays is exactly
// one response; FuzzResponseHead checks that whatever it accepts,
// net/http reads the same way. A connection goes back to its pool only
// when the response was read to its end and its framing allows another
// one; a pooled connection the upstream closed meanwhile costs an
// idempotent request a second try on a new connection, and a request
// that could not be sent twice a quick check that the connection is
// still open.
//
// The edge decides which requests it carries (see edge.forwardable) and
// rewrites them; the rest goes through httputil as before.
package forward
