package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
)

// Result is the outcome of one delivery attempt for one recipient.
// !OK && !Permanent means a temporary failure: the recipient is retried.
type Result struct {
	Rcpt      string
	Code      int
	Reply     string
	OK        bool
	Permanent bool
}

// Deliverer sends a message to the next hop. rcpts are the recipients still
// pending; it returns one Result per recipient. A missing result or a panic
// counts as a temporary failure.
type Deliverer interface {
	Deliver(ctx context.Context, m *Message, data []byte, rcpts []string) []Result
}

// EventKind names a state change.
type EventKind string

const (
	EventQueued   EventKind = "queued"
	EventSent     EventKind = "sent"
	EventDeferred EventKind = "deferred"
	EventBounced  EventKind = "bounced" // permanent failure or lifetime expired
)

// Event reports a state change to the sender's service log.
type Event struct {
	ID         string
	Service    string
	Kind       EventKind
	At         time.Time
	From       string
	Recipients []Recipient // the ones this event is about, with code and reply
	Size       int64
	Reason     string
}

// backoff returns the wait before attempt n+1 after n failed attempts:
// MinBackoff doubled per attempt up to MaxBackoff, then a random part of up
// to half is taken off, so messages deferred together do not retry together.
func backoff(min, max time.Duration, attempts int, rnd func(int64) int64) time.Duration {
	d := min
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rnd(half))
	}
	return d
}

// Run delivers due messages with up to Options.Workers concurrent deliveries
// until ctx ends; a Put wakes it at once. It returns nil when ctx ends, after
// the deliveries in progress have been recorded.
func (q *Queue) Run(ctx context.Context, d Deliverer) error {
	sem := make(chan struct{}, q.o.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{}, 1)
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		compact := q.compact
		now := q.o.Now()
		var due []*entry
		var next time.Time
		// With every worker busy there is nothing to start: the next
		// finished delivery wakes the loop. This keeps a Put cheap while
		// a backlog waits (no scan of the whole queue under the lock).
		if len(sem) < cap(sem) {
			for _, e := range q.entries {
				if !e.committed || e.inflight {
					continue
				}
				if !e.msg.Next.After(now) {
					due = append(due, e)
				} else if next.IsZero() || e.msg.Next.Before(next) {
					next = e.msg.Next
				}
			}
			// Oldest first, so a burst cannot starve messages waiting longer.
			sortEntries(due)
		}
		started := 0
		for _, e := range due {
			select {
			case sem <- struct{}{}:
			default:
				continue
			}
			e.inflight = true
			started++
			wg.Add(1)
			go func(e *entry) {
				defer wg.Done()
				q.attempt(ctx, d, e)
				<-sem
				select {
				case done <- struct{}{}:
				default:
				}
			}(e)
		}
		q.mu.Unlock()
		if compact {
			if err := q.compactNow(); err != nil {
				q.log.Error("queue: compaction failed", "err", err)
			}
		}

		var timer *time.Timer
		var fire <-chan time.Time
		if !next.IsZero() && started == len(due) {
			timer = time.NewTimer(next.Sub(now))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-done:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func sortEntries(es []*entry) {
	slices.SortFunc(es, func(a, b *entry) int { return a.msg.Received.Compare(b.msg.Received) })
}

// safeDeliver calls d and turns a panic into "no results".
func (q *Queue) safeDeliver(ctx context.Context, d Deliverer, m *Message, data []byte, rcpts []string) (res []Result) {
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("queue: deliverer panicked; recipients stay pending", "id", m.ID, "panic", r)
			res = nil
		}
	}()
	return d.Deliver(ctx, m, data, rcpts)
}

// attempt delivers one message once and records the outcome durably before
// the next attempt can start.
func (q *Queue) attempt(ctx context.Context, d Deliverer, e *entry) {
	q.mu.Lock()
	m := e.msg.clone()
	seg, off := e.seg, e.dataOff
	q.mu.Unlock()

	now := q.o.Now()
	deadline := m.Received.Add(q.o.Lifetime)
	var pending []int
	var rcpts []string
	for i, r := range m.Recipients {
		if r.State == Pending {
			pending = append(pending, i)
			rcpts = append(rcpts, r.Addr)
		}
	}
	results := map[string]Result{}
	expired := !now.Before(deadline)
	if !expired {
		data, err := readData(seg, off, m.Size)
		if err != nil {
			q.log.Error("queue: cannot read message; will retry", "id", m.ID, "err", err)
		} else {
			for _, r := range q.safeDeliver(ctx, d, &m, data, rcpts) {
				if _, dup := results[r.Rcpt]; !dup {
					results[r.Rcpt] = r
				}
			}
		}
		now = q.o.Now()
		expired = !now.Before(deadline)
	}

	u := &update{ID: m.ID, Attempts: m.Attempts + 1}
	if expired {
		u.Attempts = m.Attempts
	}
	var sent, bounced, deferred []Recipient
	var lastReply string
	for _, i := range pending {
		r := m.Recipients[i]
		res, ok := results[r.Addr]
		if !expired || ok {
			r.Attempts++
			r.Last = now
		}
		switch {
		case ok && res.OK:
			r.State, r.Code, r.Reply = Sent, res.Code, res.Reply
			sent = append(sent, r)
		case ok && res.Permanent:
			r.State, r.Code, r.Reply = Failed, res.Code, res.Reply
			bounced = append(bounced, r)
		default:
			if ok {
				r.Code, r.Reply = res.Code, res.Reply
			} else if !expired {
				r.Code, r.Reply = 0, "no result from the deliverer"
			}
			if expired {
				r.State = Failed
				bounced = append(bounced, r)
			} else {
				deferred = append(deferred, r)
			}
		}
		if r.Reply != "" {
			lastReply = r.Reply
		}
		u.Index = append(u.Index, i)
		u.Rcpt = append(u.Rcpt, r)
	}
	if len(deferred) > 0 {
		u.Next = now.Add(backoff(q.o.MinBackoff, q.o.MaxBackoff, u.Attempts, rand.Int64N))
		if u.Next.After(deadline) {
			u.Next = deadline
		}
	} else {
		u.Next = m.Next
	}

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	applyUpdate(&e.msg, u)
	_, _, seq, err := q.appendLocked(encodeUpdate(u))
	q.mu.Unlock()
	if err == nil {
		err = q.commit(seq)
	}
	if err != nil {
		// The outcome is lost on a crash; the recipients would be sent again
		// after a restart, which is the most we can do now.
		q.log.Error("queue: cannot record delivery outcome", "id", m.ID, "err", err)
	}

	finished := false
	q.mu.Lock()
	e.inflight = false
	if e.msg.finished() {
		if _, ok := q.entries[m.ID]; ok {
			delete(q.entries, m.ID)
			e.seg.live--
			finished = true
		}
	}
	q.stats.Sent += int64(len(sent))
	q.stats.Bounced += int64(len(bounced))
	q.stats.Deferred += int64(len(deferred))
	if finished && !q.closed {
		if err := q.dropDeadSegmentsLocked(); err != nil {
			q.log.Error("queue: cannot remove finished segment", "err", err)
		}
	}
	q.mu.Unlock()

	base := Event{ID: m.ID, Service: m.Envelope.Service, At: now, From: m.Envelope.From, Size: m.Size}
	if len(sent) > 0 {
		ev := base
		ev.Kind, ev.Recipients = EventSent, sent
		q.emit(ev)
	}
	if len(deferred) > 0 {
		ev := base
		ev.Kind, ev.Recipients = EventDeferred, deferred
		ev.Reason = fmt.Sprintf("temporary failure, next attempt at %s", u.Next.UTC().Format(time.RFC3339))
		q.emit(ev)
	}
	if len(bounced) > 0 {
		ev := base
		ev.Kind, ev.Recipients = EventBounced, bounced
		if expired {
			ev.Reason = fmt.Sprintf("expired after %s: last reply %q", days(q.o.Lifetime), lastReply)
		} else {
			ev.Reason = "permanent failure: " + strings.TrimSpace(bounced[0].Reply)
		}
		q.emit(ev)
	}
}

// days formats a lifetime the way operators write it: "5d", "36h", "90m".
func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
