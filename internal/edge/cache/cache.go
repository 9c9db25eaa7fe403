package cache

import (
	"encoding/binary"
	"hash/maphash"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a [Cache]. The zero value works.
type Options struct {
	// MaxBytes bounds the memory of all stored responses together: bodies,
	// headers and bookkeeping. 0: [DefaultMaxBytes].
	MaxBytes int64

	// MaxServiceBytes bounds what one service's responses may take of
	// MaxBytes, so that one busy service (or one that sprays distinct
	// URLs on purpose) cannot push every other service's responses out:
	// past its share, a service's new responses evict its own oldest.
	// 0: a quarter of MaxBytes; more than MaxBytes: MaxBytes.
	MaxServiceBytes int64

	// LockTimeout bounds how long a request waits for another request's
	// upstream fetch of the same key; then it serves a stale copy if it
	// has one, or goes upstream itself. 0: [DefaultLockTimeout].
	LockTimeout time.Duration

	// Now is the clock for TTLs and Age. Nil: [time.Now].
	Now func() time.Time

	// ErrorLog is where a background refresh that panicked is reported
	// (stale-while-revalidate: no server recovers it). Nil:
	// [slog.Default].
	ErrorLog *slog.Logger
}

// Cache is the output cache shared by every service: one store, one memory
// bound. Its state lives here rather than in handlers, so handlers can be
// rebuilt on every configuration change without losing stored responses.
// It is safe for concurrent use; create it with [New].
type Cache struct {
	now         func() time.Time
	maxBytes    int64
	shareBytes  int64 // MaxServiceBytes
	lockTimeout time.Duration
	seed        maphash.Seed
	errorLog    *slog.Logger

	shards [numShards]shard
	front  [frontSize]atomic.Pointer[entry]

	bytes atomic.Int64 // charged by all live entries
	count atomic.Int64 // live entries, markers included
	gens  atomic.Uint64
	seq   atomic.Uint64 // numbers fills and invalidations (entry.seq, entry.floor)

	mu    sync.Mutex // guards the CLOCK ring and its hands
	ring  []*entry
	hand  int // eviction
	swept int // sweeping
	share int // evicting within a service over its share

	svcMu    sync.Mutex
	services map[string]*service
}

// service is one service's state in the cache: its generation, bumped by
// Purge, its memory, and its counters.
type service struct {
	name string
	gen  atomic.Uint64
	// forgotten is set by Forget: the service is gone, and a request that
	// was still running on one of its handlers stores nothing, so that a
	// late response neither lingers in memory nor outlives its service.
	forgotten atomic.Bool
	bytes     atomic.Int64 // charged by its live entries

	hits, misses, bypasses, stale atomic.Uint64
	refreshes                     atomic.Int64 // background refreshes under way (stale-while-revalidate)
}

// New returns an empty cache.
func New(opts Options) *Cache {
	c := &Cache{
		now:         opts.Now,
		maxBytes:    opts.MaxBytes,
		lockTimeout: opts.LockTimeout,
		seed:        maphash.MakeSeed(),
		errorLog:    opts.ErrorLog,
		services:    make(map[string]*service),
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.errorLog == nil {
		c.errorLog = slog.Default()
	}
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxBytes
	}
	c.shareBytes = opts.MaxServiceBytes
	if c.shareBytes <= 0 {
		c.shareBytes = c.maxBytes / 4
	}
	c.shareBytes = min(c.shareBytes, c.maxBytes)
	if c.lockTimeout <= 0 {
		c.lockTimeout = DefaultLockTimeout
	}
	return c
}

// Handler wraps next, the upstream proxy of one service, with the cache
// under cfg. A disabled cfg returns next itself. Handlers are cheap: build
// a new one whenever the service's configuration changes; the responses
// stored for the service stay.
func (c *Cache) Handler(service string, cfg Config, next http.Handler) http.Handler {
	return c.HandlerWithBackground(service, cfg, next, nil)
}

// Background runs a background refresh of a stale response
// (stale-while-revalidate): it calls serve once, with w or a writer that
// wraps it, and serve returns the status the upstream answered (0 if none
// came). r is the refresh's own request, a GET made from the client's that
// started it: the hook may change its header before serve (a request ID of
// its own) and record what is written, for a log line. Nothing written to
// w reaches a client; a 304 or a 5xx that leaves the stale copy in place
// writes nothing to it.
type Background func(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter) int)

// HandlerWithBackground is Handler, with bg run around each of the
// handler's background refreshes. nil bg: they run unobserved.
func (c *Cache) HandlerWithBackground(service string, cfg Config, next http.Handler, bg Background) http.Handler {
	if cfg.Disabled {
		return next
	}
	prefix := binary.AppendUvarint(nil, uint64(len(service)))
	prefix = append(prefix, service...)
	return &handler{
		c:      c,
		s:      c.service(service),
		set:    cfg.resolve(c.maxBytes, c.shareBytes),
		next:   next,
		prefix: string(prefix),
		bg:     bg,
	}
}

// service returns the state of the named service, creating it.
func (c *Cache) service(name string) *service {
	c.svcMu.Lock()
	defer c.svcMu.Unlock()
	s := c.services[name]
	if s == nil {
		s = &service{name: name}
		s.gen.Store(c.gens.Add(1))
		c.services[name] = s
	}
	return s
}

// Purge drops every response stored for the service and returns how many
// there were. It takes effect at once: a fill that was already on its way
// stores nothing, and the next request for each URL goes upstream.
func (c *Cache) Purge(service string) int {
	c.svcMu.Lock()
	s := c.services[service]
	c.svcMu.Unlock()
	if s == nil {
		return 0
	}
	return c.purge(s)
}

func (c *Cache) purge(s *service) int {
	// Generations come from one counter, so no entry of any service can
	// match the new one.
	s.gen.Store(c.gens.Add(1))

	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for i, e := range c.ring {
		if e == nil || e.svc != s {
			continue
		}
		c.ring[i] = nil
		if c.remove(e) && e.kind == kindResponse {
			n++
		}
	}
	return n
}

// Forget purges the service and drops its counters; call it when the
// service is deleted. Handlers built for it before keep working, uncounted,
// and store nothing: a response that was on its way when the service went
// is not kept. A later Handler for the same name starts a new namespace
// that shares nothing with the forgotten one.
func (c *Cache) Forget(service string) {
	c.svcMu.Lock()
	s := c.services[service]
	delete(c.services, service)
	c.svcMu.Unlock()
	if s == nil {
		return
	}
	// Before the purge bumps the generation: a fill that reads the new
	// generation then also sees the flag (see insert).
	s.forgotten.Store(true)
	c.purge(s)
}

// Stats counts what the cache did with one service's requests. Every
// request that reaches a cache handler is counted once.
type Stats struct {
	Hits     uint64 `json:"hits"`     // answered from a fresh stored response
	Misses   uint64 `json:"misses"`   // cacheable-looking, went upstream
	Bypasses uint64 `json:"bypasses"` // not cacheable by request (method, Authorization, Cookie…)
	Stale    uint64 `json:"stale"`    // answered from an expired copy: the upstream failed, or stale-while-revalidate
}

// ServiceBytes returns the memory that one service's stored responses take
// (0 for an unknown one).
func (c *Cache) ServiceBytes(service string) int64 {
	c.svcMu.Lock()
	s := c.services[service]
	c.svcMu.Unlock()
	if s == nil {
		return 0
	}
	return s.bytes.Load()
}

// Stats returns the counters of one service (zero for an unknown one).
func (c *Cache) Stats(service string) Stats {
	c.svcMu.Lock()
	s := c.services[service]
	c.svcMu.Unlock()
	if s == nil {
		return Stats{}
	}
	return s.stats()
}

// AllStats returns the counters of every service that has a handler.
func (c *Cache) AllStats() map[string]Stats {
	c.svcMu.Lock()
	defer c.svcMu.Unlock()
	m := make(map[string]Stats, len(c.services))
	for name, s := range c.services {
		m[name] = s.stats()
	}
	return m
}

func (s *service) stats() Stats {
	return Stats{Hits: s.hits.Load(), Misses: s.misses.Load(), Bypasses: s.bypasses.Load(), Stale: s.stale.Load()}
}

// Usage is the cache's memory use.
type Usage struct {
	Entries  int64 `json:"entries"` // stored responses and markers
	Bytes    int64 `json:"bytes"`
	MaxBytes int64 `json:"max_bytes"`
	// MaxServiceBytes is the most one service's responses may take.
	MaxServiceBytes int64 `json:"max_service_bytes"`
}

// Usage returns the cache's current memory use.
func (c *Cache) Usage() Usage {
	return Usage{Entries: c.count.Load(), Bytes: c.bytes.Load(), MaxBytes: c.maxBytes, MaxServiceBytes: c.shareBytes}
}
