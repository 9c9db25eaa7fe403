// Package queue is the SMTP relay's durable mail queue.
//
// A message is accepted only once it is on disk: Put appends a record to the
// current journal segment and returns after an fsync that covers it. Many
// concurrent Puts share one fsync (group commit), which is what makes a
// thousand acceptances per second possible on a disk that manages only a few
// hundred fsyncs.
//
// Delivery outcomes are journalled per recipient, so a recipient that got the
// message is never sent it again, even after kill -9: recovery replays the
// segments and a message that was in flight is retried only for the
// recipients still pending.
package queue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// MaxRecipients bounds the recipients of one message (RFC 5321 asks servers
// to accept at least 100).
const MaxRecipients = 1000

// Envelope is the SMTP envelope of a message and the service that sent it.
type Envelope struct {
	Service string
	From    string
	To      []string
}

// State is a recipient's delivery state.
type State int

const (
	Pending State = iota // not delivered yet; retried
	Sent                 // accepted by the next hop; never sent again
	Failed               // permanently refused or expired
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Sent:
		return "sent"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Recipient is one recipient of a message and what happened to it so far.
type Recipient struct {
	Addr     string
	State    State
	Code     int
	Reply    string
	Attempts int
	Last     time.Time
}

// Message is a queued message without its data.
type Message struct {
	ID         string
	Envelope   Envelope
	Received   time.Time
	Size       int64
	Attempts   int
	Next       time.Time
	Recipients []Recipient
}

func (m *Message) clone() Message {
	c := *m
	c.Envelope.To = append([]string(nil), m.Envelope.To...)
	c.Recipients = append([]Recipient(nil), m.Recipients...)
	return c
}

func (m *Message) finished() bool {
	for _, r := range m.Recipients {
		if r.State == Pending {
			return false
		}
	}
	return true
}

// Stats summarises the queue.
type Stats struct {
	Depth    int       // messages with at least one pending recipient
	Oldest   time.Time // reception time of the oldest; zero if empty
	Queued   int64     // events since Open, by kind
	Sent     int64
	Deferred int64
	Bounced  int64
}

// Options configure a Queue. Zero values get the documented defaults.
type Options struct {
	Dir                    string        // created 0700 if missing
	Lifetime               time.Duration // how long a message is retried; default 5 days
	MinBackoff, MaxBackoff time.Duration // default 1m and 1h; exponential with jitter
	Workers                int           // concurrent deliveries; default 4
	MaxMessageBytes        int64         // default 32 MiB
	SegmentBytes           int64         // journal segment size before a new one starts; default 64 MiB
	Now                    func() time.Time
	OnEvent                func(Event) // called for every state change, never with a lock held
	Logger                 *slog.Logger
}

// Errors that Put returns for input it refuses.
var (
	ErrClosed       = errors.New("queue: closed")
	ErrNoRecipients = errors.New("queue: message has no recipients")
	ErrEmpty        = errors.New("queue: message data is empty")
	ErrTooLarge     = errors.New("queue: message is larger than the queue accepts (Options.MaxMessageBytes)")
)

// entry is a message in memory; its data stays on disk.
type entry struct {
	msg       Message
	seg       *segment
	dataOff   int64
	committed bool // its message record is fsynced; only then is it delivered
	inflight  bool
}

// Queue is a durable mail queue. All methods are safe for concurrent use.
type Queue struct {
	o   Options
	log *slog.Logger

	syncMu sync.Mutex // serialises fsyncs; the leader's fsync covers followers
	synced uint64     // records known durable; guarded by syncMu

	mu       sync.Mutex // guards everything below
	entries  map[string]*entry
	segs     map[int]*segment
	cur      *segment
	written  uint64 // records appended
	broken   error  // set when a write or fsync failed; the journal is no longer trusted
	closed   bool
	compact  bool // a segment was rolled; old segments may be compacted
	stats    Stats
	wake     chan struct{}
	fileSync func(*os.File) error // f.Sync; replaced in tests that count fsyncs
}

// Open opens (creating if needed) the queue in o.Dir and recovers its state
// from the journal.
func Open(o Options) (*Queue, error) {
	if o.Dir == "" {
		return nil, errors.New("queue: Options.Dir is required")
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 5 * 24 * time.Hour
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Minute
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 32 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 64 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: create directory: %w", err)
	}
	q := &Queue{
		o:        o,
		log:      o.Logger,
		entries:  make(map[string]*entry),
		segs:     make(map[int]*segment),
		wake:     make(chan struct{}, 1),
		fileSync: (*os.File).Sync,
	}
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	return q, nil
}

// newID returns a random message id.
func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func validAddr(a string, allowEmpty bool) error {
	if a == "" && !allowEmpty {
		return errors.New("queue: empty recipient address")
	}
	if len(a) > 512 || strings.ContainsAny(a, "\r\n\x00") {
		return fmt.Errorf("queue: address %.40q is too long or contains control characters", a)
	}
	return nil
}

// Put stores a message durably and returns its id. When it returns nil, the
// message survives a crash; only then may the SMTP server reply 250.
func (q *Queue) Put(ctx context.Context, env Envelope, data []byte) (string, error) {
	if len(env.To) == 0 {
		return "", ErrNoRecipients
	}
	if len(env.To) > MaxRecipients {
		return "", fmt.Errorf("queue: %d recipients, at most %d per message", len(env.To), MaxRecipients)
	}
	if len(data) == 0 {
		return "", ErrEmpty
	}
	if int64(len(data)) > q.o.MaxMessageBytes {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), q.o.MaxMessageBytes)
	}
	if err := validAddr(env.From, true); err != nil {
		return "", err
	}
	if len(env.Service) > 256 {
		return "", errors.New("queue: service name longer than 256 bytes")
	}
	for _, a := range env.To {
		if err := validAddr(a, false); err != nil {
			return "", err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id, err := newID()
	if err != nil {
		return "", fmt.Errorf("queue: message id: %w", err)
	}
	now := q.o.Now()
	m := Message{ID: id, Received: now, Next: now, Size: int64(len(data)),
		Envelope: Envelope{Service: env.Service, From: env.From, To: append([]string(nil), env.To...)}}
	for _, a := range env.To {
		m.Recipients = append(m.Recipients, Recipient{Addr: a})
	}
	rec, dataAt := encodeMessage(&m, data)
	queued := Event{ID: id, Service: m.Envelope.Service, Kind: EventQueued, At: now, From: m.Envelope.From,
		Recipients: append([]Recipient(nil), m.Recipients...), Size: m.Size}

	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return "", ErrClosed
	}
	seg, off, seq, err := q.appendLocked(rec)
	if err != nil {
		q.mu.Unlock()
		return "", err
	}
	e := &entry{msg: m, seg: seg, dataOff: off + int64(dataAt)}
	q.entries[id] = e
	seg.live++
	q.mu.Unlock()

	if err := q.commit(seq); err != nil {
		q.mu.Lock()
		delete(q.entries, id)
		seg.live--
		q.mu.Unlock()
		return "", err
	}
	q.mu.Lock()
	e.committed = true
	q.stats.Queued++
	q.mu.Unlock()
	q.signal()
	q.emit(queued)
	return id, nil
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *Queue) emit(ev Event) {
	if q.o.OnEvent != nil {
		q.o.OnEvent(ev)
	}
}

// Kick makes every deferred message due now.
func (q *Queue) Kick() {
	q.mu.Lock()
	now := q.o.Now()
	for _, e := range q.entries {
		e.msg.Next = now
	}
	q.mu.Unlock()
	q.signal()
}

// Stats returns the queue depth, its oldest message and event counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.Depth = 0
	for _, e := range q.entries {
		if !e.committed {
			continue
		}
		s.Depth++
		if s.Oldest.IsZero() || e.msg.Received.Before(s.Oldest) {
			s.Oldest = e.msg.Received
		}
	}
	return s
}

// List returns a snapshot of the queued messages, oldest first.
func (q *Queue) List() []Message {
	q.mu.Lock()
	out := make([]Message, 0, len(q.entries))
	for _, e := range q.entries {
		if e.committed {
			out = append(out, e.msg.clone())
		}
	}
	q.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Received.Equal(out[j].Received) {
			return out[i].Received.Before(out[j].Received)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Close closes the journal. Stop Run (cancel its context) first; Puts after
// Close fail with ErrClosed.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	var err error
	if q.cur != nil && q.broken == nil {
		err = q.cur.f.Sync()
	}
	if cerr := q.closeFilesLocked(); err == nil {
		err = cerr
	}
	return err
}

func (q *Queue) closeFiles() {
	q.mu.Lock()
	defer q.mu.Unlock()
	_ = q.closeFilesLocked()
}

func (q *Queue) closeFilesLocked() error {
	var first error
	for _, s := range q.segs {
		if err := s.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// readData reads a message body back from its segment.
func readData(seg *segment, off, size int64) ([]byte, error) {
	buf := make([]byte, size)
	if _, err := seg.f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
		return nil, fmt.Errorf("queue: read message data from %s: %w", filepath.Base(seg.f.Name()), err)
	}
	return buf, nil
}
