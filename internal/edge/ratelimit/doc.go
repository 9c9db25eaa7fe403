// Package ratelimit is rampart's per-client request rate limiter for the
// edge: by default 150 requests per minute per client IP address.
//
// # Algorithm
//
// The limiter uses GCRA, the generic cell rate algorithm. Each client has one
// number, its theoretical arrival time (TAT): the moment at which its quota
// would be full again if it sent nothing more. With an emission interval
// T = Period/Requests and a burst of Requests, a request at time now is
// allowed when max(TAT, now) + T - Requests·T <= now, and then moves TAT on by
// T. This is a token bucket written as a single timestamp, so it gives what
// the product promises with O(1) state and O(1) work per request:
//
//   - a new client may send the whole amount at once (150 requests), then
//     one more every T (400 ms at 150/minute);
//   - a client that keeps within the rate is never limited, whether or not it
//     used its burst first;
//   - the wait it is told after a refusal is exact: a request sent
//     [Decision.RetryAfter] later is allowed. Retry-After is rounded up to
//     whole seconds, so waiting what the header says always succeeds.
//
// T is rounded down to whole nanoseconds (at 7 requests per second it is
// 142,857,142 ns), which errs in the client's favour by less than a
// nanosecond per request.
//
// # Who is a client
//
// A client is an IPv4 address, or an IPv6 /64: one IPv6 host usually owns a
// whole /64 and can change the low 64 bits at will. IPv4-mapped IPv6
// addresses (::ffff:192.0.2.1) count as the IPv4 address. The caller decides
// the address; the edge takes it from its trusted-proxy logic, never from a
// header that an untrusted peer sent. Addresses in the allow-list, and
// requests without a valid address (a Unix socket), are never limited.
//
// # The memory bound
//
// Clients are spread by a seeded hash over shards of at most 3,072 clients
// (more above 3 million, where the shard count stops at 1,024), each with
// its own mutex, so requests from different clients rarely wait
// for one another. A shard is an open-addressing table of 16-byte entries
// (an 8-byte client key, an 8-byte TAT) that grows as clients arrive, up to
// 4,096 slots, and is never more than 3/4 full. [Options.MaxClients]
// (default 1,000,000) bounds the number of tracked clients, and with it the
// memory: at the default at most 326 shards × 64 KiB ≈ 20.4 MiB, whatever
// arrives (measured: 22.8 bytes per tracked client at the bound).
//
// An entry whose TAT has passed carries no information: a client with no
// entry gets exactly the same answer. So a shard that is full first drops its
// expired entries. Only if that frees less than an eighth of the shard does
// it evict live entries, and then those that would expire soonest, that is
// the clients that have used the least of their quota (ties at random). An
// evicted client is forgotten: its next request counts as a new client's,
// with a full burst. A client that is being limited has used its whole
// quota, so it is the last to be forgotten. This only happens while more
// than MaxClients clients are active at once: each allowed request keeps its
// client tracked for at most T longer, so that takes more than MaxClients/T
// allowed requests per second, 2.5 million per second at 150/minute.
// [Stats] counts every eviction.
//
// Shards also drop expired entries every so often as new clients arrive and
// when [Limiter.Stats] is called, and shrink their table when it is nearly
// empty, so memory follows the active clients rather than the largest spray
// ever seen. There is no background goroutine and nothing to close.
//
// # As middleware
//
// [Limiter.Wrap] puts a limiter in front of a handler, in the shape of the
// edge's other middlewares: a [Config] that validates itself, a wrapper
// around next, interface guards. The [Handler] it returns holds no counters,
// so the edge rebuilds it with every routing table while the Limiter, kept
// per service, remembers what each client has used. [HandlerOptions] let
// the edge decide the client's address with its trusted-proxy logic and
// learn of each refusal for its access log, metrics and dashboard.
//
// # Headers
//
// [Decision.WriteHeaders] writes the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11 (May 2026) and, on a refusal,
// Retry-After. The policy is named "ip" (not "default") so that it cannot be
// confused with a policy that an upstream application announces itself:
//
//	RateLimit-Policy: "ip";q=150;w=60
//	RateLimit: "ip";r=149;t=1
//
// r is the number of requests the client may send now. While r > 0, t is
// the number of seconds until the quota is full again if the client sends
// nothing more; when r = 0, t is the number of seconds until the next request
// is allowed, the same moment as Retry-After on a refusal (the draft wants
// Retry-After no earlier than the end of the effective window).
package ratelimit
