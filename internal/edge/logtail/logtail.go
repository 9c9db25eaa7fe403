// Package logtail is the edge's short memory of the requests it handled,
// behind `rampart logs` and the dashboard's Logs tab: a ring buffer of the
// most recent entries of each service, and subscriptions that follow new
// ones as they arrive.
//
// [Log.Publish] is the edge's OnRequest hook, so it runs on every request,
// on the request's goroutine. It never waits for a reader and does not
// allocate once a ring has filled:
//   - it copies the entry into the next slot of its service's ring, the text
//     into the slot's own reused buffer, so that the ring keeps no request
//     memory alive and an entry's size is bounded;
//   - it tells each subscriber that follows the service that the ring moved,
//     with a non-blocking send on a channel of capacity one.
//
// The ring is also every subscriber's buffer: a subscriber keeps a position
// per ring and reads forward from it. One that falls more than a ring behind
// (a slow network, a stuck client) loses the oldest entries, and Read says
// how many, so that the stream can tell its reader. Memory does not grow
// with the number of subscribers, and nothing waits for anybody except that
// Publish and a reader copying entries out take turns on a ring's mutex,
// which a reader holds for at most readChunk entries at a time.
//
// Bounds: PerService entries per service (1,000 by default), requests for
// hosts that no service has in a ring of their own, so that a scanner's
// noise does not push a service's entries out. An entry takes about 150
// bytes plus its text: at most about 2 KB (paths are cut at 1 KiB, errors
// at 512 bytes), typically about 250 bytes, so a busy service's ring is
// some 250 KB. Rings grow as entries come, so quiet services use little.
// [Log.Retain] drops the rings of services that are gone.
package logtail

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart/internal/edge"
)

// Defaults of Options.
const (
	// DefaultPerService is how many entries each service's ring keeps: the
	// most a reader can ask for, and how far a follower may fall behind
	// before it loses entries.
	DefaultPerService = 1000
	// DefaultMaxSubscribers bounds the subscriptions open at once. Publish
	// looks at each of them on every request, so the bound is also a bound
	// on what following costs the edge.
	DefaultMaxSubscribers = 64
)

// Bounds of an entry's text. Longer values are cut and end in "…".
const (
	maxHost      = 253 // the edge cuts hosts there already
	maxMethod    = 32
	maxPath      = 1024
	maxRequestID = 64 // the edge accepts no longer ones
	maxError     = 512
	maxMessage   = 4096 // runtime.MaxLogLine
)

// readChunk is how many entries a reader copies out per hold of a ring's
// mutex, so that Publish never waits behind a long copy.
const readChunk = 64

// Errors of Subscribe.
var (
	ErrClosed  = errors.New("logtail: the log is closed")
	ErrTooMany = errors.New("logtail: too many subscriptions")
)

// Options bound a Log. The zero value works.
type Options struct {
	PerService     int // entries kept per service; 0: DefaultPerService
	MaxSubscribers int // subscriptions open at once; 0: DefaultMaxSubscribers
}

// Log holds the recent entries of every service. Create it with New; it is
// safe for concurrent use.
type Log struct {
	perService int
	maxSubs    int
	// epoch tells this process's cursors from another's: after a restart
	// the rings start over, and an old cursor must not skip new entries.
	epoch uint64

	// Both are replaced whole under mu (copy on write), so that Publish
	// reads them without a lock.
	rings atomic.Pointer[map[string]*ring]
	subs  atomic.Pointer[[]*Subscription]

	mu       sync.Mutex
	closed   bool
	nextRing uint64
}

// New returns an empty log.
func New(o Options) *Log {
	l := &Log{perService: o.PerService, maxSubs: o.MaxSubscribers, epoch: rand.Uint64()}
	if l.perService <= 0 {
		l.perService = DefaultPerService
	}
	if l.maxSubs <= 0 {
		l.maxSubs = DefaultMaxSubscribers
	}
	l.rings.Store(&map[string]*ring{})
	l.subs.Store(&[]*Subscription{})
	return l
}

// PerService is how many entries the log keeps per service.
func (l *Log) PerService() int { return l.perService }

// ring is one service's recent entries.
type ring struct {
	id      uint64
	service string

	mu    sync.Mutex
	slots []slot // grows to the log's perService, then wraps
	size  int    // the log's perService
	n     uint64 // entries ever written; entry p is in slots[p % size]
}

// oldest is the position of the oldest entry still kept. Call with mu held.
func (r *ring) oldest() uint64 { return r.n - uint64(len(r.slots)) }

// slot is one entry, with its text in a buffer of its own that is reused
// when the slot is overwritten.
type slot struct {
	at       time.Time
	dur      time.Duration
	bytes    int64
	status   int
	clientIP netip.Addr
	upstream string // from the routing table: long-lived, not request memory
	id       string // the service's ID, from the routing table too
	cache    string // one of the edge's constants
	limited  bool
	source   string // "" or edge.SourceApp
	stream   string // "", "stdout" or "stderr"
	// text holds host, method, path, request ID, error and message, in
	// that order; ends[i] is where the i-th ends.
	ends [6]uint16
	text []byte
}

func (s *slot) fill(e *edge.LogEntry) {
	s.at, s.dur, s.bytes, s.status = e.Time, e.Duration, e.Bytes, e.Status
	s.clientIP, s.upstream, s.cache, s.limited = e.ClientIP, e.Upstream, e.Cache, e.Limited
	s.id = e.ServiceID
	s.source, s.stream = e.Source, "" // constants only: not request memory
	switch e.Stream {
	case "stdout":
		s.stream = "stdout"
	case "stderr":
		s.stream = "stderr"
	}
	if e.Source != "" {
		s.source = edge.SourceApp
	}
	t := s.text[:0]
	for i, f := range [...]struct {
		s   string
		max int
	}{{e.Host, maxHost}, {e.Method, maxMethod}, {e.Path, maxPath}, {e.RequestID, maxRequestID}, {e.Error, maxError}, {e.Message, maxMessage}} {
		t = appendCut(t, f.s, f.max)
		s.ends[i] = uint16(len(t))
	}
	s.text = t
}

// appendCut appends s to b, cut to max bytes (at a character boundary) plus
// "…" when it is longer.
func appendCut(b []byte, s string, max int) []byte {
	if len(s) <= max {
		return append(b, s...)
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return append(append(b, s[:max]...), "…"...)
}

// entry turns the slot into what readers get: fresh strings (one
// allocation for all the text), times in UTC, the duration rounded to
// microseconds.
func (s *slot) entry(service string) edge.LogEntry {
	text := string(s.text)
	field := func(i int) string {
		start := 0
		if i > 0 {
			start = int(s.ends[i-1])
		}
		return text[start:s.ends[i]]
	}
	return edge.LogEntry{
		Time:      s.at.UTC(),
		Service:   service,
		ServiceID: s.id,
		Host:      field(0),
		Method:    field(1),
		Path:      field(2),
		Status:    s.status,
		Bytes:     s.bytes,
		Duration:  s.dur.Round(time.Microsecond),
		ClientIP:  s.clientIP,
		Upstream:  s.upstream,
		RequestID: field(3),
		Cache:     s.cache,
		Limited:   s.limited,
		Error:     field(4),
		Source:    s.source,
		Stream:    s.stream,
		Message:   field(5),
	}
}

// Publish records e and wakes the subscribers that follow its service. It
// is meant to be edge.Config.OnRequest.
func (l *Log) Publish(e edge.LogEntry) {
	r := (*l.rings.Load())[e.Service]
	if r == nil {
		r = l.addRing(e.Service)
	}
	r.mu.Lock()
	pos := r.n
	i := int(pos % uint64(r.size))
	if i == len(r.slots) {
		// Still growing: rings of quiet services stay small.
		if len(r.slots) == cap(r.slots) {
			grown := make([]slot, len(r.slots), min(max(2*cap(r.slots), 16), r.size))
			copy(grown, r.slots)
			r.slots = grown
		}
		r.slots = r.slots[:i+1]
	}
	r.slots[i].fill(&e)
	r.n++
	r.mu.Unlock()

	for _, sub := range *l.subs.Load() {
		if sub.scope.Load().has(e.Service) {
			sub.notify(r, pos)
		}
	}
}

// addRing returns service's ring, creating it if needed.
func (l *Log) addRing(service string) *ring {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.rings.Load()
	if r := old[service]; r != nil {
		return r
	}
	l.nextRing++
	r := &ring{id: l.nextRing, service: service, size: l.perService}
	next := make(map[string]*ring, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[service] = r
	l.rings.Store(&next)
	return r
}

// Retain forgets the entries of every service not in services, except
// those of unknown hosts: call it with the services of each new routing
// table, so that a deleted service's requests do not stay in memory (or
// show up in the log of a new service of the same name).
func (l *Log) Retain(services []string) {
	keep := make(map[string]bool, len(services)+1)
	keep[""] = true
	for _, s := range services {
		keep[s] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.rings.Load()
	next := make(map[string]*ring, len(old))
	for k, v := range old {
		if keep[k] {
			next[k] = v
		}
	}
	if len(next) != len(old) {
		l.rings.Store(&next)
	}
}

// Close ends every subscription (their Done channels close) and refuses new
// ones; entries are still recorded. `rampart serve` calls it when it shuts
// down, so that open streams end and do not hold the shutdown up.
func (l *Log) Close() {
	l.mu.Lock()
	l.closed = true
	subs := *l.subs.Load()
	l.subs.Store(&[]*Subscription{})
	l.mu.Unlock()
	for _, s := range subs {
		s.end()
	}
}
