package logtail

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge"
)

var t0 = time.Date(2026, 12, 2, 3, 49, 5, 0, time.UTC)

// entry is request number i of service: its path says which it was, and it
// finished i milliseconds after t0.
func entry(service string, i int) edge.LogEntry {
	return edge.LogEntry{
		Time:      t0.Add(time.Duration(i) * time.Millisecond),
		Service:   service,
		Host:      service + ".example.net",
		Method:    "GET",
		Path:      fmt.Sprintf("/%d", i),
		Status:    200,
		Bytes:     2100,
		Duration:  time.Microsecond,
		ClientIP:  netip.MustParseAddr("203.0.113.9"),
		Upstream:  "http://127.0.0.1:3000",
		RequestID: fmt.Sprintf("req-%d", i),
		Cache:     "MISS",
	}
}

// paths lists the entries as "service/path".
func paths(es []edge.LogEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Service + e.Path
	}
	return out
}

func seq(service string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s/%d", service, i))
	}
	return out
}

func subscribe(t *testing.T, l *Log, sc Scope) *Subscription {
	t.Helper()
	s, err := l.Subscribe(sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func one(service string) Scope { return Scope{Services: []string{service}} }

func TestEntryRoundTrip(t *testing.T) {
	l := New(Options{})
	in := entry("blog", 7)
	in.Error = "dial tcp 127.0.0.1:3000: connect: connection refused"
	in.Limited = true
	in.Duration = 3212345 * time.Nanosecond
	in.ServiceID = "17"
	l.Publish(in)
	got := subscribe(t, l, one("blog")).Backlog(1)
	want := edge.LogEntry{
		Time: in.Time, Service: "blog", ServiceID: "17", Host: "blog.example.net", Method: "GET", Path: "/7", Status: 200, Bytes: 2100,
		Duration: 3212 * time.Microsecond, ClientIP: netip.MustParseAddr("203.0.113.9"), Upstream: "http://127.0.0.1:3000",
		RequestID: "req-7", Cache: "MISS", Limited: true, Error: in.Error,
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("backlog %+v\nwant      %+v", got, want)
	}
}

// TestTextIsBounded: long values are cut where they would make one entry
// large, at a character boundary, and marked.
func TestTextIsBounded(t *testing.T) {
	l := New(Options{})
	e := entry("blog", 1)
	e.Path = "/" + strings.Repeat("é", 1000) // 2001 bytes
	e.Error = strings.Repeat("x", 5000)
	e.Method = strings.Repeat("M", 100)
	l.Publish(e)
	got := subscribe(t, l, one("blog")).Backlog(1)[0]
	for _, f := range []struct {
		name, v string
		max     int
	}{{"path", got.Path, maxPath}, {"error", got.Error, maxError}, {"method", got.Method, maxMethod}} {
		if !strings.HasSuffix(f.v, "…") || len(f.v) > f.max+len("…") {
			t.Errorf("%s: %d bytes, want at most %d and a trailing …", f.name, len(f.v), f.max)
		}
		if !utf8Valid(f.v) {
			t.Errorf("%s was cut inside a character", f.name)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// TestRingBound: each service keeps its last PerService entries, whatever
// the other services do.
func TestRingBound(t *testing.T) {
	l := New(Options{PerService: 10})
	for i := range 25 {
		l.Publish(entry("busy", i))
	}
	for i := range 3 {
		l.Publish(entry("quiet", i))
	}
	tests := []struct {
		scope Scope
		n     int
		want  []string
	}{
		{one("busy"), 100, seq("busy", 15, 25)},
		{one("busy"), 4, seq("busy", 21, 25)},
		{one("quiet"), 100, seq("quiet", 0, 3)},
		{one("nobody"), 100, nil},
		{one("busy"), 0, nil},
	}
	for _, tt := range tests {
		if got := paths(subscribe(t, l, tt.scope).Backlog(tt.n)); !slices.Equal(got, tt.want) {
			t.Errorf("%v Backlog(%d) = %v, want %v", tt.scope.Services, tt.n, got, tt.want)
		}
	}
}

// TestBacklogAcrossServices: a backlog of several services is the n
// entries that finished last, in the order they finished.
func TestBacklogAcrossServices(t *testing.T) {
	l := New(Options{PerService: 100})
	for i := range 30 {
		service := []string{"a", "b", "c"}[i%3]
		l.Publish(entry(service, i))
	}
	unknown := entry("", 30)
	unknown.Host = "scanner.example"
	l.Publish(unknown)

	var want []string
	for i := 24; i < 30; i++ {
		want = append(want, fmt.Sprintf("%s/%d", []string{"a", "b", "c"}[i%3], i))
	}
	if got := paths(subscribe(t, l, Scope{Services: []string{"a", "b", "c"}}).Backlog(6)); !slices.Equal(got, want) {
		t.Errorf("three services: %v, want %v", got, want)
	}
	if got := paths(subscribe(t, l, Scope{All: true}).Backlog(2)); !slices.Equal(got, []string{"c/29", "/30"}) {
		t.Errorf("everything: %v, want c/29 and the unknown host's", got)
	}
	if got := paths(subscribe(t, l, Scope{Services: []string{"a", "c"}}).Backlog(4)); !slices.Equal(got, []string{"a/24", "c/26", "a/27", "c/29"}) {
		t.Errorf("a and c: %v", got)
	}
}

// TestFollow: a subscriber reads what comes after it subscribed, in order,
// only for its services, and the backlog is what came before: nothing is
// seen twice or missed.
func TestFollow(t *testing.T) {
	l := New(Options{})
	for i := range 3 {
		l.Publish(entry("blog", i))
	}
	s := subscribe(t, l, one("blog"))
	for i := 3; i < 6; i++ {
		l.Publish(entry("blog", i))
		l.Publish(entry("shop", i))
	}
	select {
	case <-s.Ready():
	default:
		t.Fatal("Ready did not fire after a publish")
	}
	got, dropped := s.Read(100)
	if !slices.Equal(paths(got), seq("blog", 3, 6)) || dropped != 0 {
		t.Errorf("Read = %v, dropped %d", paths(got), dropped)
	}
	if got := paths(s.Backlog(100)); !slices.Equal(got, seq("blog", 0, 3)) {
		t.Errorf("Backlog = %v", got)
	}
	if got, _ := s.Read(100); len(got) != 0 {
		t.Errorf("second Read = %v, want nothing", paths(got))
	}
	// max bounds one Read; the rest comes with the next.
	for i := 6; i < 10; i++ {
		l.Publish(entry("blog", i))
	}
	a, _ := s.Read(3)
	b, _ := s.Read(3)
	if !slices.Equal(paths(append(a, b...)), seq("blog", 6, 10)) || len(a) != 3 {
		t.Errorf("Read(3) twice = %v then %v", paths(a), paths(b))
	}
}

// TestSlowSubscriberDrops: a subscriber that falls more than a ring behind
// loses the oldest entries and is told how many; Publish never waits.
func TestSlowSubscriberDrops(t *testing.T) {
	l := New(Options{PerService: 8})
	s := subscribe(t, l, one("blog"))
	other := subscribe(t, l, Scope{All: true})
	for i := range 20 {
		l.Publish(entry("blog", i))
	}
	got, dropped := s.Read(100)
	if dropped != 12 || !slices.Equal(paths(got), seq("blog", 12, 20)) {
		t.Errorf("Read = %v, dropped %d; want the last 8 and 12 dropped", paths(got), dropped)
	}
	// Caught up, it loses nothing more.
	l.Publish(entry("blog", 20))
	if got, dropped := s.Read(100); dropped != 0 || !slices.Equal(paths(got), seq("blog", 20, 21)) {
		t.Errorf("after catching up: %v, dropped %d", paths(got), dropped)
	}
	// Each subscriber has its own position.
	if got, dropped := other.Read(100); dropped != 13 || len(got) != 8 {
		t.Errorf("the other subscriber: %d entries, dropped %d", len(got), dropped)
	}
}

func TestCloseAndLimits(t *testing.T) {
	l := New(Options{MaxSubscribers: 2})
	a := subscribe(t, l, one("blog"))
	subscribe(t, l, one("blog"))
	if _, err := l.Subscribe(one("blog")); err != ErrTooMany {
		t.Fatalf("third subscription: %v, want ErrTooMany", err)
	}
	// Unsubscribing frees the place and stops the deliveries.
	a.Close()
	a.Close() // twice is fine
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed after Close")
	}
	l.Publish(entry("blog", 1))
	if got, _ := a.Read(10); len(got) != 0 {
		t.Errorf("closed subscription read %v", paths(got))
	}
	c := subscribe(t, l, one("blog"))
	// A snapshot reads the backlog without taking a place.
	if got := paths(l.Snapshot(one("blog")).Backlog(10)); !slices.Equal(got, []string{"blog/1"}) {
		t.Errorf("snapshot with every place taken: %v", got)
	}

	// Log.Close ends every subscription and refuses new ones; entries are
	// still kept.
	l.Close()
	select {
	case <-c.Done():
	default:
		t.Error("Log.Close did not end the subscription")
	}
	if _, err := l.Subscribe(one("blog")); err != ErrClosed {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	l.Publish(entry("blog", 2))
	if n := len(*l.subs.Load()); n != 0 {
		t.Errorf("%d subscribers after Close", n)
	}
}

// TestRetain: entries of services that are gone are forgotten, so a new
// service of the same name starts empty; unknown hosts are kept.
func TestRetain(t *testing.T) {
	l := New(Options{})
	l.Publish(entry("blog", 1))
	l.Publish(entry("shop", 2))
	l.Publish(entry("", 3))
	l.Retain([]string{"shop"})
	if got := paths(subscribe(t, l, Scope{All: true}).Backlog(10)); !slices.Equal(got, []string{"shop/2", "/3"}) {
		t.Errorf("after Retain: %v", got)
	}
}

func TestSetScope(t *testing.T) {
	l := New(Options{})
	l.Publish(entry("shop", 0))
	s := subscribe(t, l, one("blog"))
	l.Publish(entry("shop", 1))
	s.SetScope(Scope{Services: []string{"blog", "shop"}})
	l.Publish(entry("shop", 2))
	l.Publish(entry("blog", 3))
	// shop joins from its next entry: not its history, not shop/1.
	if got, _ := s.Read(10); !slices.Equal(paths(got), []string{"shop/2", "blog/3"}) {
		t.Errorf("after widening: %v", paths(got))
	}
	s.SetScope(one("shop"))
	l.Publish(entry("blog", 4))
	l.Publish(entry("shop", 5))
	if got, _ := s.Read(10); !slices.Equal(paths(got), []string{"shop/5"}) {
		t.Errorf("after narrowing: %v", paths(got))
	}
}

// TestResume: a cursor continues where an earlier subscription stopped,
// with what came in between and a count of what was lost; a cursor of
// another process or service changes nothing.
func TestResume(t *testing.T) {
	l := New(Options{PerService: 5})
	l.Publish(entry("blog", 0))
	first := subscribe(t, l, one("blog"))
	l.Publish(entry("blog", 1))
	first.Read(10)
	cursor := first.Cursor()
	first.Close()

	l.Publish(entry("blog", 2))
	l.Publish(entry("blog", 3))
	s := subscribe(t, l, one("blog"))
	if !s.Resume(cursor) {
		t.Fatalf("Resume(%q) refused", cursor)
	}
	if got, dropped := s.Read(10); !slices.Equal(paths(got), seq("blog", 2, 4)) || dropped != 0 {
		t.Errorf("after Resume: %v, dropped %d", paths(got), dropped)
	}
	c2 := s.Cursor()
	for i := 4; i < 12; i++ {
		l.Publish(entry("blog", i))
	}
	s2 := subscribe(t, l, one("blog"))
	if !s2.Resume(c2) {
		t.Fatal("second Resume refused")
	}
	if got, dropped := s2.Read(10); !slices.Equal(paths(got), seq("blog", 7, 12)) || dropped != 3 {
		t.Errorf("resumed after overflow: %v, dropped %d; want the last 5 and 3 dropped", paths(got), dropped)
	}

	other := New(Options{})
	other.Publish(entry("blog", 0))
	for _, bad := range []string{"", "x", "1.2", cursor + "0", subscribe(t, other, one("blog")).Cursor(), subscribe(t, l, one("shop")).Cursor(), "zz.1.1"} {
		s := subscribe(t, l, one("blog"))
		if s.Resume(bad) {
			t.Errorf("Resume(%q) accepted", bad)
		}
	}
	if subscribe(t, l, Scope{All: true}).Resume(cursor) {
		t.Error("Resume accepted on a scope of all services")
	}
}

// TestConcurrent publishes from many goroutines while subscribers read and
// come and go; run with -race. Every subscriber sees each service's
// entries in order, and what it read plus what it lost is what was
// published after it subscribed.
func TestConcurrent(t *testing.T) {
	l := New(Options{PerService: 64})
	const writers, perWriter = 4, 2000
	var wg sync.WaitGroup
	type result struct {
		read, dropped int
	}
	results := make(chan result, 8)
	stop := make(chan struct{})
	for i := range 3 {
		s := subscribe(t, l, one(fmt.Sprint("svc", i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			var r result
			for {
				es, dropped := s.Read(100)
				r.read += len(es)
				r.dropped += dropped
				for _, e := range es {
					var n int
					fmt.Sscanf(e.Path, "/%d", &n)
					if n <= last {
						t.Errorf("%s: entry %d after %d", e.Service, n, last)
					}
					last = n
				}
				select {
				case <-s.Ready():
				case <-stop:
					if es, dropped := s.Read(1 << 20); len(es) == 0 && dropped == 0 {
						results <- r
						return
					} else {
						r.read += len(es)
						r.dropped += dropped
					}
				}
			}
		}()
	}
	// Churn: subscriptions that open, read a little and close.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if s, err := l.Subscribe(Scope{All: true}); err == nil {
				s.Backlog(10)
				s.Read(10)
				s.Close()
			}
		}
	}()
	var pub sync.WaitGroup
	for w := range writers {
		pub.Add(1)
		go func() {
			defer pub.Done()
			// Each writer owns one service, so its entries have an order.
			service := fmt.Sprint("svc", w)
			for i := range perWriter {
				l.Publish(entry(service, i))
			}
		}()
	}
	pub.Wait()
	close(stop)
	wg.Wait()
	close(results)
	for r := range results {
		if r.read+r.dropped != perWriter {
			t.Errorf("a subscriber read %d and lost %d, want %d in all", r.read, r.dropped, perWriter)
		}
	}
}

// TestPublishDoesNotAllocate: once a ring has filled, publishing copies
// into slots that exist, with or without followers.
func TestPublishDoesNotAllocate(t *testing.T) {
	l := New(Options{PerService: 16})
	s := subscribe(t, l, one("blog"))
	subscribe(t, l, Scope{All: true})
	e := entry("blog", 1)
	for range 32 {
		l.Publish(e)
	}
	s.Read(100)
	if n := testing.AllocsPerRun(1000, func() { l.Publish(e) }); n != 0 {
		t.Errorf("Publish allocates %.1f times", n)
	}
}

// BenchmarkPublish is the cost the edge pays per request for the live log:
// with nobody following; with followers of the service that read as fast
// as they can (their goroutines' work, turning entries into strings, is
// counted too: it runs on the same cores); with stuck followers that never
// read, which is the publishing alone; and with followers of other
// services only.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name            string
		followers       int
		followOtherOnly bool
		stuck           bool
	}{
		{"subscribers=0", 0, false, false},
		{"subscribers=1", 1, false, false},
		{"subscribers=4", 4, false, false},
		{"subscribers=4-stuck", 4, false, true},
		{"subscribers=4-other-service", 4, true, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := New(Options{})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range bc.followers {
				sc := one("blog")
				if bc.followOtherOnly {
					sc = one("shop")
				}
				s, err := l.Subscribe(sc)
				if err != nil {
					b.Fatal(err)
				}
				if bc.stuck {
					defer s.Close()
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					for {
						s.Read(256)
						select {
						case <-s.Ready():
						case <-stop:
							return
						}
					}
				}()
			}
			e := entry("blog", 1)
			e.Path = "/products/42/reviews"
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l.Publish(e)
				}
			})
			b.StopTimer()
			close(stop)
			wg.Wait()
		})
	}
}

// FuzzResume feeds arbitrary cursors (they come from a query parameter or
// the Last-Event-ID header): Resume accepts only this service's cursors of
// positions that exist, and what it accepts reads back without panicking.
func FuzzResume(f *testing.F) {
	l := New(Options{PerService: 8})
	for i := range 20 {
		l.Publish(entry("blog", i))
	}
	s := l.Snapshot(one("blog"))
	good := s.Cursor()
	for _, c := range []string{good, "", ".", "..", "0.0.0", good + "1", strings.Replace(good, ".20", ".3", 1), "x.y.z", "ffffffffffffffffff.1.1", good + ".1"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, c string) {
		s := l.Snapshot(one("blog"))
		if !s.Resume(c) {
			return
		}
		// Accepted: it names this log's blog ring and a position in it.
		if !strings.HasPrefix(c, strings.TrimSuffix(good, "20")) {
			t.Fatalf("accepted %q, not a cursor of this ring (%q)", c, good)
		}
		es, dropped := s.Read(100)
		if len(es) > 8 || len(es)+dropped > 20 {
			t.Fatalf("cursor %q read %d entries and lost %d of 20", c, len(es), dropped)
		}
	})
}
