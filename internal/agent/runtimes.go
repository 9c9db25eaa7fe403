package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/runtime"
	"github.com/rampart-dev/rampart/internal/store"
)

// Supervisor is what the runtimes reconciler drives: runtime.Supervisor.
type Supervisor interface {
	Apply(ctx context.Context, desired []runtime.Desired) map[int64]error
	Observed(id int64) (runtime.Observed, bool)
}

// DataDirs says where a service's directories are (lifecycle.Manager).
type DataDirs interface {
	EnsureDataDir(id int64) (string, error)
	ProjectDir(id int64) string
}

// Runtimes keeps the services rampart runs in the state the store asks
// for: running while active, stopped while stopped, removed (data kept
// aside by the lifecycle) once deleted. It writes back what the runtime
// observes: the service's run state, and its runtime condition (not OK
// while crash-looping or failed).
type Runtimes struct {
	Store      store.Store
	Supervisor Supervisor
	Dirs       DataDirs
	Log        *slog.Logger
	Now        func() time.Time
	// BeforeStop, when set, runs before a pass stops a service whose
	// process is still there. serve gives it a pass of the routes
	// reconciler, so that the edge answers 503 for a stopped service
	// before its process is signalled, not 502 while the process goes
	// away (the two reconcilers are woken by the same change and would
	// otherwise race). An error is logged and the stop goes ahead: a stop
	// that was asked for happens.
	BeforeStop func(ctx context.Context) error
	// DownChanged, when set, runs after a service's run state becomes
	// crash-looping or failed, or stops being one of them. serve gives it
	// a routes pass too: the edge holds requests for a restarting service
	// until it listens (see holdFor), but not for one that is not coming
	// up, and run states move no revision that would wake the routes
	// reconciler by themselves. An error is logged.
	DownChanged func(ctx context.Context) error

	mu       sync.Mutex
	reported map[int64]rampart.RunState // last written, to skip unchanged writes
}

// Name implements Reconciler.
func (r *Runtimes) Name() string { return "runtimes" }

// Kinds implements Reconciler.
func (r *Runtimes) Kinds() []store.Kind { return []store.Kind{store.KindServices} }

// ResyncEvery implements Resyncer: a container that crashed says so only
// when asked.
func (r *Runtimes) ResyncEvery() time.Duration { return 5 * time.Second }

// Sync implements Reconciler.
func (r *Runtimes) Sync(ctx context.Context, t Trigger) error {
	svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	var desired []runtime.Desired
	byID := map[int64]*rampart.Service{}
	for _, s := range svcs {
		if !s.Runtime.Runs() || s.State == rampart.StateDeleted {
			if s.Run != nil {
				// Nothing runs it any more: no run state to show.
				if err := r.Store.SetServiceRunState(ctx, s.ID, nil); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
					return err
				}
				r.mu.Lock()
				delete(r.reported, s.ID)
				r.mu.Unlock()
			}
			continue
		}
		spec, err := r.spec(s)
		if err != nil {
			r.condition(ctx, s.ID, false, err.Error())
			continue
		}
		byID[s.ID] = s
		desired = append(desired, runtime.Desired{Spec: spec, Run: s.State == rampart.StateActive})
	}
	if r.BeforeStop != nil && r.stopsAny(desired) {
		if err := r.BeforeStop(ctx); err != nil {
			r.log().Warn("taking stopped services off the edge before stopping them; they may answer 502 until the routes catch up", "err", err)
		}
	}
	errs := r.Supervisor.Apply(ctx, desired)
	for id, s := range byID {
		if err := errs[id]; err != nil {
			r.log().Error("the runtime could not apply a service; every other service goes on", "service", s.Name, "err", err)
			r.condition(ctx, id, false, err.Error())
		}
		if o, ok := r.Supervisor.Observed(id); ok {
			r.Report(ctx, id, o)
		}
	}
	return nil
}

// stopsAny reports whether applying desired stops a service the runtime
// still has: one that should not run and whose last observed state is not
// stopped (or failed, where nothing runs either).
func (r *Runtimes) stopsAny(desired []runtime.Desired) bool {
	for _, d := range desired {
		if d.Run {
			continue
		}
		if o, ok := r.Supervisor.Observed(d.Spec.ID); ok && o.State != runtime.StateStopped && o.State != runtime.StateFailed {
			return true
		}
	}
	return false
}

// spec turns a service into what the runtime runs.
func (r *Runtimes) spec(s *rampart.Service) (runtime.Spec, error) {
	dataDir, err := r.Dirs.EnsureDataDir(s.ID)
	if err != nil {
		return runtime.Spec{}, err
	}
	env := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return runtime.Spec{
		ID: s.ID, Name: s.Name, Kind: runtime.Kind(s.Runtime.Kind),
		Version: s.Runtime.Version, Env: env, DataDir: dataDir, Port: s.Runtime.Port,
		StopTimeout: time.Duration(s.Runtime.StopTimeout), Generation: s.Generation,
		Command: s.Runtime.Command, Args: s.Runtime.Args, Dir: s.Runtime.Dir, User: s.Runtime.User,
		ComposeFile: s.Runtime.ComposeFile, ProjectDir: r.Dirs.ProjectDir(s.ID),
	}, nil
}

// Report writes what the runtime observed of a service: its run state, and
// a runtime condition that is not OK while it crash-loops or failed. The
// supervisor calls it (through OnChange) whenever that changes.
func (r *Runtimes) Report(ctx context.Context, id int64, o runtime.Observed) {
	rs := rampart.RunState{State: string(o.State), PID: o.PID, Since: o.Since.UTC(), Restarts: o.Restarts,
		LastExit: o.LastExit, NextStart: o.NextStart.UTC(), Message: o.Message}
	if o.NextStart.IsZero() {
		rs.NextStart = time.Time{}
	}
	r.mu.Lock()
	if r.reported == nil {
		r.reported = map[int64]rampart.RunState{}
	}
	old, ok := r.reported[id]
	if ok && old == rs {
		r.mu.Unlock()
		return
	}
	r.reported[id] = rs
	r.mu.Unlock()
	if err := r.Store.SetServiceRunState(ctx, id, &rs); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
		r.log().Error("recording a run state", "service_id", id, "err", err)
	}
	if r.DownChanged != nil && down(o.State) != (ok && down(runtime.State(old.State))) {
		if err := r.DownChanged(ctx); err != nil {
			r.log().Warn("updating the edge for a service that went down or came back; its requests may wait for it until the next change", "service_id", id, "err", err)
		}
	}
	switch o.State {
	case runtime.StateCrashLoop:
		msg := fmt.Sprintf("crash-looping: %s, %d restarts", o.LastExit, o.Restarts)
		if o.Message != "" {
			msg += ": " + o.Message
		}
		r.condition(ctx, id, false, msg)
	case runtime.StateFailed:
		r.condition(ctx, id, false, o.Message)
	default:
		r.condition(ctx, id, true, "")
	}
}

// down reports whether a service in state st is not coming up by itself
// soon: crash-looping (waiting out a backoff) or failed to start.
func down(st runtime.State) bool {
	return st == runtime.StateCrashLoop || st == runtime.StateFailed
}

func (r *Runtimes) condition(ctx context.Context, id int64, ok bool, msg string) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	c := rampart.Condition{Type: rampart.ConditionRuntime, OK: ok, Message: msg, UpdatedAt: now().UTC()}
	if err := r.Store.SetServiceCondition(ctx, id, c); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
		r.log().Error("recording the runtime condition", "service_id", id, "err", err)
	}
}

func (r *Runtimes) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}
