package cache

import (
	"hash/maphash"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// kind tells what an entry holds.
type kind uint8

const (
	kindResponse kind = iota // a stored response
	kindVary                 // responses for this URL vary: look up the variant key
	kindPass                 // hit-for-pass: the last response was not storable
)

// entry is one stored response, or a marker under a URL's primary key.
// Everything but the two flags is immutable once the entry is stored, so
// readers share it without locks.
type entry struct {
	key  string
	hash uint64
	svc  *service
	gen  uint64 // svc's generation when the fill began
	kind kind
	vary []string // kindVary: the canonical header names
	// seq is the sequence number of the fill that stored a response;
	// floor, of a Vary marker, is the highest seq that an unsafe request
	// invalidated: variants with seq ≤ floor are not used.
	seq, floor uint64

	status  int
	header  []headerField // precomputed at store time
	body    []byte
	lastMod time.Time // for conditional and range requests

	stored  time.Time
	age0    int64     // the Age (seconds) the response arrived with
	expires time.Time // end of freshness
	// staleUntil is the end of the entry's life: of its stale-if-error
	// or stale-while-revalidate window, or later for a response with a
	// validator, kept to be revalidated (RFC 9111 §4.3) but not served
	// stale.
	staleUntil time.Time
	staleEnd   time.Time // end of the stale-if-error window; == expires without one
	swrEnd     time.Time // end of the stale-while-revalidate window; == expires without one
	etag       string    // validators sent when revalidating; "" when absent
	lastModRaw string
	size       int64 // bytes charged against MaxBytes

	ref  atomic.Bool // CLOCK reference bit: hit since the hand last passed
	dead atomic.Bool // removed; its bytes are no longer counted
}

// headerField is one stored header. values has cap == len, so that a
// writer that appends to the slice it got on a hit copies it instead of
// writing into the stored array.
type headerField struct {
	name   string
	values []string
}

// alive reports whether e may still be used at all: its service was not
// purged since, and it is within its freshness or stale window.
func (e *entry) alive(now time.Time) bool {
	return e.gen == e.svc.gen.Load() && now.Before(e.staleUntil)
}

// entryOverhead approximates what an entry costs beyond its key, header and
// body: the struct, its map slot, its ring slot.
const entryOverhead = 256

// fill is one upstream request that fills a key; concurrent misses on the
// key wait for it instead of going upstream themselves.
type fill struct {
	key  string
	hash uint64
	gen  uint64
	seq  uint64        // from Cache.seq: orders fills against invalidations
	done chan struct{} // closed when outcome is set
	// invalid is set when an unsafe request invalidated the key while the
	// fill was under way: what it fetched may predate the change.
	invalid atomic.Bool

	// Written by the leader before done is closed.
	outcome outcome
	entry   *entry
}

type outcome uint8

const (
	outStored outcome = iota + 1 // entry holds the new response
	outPass                      // not storable: waiters go upstream on their own
	outFailed                    // upstream error: waiters serve stale or go upstream
	outRetry                     // abandoned or purged: waiters look again
)

// Sharding spreads the lock of the entry maps; the front array makes the
// common case, a hit on a hot key, lock-free.
const (
	shardBits = 5
	numShards = 1 << shardBits
	frontSize = 4096
)

type shard struct {
	mu      sync.RWMutex
	entries map[string]*entry
	fills   map[string]*fill
	_       [64]byte // keep neighbouring shards' locks off one cache line
}

func (c *Cache) hashKey(key []byte) uint64 { return maphash.Bytes(c.seed, key) }

func (c *Cache) shardOf(h uint64) *shard { return &c.shards[h>>(64-shardBits)] }

// get returns the entry stored under key, dead or alive as far as its
// service goes (the caller checks), or nil.
func (c *Cache) get(key []byte, h uint64) *entry {
	slot := &c.front[h%frontSize]
	if e := slot.Load(); e != nil && e.key == string(key) && !e.dead.Load() {
		return e
	}
	sh := c.shardOf(h)
	sh.mu.RLock()
	e := sh.entries[string(key)]
	sh.mu.RUnlock()
	if e != nil {
		slot.Store(e)
		// kill clears the slot after marking e dead; if it ran between
		// the map read and the Store, undo the Store.
		if e.dead.Load() {
			slot.CompareAndSwap(e, nil)
			return nil
		}
	}
	return e
}

// pending returns the fill in flight for key, or nil.
func (c *Cache) pending(key []byte, h uint64, s *service) *fill {
	sh := c.shardOf(h)
	sh.mu.RLock()
	f := sh.fills[string(key)]
	sh.mu.RUnlock()
	if f != nil && f.gen != s.gen.Load() {
		return nil
	}
	return f
}

// claim is called on a miss. Under the shard lock it finds the fill in
// flight for key (the caller waits for it), or something usable stored
// since the caller looked (the caller looks again), or else registers a new
// fill with the caller as its leader.
// floor is the Vary marker's (see lookup): a variant at or below it does
// not count as stored.
func (c *Cache) claim(key []byte, h uint64, s *service, now time.Time, floor uint64) (f *fill, leader bool) {
	sh := c.shardOf(h)
	gen := s.gen.Load()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	// A fill begun before a purge cannot store anything: don't wait for it.
	if f := sh.fills[string(key)]; f != nil && f.gen == gen {
		return f, false
	}
	if e := sh.entries[string(key)]; e != nil && !e.dead.Load() && e.svc == s && e.alive(now) &&
		(e.kind != kindResponse || now.Before(e.expires) && e.seq > floor) {
		return nil, false
	}
	f = &fill{key: string(key), hash: h, gen: gen, seq: c.seq.Add(1), done: make(chan struct{})}
	if sh.fills == nil {
		sh.fills = make(map[string]*fill)
	}
	sh.fills[f.key] = f
	return f, true
}

// finish ends fill f with outcome o and wakes its waiters.
func (c *Cache) finish(f *fill, o outcome, e *entry) {
	sh := c.shardOf(f.hash)
	sh.mu.Lock()
	if sh.fills[f.key] == f {
		delete(sh.fills, f.key)
	}
	sh.mu.Unlock()
	f.outcome, f.entry = o, e
	close(f.done)
}

// insert stores e under its key, replacing what was there, unless e's
// service was purged since its fill began or is forgotten. It reports
// whether e was stored.
func (c *Cache) insert(e *entry, now time.Time) bool {
	sh := c.shardOf(e.hash)
	sh.mu.Lock()
	if e.gen != e.svc.gen.Load() || e.svc.forgotten.Load() {
		sh.mu.Unlock()
		return false
	}
	if sh.entries == nil {
		sh.entries = make(map[string]*entry)
	}
	old := sh.entries[e.key]
	sh.entries[e.key] = e
	c.bytes.Add(e.size)
	e.svc.bytes.Add(e.size)
	c.count.Add(1)
	sh.mu.Unlock()
	if old != nil {
		c.kill(old)
	}
	c.track(e, now)
	return true
}

// kill marks e dead and uncounts it. Only the first call counts.
func (c *Cache) kill(e *entry) bool {
	if !e.dead.CompareAndSwap(false, true) {
		return false
	}
	c.bytes.Add(-e.size)
	e.svc.bytes.Add(-e.size)
	c.count.Add(-1)
	c.front[e.hash%frontSize].CompareAndSwap(e, nil)
	return true
}

// remove takes e out of its shard, if it is still there, and kills it.
func (c *Cache) remove(e *entry) bool {
	sh := c.shardOf(e.hash)
	sh.mu.Lock()
	if sh.entries[e.key] == e {
		delete(sh.entries, e.key)
	}
	sh.mu.Unlock()
	return c.kill(e)
}

// sweepStep is how many ring slots each insert examines for entries that
// can no longer be used, so that memory is given back without a
// background goroutine.
const sweepStep = 4

// track puts a stored entry on the CLOCK ring and evicts until the cache is
// within its memory bound. Lock order: c.mu, then a shard's.
func (c *Cache) track(e *entry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ring = append(c.ring, e)
	c.sweep(now)
	for e.svc.bytes.Load() > c.shareBytes && c.evictShare(e.svc, e) {
	}
	for c.bytes.Load() > c.maxBytes && c.evictOne(now) {
	}
	if n := int(c.count.Load()); len(c.ring) > 2*n+64 {
		c.compact()
	}
}

// sweep drops dead, purged and expired-beyond-stale entries from the next
// few ring slots.
func (c *Cache) sweep(now time.Time) {
	for range min(sweepStep, len(c.ring)) {
		if c.swept >= len(c.ring) {
			c.swept = 0
		}
		i := c.swept
		c.swept++
		e := c.ring[i]
		if e == nil {
			continue
		}
		if !e.dead.Load() && e.alive(now) {
			continue
		}
		c.remove(e)
		c.ring[i] = nil
	}
}

// evictOne removes one entry chosen by CLOCK: entries that cannot serve
// fresh any more (stale-only, purged) go at once; fresh ones that were hit
// since the hand last passed get a second chance. It reports false when a
// full turn freed nothing.
func (c *Cache) evictOne(now time.Time) bool {
	n := len(c.ring)
	for range 2*n + 1 {
		if c.hand >= n {
			c.hand = 0
		}
		i := c.hand
		c.hand++
		e := c.ring[i]
		if e == nil {
			continue
		}
		if e.dead.Load() {
			c.ring[i] = nil
			continue
		}
		if e.alive(now) && now.Before(e.expires) && e.ref.Load() {
			e.ref.Store(false)
			continue
		}
		c.ring[i] = nil
		if c.remove(e) {
			return true
		}
	}
	return false
}

// evictShare removes one entry of s other than keep, the oldest that a
// hand of its own finds, for a service over its share of the cache. It
// reports false when s has no other entry. Oldest first rather than CLOCK:
// a service over its share is one that stores faster than its entries are
// hit, and it pays with its own entries, not the other services'.
func (c *Cache) evictShare(s *service, keep *entry) bool {
	n := len(c.ring)
	for range n {
		if c.share >= n {
			c.share = 0
		}
		i := c.share
		c.share++
		e := c.ring[i]
		if e == nil || e.svc != s || e == keep {
			continue
		}
		c.ring[i] = nil
		if c.remove(e) {
			return true
		}
	}
	return false
}

// compact squeezes the holes out of the ring.
func (c *Cache) compact() {
	live := make([]*entry, 0, int(c.count.Load())+16)
	for _, e := range c.ring {
		if e != nil && !e.dead.Load() {
			live = append(live, e)
		}
	}
	c.ring, c.hand, c.swept, c.share = live, 0, 0, 0
}

// newEntry builds a response entry: the header is copied into its stored
// form, and the entry is charged for what it keeps in memory.
func newEntry(key string, h uint64, f *fill, s *service, status int, hdr http.Header, body []byte, v *verdict, set *settings, now time.Time) *entry {
	e := &entry{
		key: key, hash: h, svc: s, gen: f.gen, seq: f.seq, kind: kindResponse,
		status: status, body: body,
		stored: now, age0: v.age,
		expires: now.Add(v.ttl),
	}
	e.staleEnd = e.expires
	if v.staleOK {
		e.staleEnd = e.expires.Add(max(set.stale, v.sie))
	}
	e.staleUntil = e.staleEnd
	e.swrEnd = e.expires.Add(v.swr)
	e.staleUntil = later(e.staleUntil, e.swrEnd)
	if vals := hdr["Etag"]; len(vals) == 1 {
		e.etag = vals[0]
	}
	if vals := hdr["Last-Modified"]; len(vals) == 1 {
		e.lastModRaw = vals[0]
	}
	if e.etag != "" || e.lastModRaw != "" {
		// Worth keeping past its freshness a while: a 304 to a
		// conditional request is cheaper than the whole response.
		e.staleUntil = later(e.staleUntil, e.expires.Add(max(set.stale, set.ttl)))
	}
	e.header, e.size = storedHeader(hdr, len(body), status)
	e.size += int64(len(key)+len(body)) + entryOverhead
	if lm, err := http.ParseTime(hdr.Get("Last-Modified")); err == nil {
		e.lastMod = lm
	}
	return e
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// canServeStale reports whether e is within its stale-if-error window.
func (e *entry) canServeStale(now time.Time) bool {
	return e.alive(now) && now.Before(e.staleEnd)
}

// canServeWhileRevalidating reports whether e is within its
// stale-while-revalidate window (RFC 5861 §3).
func (e *entry) canServeWhileRevalidating(now time.Time) bool {
	return e.alive(now) && now.Before(e.swrEnd)
}

// newMarker builds a Vary or hit-for-pass marker for a primary key.
func newMarker(k kind, key string, h uint64, f *fill, s *service, vary []string, expires, staleUntil time.Time) *entry {
	e := &entry{
		key: key, hash: h, svc: s, gen: f.gen, kind: k, vary: vary,
		expires: expires, staleUntil: staleUntil,
	}
	e.size = int64(len(key)) + entryOverhead
	for _, v := range vary {
		e.size += int64(len(v)) + 16
	}
	return e
}
