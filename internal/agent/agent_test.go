package agent

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// fakeTable records what the reconciler installs; it stands in for the edge,
// whose own tests cover what it does with a table.
type fakeTable struct {
	mu     sync.Mutex
	routes []edge.Route
	calls  int
	fail   error
}

func (f *fakeTable) SetRoutes(r []edge.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	f.routes = r
	return nil
}

func (f *fakeTable) hosts() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]bool{}
	for _, r := range f.routes {
		for _, h := range r.Hosts {
			m[h] = !r.Stopped
		}
	}
	return m
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRoutesFollowTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := app.New(db, app.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	op := app.OperatorActor()
	if _, err := a.Accounts.Create(ctx, op, rampart.UserInput{Email: "admin@example.com", Password: "long enough pw", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Services.Create(ctx, op, rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}

	tbl := &fakeTable{}
	r := &Routes{Store: db, Edge: tbl, PlatformDomain: "apps.test"}
	loop := &Loop{Store: db, Poll: 20 * time.Millisecond, MinBackoff: 10 * time.Millisecond}
	done := make(chan struct{})
	go func() { loop.Run(ctx, r); close(done) }()
	waitFor(t, "the first table", func() bool { return tbl.hosts()["blog.apps.test"] })

	// A change through this process's store arrives by notice.
	stopped := rampart.StateStopped
	if _, err := a.Services.Update(ctx, op, rampart.ServiceUpdate{Name: "blog", State: &stopped}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "blog stopped", func() bool { h, ok := tbl.hosts()["blog.apps.test"]; return ok && !h })

	// A change by another process (its own handle on the file, its own App)
	// arrives by polling the revisions.
	other, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := app.New(other, app.Options{}).Services.Create(ctx, op, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shop from the other process", func() bool { return tbl.hosts()["shop.apps.test"] })

	// Nothing changed: polling does not rebuild the table.
	tbl.mu.Lock()
	calls := tbl.calls
	tbl.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	tbl.mu.Lock()
	if tbl.calls != calls {
		t.Errorf("table rebuilt %d times with no change", tbl.calls-calls)
	}
	// A failing edge keeps being retried until it takes the table.
	tbl.fail = errors.New("edge refuses")
	tbl.mu.Unlock()
	if err := a.Services.Delete(ctx, op, "shop"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !tbl.hosts()["shop.apps.test"] {
		t.Fatal("a refused table replaced the routes")
	}
	tbl.mu.Lock()
	tbl.fail = nil
	tbl.mu.Unlock()
	waitFor(t, "shop gone after the edge recovers", func() bool { _, ok := tbl.hosts()["shop.apps.test"]; return !ok })

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
