package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// delivery is one call to a funcDeliverer.
type delivery struct {
	ID    string
	Data  []byte
	Rcpts []string
}

// funcDeliverer records its calls and answers with f.
type funcDeliverer struct {
	mu    sync.Mutex
	calls []delivery
	f     func(m *Message, rcpts []string) []Result
}

func (d *funcDeliverer) Deliver(_ context.Context, m *Message, data []byte, rcpts []string) []Result {
	d.mu.Lock()
	d.calls = append(d.calls, delivery{m.ID, data, rcpts})
	d.mu.Unlock()
	return d.f(m, rcpts)
}

func (d *funcDeliverer) Calls() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

func ok(rcpts []string) []Result {
	var rs []Result
	for _, r := range rcpts {
		rs = append(rs, Result{Rcpt: r, OK: true, Code: 250, Reply: "2.0.0 ok"})
	}
	return rs
}

// harness is an open queue whose events arrive on a channel.
type harness struct {
	q      *Queue
	dir    string
	clock  *clock
	events chan Event
}

func open(t *testing.T, dir string, o Options) *harness {
	t.Helper()
	h := &harness{dir: dir, clock: newClock(), events: make(chan Event, 1000)}
	o.Dir = dir
	if o.Now == nil {
		o.Now = h.clock.Now
	}
	o.OnEvent = func(ev Event) { h.events <- ev }
	q, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	h.q = q
	t.Cleanup(func() { q.Close() })
	return h
}

// run starts delivery with d until the test ends.
func (h *harness) run(t *testing.T, d Deliverer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.q.Run(ctx, d) }()
	t.Cleanup(func() {
		cancel()
		// A test that closes the queue first sees Run end with ErrClosed.
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Run: %v", err)
		}
	})
}

// next returns the next event that is not "queued".
func (h *harness) next(t *testing.T) Event {
	t.Helper()
	for ev := range h.events {
		if ev.Kind != EventQueued {
			return ev
		}
	}
	panic("unreachable")
}

func (h *harness) put(t *testing.T, env Envelope, data string) string {
	t.Helper()
	id, err := h.q.Put(context.Background(), env, []byte(data))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return id
}

func addrs(rs []Recipient) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Addr)
	}
	return out
}

func TestPutRefusesBadInput(t *testing.T) {
	h := open(t, t.TempDir(), Options{MaxMessageBytes: 100})
	many := make([]string, MaxRecipients+1)
	for i := range many {
		many[i] = "a@b"
	}
	tests := []struct {
		name string
		env  Envelope
		data string
		want error
	}{
		{"no recipients", Envelope{From: "a@b"}, "x", ErrNoRecipients},
		{"empty data", Envelope{To: []string{"a@b"}}, "", ErrEmpty},
		{"too large", Envelope{To: []string{"a@b"}}, strings.Repeat("x", 101), ErrTooLarge},
		{"too many recipients", Envelope{To: many}, "x", nil},
		{"empty recipient", Envelope{To: []string{""}}, "x", nil},
		{"CRLF in recipient", Envelope{To: []string{"a@b\r\nRCPT TO:<c@d>"}}, "x", nil},
		{"NUL in sender", Envelope{From: "a\x00@b", To: []string{"a@b"}}, "x", nil},
		{"huge service", Envelope{Service: strings.Repeat("s", 300), To: []string{"a@b"}}, "x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.q.Put(context.Background(), tt.env, []byte(tt.data))
			if err == nil {
				t.Fatal("Put accepted bad input")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if s := h.q.Stats(); s.Depth != 0 {
		t.Fatalf("refused messages are queued: %+v", s)
	}
	h.q.Close()
	if _, err := h.q.Put(context.Background(), Envelope{To: []string{"a@b"}}, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}
}

func TestPutSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{})
	want := map[string]string{}
	for i, body := range []string{"first\r\n", "second\r\n", strings.Repeat("long line\r\n", 5000)} {
		env := Envelope{Service: "svc", From: "app@example.org", To: []string{"a@x.test", "b@y.test"}}
		env.Service += string(rune('a' + i))
		want[h.put(t, env, body)] = body
	}
	if err := h.q.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := open(t, dir, Options{})
	list := h2.q.List()
	if len(list) != 3 {
		t.Fatalf("after reopen %d messages, want 3", len(list))
	}
	for _, m := range list {
		if m.Size != int64(len(want[m.ID])) || m.Envelope.From != "app@example.org" || len(m.Recipients) != 2 {
			t.Fatalf("message %s came back wrong: %+v", m.ID, m)
		}
	}
	d := &funcDeliverer{f: func(_ *Message, r []string) []Result { return ok(r) }}
	h2.run(t, d)
	for range 3 {
		if ev := h2.next(t); ev.Kind != EventSent {
			t.Fatalf("event %+v, want sent", ev)
		}
	}
	for _, c := range d.Calls() {
		if string(c.Data) != want[c.ID] {
			t.Fatalf("message %s: data read back differs", c.ID)
		}
	}
	if s := h2.q.Stats(); s.Depth != 0 || !s.Oldest.IsZero() || s.Sent != 6 {
		t.Fatalf("stats after delivery: %+v", s)
	}
}

// segments returns the journal segment files of dir, oldest first.
func segments(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	for _, f := range segments(t, from) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTornWrite cuts the journal at every byte of its last record, as a crash
// in the middle of a write would, and checks that reopening keeps every
// committed record and never panics.
func TestTornWrite(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{})
	env := Envelope{From: "a@b", To: []string{"c@d", "e@f"}}
	a := h.put(t, env, "message A")
	b := h.put(t, env, "message B")
	segs := segments(t, dir)
	seg := segs[len(segs)-1]
	st, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	start := st.Size()
	c := h.put(t, env, "message C")
	h.q.Close()
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}

	for cut := start; cut <= int64(len(full)); cut++ {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, filepath.Base(seg)), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := Open(Options{Dir: d})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		var ids []string
		for _, m := range q.List() {
			ids = append(ids, m.ID)
		}
		q.Close()
		want := []string{a, b}
		if cut == int64(len(full)) {
			want = append(want, c)
		}
		slices.Sort(ids)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("cut at %d of %d: messages %v, want %v", cut, len(full), ids, want)
		}
	}

	// Garbage after the last record (a torn write of a record whose header
	// survived) is ignored too, and later appends go to a fresh segment.
	d := t.TempDir()
	junk := append(slices.Clone(full), 0xff, 0xff, 0, 0, 1, 2, 3, 4, 1, 9, 9)
	if err := os.WriteFile(filepath.Join(d, filepath.Base(seg)), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	h2 := open(t, d, Options{})
	id := h2.put(t, env, "message D")
	h2.q.Close()
	h3 := open(t, d, Options{})
	if n := len(h3.q.List()); n != 4 {
		t.Fatalf("after garbage tail and a new Put: %d messages, want 4 (%s)", n, id)
	}
}

func TestPartialSuccessRetriesOnlyTheRest(t *testing.T) {
	h := open(t, t.TempDir(), Options{})
	var fail sync.Map
	fail.Store("b@y", true)
	d := &funcDeliverer{f: func(_ *Message, rcpts []string) []Result {
		var rs []Result
		for _, r := range rcpts {
			if _, bad := fail.Load(r); bad {
				rs = append(rs, Result{Rcpt: r, Code: 451, Reply: "4.3.0 try later"})
			} else {
				rs = append(rs, Result{Rcpt: r, OK: true, Code: 250})
			}
		}
		return rs
	}}
	h.run(t, d)
	id := h.put(t, Envelope{Service: "s", To: []string{"a@x", "b@y"}}, "hello")

	got := map[EventKind][]string{}
	for range 2 {
		ev := h.next(t)
		got[ev.Kind] = addrs(ev.Recipients)
	}
	if !slices.Equal(got[EventSent], []string{"a@x"}) || !slices.Equal(got[EventDeferred], []string{"b@y"}) {
		t.Fatalf("first attempt events: %v", got)
	}
	m := h.q.List()[0]
	if m.Attempts != 1 || m.Recipients[0].State != Sent || m.Recipients[1].State != Pending || m.Recipients[1].Code != 451 {
		t.Fatalf("state after first attempt: %+v", m)
	}

	fail.Delete("b@y")
	h.q.Kick()
	if ev := h.next(t); ev.Kind != EventSent || !slices.Equal(addrs(ev.Recipients), []string{"b@y"}) {
		t.Fatalf("second attempt: %+v", ev)
	}
	calls := d.Calls()
	if len(calls) != 2 || !slices.Equal(calls[1].Rcpts, []string{"b@y"}) || calls[1].ID != id {
		t.Fatalf("deliveries: %+v; the retry must go to b@y only", calls)
	}
	if n := len(h.q.List()); n != 0 {
		t.Fatalf("finished message still queued (%d)", n)
	}
}

func TestPermanentFailureBounces(t *testing.T) {
	h := open(t, t.TempDir(), Options{})
	h.run(t, &funcDeliverer{f: func(_ *Message, rcpts []string) []Result {
		return []Result{{Rcpt: rcpts[0], Code: 550, Reply: "5.1.1 no such user", Permanent: true}}
	}})
	id := h.put(t, Envelope{Service: "shop", From: "noreply@shop", To: []string{"gone@x"}}, "hi")
	ev := h.next(t)
	if ev.Kind != EventBounced || ev.ID != id || ev.Service != "shop" || ev.Recipients[0].Code != 550 ||
		!strings.Contains(ev.Reason, "no such user") || ev.Recipients[0].State != Failed {
		t.Fatalf("event %+v, want a bounce with the remote reply", ev)
	}
	if s := h.q.Stats(); s.Depth != 0 || s.Bounced != 1 || s.Queued != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestExpiryBouncesWithLastReply(t *testing.T) {
	h := open(t, t.TempDir(), Options{})
	h.run(t, &funcDeliverer{f: func(_ *Message, rcpts []string) []Result {
		return []Result{{Rcpt: rcpts[0], Code: 421, Reply: "4.7.0 greylisted"}}
	}})
	h.put(t, Envelope{To: []string{"slow@x"}}, "hi")
	if ev := h.next(t); ev.Kind != EventDeferred {
		t.Fatalf("first attempt: %+v", ev)
	}
	m := h.q.List()[0]
	if d := m.Next.Sub(m.Received); d < 30*time.Second || d > time.Minute {
		t.Fatalf("first retry after %s, want between MinBackoff/2 and MinBackoff", d)
	}
	h.clock.Add(5*24*time.Hour + time.Second)
	h.q.Kick()
	ev := h.next(t)
	if ev.Kind != EventBounced || !strings.Contains(ev.Reason, "expired after 5d") || !strings.Contains(ev.Reason, "greylisted") {
		t.Fatalf("after lifetime: %+v", ev)
	}
	if ev.Recipients[0].State != Failed {
		t.Fatalf("expired recipient state %v", ev.Recipients[0].State)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	none := func(int64) int64 { return 0 }
	most := func(n int64) int64 { return n - 1 }
	tests := []struct {
		attempts int
		want     time.Duration // without jitter
	}{
		{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {6, 32 * time.Minute},
		{7, time.Hour}, {50, time.Hour}, {1 << 30, time.Hour},
	}
	for _, tt := range tests {
		if got := backoff(time.Minute, time.Hour, tt.attempts, none); got != tt.want {
			t.Errorf("attempt %d: %s, want %s", tt.attempts, got, tt.want)
		}
		if got := backoff(time.Minute, time.Hour, tt.attempts, most); got <= tt.want/2 || got > tt.want {
			t.Errorf("attempt %d with jitter: %s, want in (%s, %s]", tt.attempts, got, tt.want/2, tt.want)
		}
	}
}

// blockingDeliverer holds deliveries of one service until released.
type blockingDeliverer struct {
	slow    string
	entered chan string
	release chan struct{}
}

func (d *blockingDeliverer) Deliver(ctx context.Context, m *Message, _ []byte, rcpts []string) []Result {
	if m.Envelope.Service == d.slow {
		d.entered <- m.ID
		select {
		case <-d.release:
		case <-ctx.Done():
		}
		return nil
	}
	return ok(rcpts)
}

func TestSlowDestinationDoesNotStallOthers(t *testing.T) {
	h := open(t, t.TempDir(), Options{Workers: 2})
	d := &blockingDeliverer{slow: "slow", entered: make(chan string, 1), release: make(chan struct{})}
	h.run(t, d)
	h.put(t, Envelope{Service: "slow", To: []string{"a@x"}}, "1")
	<-d.entered
	fast := h.put(t, Envelope{Service: "fast", To: []string{"b@y"}}, "2")
	if ev := h.next(t); ev.Kind != EventSent || ev.ID != fast {
		t.Fatalf("while another service hangs: %+v, want fast sent", ev)
	}
	close(d.release)
	if ev := h.next(t); ev.Kind != EventDeferred || ev.Recipients[0].Reply != "no result from the deliverer" {
		t.Fatalf("missing result: %+v, want deferred", ev)
	}
}

func TestDelivererPanicIsTemporary(t *testing.T) {
	h := open(t, t.TempDir(), Options{})
	h.run(t, &funcDeliverer{f: func(*Message, []string) []Result { panic("boom") }})
	h.put(t, Envelope{To: []string{"a@x"}}, "1")
	if ev := h.next(t); ev.Kind != EventDeferred {
		t.Fatalf("after a panic: %+v, want deferred", ev)
	}
	if m := h.q.List(); len(m) != 1 || m[0].Recipients[0].State != Pending {
		t.Fatalf("after a panic: %+v", m)
	}
}

// TestCrashInFlight snapshots the journal while a delivery is in progress,
// as kill -9 would leave it, and checks that the snapshot re-delivers only to
// the recipients not yet sent.
func TestCrashInFlight(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{})
	first := true
	entered, release := make(chan struct{}), make(chan struct{})
	h.run(t, &funcDeliverer{f: func(_ *Message, rcpts []string) []Result {
		if first {
			first = false
			return []Result{{Rcpt: "a@x", OK: true}, {Rcpt: "c@z", Permanent: true, Code: 550}}
		}
		close(entered)
		<-release
		return ok(rcpts)
	}})
	id := h.put(t, Envelope{To: []string{"a@x", "b@y", "c@z", "d@w"}}, "body")
	h.next(t)
	h.next(t)
	h.next(t) // sent a, deferred b+d, bounced c, in some order
	h.q.Kick()
	<-entered
	crash := t.TempDir()
	copyDir(t, dir, crash)
	close(release)

	h2 := open(t, crash, Options{})
	d := &funcDeliverer{f: func(_ *Message, r []string) []Result { return ok(r) }}
	h2.run(t, d)
	h2.q.Kick() // the journal says "retry in a minute"; do not wait for it
	if ev := h2.next(t); ev.Kind != EventSent || ev.ID != id {
		t.Fatalf("after crash: %+v", ev)
	}
	if c := d.Calls(); len(c) != 1 || !slices.Equal(c[0].Rcpts, []string{"b@y", "d@w"}) || string(c[0].Data) != "body" {
		t.Fatalf("after crash delivered %+v, want b@y and d@w only", c)
	}
}

func TestCompactionRemovesFinishedSegments(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{SegmentBytes: 4096})
	h.run(t, &funcDeliverer{f: func(_ *Message, rcpts []string) []Result {
		if rcpts[0] == "keep@x" {
			return []Result{{Rcpt: rcpts[0], Code: 451, Reply: "later"}}
		}
		return ok(rcpts)
	}})
	body := strings.Repeat("0123456789abcdef", 64) // 1 KiB: four per segment
	keep := h.put(t, Envelope{To: []string{"keep@x"}}, "kept "+body)
	for range 40 {
		h.put(t, Envelope{To: []string{"go@x"}}, body)
	}
	for range 41 {
		h.next(t)
	}
	if err := h.q.compactNow(); err != nil {
		t.Fatal(err)
	}
	if n := len(segments(t, dir)); n > 2 {
		t.Fatalf("%d segments after compaction, want at most 2", n)
	}
	h.q.Close()

	h2 := open(t, dir, Options{SegmentBytes: 4096})
	list := h2.q.List()
	if len(list) != 1 || list[0].ID != keep || list[0].Attempts != 1 || list[0].Recipients[0].Reply != "later" {
		t.Fatalf("after compaction and reopen: %+v", list)
	}
	d := &funcDeliverer{f: func(_ *Message, r []string) []Result { return ok(r) }}
	h2.run(t, d)
	h2.q.Kick()
	h2.next(t)
	if c := d.Calls(); len(c) != 1 || string(c[0].Data) != "kept "+body {
		t.Fatal("compacted message data differs")
	}
	if n := len(segments(t, dir)); n != 1 {
		t.Fatalf("%d segments with an empty queue, want 1", n)
	}
}

func TestConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{SegmentBytes: 8 << 10})
	var syncs int
	var mu sync.Mutex
	h.q.fileSync = func(f *os.File) error { mu.Lock(); syncs++; mu.Unlock(); return f.Sync() }
	const clients, each = 32, 20
	var wg sync.WaitGroup
	ids := make(chan string, clients*each)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				id, err := h.q.Put(context.Background(), Envelope{Service: string(rune('a' + c)), To: []string{"x@y"}},
					bytes.Repeat([]byte{byte(i)}, 100+i))
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		})
	}
	wg.Wait()
	close(ids)
	h.q.Close()
	h2 := open(t, dir, Options{})
	have := map[string]bool{}
	for _, m := range h2.q.List() {
		have[m.ID] = true
	}
	n := 0
	for id := range ids {
		n++
		if !have[id] {
			t.Fatalf("message %s lost", id)
		}
	}
	if n != clients*each || len(have) != n {
		t.Fatalf("%d ids, %d after reopen, want %d", n, len(have), clients*each)
	}
	t.Logf("%d Puts needed %d fsyncs", n, syncs)
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	h := open(t, dir, Options{})
	h.put(t, Envelope{To: []string{"a@b"}}, "x")
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", st.Mode().Perm())
	}
	for _, f := range segments(t, dir) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}

func TestEventHandlerMayCallQueue(t *testing.T) {
	var h *Queue
	var depth []int
	q, err := Open(Options{Dir: t.TempDir(), OnEvent: func(Event) { depth = append(depth, h.Stats().Depth) }})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	h = q
	if _, err := q.Put(context.Background(), Envelope{To: []string{"a@b"}}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(depth, []int{1}) {
		t.Fatalf("depth seen from OnEvent: %v", depth)
	}
}
