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
// for that response; nothing lengthens it. must-revalidate or
// proxy-revalidate forbids serving it stale.
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
// # Stale if error
//
// An expired response is kept for [Config].StaleIfError more. If its
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
