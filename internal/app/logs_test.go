package app

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
)

// logFixture is a fixture whose process runs an edge log, with services
// of the admin (blog) and of the member (shop).
func logFixture(t *testing.T) (*fixture, *logtail.Log) {
	t.Helper()
	f := newFixture(t)
	logs := logtail.New(logtail.Options{})
	f.app.core.opts.Logs = dataplane.Logs(logs)
	f.app.core.opts.LogHeartbeat = 50 * time.Millisecond
	for _, c := range []struct {
		owner *rampart.User
		name  string
	}{{f.admin, "blog"}, {f.member, "shop"}} {
		if _, err := f.app.Services.Create(context.Background(), UserActor(c.owner, ""), rampart.ServiceInput{Name: c.name, Upstreams: []string{"http://127.0.0.1:9000"}}); err != nil {
			t.Fatal(err)
		}
	}
	return f, logs
}

// request publishes a request for service (one of "" for an unknown host)
// that started now.
func request(logs *logtail.Log, service, path string) {
	logs.Publish(edge.LogEntry{Time: time.Now(), Service: service, Host: service + ".localhost", Method: "GET", Path: path, Status: 200})
}

// readAll reads a stream that does not follow to its end.
func readAll(t *testing.T, s *LogStream) []string {
	t.Helper()
	defer s.Close()
	var out []string
	for {
		b, err := s.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entries {
			out = append(out, e.Service+e.Path)
		}
	}
}

func TestLogsPermissions(t *testing.T) {
	f, logs := logFixture(t)
	request(logs, "blog", "/1")
	request(logs, "shop", "/2")
	request(logs, "", "/3")
	admin, member := UserActor(f.admin, ""), UserActor(f.member, "")
	tests := []struct {
		name  string
		actor Actor
		q     rampart.LogQuery
		want  []string
		code  string
		msg   string
	}{
		{"admin sees everything", admin, rampart.LogQuery{Tail: 10}, []string{"blog/1", "shop/2", "/3"}, "", ""},
		{"admin, one service", admin, rampart.LogQuery{Service: "shop", Tail: 10}, []string{"shop/2"}, "", ""},
		{"member sees their own", member, rampart.LogQuery{Tail: 10}, []string{"shop/2"}, "", ""},
		{"member, their service", member, rampart.LogQuery{Service: "shop", Tail: 10}, []string{"shop/2"}, "", ""},
		{"member, someone else's", member, rampart.LogQuery{Service: "blog", Tail: 10}, nil, rampart.ENOTFOUND, `service "blog" not found`},
		{"no such service", admin, rampart.LogQuery{Service: "nope", Tail: 10}, nil, rampart.ENOTFOUND, `service "nope" not found`},
		{"tail bounds", admin, rampart.LogQuery{Tail: 2}, []string{"shop/2", "/3"}, "", ""},
		{"tail too big", admin, rampart.LogQuery{Tail: rampart.MaxLogTail + 1}, nil, rampart.EINVALID, "tail 1001 is out of range: ask for 0 to 1000"},
		{"negative tail", admin, rampart.LogQuery{Tail: -1}, nil, rampart.EINVALID, "out of range"},
		{"cursor without service", admin, rampart.LogQuery{After: "x"}, nil, rampart.EINVALID, "give the service too"},
		{"nobody", Actor{}, rampart.LogQuery{}, nil, rampart.EUNAUTHORIZED, "authentication required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := f.app.Logs.Open(context.Background(), tt.actor, tt.q)
			if tt.code != "" {
				if rampart.ErrorCode(err) != tt.code || !strings.Contains(rampart.ErrorMessage(err), tt.msg) {
					t.Fatalf("err = %v, want %s containing %q", err, tt.code, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, s); !slices.Equal(got, tt.want) {
				t.Errorf("entries %v, want %v", got, tt.want)
			}
		})
	}

	f.app.core.opts.Logs = nil
	if _, err := f.app.Logs.Open(context.Background(), admin, rampart.LogQuery{}); rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "runs no edge") {
		t.Errorf("without an edge: %v", err)
	}
}

// next reads the next batch of a following stream, failing after a while.
func next(t *testing.T, s *LogStream) (LogBatch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Next(ctx)
}

// nextEntries skips heartbeats until entries come.
func nextEntries(t *testing.T, s *LogStream) []string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("no entries within 10s")
		}
		b, err := next(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Entries) == 0 && b.Dropped == 0 {
			continue
		}
		var out []string
		for _, e := range b.Entries {
			out = append(out, e.Service+e.Path)
		}
		return out
	}
}

func TestLogsFollow(t *testing.T) {
	f, logs := logFixture(t)
	ctx := context.Background()
	request(logs, "shop", "/old")
	s, err := f.app.Logs.Open(ctx, UserActor(f.member, ""), rampart.LogQuery{Tail: 5, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := nextEntries(t, s); !slices.Equal(got, []string{"shop/old"}) {
		t.Fatalf("backlog %v", got)
	}
	request(logs, "blog", "/not-yours")
	request(logs, "shop", "/new")
	if got := nextEntries(t, s); !slices.Equal(got, []string{"shop/new"}) {
		t.Fatalf("live %v", got)
	}
	// Quiet: heartbeats.
	if b, err := next(t, s); err != nil || len(b.Entries) != 0 || b.Dropped != 0 {
		t.Fatalf("heartbeat = %+v, %v", b, err)
	}
	// A service created while the stream is open joins it within
	// logScopePoll.
	if _, err := f.app.Services.Create(ctx, UserActor(f.member, ""), rampart.ServiceInput{Name: "cart", Upstreams: []string{"http://127.0.0.1:9001"}}); err != nil {
		t.Fatal(err)
	}
	for !slices.Contains(s.scope.tail().Services, "cart") {
		if _, err := next(t, s); err != nil {
			t.Fatal(err)
		}
	}
	request(logs, "cart", "/1")
	if got := nextEntries(t, s); !slices.Equal(got, []string{"cart/1"}) {
		t.Fatalf("new service %v", got)
	}
}

// TestLogsServiceNameReused: after shop is deleted and another person
// creates a shop, the first owner's stream ends and never shows the new
// shop's requests, and the new owner does not see the old shop's.
func TestLogsServiceNameReused(t *testing.T) {
	f, logs := logFixture(t)
	ctx := context.Background()
	member, admin := UserActor(f.member, ""), UserActor(f.admin, "")
	request(logs, "shop", "/members")
	s, err := f.app.Logs.Open(ctx, member, rampart.LogQuery{Service: "shop", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := f.app.Services.Delete(ctx, admin, "shop"); err != nil {
		t.Fatal(err)
	}
	purge(t, f, "shop")
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:9002"}}); err != nil {
		t.Fatal(err)
	}
	request(logs, "shop", "/admins")
	for {
		b, err := next(t, s)
		if err != nil {
			if rampart.ErrorCode(err) != rampart.ENOTFOUND || !strings.Contains(err.Error(), `service "shop" is gone`) {
				t.Fatalf("stream ended with %v", err)
			}
			break
		}
		if len(b.Entries) > 0 {
			t.Fatalf("the first owner's stream got %+v", b.Entries)
		}
	}
	got := readAll(t, must(f.app.Logs.Open(ctx, admin, rampart.LogQuery{Service: "shop", Tail: 10})))
	if !slices.Equal(got, []string{"shop/admins"}) {
		t.Errorf("the new shop's log: %v", got)
	}
}

// TestLogsOldServiceAfterReuse: a request that starts after a new service
// of an old name was created but still reaches the old one, because the
// edge has not applied the change yet, is not the new owner's to see: it
// names the old service's upstream.
func TestLogsOldServiceAfterReuse(t *testing.T) {
	f, logs := logFixture(t)
	ctx := context.Background()
	member, admin := UserActor(f.member, ""), UserActor(f.admin, "")
	old, err := f.app.Services.Get(ctx, member, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.Services.Delete(ctx, member, "shop"); err != nil {
		t.Fatal(err)
	}
	purge(t, f, "shop")
	// The new shop is the admin's; an entry of each arrives after it.
	created, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:9002"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		id   int64
		path string
	}{{old.ID, "/old"}, {created.ID, "/new"}} {
		logs.Publish(edge.LogEntry{Time: time.Now(), Service: "shop", ServiceID: strconv.FormatInt(e.id, 10), Host: "shop.localhost",
			Method: "GET", Path: e.path, Status: 200, Upstream: "http://127.0.0.1:9000"})
	}
	got := readAll(t, must(f.app.Logs.Open(ctx, admin, rampart.LogQuery{Service: "shop", Tail: 10})))
	if !slices.Equal(got, []string{"shop/new"}) {
		t.Errorf("the new shop's log: %v, want only its own request", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLogsStreamEnds(t *testing.T) {
	f, logs := logFixture(t)
	ctx := context.Background()
	admin := UserActor(f.admin, "")

	// The credential ends: the stream says so at the next heartbeat.
	revoked := errors.New("your session has ended: log in again")
	valid := true
	s, err := f.app.Logs.Open(ctx, admin, rampart.LogQuery{Follow: true, StillValid: func(context.Context) error {
		if valid {
			return nil
		}
		return revoked
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next(t, s); err != nil {
		t.Fatal(err)
	}
	valid = false
	if _, err := next(t, s); err != revoked {
		t.Errorf("after the credential ended: %v", err)
	}
	s.Close()

	// One account may follow only so many streams at once.
	var open []*LogStream
	for range MaxLogStreamsPerUser {
		open = append(open, must(f.app.Logs.Open(ctx, admin, rampart.LogQuery{Follow: true})))
	}
	if _, err := f.app.Logs.Open(ctx, admin, rampart.LogQuery{Follow: true}); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Errorf("stream %d: %v, want too many", MaxLogStreamsPerUser+1, err)
	}
	if _, err := f.app.Logs.Open(ctx, UserActor(f.member, ""), rampart.LogQuery{Follow: true}); err != nil {
		t.Errorf("another account is refused too: %v", err)
	}
	// Reading without following needs no place.
	if _, err := f.app.Logs.Open(ctx, admin, rampart.LogQuery{Tail: 5}); err != nil {
		t.Errorf("a read that does not follow is refused: %v", err)
	}
	open[0].Close()
	open[0] = must(f.app.Logs.Open(ctx, admin, rampart.LogQuery{Follow: true}))

	// Shutting down ends every stream.
	logs.Close()
	for _, s := range open {
		if _, err := next(t, s); err != rampart.ErrLogsClosed {
			t.Errorf("after the log closed: %v", err)
		}
		s.Close()
	}
}

// TestLogsResume: a stream opened with the cursor of an earlier one goes on
// where it stopped, instead of starting with the backlog.
func TestLogsResume(t *testing.T) {
	f, logs := logFixture(t)
	ctx := context.Background()
	admin := UserActor(f.admin, "")
	request(logs, "blog", "/1")
	first := must(f.app.Logs.Open(ctx, admin, rampart.LogQuery{Service: "blog", Tail: 10}))
	if b, err := first.Next(ctx); err != nil || len(b.Entries) != 1 {
		t.Fatalf("first read %+v, %v", b, err)
	}
	cursor := first.Cursor()
	first.Close()
	request(logs, "blog", "/2")
	s := must(f.app.Logs.Open(ctx, admin, rampart.LogQuery{Service: "blog", Tail: 10, After: cursor, Follow: true}))
	defer s.Close()
	if got := nextEntries(t, s); !slices.Equal(got, []string{"blog/2"}) {
		t.Errorf("resumed: %v, want only what came after the cursor", got)
	}
}

// TestLogsDropped: a follower that falls more than a ring behind is told
// how many entries it lost, before the ones it still gets.
func TestLogsDropped(t *testing.T) {
	f, logs := logFixture(t)
	s := must(f.app.Logs.Open(context.Background(), UserActor(f.member, ""), rampart.LogQuery{Service: "shop", Follow: true}))
	defer s.Close()
	for range rampart.MaxLogTail + 5 {
		request(logs, "shop", "/flood")
	}
	got := 0
	for first := true; got < rampart.MaxLogTail; first = false {
		b, err := next(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if first && b.Dropped != 5 {
			t.Errorf("first batch: dropped %d, want 5", b.Dropped)
		} else if !first && b.Dropped != 0 {
			t.Errorf("a later batch: dropped %d", b.Dropped)
		}
		got += len(b.Entries)
	}
	if got != rampart.MaxLogTail {
		t.Errorf("got %d entries, want the %d kept", got, rampart.MaxLogTail)
	}
}

// purge removes a deleted service's record, as the purge job does after
// the grace period, so that its name can be used again.
func purge(t *testing.T, f *fixture, name string) {
	t.Helper()
	svc, err := f.st.ServiceByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if svc.State != rampart.StateDeleted {
		t.Fatalf("purge %s: state %s, want deleted", name, svc.State)
	}
	if err := f.st.DeleteService(t.Context(), svc.ID); err != nil {
		t.Fatal(err)
	}
}
