package logtail

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/internal/edge"
)

// Scope says which services a subscription follows.
type Scope struct {
	All      bool     // every service, and unknown hosts (service "")
	Services []string // otherwise: these
}

type scope struct {
	all bool
	set map[string]struct{}
}

func newScope(sc Scope) *scope {
	s := &scope{all: sc.All, set: make(map[string]struct{}, len(sc.Services))}
	for _, name := range sc.Services {
		s.set[name] = struct{}{}
	}
	return s
}

func (s *scope) has(service string) bool {
	if s.all {
		return true
	}
	_, ok := s.set[service]
	return ok
}

// Subscription follows the entries of some services from the moment it was
// made (or from a cursor, see Resume). Ready, Done and Close may be called
// from any goroutine; the other methods belong to the one goroutine that
// reads.
type Subscription struct {
	log   *Log
	scope atomic.Pointer[scope]
	ready chan struct{} // capacity 1: "there may be something to read"
	done  chan struct{} // closed by Close or Log.Close
	ended sync.Once

	mu    sync.Mutex
	dirty map[*ring]uint64 // rings that moved → the first position announced

	// The reader's state.
	cursors map[*ring]uint64 // next position to read, per ring
	start   map[*ring]uint64 // where each ring was when it was joined: the backlog ends there
	single  *ring            // the ring of a one-service scope
	todo    []pending
}

type pending struct {
	r     *ring
	first uint64
}

// Subscribe starts following the services of sc. The entries from before
// this call are its Backlog; Read returns those that come after. It fails
// with ErrClosed after Close and ErrTooMany when MaxSubscribers are open.
func (l *Log) Subscribe(sc Scope) (*Subscription, error) {
	s := l.newSubscription(sc)
	l.mu.Lock()
	old := *l.subs.Load()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case len(old) >= l.maxSubs:
		l.mu.Unlock()
		return nil, ErrTooMany
	}
	l.subs.Store(ptr(append(slices.Clip(old), s)))
	l.mu.Unlock()
	// Positions are taken after joining the list: an entry published in
	// between is then either before its ring's position (in the backlog)
	// or announced to s (read live), never lost or seen twice.
	s.startAt(s.scope.Load())
	return s, nil
}

// Snapshot is a subscription that does not follow: its Backlog and Cursor
// are those of a Subscribe now, Read never has anything, and it takes no
// place among the MaxSubscribers, so that reading the recent entries works
// however many streams are open.
func (l *Log) Snapshot(sc Scope) *Subscription {
	s := l.newSubscription(sc)
	s.startAt(s.scope.Load())
	return s
}

func (l *Log) newSubscription(sc Scope) *Subscription {
	s := &Subscription{
		log:     l,
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		dirty:   make(map[*ring]uint64),
		cursors: make(map[*ring]uint64),
		start:   make(map[*ring]uint64),
	}
	s.scope.Store(newScope(sc))
	// A one-service subscription names its ring in cursors even before
	// the service has had a request.
	if !sc.All && len(sc.Services) == 1 {
		s.single = (*l.rings.Load())[sc.Services[0]]
		if s.single == nil {
			s.single = l.addRing(sc.Services[0])
		}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// startAt sets the reader's position to "now" on every ring in sc that it
// has none for yet.
func (s *Subscription) startAt(sc *scope) {
	for name, r := range *s.log.rings.Load() {
		if _, ok := s.cursors[r]; ok || !sc.has(name) {
			continue
		}
		r.mu.Lock()
		s.cursors[r] = r.n
		s.start[r] = r.n
		r.mu.Unlock()
	}
}

// notify records that r moved (at pos) and wakes the reader.
func (s *Subscription) notify(r *ring, pos uint64) {
	s.mu.Lock()
	if _, ok := s.dirty[r]; !ok {
		s.dirty[r] = pos
	}
	s.mu.Unlock()
	s.wake()
}

func (s *Subscription) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value when Read may have something: wait on it between
// Reads.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Done is closed when the subscription ends: by Close, or by Log.Close when
// the server shuts down.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Close ends the subscription and frees its place.
func (s *Subscription) Close() {
	l := s.log
	l.mu.Lock()
	old := *l.subs.Load()
	if i := slices.Index(old, s); i >= 0 {
		l.subs.Store(ptr(slices.Delete(slices.Clone(old), i, i+1)))
	}
	l.mu.Unlock()
	s.end()
}

func (s *Subscription) end() { s.ended.Do(func() { close(s.done) }) }

// SetScope changes which services s follows, from now on: a service that
// joins the scope is followed from its next entry.
func (s *Subscription) SetScope(sc Scope) {
	next := newScope(sc)
	s.scope.Store(next)
	for r := range s.cursors {
		if !next.has(r.service) {
			delete(s.cursors, r)
			delete(s.start, r)
		}
	}
	s.startAt(next)
}

// Backlog returns up to n of the entries that came before the subscription
// started, oldest first (by when they finished, across services).
func (s *Subscription) Backlog(n int) []edge.LogEntry {
	if n <= 0 {
		return nil
	}
	if len(s.start) == 1 {
		for r, end := range s.start {
			out, _ := r.read(nil, end-min(end, uint64(n)), end, n)
			return out
		}
	}
	// Across services, find the n entries that finished last before
	// converting any: an admin's backlog of 50 must not copy out 50 of
	// every service's entries.
	var last latest
	for r, end := range s.start {
		r.mu.Lock()
		for p := end; p > r.oldest(); p-- {
			sl := &r.slots[(p-1)%uint64(r.size)]
			if !last.offer(candidate{sl.at.UnixNano() + int64(sl.dur), r, p - 1}, n) {
				break // older entries of r finished earlier still
			}
		}
		r.mu.Unlock()
	}
	slices.SortFunc(last, func(a, b candidate) int { return cmp.Compare(a.finish, b.finish) })
	out := make([]edge.LogEntry, 0, len(last))
	for _, c := range last {
		c.r.mu.Lock()
		if c.pos >= c.r.oldest() { // not overwritten since
			out = append(out, c.r.slots[c.pos%uint64(c.r.size)].entry(c.r.service))
		}
		c.r.mu.Unlock()
	}
	return out
}

// candidate is an entry of a cross-service backlog.
type candidate struct {
	finish int64 // unix nanoseconds
	r      *ring
	pos    uint64
}

// latest keeps the n candidates that finished last, as a min-heap on
// finish.
type latest []candidate

// offer adds c if it is among the n latest so far, and reports whether it
// was.
func (h *latest) offer(c candidate, n int) bool {
	if len(*h) < n {
		*h = append(*h, c)
		h.up(len(*h) - 1)
		return true
	}
	if c.finish <= (*h)[0].finish {
		return false
	}
	(*h)[0] = c
	h.down(0)
	return true
}

func (h latest) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].finish <= h[i].finish {
			return
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (h latest) down(i int) {
	for {
		least := i
		for _, c := range [...]int{2*i + 1, 2*i + 2} {
			if c < len(h) && h[c].finish < h[least].finish {
				least = c
			}
		}
		if least == i {
			return
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}

// Read returns, without waiting, up to max entries that arrived since the
// last Read, and how many entries this subscription lost before them
// because it fell more than a ring behind.
func (s *Subscription) Read(max int) (entries []edge.LogEntry, dropped int) {
	s.mu.Lock()
	for r, first := range s.dirty {
		s.todo = append(s.todo, pending{r, first})
	}
	clear(s.dirty)
	s.mu.Unlock()

	sc := s.scope.Load()
	rings := 0
	for i, p := range s.todo {
		if !sc.has(p.r.service) {
			continue // left the scope since it moved
		}
		from, ok := s.cursors[p.r]
		if !ok {
			from = p.first
		}
		var next uint64
		var lost int
		entries, next, lost = p.r.readFrom(entries, from, max-len(entries))
		s.cursors[p.r] = next
		dropped += lost
		rings++
		if len(entries) >= max {
			// The rest waits for the next Read.
			s.mu.Lock()
			for _, q := range s.todo[i:] {
				if _, ok := s.dirty[q.r]; !ok {
					s.dirty[q.r] = q.first
				}
			}
			s.mu.Unlock()
			s.wake()
			break
		}
	}
	clear(s.todo)
	s.todo = s.todo[:0]
	if rings > 1 {
		sortByFinish(entries)
	}
	return entries, dropped
}

// readFrom appends the entries from position from on, up to max of them,
// and returns the next position to read and how many entries from on had
// been overwritten before they could be read.
func (r *ring) readFrom(out []edge.LogEntry, from uint64, max int) ([]edge.LogEntry, uint64, int) {
	lost := 0
	r.mu.Lock()
	end := r.n
	if old := r.oldest(); from < old {
		lost, from = int(old-from), old
	}
	r.mu.Unlock()
	end = min(end, from+uint64(max))
	out, skipped := r.read(out, from, end, max)
	return out, end, lost + skipped
}

// read appends the kept entries with positions in [from, to), at most max,
// and says how many positions in that range were overwritten already.
func (r *ring) read(out []edge.LogEntry, from, to uint64, max int) ([]edge.LogEntry, int) {
	lost := 0
	for from < to {
		r.mu.Lock()
		if old := r.oldest(); from < old {
			lost += int(min(old, to) - from)
			from = min(old, to)
		}
		stop := min(to, from+readChunk)
		for p := from; p < stop && max > 0; p++ {
			out = append(out, r.slots[p%uint64(r.size)].entry(r.service))
			max--
		}
		r.mu.Unlock()
		from = stop
	}
	return out, lost
}

func sortByFinish(es []edge.LogEntry) {
	slices.SortStableFunc(es, func(a, b edge.LogEntry) int {
		return a.Time.Add(time.Duration(a.Duration)).Compare(b.Time.Add(time.Duration(b.Duration)))
	})
}

// Cursor names the position after the last entry read, for a subscription
// of one service: a later subscription can Resume from it (the dashboard
// does, after a pause or a reconnect). It is "" for other scopes.
func (s *Subscription) Cursor() string {
	if s.single == nil {
		return ""
	}
	return fmt.Sprintf("%x.%x.%d", s.log.epoch, s.single.id, s.cursors[s.single])
}

// Resume makes a one-service subscription continue after cursor c (from
// Cursor, of an earlier subscription of the same service), so that what
// came in between is read, and lost entries are counted, instead of the
// backlog. It reports false, and changes nothing, when c is not a cursor of
// this service's current entries in this process.
func (s *Subscription) Resume(c string) bool {
	r := s.single
	if r == nil {
		return false
	}
	parts := strings.Split(c, ".")
	if len(parts) != 3 {
		return false
	}
	epoch, err1 := strconv.ParseUint(parts[0], 16, 64)
	id, err2 := strconv.ParseUint(parts[1], 16, 64)
	pos, err3 := strconv.ParseUint(parts[2], 10, 64)
	if err := cmp.Or(err1, err2, err3); err != nil || epoch != s.log.epoch || id != r.id ||
		fmt.Sprintf("%x.%x.%d", epoch, id, pos) != c { // only the form Cursor writes
		return false
	}
	r.mu.Lock()
	n := r.n
	r.mu.Unlock()
	if pos > n {
		return false
	}
	s.cursors[r] = pos
	if pos < n {
		s.notify(r, pos)
	}
	return true
}
