package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestSupervisor(t *testing.T, extra map[Kind]Driver) (*Supervisor, *recorder) {
	t.Helper()
	rec := newRecorder()
	drivers := map[Kind]Driver{KindExec: NewExec(ExecOptions{Logs: rec.log, Backoff: testBackoff})}
	for k, d := range extra {
		drivers[k] = d
	}
	s := NewSupervisor(Options{Drivers: drivers, OnChange: rec.change})
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, rec
}

func apply(t *testing.T, s *Supervisor, desired ...Desired) {
	t.Helper()
	for id, err := range s.Apply(ctx, desired) {
		t.Fatalf("Apply: service %d: %v", id, err)
	}
}

func supObserved(t *testing.T, s *Supervisor, id int64) Observed {
	t.Helper()
	o, ok := s.Observed(id)
	if !ok {
		t.Fatalf("service %d is not supervised", id)
	}
	return o
}

const longRunning = `echo ready > "$DATA_DIR/ready"; exec sleep 60`

func TestSupervisorGenerationRestarts(t *testing.T) {
	s, _ := newTestSupervisor(t, nil)
	spec := scriptSpec(t, 1, longRunning)
	apply(t, s, Desired{spec, true})
	pid := supObserved(t, s, 1).PID
	if pid == 0 {
		t.Fatalf("not running: %+v", supObserved(t, s, 1))
	}
	apply(t, s, Desired{spec, true})
	if got := supObserved(t, s, 1).PID; got != pid {
		t.Fatalf("reapplying the same spec restarted it: pid %d → %d", pid, got)
	}
	spec.Generation++
	apply(t, s, Desired{spec, true})
	o := supObserved(t, s, 1)
	if o.PID == pid || o.PID == 0 || alive(pid) {
		t.Fatalf("new generation: %+v, old pid %d alive=%v", o, pid, alive(pid))
	}
}

func TestSupervisorRunFalseStops(t *testing.T) {
	s, _ := newTestSupervisor(t, nil)
	spec := scriptSpec(t, 1, longRunning)
	apply(t, s, Desired{spec, true})
	pid := supObserved(t, s, 1).PID
	apply(t, s, Desired{spec, false})
	if o := supObserved(t, s, 1); o.State != StateStopped || alive(pid) {
		t.Fatalf("after Run=false: %+v", o)
	}
	apply(t, s, Desired{spec, true})
	if o := supObserved(t, s, 1); o.State != StateRunning {
		t.Fatalf("after Run=true again: %+v", o)
	}
}

func TestSupervisorKillStaysKilled(t *testing.T) {
	s, _ := newTestSupervisor(t, nil)
	spec := scriptSpec(t, 1, ignoreTerm)
	spec.StopTimeout = time.Hour
	apply(t, s, Desired{spec, true})
	waitReady(t, spec)
	pid := supObserved(t, s, 1).PID
	if err := s.Kill(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if o := supObserved(t, s, 1); o.State != StateStopped || o.LastExit != "signal: killed" || alive(pid) {
		t.Fatalf("after Kill: %+v", o)
	}

	apply(t, s, Desired{spec, true})
	if o := supObserved(t, s, 1); o.State != StateStopped {
		t.Fatalf("reapplying the same spec undid Kill: %+v", o)
	}

	apply(t, s, Desired{spec, false})
	apply(t, s, Desired{spec, true})
	if o := supObserved(t, s, 1); o.State != StateRunning {
		t.Fatalf("Run=false then true did not start it: %+v", o)
	}

	if err := s.Kill(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The new process writes its ready file again: wait for it, or the
	// write can race the removal of the data directory at the test's end
	// (t.TempDir's cleanup runs before the supervisor's Close).
	if err := os.Remove(filepath.Join(spec.DataDir, "ready")); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	spec.Generation++
	spec.StopTimeout = 100 * time.Millisecond // for the cleanup's Close
	apply(t, s, Desired{spec, true})
	if o := supObserved(t, s, 1); o.State != StateRunning {
		t.Fatalf("a new generation did not start it: %+v", o)
	}
	waitReady(t, spec)

	if err := s.Kill(ctx, 99); !errors.Is(err, ErrNotSupervised) {
		t.Fatalf("Kill of an unknown service = %v", err)
	}
}

func TestSupervisorApplyRemoves(t *testing.T) {
	s, _ := newTestSupervisor(t, nil)
	a, b := scriptSpec(t, 1, longRunning), scriptSpec(t, 2, trapTerm)
	apply(t, s, Desired{a, true}, Desired{b, true})
	waitReady(t, b)
	pa, pb := supObserved(t, s, 1).PID, supObserved(t, s, 2).PID
	apply(t, s, Desired{a, true})
	if _, ok := s.Observed(2); ok {
		t.Fatal("a removed service is still supervised")
	}
	if alive(pb) {
		t.Fatalf("removed service's pid %d still alive", pb)
	}
	if readFile(filepath.Join(b.DataDir, "term")) == "" {
		t.Fatal("the removed service was not stopped gracefully")
	}
	if readFile(filepath.Join(b.DataDir, "ready")) == "" {
		t.Fatal("Remove touched the data directory")
	}
	if got := supObserved(t, s, 1).PID; got != pa {
		t.Fatalf("the remaining service was restarted: %d → %d", pa, got)
	}
	if err := s.Pause(ctx, 2); !errors.Is(err, ErrNotSupervised) {
		t.Fatalf("Pause of a removed service = %v", err)
	}
}

func TestSupervisorOneBadServiceDoesNotStopOthers(t *testing.T) {
	s, _ := newTestSupervisor(t, nil)
	bad := scriptSpec(t, 1, "")
	bad.Command = "/nonexistent/program"
	good := scriptSpec(t, 2, longRunning)
	unknown := scriptSpec(t, 3, longRunning)
	unknown.Kind = "vm"
	errs := s.Apply(ctx, []Desired{{bad, true}, {good, true}, {unknown, true}, {good, true}})
	if err := errs[1]; err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("bad service: %v", err)
	}
	if err := errs[2]; err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Errorf("the service listed twice: %v", err)
	}
	if err := errs[3]; err == nil || !strings.Contains(err.Error(), "no driver") {
		t.Errorf("unknown kind: %v", err)
	}
	if o := supObserved(t, s, 1); o.State != StateFailed || !strings.Contains(o.Message, "/nonexistent/program") {
		t.Errorf("bad service observed %+v", o)
	}
	if o := supObserved(t, s, 2); o.State != StateRunning {
		t.Errorf("good service observed %+v", o)
	}
}

func TestSupervisorPauseResume(t *testing.T) {
	s, rec := newTestSupervisor(t, nil)
	spec := scriptSpec(t, 1, `while :; do echo x >> "$DATA_DIR/count"; sleep 0.02; done`)
	apply(t, s, Desired{spec, true})
	count := filepath.Join(spec.DataDir, "count")
	waitFor(t, "progress", func() bool { return len(fileLines(count)) > 2 })
	if err := s.Pause(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Reapplying during a backup must not wake it.
	apply(t, s, Desired{spec, true})
	n := len(fileLines(count))
	time.Sleep(300 * time.Millisecond)
	if m := len(fileLines(count)); m != n || supObserved(t, s, 1).State != StatePaused {
		t.Fatalf("paused service progressed %d → %d (%+v)", n, m, supObserved(t, s, 1))
	}
	if err := s.Resume(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "progress after Resume", func() bool { return len(fileLines(count)) > n })
	waitFor(t, "OnChange to report running", func() bool {
		h := rec.history(1)
		return len(h) > 0 && h[len(h)-1].State == StateRunning
	})
}

// OnChange must never run concurrently for one service, however the
// changes arise (crashes on the driver's goroutines, Apply, Kill).
func TestSupervisorOnChangeSerialisedPerService(t *testing.T) {
	var (
		inFlight sync.Map // id → *atomic.Int32
		calls    atomic.Int64
		overlap  atomic.Bool
	)
	onChange := func(id int64, o Observed) {
		v, _ := inFlight.LoadOrStore(id, new(atomic.Int32))
		n := v.(*atomic.Int32)
		if n.Add(1) > 1 {
			overlap.Store(true)
		}
		time.Sleep(time.Millisecond)
		n.Add(-1)
		calls.Add(1)
	}
	s := NewSupervisor(Options{
		Drivers:  map[Kind]Driver{KindExec: NewExec(ExecOptions{Backoff: Backoff{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond}})},
		OnChange: onChange,
	})
	defer s.Close(ctx)
	var desired []Desired
	for id := int64(1); id <= 3; id++ {
		desired = append(desired, Desired{scriptSpec(t, id, "exit 1"), true})
	}
	s.Apply(ctx, desired)
	waitFor(t, "many changes", func() bool { return calls.Load() > 60 })
	for range 5 {
		s.Apply(ctx, desired)
		_ = s.Kill(ctx, 2)
	}
	if overlap.Load() {
		t.Fatal("OnChange ran concurrently for one service")
	}
}

// fakeCompose stands in for the compose driver, which lives in another
// package: it records calls and is not a Reporter, so the supervisor
// polls it.
type fakeCompose struct {
	mu    sync.Mutex
	calls []string
	state map[int64]State
}

func (f *fakeCompose) record(op string, spec Spec, st State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %d", op, spec.ID))
	if f.state == nil {
		f.state = make(map[int64]State)
	}
	if st != "" {
		f.state[spec.ID] = st
	}
	return nil
}

func (f *fakeCompose) Start(_ context.Context, s Spec) error {
	return f.record("start", s, StateRunning)
}
func (f *fakeCompose) Stop(_ context.Context, s Spec) error { return f.record("stop", s, StateStopped) }
func (f *fakeCompose) Kill(_ context.Context, s Spec) error { return f.record("kill", s, StateStopped) }
func (f *fakeCompose) Pause(_ context.Context, s Spec) error {
	return f.record("pause", s, StatePaused)
}
func (f *fakeCompose) Resume(_ context.Context, s Spec) error {
	return f.record("resume", s, StateRunning)
}
func (f *fakeCompose) Remove(_ context.Context, s Spec) error {
	return f.record("remove", s, StateStopped)
}
func (f *fakeCompose) Observe(_ context.Context, s Spec) (Observed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state[s.ID]
	if st == "" {
		st = StateStopped
	}
	return Observed{State: st, Hash: s.Hash()}, nil
}

func (f *fakeCompose) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func TestSupervisorCloseStopsExecLeavesCompose(t *testing.T) {
	startForker() // lives for good, by design
	base := goruntime.NumGoroutine()
	fc := &fakeCompose{}
	rec := newRecorder()
	s := NewSupervisor(Options{
		Drivers:  map[Kind]Driver{KindExec: NewExec(ExecOptions{Backoff: testBackoff, Logs: rec.log}), KindCompose: fc},
		OnChange: rec.change,
	})
	a, b := scriptSpec(t, 1, trapTerm), scriptSpec(t, 2, longRunning)
	crashing := scriptSpec(t, 3, `echo oops >&2; exit 1`)
	compose := Spec{ID: 4, Name: "web", Kind: KindCompose, ComposeFile: "services: {}", ProjectDir: t.TempDir()}
	apply(t, s, Desired{a, true}, Desired{b, true}, Desired{crashing, true}, Desired{compose, true})
	waitReady(t, a)
	waitFor(t, "a crash loop", func() bool { return supObserved(t, s, 3).Restarts > 1 })
	if h := rec.history(4); len(h) != 1 || h[0].State != StateRunning {
		t.Fatalf("compose reports %+v, want one running", h)
	}
	pids := []int{supObserved(t, s, 1).PID, supObserved(t, s, 2).PID}

	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Fatalf("pid %d alive after Close", pid)
		}
	}
	for id := int64(1); id <= 3; id++ {
		if o := supObserved(t, s, id); o.State != StateStopped {
			t.Errorf("service %d after Close: %+v", id, o)
		}
	}
	if readFile(filepath.Join(a.DataDir, "term")) == "" {
		t.Error("Close did not stop gracefully")
	}
	if got := fc.log(); len(got) != 1 || got[0] != "start 4" {
		t.Errorf("compose calls %q, want only the start", got)
	}
	if errs := s.Apply(ctx, []Desired{{a, true}}); errs[1] == nil {
		t.Error("Apply after Close succeeded")
	}
	waitFor(t, "goroutines to end", func() bool { return goruntime.NumGoroutine() <= base })
}

func TestSupervisorKindChange(t *testing.T) {
	fc := &fakeCompose{}
	s, _ := newTestSupervisor(t, map[Kind]Driver{KindCompose: fc})
	spec := scriptSpec(t, 1, trapTerm)
	apply(t, s, Desired{spec, true})
	waitReady(t, spec)
	pid := supObserved(t, s, 1).PID
	spec.Kind = KindCompose
	apply(t, s, Desired{spec, true})
	if alive(pid) {
		t.Fatal("the exec process survived the move to compose")
	}
	if o := supObserved(t, s, 1); o.State != StateRunning || o.PID != 0 {
		t.Fatalf("after the move: %+v", o)
	}
	apply(t, s)
	if got := fc.log(); strings.Join(got, ",") != "start 1,remove 1" {
		t.Fatalf("compose calls %q", got)
	}
}

// TestSupervisorPollingApplyStartsOnlyWhatIsDown: the reconciler applies
// the same state every few seconds; a compose project that runs is only
// observed (no `compose up` each time), and one that crashed or stopped
// behind the supervisor's back is started again.
func TestSupervisorPollingApplyStartsOnlyWhatIsDown(t *testing.T) {
	fc := &fakeCompose{}
	s := NewSupervisor(Options{Drivers: map[Kind]Driver{KindCompose: fc}})
	defer s.Close(context.Background())
	spec := Spec{ID: 7, Name: "shop", Kind: KindCompose, ComposeFile: "services: {}", Port: 8080}
	starts := func() int {
		n := 0
		for _, c := range fc.log() {
			if c == "start 7" {
				n++
			}
		}
		return n
	}
	for range 5 {
		if errs := s.Apply(t.Context(), []Desired{{Spec: spec, Run: true}}); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	if n := starts(); n != 1 {
		t.Errorf("five Applies of a running project started it %d times, want 1", n)
	}
	for _, down := range []State{StateCrashLoop, StateStopped, StateFailed} {
		fc.mu.Lock()
		fc.state[7] = down
		fc.mu.Unlock()
		before := starts()
		s.Apply(t.Context(), []Desired{{Spec: spec, Run: true}})
		if starts() != before+1 {
			t.Errorf("a project observed %s was not started again", down)
		}
	}
}
