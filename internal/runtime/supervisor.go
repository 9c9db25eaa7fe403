package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Desired is what the reconciler wants of one service.
type Desired struct {
	Spec Spec
	Run  bool
}

// Options configures a Supervisor.
type Options struct {
	Drivers map[Kind]Driver
	// OnChange is called whenever a service's Observed changes, from any
	// goroutine but never concurrently for one service, and in order: the
	// last call for a service carries its latest state (intermediate
	// states may be skipped). It may call Observed, but not the other
	// methods, which may be waiting for it.
	OnChange func(id int64, o Observed)
	Log      *slog.Logger // nil means no logging
}

// Reporter is implemented by drivers that see changes nobody asked for
// (the exec driver: a crash, a restart after backoff). NewSupervisor gives
// them its own OnChange. The driver must call f for one service never
// concurrently and never while holding a lock Observe takes. Changes of
// drivers that are not Reporters are seen by calling Observe after each
// operation.
type Reporter interface {
	SetOnChange(f func(id int64, o Observed))
}

// ErrNotSupervised is returned for a service no Apply has listed (or the
// last Apply removed).
var ErrNotSupervised = errors.New("runtime: the service is not supervised: it is not (or no longer) among those the reconciler applied")

// Supervisor keeps each service in the state the reconciler last applied.
// Operations on one service are serialised; different services proceed
// concurrently, so that a service slow to stop delays no other.
type Supervisor struct {
	drivers  map[Kind]Driver
	onChange func(int64, Observed)
	log      *slog.Logger

	apply sync.Mutex // one Apply or Close at a time: each sees the whole set

	mu     sync.Mutex
	units  map[int64]*unit
	closed bool
}

// unit is the supervisor's record of one service.
type unit struct {
	op sync.Mutex // serialises driver calls for the service; guards the fields below
	// run is what the last Apply said; killed is the hash that Kill
	// stopped, which no Apply with the same hash starts again.
	run     bool
	killed  string
	removed bool
	// started is the hash the last successful Start ran: an Apply with
	// the same hash starts again only when the service is not up (a
	// failed or stopped one), so that polling Applies cost an Observe,
	// not a `compose up`.
	started string
	// last is what was reported for a driver that is not a Reporter.
	last     Observed
	reported bool

	spec Spec // guarded by Supervisor.mu (and written only under op too)
}

// NewSupervisor returns a Supervisor that runs services with o.Drivers.
func NewSupervisor(o Options) *Supervisor {
	s := &Supervisor{
		drivers:  make(map[Kind]Driver, len(o.Drivers)),
		onChange: o.OnChange,
		log:      o.Log,
		units:    make(map[int64]*unit),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for k, d := range o.Drivers {
		s.drivers[k] = d
		if r, ok := d.(Reporter); ok {
			r.SetOnChange(s.changed)
		}
	}
	return s
}

func (s *Supervisor) changed(id int64, o Observed) {
	s.log.Debug("service state", "service", id, "state", o.State, "pid", o.PID, "restarts", o.Restarts, "last_exit", o.LastExit)
	if s.onChange != nil {
		s.onChange(id, o)
	}
}

// Apply makes the supervised services those of desired. A new or changed
// spec with Run is started (a changed Hash restarts it), one without Run
// is stopped gracefully, and a service no longer listed is removed (the
// driver's Remove, which never touches DataDir). Each service is handled
// on its own goroutine, so the errors of one (returned by ID) never stop
// the others; Apply returns when all are done.
//
// A service stopped by Kill stays stopped until an Apply changes its Hash
// (a new Generation) or says Run=false and later Run=true again.
func (s *Supervisor) Apply(ctx context.Context, desired []Desired) map[int64]error {
	s.apply.Lock()
	defer s.apply.Unlock()

	errs := make(map[int64]error)
	var errMu sync.Mutex
	fail := func(id int64, err error) {
		errMu.Lock()
		errs[id] = errors.Join(errs[id], err)
		errMu.Unlock()
	}

	type job struct {
		u *unit
		d *Desired // nil: remove
	}
	var jobs []job
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		for _, d := range desired {
			fail(d.Spec.ID, errors.New("runtime: the supervisor is closed (rampart is shutting down)"))
		}
		return errs
	}
	listed := make(map[int64]bool, len(desired))
	for i := range desired {
		d := &desired[i]
		id := d.Spec.ID
		if listed[id] {
			fail(id, fmt.Errorf("service %d is listed twice; only the first is applied: fix the reconciler", id))
			continue
		}
		listed[id] = true
		if s.drivers[d.Spec.Kind] == nil {
			fail(id, fmt.Errorf("service %s: no driver for kind %q: this rampart cannot run it", d.Spec.Name, d.Spec.Kind))
			continue
		}
		u := s.units[id]
		if u == nil {
			u = &unit{spec: d.Spec}
			s.units[id] = u
		}
		jobs = append(jobs, job{u, d})
	}
	for id, u := range s.units {
		if !listed[id] {
			jobs = append(jobs, job{u, nil})
		}
	}
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			var err error
			var id int64
			if j.d == nil {
				id, err = s.remove(ctx, j.u)
			} else {
				id, err = j.d.Spec.ID, s.applyOne(ctx, j.u, *j.d)
			}
			if err != nil {
				fail(id, err)
			}
		})
	}
	wg.Wait()
	return errs
}

func (s *Supervisor) applyOne(ctx context.Context, u *unit, d Desired) error {
	u.op.Lock()
	defer u.op.Unlock()
	if u.removed {
		return ErrNotSupervised // a concurrent Close or Apply got there first
	}
	s.mu.Lock()
	old := u.spec
	s.mu.Unlock()
	if old.Kind != d.Spec.Kind {
		// Moving to another driver: the old one lets go first.
		if od := s.drivers[old.Kind]; od != nil {
			if err := od.Remove(ctx, old); err != nil {
				return fmt.Errorf("removing %s from the %s driver: %w", old.Name, old.Kind, err)
			}
		}
	}
	s.mu.Lock()
	u.spec = d.Spec
	s.mu.Unlock()

	drv := s.drivers[d.Spec.Kind]
	var err error
	switch hash := d.Spec.Hash(); {
	case !d.Run:
		u.killed = ""
		err = drv.Stop(ctx, d.Spec)
	case u.killed != "" && u.killed == hash && u.run:
		// Killed: stays down until the hash changes or Run goes false.
	case u.run && u.started == hash && s.up(ctx, drv, d.Spec):
		// Runs as asked already.
	default:
		u.killed = ""
		err = drv.Start(ctx, d.Spec)
		if err == nil {
			u.started = hash
		} else {
			u.started = ""
		}
	}
	if !d.Run {
		u.started = ""
	}
	u.run = d.Run
	s.poll(ctx, u, drv)
	return err
}

// up reports whether the driver sees the service running (or on its way:
// starting, paused for a backup, or crash-looping under a driver that
// restarts by itself). A crashed compose project is started again by the
// next Apply: the reconciler's resync is its backoff.
func (s *Supervisor) up(ctx context.Context, drv Driver, spec Spec) bool {
	o, err := drv.Observe(ctx, spec)
	if err != nil {
		return false
	}
	switch o.State {
	case StateRunning, StateStarting, StatePaused:
		return true
	case StateCrashLoop:
		_, restartsItself := drv.(Reporter)
		return restartsItself
	}
	return false
}

func (s *Supervisor) remove(ctx context.Context, u *unit) (int64, error) {
	u.op.Lock()
	defer u.op.Unlock()
	s.mu.Lock()
	spec := u.spec
	s.mu.Unlock()
	if u.removed {
		return spec.ID, nil
	}
	drv := s.drivers[spec.Kind]
	if err := drv.Remove(ctx, spec); err != nil {
		// Kept, so that the next Apply tries again.
		return spec.ID, fmt.Errorf("removing %s: %w", spec.Name, err)
	}
	s.poll(ctx, u, drv)
	u.removed = true
	s.mu.Lock()
	if s.units[spec.ID] == u {
		delete(s.units, spec.ID)
	}
	s.mu.Unlock()
	return spec.ID, nil
}

// poll reports the state of a driver that does not report on its own;
// u.op must be held.
func (s *Supervisor) poll(ctx context.Context, u *unit, drv Driver) {
	if _, ok := drv.(Reporter); ok {
		return
	}
	s.mu.Lock()
	spec := u.spec
	s.mu.Unlock()
	o, err := drv.Observe(ctx, spec)
	if err != nil {
		s.log.Warn("observing a service", "service", spec.ID, "name", spec.Name, "err", err)
		return
	}
	if u.reported && o == u.last {
		return
	}
	u.last, u.reported = o, true
	s.changed(spec.ID, o)
}

// lock returns the unit of id with its op held.
func (s *Supervisor) lock(id int64) (*unit, Spec, error) {
	s.mu.Lock()
	u := s.units[id]
	s.mu.Unlock()
	if u == nil {
		return nil, Spec{}, ErrNotSupervised
	}
	u.op.Lock()
	if u.removed {
		u.op.Unlock()
		return nil, Spec{}, ErrNotSupervised
	}
	s.mu.Lock()
	spec := u.spec
	s.mu.Unlock()
	return u, spec, nil
}

// Kill stops the service at once (SIGKILL). It stays stopped until an
// Apply changes its Hash (a new Generation) or says Run=false and then
// Run=true again: a reconciler that reapplies the same state must not
// undo the kill.
func (s *Supervisor) Kill(ctx context.Context, id int64) error {
	u, spec, err := s.lock(id)
	if err != nil {
		return err
	}
	defer u.op.Unlock()
	drv := s.drivers[spec.Kind]
	err = drv.Kill(ctx, spec)
	if u.run {
		u.killed = spec.Hash()
	}
	s.poll(ctx, u, drv)
	return err
}

// Pause freezes the service, e.g. for a consistent copy of its data.
func (s *Supervisor) Pause(ctx context.Context, id int64) error {
	u, spec, err := s.lock(id)
	if err != nil {
		return err
	}
	defer u.op.Unlock()
	drv := s.drivers[spec.Kind]
	err = drv.Pause(ctx, spec)
	s.poll(ctx, u, drv)
	return err
}

// Resume undoes Pause.
func (s *Supervisor) Resume(ctx context.Context, id int64) error {
	u, spec, err := s.lock(id)
	if err != nil {
		return err
	}
	defer u.op.Unlock()
	drv := s.drivers[spec.Kind]
	err = drv.Resume(ctx, spec)
	s.poll(ctx, u, drv)
	return err
}

// Observed returns what the driver sees of the service now; false if the
// service is not supervised. It does not wait for operations in progress.
func (s *Supervisor) Observed(id int64) (Observed, bool) {
	s.mu.Lock()
	u := s.units[id]
	var spec Spec
	if u != nil {
		spec = u.spec
	}
	s.mu.Unlock()
	if u == nil {
		return Observed{}, false
	}
	drv := s.drivers[spec.Kind]
	o, err := drv.Observe(context.Background(), spec)
	if err != nil {
		return Observed{State: StateFailed, Message: "observing: " + err.Error(), Hash: spec.Hash()}, true
	}
	return o, true
}

// Close is for rampart's shutdown: it stops every exec service gracefully,
// since its processes would die with rampart anyway, and leaves compose
// projects running (Docker owns them, and they keep serving while rampart
// restarts). Apply fails after Close.
func (s *Supervisor) Close(ctx context.Context) error {
	s.apply.Lock()
	defer s.apply.Unlock()
	s.mu.Lock()
	s.closed = true
	var units []*unit
	for _, u := range s.units {
		if u.spec.Kind == KindExec {
			units = append(units, u)
		}
	}
	s.mu.Unlock()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, u := range units {
		wg.Go(func() {
			u.op.Lock()
			defer u.op.Unlock()
			if u.removed {
				return
			}
			s.mu.Lock()
			spec := u.spec
			s.mu.Unlock()
			drv := s.drivers[spec.Kind]
			if err := drv.Stop(ctx, spec); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("stopping %s: %w", spec.Name, err))
				mu.Unlock()
			}
			s.poll(ctx, u, drv)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
