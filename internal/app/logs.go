package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Logs is the edge's request log, as `rampart logs` and the dashboard's
// Logs tab read it. The entries are observed state that only the process
// running the edge has (Options.Logs), so reading them changes nothing and
// is not audited; what is checked here is who may read which entries: admins
// everything (requests for unknown hosts too), members the entries of the
// services they own, and someone else's service is "not found".
//
// A stream that follows new entries re-checks that while it runs. Service
// names are reused: after a service is deleted, another person may create
// one of the same name, and its requests must not reach the first owner's
// open stream, nor its old entries the new owner. So an entry counts for a
// service only if the request started after the service was created and
// was answered by that service (the edge tags each entry with the
// service's ID: until it has applied a change, a new request can still
// reach the old service of the name), and a following stream releases an entry only once it has seen that the
// services in the store did not change since the request started (one
// cheap version read, at most every logRecheckEvery).
type Logs struct {
	*core

	mu      sync.Mutex
	streams map[int64]int // user ID → following log streams open
}

// Log read bounds besides rampart.MaxLogTail and friends.
const (
	// MaxLogStreamsPerUser bounds the following streams one account may
	// have open, so that one person cannot take every place the edge's
	// log has for followers from the others.
	MaxLogStreamsPerUser = 8

	logBatch        = 256
	logRecheckEvery = 100 * time.Millisecond
	// logScopePoll is how often an idle stream looks for changes of its
	// services (a member's new service joins their stream, a deleted one
	// ends a one-service stream), like the routes reconciler's poll.
	logScopePoll = 2 * time.Second
)

// LogBatch is what a stream has to say next: entries in the order they
// finished, after a count of entries lost before them because the stream
// was read too slowly. Both empty is a heartbeat.
type LogBatch struct {
	Entries []rampart.LogEntry
	Dropped int
}

// Available reports whether this process has an edge log to read.
func (a *Logs) Available() bool { return a.opts.Logs != nil }

// Open checks the query and the caller's permission and opens a stream:
// read it with Next, then Close it.
func (a *Logs) Open(ctx context.Context, actor Actor, q rampart.LogQuery) (*LogStream, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	if q.Tail < 0 || q.Tail > rampart.MaxLogTail {
		return nil, rampart.FieldError("tail", rampart.Errorf(rampart.EINVALID, "tail %d is out of range: ask for 0 to %d entries (the edge keeps the last %d of each service)", q.Tail, rampart.MaxLogTail, rampart.MaxLogTail))
	}
	if q.After != "" && q.Service == "" {
		return nil, rampart.FieldError("after", rampart.Errorf(rampart.EINVALID, "a cursor belongs to one service's log: give the service too"))
	}
	if a.opts.Logs == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "this rampart process runs no edge, so it has no request log: read the log from the server that runs `rampart serve`")
	}
	s := &LogStream{logs: a, actor: actor, q: q}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if q.Follow {
		if err := a.countStream(actor, +1); err != nil {
			return nil, err
		}
		s.counted = true
	}
	// A read that does not follow takes no place among the followers.
	sub, err := a.opts.Logs.Snapshot(s.scope.tail()), error(nil)
	if q.Follow {
		sub, err = a.opts.Logs.Subscribe(s.scope.tail())
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.sub = sub
	if q.After == "" || !sub.Resume(q.After) {
		s.backlog = sub.Backlog(q.Tail)
	}
	// Check again: the backlog's requests all started before this, so the
	// scope now vouches for every one of them.
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.backlog = s.scope.filter(s.backlog)
	return s, nil
}

func (a *Logs) countStream(actor Actor, delta int) error {
	id := actor.id()
	a.mu.Lock()
	defer a.mu.Unlock()
	if delta > 0 && a.streams[id] >= MaxLogStreamsPerUser {
		return rampart.Errorf(rampart.ETOOMANY, "you have %d live log streams open, the most one account may: close one (a `rampart logs -f` or a dashboard Logs tab) and try again", MaxLogStreamsPerUser)
	}
	if a.streams == nil {
		a.streams = map[int64]int{}
	}
	a.streams[id] += delta
	if a.streams[id] <= 0 {
		delete(a.streams, id)
	}
	return nil
}

// logScope is which entries a stream may show.
type logScope struct {
	all bool // an admin reading everything, unknown hosts included
	// since maps each visible service to when it was created: entries of
	// requests that started before belong to an earlier service of the
	// same name.
	since map[string]time.Time
	// ids maps each visible service to its ID. The times alone do not
	// tell a request that started after a new service of an old name was
	// created but still reached the old one (the edge applies changes a
	// moment later): the entry's ServiceID does.
	ids map[string]int64
}

func (sc logScope) tail() rampart.LogScope {
	if sc.all {
		return rampart.LogScope{All: true}
	}
	names := make([]string, 0, len(sc.since))
	for name := range sc.since {
		names = append(names, name)
	}
	slices.Sort(names)
	return rampart.LogScope{Services: names}
}

func (sc logScope) allows(e *rampart.LogEntry) bool {
	if sc.all {
		return true
	}
	since, ok := sc.since[e.Service]
	return ok && !e.Time.Before(since) && (e.ServiceID == 0 || e.ServiceID == sc.ids[e.Service])
}

// filter keeps the entries sc allows, in place.
func (sc logScope) filter(es []rampart.LogEntry) []rampart.LogEntry {
	return slices.DeleteFunc(es, func(e rampart.LogEntry) bool { return !sc.allows(&e) })
}

// LogStream is an open read of the edge log. Its methods are for one
// goroutine.
type LogStream struct {
	logs    *Logs
	actor   Actor
	q       rampart.LogQuery
	sub     rampart.LogSubscription
	counted bool

	scope   logScope
	version int64 // the store's services version the scope was built from
	// checked: the scope is known to hold for requests that started up to
	// then. Wall-clock times, like the entries'.
	checked   time.Time
	lastCheck time.Time

	backlog []rampart.LogEntry
	started bool
	pending []rampart.LogEntry // read, waiting for a check to cover them
	dropped int
	idle    *time.Timer
	recheck *time.Timer
}

// check confirms or rebuilds the scope from the store, so that it holds for
// every request that started before the call.
func (s *LogStream) check(ctx context.Context) error {
	// Wall clock, not the App's (a test's) clock: it is compared with the
	// edge's entry times.
	t := time.Now()
	v, err := s.logs.store.Revision(ctx, store.KindServices)
	if err != nil {
		return err
	}
	if s.version != v || s.lastCheck.IsZero() {
		if err := s.load(ctx); err != nil {
			return err
		}
		s.version = v
		if s.sub != nil {
			s.sub.SetScope(s.scope.tail())
		}
	}
	s.checked, s.lastCheck = t, t
	return nil
}

func (s *LogStream) load(ctx context.Context) error {
	a, actor := s.logs, s.actor
	switch {
	case s.q.Service != "":
		svc, err := a.visibleService(ctx, a.store, actor, s.q.Service)
		// A deleted service stays in the store for its grace period; its
		// stream ends as for one that is gone (a restore starts anew).
		if err == nil && s.sub != nil && (svc.State == rampart.StateDeleted || (s.scope.ids != nil && s.scope.ids[svc.Name] != 0 && s.scope.ids[svc.Name] != svc.ID)) {
			err = rampart.Errorf(rampart.ENOTFOUND, "service %q is deleted", s.q.Service)
		}
		if rampart.ErrorCode(err) == rampart.ENOTFOUND && s.sub != nil {
			return rampart.Errorf(rampart.ENOTFOUND, "service %q is gone (deleted, or no longer yours), so its log stream ends", s.q.Service)
		} else if err != nil {
			return err
		}
		s.scope = logScope{since: map[string]time.Time{svc.Name: svc.CreatedAt}, ids: map[string]int64{svc.Name: svc.ID}}
	case actor.isAdmin():
		s.scope = logScope{all: true}
	default:
		svcs, err := a.store.ListServices(ctx, store.ServiceFilter{OwnerID: actor.User.ID})
		if err != nil {
			return err
		}
		s.scope = logScope{since: make(map[string]time.Time, len(svcs)), ids: make(map[string]int64, len(svcs))}
		for _, svc := range svcs {
			s.scope.since[svc.Name] = svc.CreatedAt
			s.scope.ids[svc.Name] = svc.ID
		}
	}
	return nil
}

// Cursor names where the stream is, for rampart.LogQuery.After of a later stream
// of the same service; "" when there is nothing to resume from exactly.
func (s *LogStream) Cursor() string {
	if s.sub == nil || len(s.pending) > 0 {
		return ""
	}
	return s.sub.Cursor()
}

// Next returns the next batch to send: first the backlog, then, when
// following, new entries as they come, an empty batch (a heartbeat) after
// Options.LogHeartbeat without any. It returns io.EOF at the end of a stream that
// does not follow, ctx's error when ctx ends, rampart.ErrLogsClosed
// when the server shuts down, and an error whose message says why when the stream
// may not go on (the service was deleted, the credential ended).
func (s *LogStream) Next(ctx context.Context) (LogBatch, error) {
	if !s.started {
		s.started = true
		b := LogBatch{Entries: s.backlog}
		s.backlog = nil
		if len(b.Entries) > 0 {
			return b, nil
		}
	}
	if !s.q.Follow {
		return LogBatch{}, io.EOF
	}
	heartbeat := s.logs.opts.LogHeartbeat
	if s.idle == nil {
		s.idle, s.recheck = time.NewTimer(heartbeat), time.NewTimer(time.Hour)
		s.recheck.Stop()
	} else {
		s.idle.Reset(heartbeat)
	}
	for {
		if len(s.pending) < logBatch {
			es, dropped := s.sub.Read(logBatch - len(s.pending))
			s.pending = append(s.pending, es...)
			s.dropped += dropped
		}
		// Release the entries that the scope is known to cover.
		n := 0
		for n < len(s.pending) && (s.scope.all || !s.pending[n].Time.After(s.checked)) {
			n++
		}
		if n > 0 || s.dropped > 0 {
			b := LogBatch{Entries: s.scope.filter(slices.Clone(s.pending[:n])), Dropped: s.dropped}
			s.pending = slices.Delete(s.pending, 0, n)
			s.dropped = 0
			if len(b.Entries) > 0 || b.Dropped > 0 {
				return b, nil
			}
			continue
		}
		if !s.scope.all {
			every := logScopePoll
			if len(s.pending) > 0 {
				every = logRecheckEvery
			}
			wait := every - time.Since(s.lastCheck)
			if wait <= 0 {
				if err := s.check(ctx); err != nil {
					return LogBatch{}, err
				}
				continue
			}
			s.recheck.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return LogBatch{}, ctx.Err()
		case <-s.sub.Done():
			return LogBatch{}, rampart.ErrLogsClosed
		case <-s.sub.Ready():
		case <-s.recheck.C:
		case <-s.idle.C:
			if s.q.StillValid != nil {
				if err := s.q.StillValid(ctx); err != nil {
					return LogBatch{}, err
				}
			}
			return LogBatch{}, nil
		}
	}
}

// Close ends the stream and frees its place.
func (s *LogStream) Close() {
	if s.sub != nil {
		s.sub.Close()
		s.sub = nil
	}
	if s.counted {
		s.counted = false
		_ = s.logs.countStream(s.actor, -1)
	}
	if s.idle != nil {
		s.idle.Stop()
		s.recheck.Stop()
	}
}

// DroppedMessage is what a stream tells its reader about lost entries.
func DroppedMessage(n int) string {
	if n == 1 {
		return "1 entry dropped: this stream was read too slowly to keep up"
	}
	return fmt.Sprintf("%d entries dropped: this stream was read too slowly to keep up", n)
}
