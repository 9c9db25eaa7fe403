// Package cache is rampart's output cache: a micro-cache in front of each
// service's upstream proxy.
//
// Its purpose is load shedding, not a CDN. A flood of identical GETs — a
// link on a busy forum, a monitoring script gone wild, a cheap DoS — should
// reach the application about once per TTL per URL, while pages stay at
// most a few seconds old. Hence a short default TTL (3 s), responses held
// in memory only, and safety rules that err on the side of not caching:
// serving one visitor's page to another is far worse than a miss.
//
// # Shape
//
// One [Cache] holds the responses of every service under one memory bound
// ([Options].MaxBytes). [Cache.Handler] wraps one service's proxy with that
// service's [Config]; handlers hold no state, so the edge rebuilds them on
// every route change and stored responses survive. [Cache.Purge] empties a
// service at once, [Cache.Stats] reports its hits, misses, bypasses and
// stale answers.
//
// # What is cached
//
// Only GET and HEAD requests without a body, Authorization, Cookie or
// Upgrade header (WebSocket); all others are passed through marked
// X-Cache: BYPASS. The request's own Cache-Control and Pragma are ignored,
// as nginx does: honouring no-cache would let any client send the flood
// through.
//
// A response is stored when it is final and complete (its Content-Length,
// if any, was delivered in full; the upstream did not break off), has one
// of the statuses 200, 203, 204, 300, 301, 308, 404 or 410, fits in
// MaxObjectBytes, and has none of: Set-Cookie; Cache-Control private,
// no-store or no-cache (with or without field names); a max-age or
// s-maxage of 0, or one that is not a number; Pragma: no-cache without a
// Cache-Control; an Expires in the past or invalid; Vary: * or Vary on
// more than 8 headers; Trailer; Content-Type text/event-stream. s-maxage
// (else max-age, else Expires), less the response's Age, shortens the TTL
// for that response; nothing lengthens it. must-revalidate,
// proxy-revalidate or s-maxage forbids serving it stale.
//
// An Expires is valid only in the three HTTP-date forms of RFC 9110
// §5.6.7, all in GMT: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), the
// obsolete RFC 850 form ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
// ("Sun Nov  6 08:49:37 1994"). Anything else ("0", "-1", a Unix time,
// another zone) means already expired. Its lifetime is Expires minus Date
// (or minus now, without a valid Date), less the Age the response arrived
// with (RFC 9111 §4.2.3), as for max-age.
//
// # CDN-Cache-Control
//
// A response with a non-empty CDN-Cache-Control (RFC 9213) is judged by it
// instead of Cache-Control: its directives are read with the same parser,
// and Cache-Control's max-age, s-maxage, no-cache, must-revalidate and
// proxy-revalidate, Expires and Pragma are ignored for the cache's
// decision. Without a lifetime in it the service's TTL applies. One
// exception, stricter than RFC 9213 §2.2: Cache-Control no-store or
// private still keeps the response out of the cache, because they are how
// an application keeps one visitor's page from another. Both headers are
// passed to clients unchanged: rampart does not remove CDN-Cache-Control
// (RFC 9213 lets a cache that used it keep it), so that a CDN in front of
// rampart, to which it is equally addressed, sees it too. An application
// that wants rampart alone to see it must strip it itself — or use
// Cache-Control's s-maxage, which every shared cache reads.
//
// # Invalidation by unsafe requests
//
// A request with an unsafe method (anything but GET, HEAD, OPTIONS and
// TRACE: POST, PUT, DELETE, PATCH and unknown methods) is passed through,
// marked BYPASS. If the upstream answers 2xx or 3xx, the cache drops what
// it holds for the request's URL and for the URLs in the answer's Location
// and Content-Location headers (relative ones resolved against the
// request's URL) that name the request's own host, under either scheme:
// RFC 9111 §4.4. URLs on other hosts are left alone, so one service cannot
// flush another's. The stored response, or the hit-for-pass marker, goes;
// for a URL whose responses vary, every variant stored so far is hidden.
// A fill for the URL that was under way stores nothing (it may have
// fetched the old version). Invalidation is by URL as sent: /a?x=1 does
// not touch /a?x=2, nor /a.
//
// # Where the defaults depart from RFC 9111
//
// rampart is a micro-cache for load shedding, and its default is to cache
// what the application did not say anything about. Exactly:
//
//   - Heuristic freshness (§4.2.2). A response with no explicit lifetime
//     (no max-age, s-maxage, CDN-Cache-Control lifetime or valid Expires)
//     is fresh for the service's TTL, 3 s by default, whatever its
//     Last-Modified. §4.2.2 allows a heuristic for the statuses cached;
//     rampart's is a fixed one, chosen per service, not a fraction of the
//     time since Last-Modified.
//   - Lifetimes are capped at the TTL. A max-age, s-maxage or Expires
//     longer than the service's TTL is shortened to it (a cache may always
//     drop a response early).
//   - Stale if error (§4.2.4). After an upstream 5xx or failure, an
//     expired response is served for StaleIfError (30 s by default),
//     although the response did not say stale-if-error (RFC 5861). A
//     response that does say stale-if-error=N gets the longer of the two
//     windows, N capped at MaxStaleIfError: the directive lengthens the
//     service's window, never shortens it, and cannot turn on what the
//     service turned off. must-revalidate, proxy-revalidate and s-maxage
//     turn this off for the response, and a negative StaleIfError for the
//     service.
//   - Request directives (§5.2.1). The request's Cache-Control (no-cache,
//     max-age=0, no-store…) and Pragma are ignored: honouring them would let
//     any client send a flood through to the application.
//
// Everything else rampart does differently is refusing to store, which
// RFC 9111 always allows (Set-Cookie, no-cache, Authorization…).
//
// An application opts out per response with any of:
//
//	Cache-Control: no-store          (or private, or no-cache)
//	Cache-Control: max-age=0         (or s-maxage=0)
//	Expires: 0                       (without a Cache-Control lifetime)
//	CDN-Cache-Control: no-store      (rampart and CDNs only, not browsers)
//
// and per service by turning the Output Cache off or lowering its TTL. To
// keep stale copies of a response from being served on errors, it sends
// must-revalidate (or s-maxage).
//
// The request rules cover the credentials HTTP knows about. An application
// that tells users apart by other means (an API-key header, the client's
// address) must mark such responses private or name the header in Vary.
//
// # Keys
//
// The primary key is service, scheme, host (lower case) and the request URI
// as sent (path and raw query: ?a=1&b=2 and ?b=2&a=1 are different keys).
// GET and HEAD share entries. When a response has a Vary header, a marker
// under the primary key lists the header names, and the response is stored
// under a variant key that adds the request's values of those headers, as
// sent: "gzip, br" and "br, gzip" are two variants.
//
// # Misses: collapsing and hit-for-pass
//
// Concurrent misses on one key make one upstream request. Its leader gets
// the response streamed as it arrives and a copy goes into the entry; the
// others wait on a channel that is closed the moment the outcome is known
// (no polling, unlike nginx's proxy_cache_lock, which re-checks every
// 500 ms) and are answered from the new entry, as HITs. Outcomes are
// decided as early as possible: when the status and header show the
// response is not storable, or its body outgrows MaxObjectBytes, the
// waiters are released at once and each goes upstream on its own, in
// parallel; the key is then marked hit-for-pass for one TTL, so that later
// requests skip the queue. A waiter gives up after [Options].LockTimeout
// and goes upstream itself (or serves a stale copy).
//
// A HEAD miss fetches with GET, so that the entry can answer GETs too; its
// client gets the header only. A conditional miss (If-None-Match…) fetches
// unconditionally so the entry is complete, and its client gets a 200;
// later conditional requests are answered 304 from the entry. A Range miss
// never leads a fill (a large file would arrive whole instead of the part
// asked for): it waits for a fill under way, or goes upstream uncached.
// Range requests on a stored 200 are answered from it (206).
//
// # Revalidation
//
// An expired response with a validator (a single ETag or Last-Modified) is
// kept a while longer — the longer of the TTL and StaleIfError — to be
// revalidated (RFC 9111 §4.3): the next request for it leads a fill that
// sends the upstream If-None-Match with the ETag and If-Modified-Since
// with the Last-Modified, in place of the client's own conditional
// headers. A 304 refreshes the entry (§4.3.4): the 304's header fields
// replace the stored ones of the same name, freshness is judged anew on
// the result (so the 304's Cache-Control, Expires, Date and Age count),
// and the stored body is served with the new header, marked X-Cache: MISS
// (it went upstream), to the leader and its waiters alike; a client's own
// conditional or Range request is then answered from the refreshed entry.
// If the refreshed header forbids storing (no-store, Set-Cookie…), this
// one request is still answered from it and the entry is dropped; a
// Set-Cookie of the 304 goes to that one client with it (its waiters go
// upstream themselves, as for any response not stored). A full
// response replaces the entry as on any miss, and a 5xx falls back on
// stale-if-error as below. A response without a validator is fetched
// again in full. Being kept for revalidation is not being served stale: a
// must-revalidate or s-maxage response is revalidated, never served
// stale.
//
// # Stale while revalidate
//
// A response whose Cache-Control (or CDN-Cache-Control, when that decides)
// says stale-while-revalidate=N may, for N seconds after it expires, be
// served at once, marked X-Cache: STALE, while one request refreshes it in
// the background (RFC 5861 §3). The first request in the window starts the
// refresh and is answered from the stale copy like every request after it
// until the refresh is done; none waits for the upstream. The refresh is a
// plain GET copied from the request that started it (without its Range and
// conditional fields; revalidating with the entry's own validators, as
// above), on a context that request's end does not cancel, bounded by a
// minute. Its response is stored as any fill's; if it fails, the stale copy
// stays, for the rest of the window (and for stale-if-error, if the
// service allows it). It counts in no statistics: only the answers to
// clients do. A Background hook (HandlerWithBackground) sees each refresh,
// with the status the upstream answered: the edge gives it a request ID
// and a log line of their own. N is capped at the longest of the TTL, StaleIfError and the
// response's own stale-if-error, the time an expired entry is kept anyway; must-revalidate, proxy-revalidate
// and s-maxage forbid it (RFC 9111 §4.2.4), and a value that is not
// delta-seconds grants nothing. Without the directive, nothing is served
// stale except on errors. At most 64 refreshes of one service run in the
// background at once: a client answered at once can ask for the next URL
// at once, so nothing else would bound them. Past that, a refresh is made
// while its client waits, as without the directive.
//
// # Stale if error
//
// An expired response is kept for [Config].StaleIfError more, or for the
// response's own stale-if-error=N if that is longer. If its
// refresh fails — the upstream answers 5xx, or cannot be reached and the
// proxy writes its 502/504 page — the error is discarded and the stale copy
// served, marked X-Cache: STALE; requests waiting for that refresh get it
// too. A request that finds the refresh still under way waits for it (a
// fresh answer is at most one upstream round trip away), up to LockTimeout.
//
// # Headers
//
// Every response through a cache handler carries X-Cache: HIT (stored,
// fresh), MISS (went upstream: a cold or expired key, hit-for-pass, a
// waiter released to go on its own), BYPASS (the request is not
// cacheable) or STALE; hits and stale answers carry Age (seconds since
// stored, plus the Age the upstream sent). A disabled cache adds nothing.
// An X-Cache header the upstream sent is replaced by ours when its
// response passes through a fill (and is never stored); on other misses
// and bypasses, where the response is passed through untouched, it follows
// ours.
//
// # Memory
//
// Each entry is charged its body, header, key and a fixed overhead.
// Eviction is CLOCK: a hit sets a bit, the hand clears it, and entries past
// their TTL (serving stale only) or purged go first. Each insert also
// sweeps a few slots for entries past their stale window, so memory comes
// back without a background goroutine. No object may exceed a quarter of
// MaxBytes, nor a service's share.
//
// One service's responses take at most MaxServiceBytes (a quarter of
// MaxBytes by default): past it, its new responses push out its own oldest
// ones, so a service that stores faster than it is hit, by accident or by
// spraying distinct URLs, cannot take the cache from the others. A
// service's namespace is its ID (the edge passes the service's ID, not its
// name), and Forget, when a service is deleted, refuses the responses its
// requests still in flight try to store.
//
// # Purge
//
// Purge bumps the service's generation: entries and fills of older
// generations are invisible at once and a fill that began before the purge
// stores nothing. It then drops the service's entries from memory.
//
// # Speed
//
// A hit on a hot key takes no lock: a small array in front of the sharded
// maps holds recently used entries, read with one atomic load. The stored
// header is precomputed, the body is one []byte written in one call, and
// the X-Cache and Age values are shared slices, so a hit allocates nothing
// of its own.
package cache
