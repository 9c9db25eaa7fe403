// Package edge is rampart's HTTP edge: the reverse proxy that every request to
// a hosted service passes through.
//
// The edge is an enforcement point, so it knows nothing about the store, the
// API or the domain types (it does not import the root package; its
// [TrafficStats] are its own). A reconciler hands it a plain list of
// [Route]s with [Edge.SetRoutes]; the edge validates each route, compiles
// the valid ones into an immutable table and swaps that table in
// atomically. A route it refuses is left out alone, with a [RouteError]
// that names its service, so that one service's bad settings never take the
// others down; [RouteErrors] sorts them by service for status reporting.
// Requests look their route up with one map read on the current table,
// without locks, so configuration changes never stall traffic and requests
// already in flight finish on the table they started with.
//
// Each route's handler is a chain that ends in its upstreams (round-robin
// when a service has several), each carried by one of two forwarders. The
// edge's own, package forward, carries what it can carry exactly as
// httputil would: plain HTTP/1.1 to http:// upstreams without a base path,
// requests with no body or a Content-Length one, no upgrade, no Expect, an
// ASCII Host and a query that ReverseProxy would not re-encode (see
// forwardable). It writes the request head itself (the same rewrite as
// setForwarded makes), keeps bounded keep-alive pools per upstream (one
// per egress setting, like [UpstreamTransport]'s), parses the response
// head strictly and streams the body back without a goroutine or a
// header map of its own, which is most of what a proxied request cost.
// Everything else goes through a streaming [net/http/httputil.ReverseProxy]
// on the configured transport, as before; so does every request when
// [Config.Transport] is a RoundTripper of the caller's. TestForwardSameAsHTTPUtil
// checks that both give the client and the upstream the same.
//
// Where the forwarder differs from httputil on purpose: it refuses (502)
// an upstream response whose framing is ambiguous (Content-Length with
// Transfer-Encoding, a transfer coding other than chunked, obsolete line
// folding, bare LF) where net/http would pick one reading; it writes the
// head of a streamed response (no length, or an event stream) before
// reading its body, where ReverseProxy races a timer against the first
// body bytes, so such a head never gets a sniffed Content-Type; announced
// trailers are listed in the order the upstream announced them (net/http:
// map order); errors in the access log read differently ("the upstream
// closed the connection before sending a response" rather than "EOF").
// The status codes (502, 504, 499) are the same.
//
// Per-route middlewares — the rate limiter, then the output
// cache, each in its own package and of one shape: a Config with its own
// Validate, a wrapper around next, interface guards — are wrapped around
// that proxy where the table is built (see compileRoute), so that a request
// for an unknown host or a stopped service never reaches them, and a
// limited request costs no cache lookup. Their state (limiter counters,
// stored responses) lives in the Edge per service, so the chain can be
// rebuilt with every table.
//
// Per-service state (limiter counters, the cache namespace, traffic counts,
// metric series) belongs to the service's [Route.ID], not its name: on a
// shared node a name is deleted and taken again by another tenant, maybe
// within one table change, and the new service must start with nothing of
// the old one's, not even a response that a request still running on the
// old table stores after the swap (the cache refuses it). The state is
// bounded per service (see TestThousandServicesMemory for the figures): a
// limiter of at most DefaultLimiterClients clients, a share of the shared
// cache (cache.Options.MaxServiceBytes), 30 minutes of traffic counts.
//
// Everything around the route is shared and cheap: a request ID, one
// access-log line, Prometheus counters resolved per route when the table is
// built rather than per request, and small error pages that tell the visitor
// what is wrong without revealing internal addresses.
//
// What the upstream learns about the client comes from the edge alone: the
// headers in which a client could claim another address or scheme are
// dropped and replaced by the edge's own (see setForwarded), since several
// tenants' services share one edge and each must be able to trust them. A
// Via entry with a per-process pseudonym marks every proxied request, so
// that a service whose upstream is the edge itself gets 508 Loop Detected
// after one pass instead of multiplying its requests until a resource runs
// out; the check precedes the limiter and the cache.
//
// The edge is only an [http.Handler]. Listening, TLS and graceful shutdown
// belong to the caller's [http.Server]; [NewServer] builds one with timeouts
// suited to a public listener. In front of that server, package fastlane
// answers the plain requests for the hosts the edge routes ([Edge.Routed]):
// cache hits and misses alike, with the same handler and without
// net/http's per-request work.
package edge
