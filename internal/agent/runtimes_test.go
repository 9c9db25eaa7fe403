package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/runtime"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// fakeSupervisor runs nothing: it records what it is asked in events and
// observes every service as its last Apply left it.
type fakeSupervisor struct {
	mu       sync.Mutex
	events   *[]string
	observed map[int64]runtime.State
}

func (f *fakeSupervisor) Apply(_ context.Context, desired []runtime.Desired) map[int64]error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range desired {
		st := runtime.StateRunning
		if !d.Run {
			st = runtime.StateStopped
		}
		if f.observed[d.Spec.ID] != st {
			*f.events = append(*f.events, string(st)+" "+d.Spec.Name)
		}
		f.observed[d.Spec.ID] = st
	}
	return nil
}

func (f *fakeSupervisor) Observed(id int64) (runtime.Observed, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.observed[id]
	return runtime.Observed{State: st}, ok
}

// newExecService opens a store with an admin and one exec service, "app",
// and the service layer over it.
func newExecService(t *testing.T) (*sqlite.DB, *app.App, *rampart.Service) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := app.New(db, app.Options{})
	ctx := context.Background()
	op := app.OperatorActor()
	if _, err := a.Accounts.Create(ctx, op, rampart.UserInput{Email: "admin@example.com", Password: "long enough pw", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	svc, err := a.Services.Create(ctx, op, rampart.ServiceInput{Name: "app",
		Runtime: &rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/true", Port: 18080}})
	if err != nil {
		t.Fatal(err)
	}
	return db, a, svc
}

type fakeDirs struct{ root string }

func (d fakeDirs) EnsureDataDir(id int64) (string, error) { return d.root, nil }
func (d fakeDirs) ProjectDir(id int64) string             { return d.root }

// TestRuntimesTakeRoutesOffBeforeStopping: a service that is stopped
// leaves the edge (503) before its process is signalled, so no request
// meets a process that is going away (502). A pass that stops nothing
// does not run the routes.
func TestRuntimesTakeRoutesOffBeforeStopping(t *testing.T) {
	db, a, _ := newExecService(t)
	ctx := context.Background()
	op := app.OperatorActor()

	var events []string
	tbl := &fakeTable{}
	routes := &Routes{Store: db, Edge: tbl, PlatformDomain: "apps.test"}
	sup := &fakeSupervisor{events: &events, observed: map[int64]runtime.State{}}
	r := &Runtimes{Store: db, Supervisor: sup, Dirs: fakeDirs{t.TempDir()},
		BeforeStop: func(ctx context.Context) error {
			if err := routes.Sync(ctx, Trigger{Changed: true}); err != nil {
				return err
			}
			serving, routed := tbl.hosts()["app.apps.test"]
			events = append(events, fmt.Sprintf("routes: app routed=%v serving=%v", routed, serving))
			return nil
		}}

	pass := func() {
		t.Helper()
		if err := r.Sync(ctx, Trigger{Changed: true}); err != nil {
			t.Fatal(err)
		}
	}
	pass() // starts it
	pass() // nothing to do
	if _, err := a.Services.Stop(ctx, op, "app"); err != nil {
		t.Fatal(err)
	}
	pass() // stops it
	pass() // stopped already
	// Routed and stopped: the edge answers 503 for it.
	want := []string{"running app", "routes: app routed=true serving=false", "stopped app"}
	if len(events) != len(want) {
		t.Fatalf("events %q, want %q", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("events %q, want %q", events, want)
		}
	}
}

// TestRuntimesRoutesFollowDown: a service that starts crash-looping gets a
// routes pass at once, which stops the edge holding its requests (run
// states move no revision to wake the routes by themselves); one that
// runs again gets its hold back. Reports that keep it down run no pass.
func TestRuntimesRoutesFollowDown(t *testing.T) {
	db, _, svc := newExecService(t)
	ctx := context.Background()
	tbl := &fakeTable{}
	routes := &Routes{Store: db, Edge: tbl, PlatformDomain: "apps.test"}
	var holds []time.Duration
	r := &Runtimes{Store: db, Dirs: fakeDirs{t.TempDir()},
		DownChanged: func(ctx context.Context) error {
			if err := routes.Sync(ctx, Trigger{Changed: true}); err != nil {
				return err
			}
			tbl.mu.Lock()
			holds = append(holds, tbl.routes[0].Hold)
			tbl.mu.Unlock()
			return nil
		}}
	for _, o := range []runtime.Observed{
		{State: runtime.StateRunning, PID: 10},
		{State: runtime.StateCrashLoop, Restarts: 1, LastExit: "exit status 1"},
		{State: runtime.StateCrashLoop, Restarts: 2, LastExit: "exit status 1"},
		{State: runtime.StateFailed, Message: "no such command"},
		{State: runtime.StateRunning, PID: 11},
		{State: runtime.StateStopping, PID: 11},
	} {
		r.Report(ctx, svc.ID, o)
	}
	if want := []time.Duration{0, RestartHold}; fmt.Sprint(holds) != fmt.Sprint(want) {
		t.Errorf("routes passes with holds %v, want %v", holds, want)
	}
}
