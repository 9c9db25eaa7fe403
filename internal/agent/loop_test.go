package agent

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// toy is the smallest reconciler: it counts its passes.
type toy struct {
	kinds   []store.Kind
	passes  atomic.Int64
	changed atomic.Int64
	fail    atomic.Bool
}

func (t *toy) Name() string        { return "toy" }
func (t *toy) Kinds() []store.Kind { return t.kinds }
func (t *toy) Sync(_ context.Context, tr Trigger) error {
	t.passes.Add(1)
	if tr.Changed {
		t.changed.Add(1)
	}
	if t.fail.Load() {
		return errors.New("toy refuses")
	}
	return nil
}

func openStore(t *testing.T) (*sqlite.DB, *rampart.User) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	u := &rampart.User{Email: "ada@example.com", Role: rampart.RoleAdmin, PasswordHash: "x"}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	return db, u
}

// A reconciler is registered with one line and woken by changes of its
// kinds only; the slow poll finds nothing to do when nothing changed.
func TestLoopWakesOnItsKindOnly(t *testing.T) {
	db, u := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &toy{kinds: []store.Kind{store.KindDomains}}
	loop := &Loop{Store: db, Poll: 20 * time.Millisecond}
	go loop.RunAll(ctx, []Reconciler{r})
	waitFor(t, "the first pass", func() bool { return r.passes.Load() == 1 })

	svc := &rampart.Service{Name: "blog", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}
	if err := db.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // several polls
	if n := r.passes.Load(); n != 1 {
		t.Fatalf("a change of services woke a reconciler of domains: %d passes", n)
	}
	if err := db.CreateDomain(ctx, &rampart.Domain{ServiceID: svc.ID, Name: "blog.example", TLSMode: rampart.TLSOff, DomainStatus: rampart.DomainStatus{State: rampart.DomainActive}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a pass after a domain change", func() bool { return r.passes.Load() == 2 })
	if r.changed.Load() != 2 {
		t.Errorf("passes with Changed = %d, want 2 (first pass and the change)", r.changed.Load())
	}
	time.Sleep(100 * time.Millisecond)
	if n := r.passes.Load(); n != 2 {
		t.Errorf("%d passes with no further change, want 2", n)
	}
	if st := loop.Stats("toy"); st.Passes != 2 || st.LastSuccess.IsZero() || st.LastError != nil {
		t.Errorf("stats = %+v", st)
	}
}

// A failing pass is retried with growing waits until it succeeds, and
// the metrics say so.
func TestLoopBacksOffAndRecords(t *testing.T) {
	db, _ := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &toy{kinds: []store.Kind{store.KindServices}}
	r.fail.Store(true)
	reg := prometheus.NewRegistry()
	loop := &Loop{Store: db, Poll: time.Hour, MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Metrics: reg}
	go loop.Run(ctx, r)
	waitFor(t, "retries", func() bool { return r.passes.Load() >= 4 })
	if st := loop.Stats("toy"); st.LastError == nil || !st.LastSuccess.IsZero() {
		t.Errorf("stats after failures = %+v", st)
	}
	r.fail.Store(false)
	waitFor(t, "a success", func() bool { return !loop.Stats("toy").LastSuccess.IsZero() })
	n := r.passes.Load()
	time.Sleep(100 * time.Millisecond)
	if r.passes.Load() != n {
		t.Error("passes went on after a success with nothing changed")
	}
	if got := testutil.ToFloat64(loop.metrics.errors.WithLabelValues("toy")); got < 3 {
		t.Errorf("rampart_reconciler_errors_total = %v, want at least 3", got)
	}
	if got := testutil.ToFloat64(loop.metrics.lastSuccess.WithLabelValues("toy")); got == 0 {
		t.Error("rampart_reconciler_last_success_timestamp_seconds not set")
	}
	for i, want := range []time.Duration{10, 20, 40, 40} {
		if got := backoff(10, 40, i+1); got != want {
			t.Errorf("backoff after %d failures = %v, want %v", i+1, got, want)
		}
	}
}

// refusingTable refuses the routes of the services named in refuse, one by
// one, as the edge does, and installs the others.
type refusingTable struct {
	fakeTable
	refuse map[string]bool
}

func (f *refusingTable) SetRoutes(routes []edge.Route) error {
	f.mu.Lock()
	refuse := f.refuse
	f.mu.Unlock()
	var ok []edge.Route
	var errs []error
	for _, r := range routes {
		if refuse[r.Service] {
			errs = append(errs, &edge.RouteError{Service: r.Service, Err: errors.New("cache: stale-if-error 2h is too long")})
			continue
		}
		ok = append(ok, r)
	}
	_ = f.fakeTable.SetRoutes(ok)
	return errors.Join(errs...)
}

// One service's refused route leaves it out with its status saying why;
// every other service's changes keep applying.
func TestRoutesIsolateARefusedRoute(t *testing.T) {
	db, u := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, n := range []string{"bad", "good"} {
		if err := db.CreateService(ctx, &rampart.Service{Name: n, OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}); err != nil {
			t.Fatal(err)
		}
	}
	tbl := &refusingTable{refuse: map[string]bool{"bad": true}}
	go (&Loop{Store: db, Poll: 20 * time.Millisecond}).Run(ctx, &Routes{Store: db, Edge: tbl, PlatformDomain: "apps.test"})
	waitFor(t, "good routed", func() bool { return tbl.hosts()["good.apps.test"] })
	status := func(name string) rampart.Status {
		s, err := db.ServiceByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.Status
	}
	waitFor(t, "bad's status", func() bool { return status("bad").State == rampart.StatusError })
	if c := status("bad").Condition(rampart.ConditionRouting); c == nil || !strings.Contains(c.Message, "stale-if-error 2h") {
		t.Errorf("bad's routing condition = %+v, want the edge's reason", c)
	}
	waitFor(t, "good's status", func() bool { return status("good").State == rampart.StatusOK })
	if _, ok := tbl.hosts()["bad.apps.test"]; ok {
		t.Error("the refused route was installed")
	}

	// A new service still goes live, and a deleted one goes away.
	if err := db.CreateService(ctx, &rampart.Service{Name: "new", OwnerID: u.ID, Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new routed", func() bool { return tbl.hosts()["new.apps.test"] })
	good, _ := db.ServiceByName(ctx, "good")
	if err := db.DeleteService(ctx, good.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "good gone", func() bool { _, ok := tbl.hosts()["good.apps.test"]; return !ok })

	// Once the edge takes it, the status clears.
	tbl.mu.Lock()
	tbl.refuse = nil
	tbl.mu.Unlock()
	bad, _ := db.ServiceByName(ctx, "bad")
	bad.Upstreams = []string{"http://127.0.0.1:2"}
	if err := db.UpdateService(ctx, bad); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bad ok", func() bool { return status("bad").State == rampart.StatusOK })
	if c := status("bad").Condition(rampart.ConditionRouting); c.Revision == 0 {
		t.Errorf("routing condition has no applied revision: %+v", c)
	}
}

type panicky struct{ toy }

func (p *panicky) Name() string { return "panicky" }

func (p *panicky) Sync(ctx context.Context, t Trigger) error {
	p.toy.Sync(ctx, t)
	panic("a bug")
}

// A reconciler that panics fails its pass and is retried; the process and
// the other reconcilers go on.
func TestLoopSurvivesAPanic(t *testing.T) {
	db, _ := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	bad := &panicky{toy{kinds: []store.Kind{store.KindServices}}}
	good := &toy{kinds: []store.Kind{store.KindServices}}
	loop := &Loop{Store: db, Poll: time.Hour, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	go loop.RunAll(ctx, []Reconciler{bad, good})
	waitFor(t, "retries of the panicking one", func() bool { return bad.passes.Load() >= 3 })
	if err := loop.Stats("panicky").LastError; err == nil || !strings.Contains(err.Error(), "the panicky reconciler panicked: a bug") {
		t.Errorf("last error = %v", err)
	}
	waitFor(t, "the other one's pass", func() bool { return good.passes.Load() >= 1 })
}
