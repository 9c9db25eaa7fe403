package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Backoff paces the restarts of a service that keeps crashing or cannot
// start, so that a broken service costs little and a fixed one comes back
// without anyone asking.
type Backoff struct {
	Initial time.Duration // the first wait; 0 means 1s
	Max     time.Duration // where the doubling stops; 0 means 1 minute
	// Reset is how long a process must stay up for its next crash to
	// count as a first one again; 0 means 10×Initial.
	Reset time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = time.Minute
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Reset <= 0 {
		b.Reset = 10 * b.Initial
	}
	return b
}

// ExecOptions configures the exec driver. The zero value works.
type ExecOptions struct {
	// Logs receives every line the services write. It is called from
	// many goroutines at once (two per running service) and should not
	// block: a slow Logs slows the service's writes. nil drops the lines.
	Logs func(LogLine)
	// Now stamps log lines and states; nil means time.Now.
	Now     func() time.Time
	Backoff Backoff
	// OnChange is told whenever a service's Observed changes, including
	// the changes nobody asked for (a crash, a restart after backoff). A
	// Supervisor replaces it with its own (see Reporter), so set it only
	// when using Exec alone.
	OnChange func(id int64, o Observed)
}

// defaultPath is the PATH of a service whose Env has none: the usual
// system directories, never rampart's own PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// drainTimeout bounds how long the output of a process that has exited is
// still read: a grandchild that left the process group may hold the pipes
// open forever.
const drainTimeout = 2 * time.Second

// Exec is the driver that runs a service as a local process group.
//
// A process that exits while it should run is restarted after a backoff
// (StateCrashLoop). A command that cannot be started at all (not found,
// not executable, no such directory or user) is StateFailed with a message
// saying what to fix, and is retried on the same backoff, so that
// installing the missing program is enough to bring the service up. A
// crash-looping service's Observed.Message holds the last lines it wrote
// to stderr, which usually say why it exits.
//
// Every process runs in its own process group, so that stopping, killing
// and pausing reach the children of a shell script too, and when its main
// process exits whatever it left in its group is killed, so that no
// orphan keeps holding the service's port. The main process also gets
// SIGKILL when rampart dies (Pdeathsig), so a `kill -9` of rampart does not
// leave it running; its children are not covered by that.
type Exec struct {
	logs     func(LogLine)
	now      func() time.Time
	backoff  Backoff
	onChange atomic.Pointer[func(int64, Observed)]

	mu    sync.Mutex
	units map[int64]*execUnit
}

// NewExec returns the exec driver.
func NewExec(o ExecOptions) *Exec {
	e := &Exec{
		logs:    o.Logs,
		now:     o.Now,
		backoff: o.Backoff.withDefaults(),
		units:   make(map[int64]*execUnit),
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.SetOnChange(o.OnChange)
	return e
}

// SetOnChange implements Reporter.
func (e *Exec) SetOnChange(f func(id int64, o Observed)) {
	if f == nil {
		e.onChange.Store(nil)
		return
	}
	e.onChange.Store(&f)
}

// execUnit is one service of the exec driver.
//
// Locking: op serialises the operations (Start, Stop, Kill, Pause, Resume,
// Remove, and a restart after backoff) and is held while they wait; mu
// guards the state and is never held while waiting or calling out, so
// that Observe always answers at once. The goroutine that waits for a
// process takes only mu, which is why an operation holding op may wait
// for it.
type execUnit struct {
	e  *Exec
	id int64

	op      sync.Mutex
	removed bool // guarded by op: Remove dropped the unit from e.units

	notify   sync.Mutex // serialises OnChange for this unit
	sent     Observed
	sentOnce bool

	mu       sync.Mutex
	spec     Spec
	hash     string
	want     bool // it should run: a crash restarts it
	paused   bool
	obs      Observed
	proc     *execProc
	retry    *time.Timer
	retryGen uint64        // bumped to cancel a retry whose timer has fired already
	delay    time.Duration // the next backoff
}

// execProc is one run of a service's process.
type execProc struct {
	cmd      *exec.Cmd
	name     string // the service's, for log lines
	pid      int
	started  time.Time
	stopping bool          // guarded by the unit's mu: the exit is asked for, not a crash
	done     chan struct{} // closed once the process is reaped and its state recorded
}

// lock returns the unit for id with its op lock held; nil if there is none
// and create is false.
func (e *Exec) lock(id int64, create bool) *execUnit {
	for {
		e.mu.Lock()
		u := e.units[id]
		if u == nil {
			if !create {
				e.mu.Unlock()
				return nil
			}
			u = &execUnit{e: e, id: id, obs: Observed{State: StateStopped, Since: e.now()}}
			e.units[id] = u
		}
		e.mu.Unlock()
		u.op.Lock()
		if !u.removed {
			return u
		}
		u.op.Unlock() // removed while we waited: look again
	}
}

// Start implements Driver. A service that already runs (or waits for its
// next restart, or is paused) with the same hash is left alone; with
// another hash it is stopped gracefully first. If the command cannot be
// started the error says why, and it is retried with backoff; until it
// runs, every Start with the same spec returns that error again, so that
// each Apply reports it.
func (e *Exec) Start(ctx context.Context, spec Spec) error {
	u := e.lock(spec.ID, true)
	defer u.op.Unlock()
	hash := spec.Hash()

	u.mu.Lock()
	active, same := u.want, u.hash == hash
	old := u.spec
	state, msg := u.obs.State, u.obs.Message
	u.mu.Unlock()
	if active && same {
		if state == StateFailed {
			return errors.New(msg)
		}
		return nil
	}
	if active {
		if err := u.stop(ctx, stopTimeout(old), false); err != nil {
			return err
		}
	}

	u.mu.Lock()
	u.spec, u.hash, u.want, u.paused = spec, hash, true, false
	u.obs.Restarts, u.delay = 0, 0
	u.mu.Unlock()
	return u.launch()
}

// Stop implements Driver.
func (e *Exec) Stop(ctx context.Context, spec Spec) error {
	u := e.lock(spec.ID, false)
	if u == nil {
		return nil
	}
	defer u.op.Unlock()
	return u.stop(ctx, stopTimeout(spec), false)
}

// Kill implements Driver.
func (e *Exec) Kill(ctx context.Context, spec Spec) error {
	u := e.lock(spec.ID, false)
	if u == nil {
		return nil
	}
	defer u.op.Unlock()
	return u.stop(ctx, 0, true)
}

// Remove implements Driver: the process is stopped gracefully and the
// driver forgets the service. The exec driver makes nothing on disk, and
// DataDir is the service's, so nothing is deleted.
func (e *Exec) Remove(ctx context.Context, spec Spec) error {
	u := e.lock(spec.ID, false)
	if u == nil {
		return nil
	}
	defer u.op.Unlock()
	if err := u.stop(ctx, stopTimeout(spec), false); err != nil {
		return err
	}
	u.removed = true
	e.mu.Lock()
	delete(e.units, spec.ID)
	e.mu.Unlock()
	return nil
}

// Pause implements Driver: SIGSTOP to the process group. A service that
// waits for its next restart stays down until Resume; one that is stopped
// is left alone (nothing runs, its data is still).
func (e *Exec) Pause(ctx context.Context, spec Spec) error {
	u := e.lock(spec.ID, false)
	if u == nil {
		return nil
	}
	defer u.op.Unlock()
	u.mu.Lock()
	if u.paused || !u.want {
		u.mu.Unlock()
		return nil
	}
	u.paused = true
	u.cancelRetryLocked()
	var err error
	if p := u.proc; p != nil {
		err = signalGroup(p, syscall.SIGSTOP)
	}
	u.obs.State, u.obs.Since, u.obs.NextStart = StatePaused, u.e.now(), time.Time{}
	p := u.proc
	u.mu.Unlock()
	u.publish()
	if err != nil {
		return fmt.Errorf("pausing %s: %w", spec.Name, err)
	}
	if p != nil {
		// kill(2) returns before the processes have stopped; wait so that
		// a backup that starts next sees still files.
		waitStopped(ctx, p.pid)
	}
	return nil
}

// Resume implements Driver: SIGCONT to the process group, or a start if
// the service was paused while it had no process.
func (e *Exec) Resume(ctx context.Context, spec Spec) error {
	u := e.lock(spec.ID, false)
	if u == nil {
		return nil
	}
	defer u.op.Unlock()
	u.mu.Lock()
	if !u.paused {
		u.mu.Unlock()
		return nil
	}
	u.paused = false
	p := u.proc
	if p != nil {
		err := signalGroup(p, syscall.SIGCONT)
		u.obs.State, u.obs.Since = StateRunning, u.e.now()
		u.mu.Unlock()
		u.publish()
		if err != nil {
			return fmt.Errorf("resuming %s: %w", spec.Name, err)
		}
		return nil
	}
	want := u.want
	u.mu.Unlock()
	if !want {
		return nil
	}
	return u.launch()
}

// Observe implements Driver. A service the driver does not know is
// stopped.
func (e *Exec) Observe(ctx context.Context, spec Spec) (Observed, error) {
	e.mu.Lock()
	u := e.units[spec.ID]
	e.mu.Unlock()
	if u == nil {
		return Observed{State: StateStopped}, nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.obs, nil
}

func stopTimeout(s Spec) time.Duration {
	if s.StopTimeout > 0 {
		return s.StopTimeout
	}
	return DefaultStopTimeout
}

// launch starts the process of u.spec; op must be held. On failure the
// unit is StateFailed and a retry is scheduled.
func (u *execUnit) launch() error {
	u.mu.Lock()
	spec := u.spec
	u.mu.Unlock()

	cmd, err := u.e.command(spec)
	var outR, errR *os.File
	if err == nil {
		outR, errR, err = startWithPipes(cmd)
		if err != nil {
			err = fmt.Errorf("cannot start %s: %w: check that it is a program this machine can run (a script needs a #! line)", cmd.Path, err)
		}
	}
	now := u.e.now()

	u.mu.Lock()
	if err != nil {
		u.obs = Observed{
			State:    StateFailed,
			Since:    now,
			Restarts: u.obs.Restarts,
			LastExit: u.obs.LastExit,
			Message:  err.Error(),
			Hash:     u.hash,
		}
		u.scheduleLocked(now, 0)
		u.mu.Unlock()
		u.publish()
		return err
	}
	p := &execProc{cmd: cmd, name: spec.Name, pid: cmd.Process.Pid, started: now, done: make(chan struct{})}
	u.proc = p
	u.obs = Observed{
		State:    StateRunning,
		PID:      p.pid,
		Since:    now,
		Restarts: u.obs.Restarts,
		LastExit: u.obs.LastExit,
		Hash:     u.hash,
	}
	u.mu.Unlock()
	go u.watch(p, outR, errR)
	u.publish()
	return nil
}

// startWithPipes starts cmd with its stdout and stderr on pipes of our
// own rather than exec's copying goroutines: that way Wait returns when
// the process exits, even if a child still holds the pipes, and watch
// decides how long to keep reading.
func startWithPipes(cmd *exec.Cmd) (outR, errR *os.File, err error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = forkStart(cmd)
	// The child has its copies; ours must go or the readers never see EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, nil, err
	}
	return outR, errR, nil
}

// forker is the one goroutine that starts processes, locked to its OS
// thread for good. Linux sends Pdeathsig when the thread that forked a
// child ends, not the process, and the Go runtime ends a thread whose
// goroutine exits while locked to it (as namespace and netlink code
// does): forking from any thread could kill a healthy service at random.
var forker struct {
	once sync.Once
	reqs chan forkReq
}

type forkReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startForker() {
	forker.once.Do(func() {
		forker.reqs = make(chan forkReq)
		go func() {
			goruntime.LockOSThread() // never unlocked: the thread must live
			for r := range forker.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
}

// forkStart is cmd.Start on the forker's thread.
func forkStart(cmd *exec.Cmd) error {
	startForker()
	done := make(chan error, 1)
	forker.reqs <- forkReq{cmd, done}
	return <-done
}

// watch captures p's output, waits for it to exit and decides what comes
// next: stopped if the exit was asked for, else a restart after backoff.
func (u *execUnit) watch(p *execProc, outR, errR *os.File) {
	var wg sync.WaitGroup
	tail := &lineTail{max: stderrTail}
	wg.Go(func() { u.capture(outR, p.name, "stdout", nil) })
	wg.Go(func() { u.capture(errR, p.name, "stderr", tail) })

	werr := p.cmd.Wait()
	// What the process left in its group (a server a script started in
	// the background) goes with it.
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		outR.SetReadDeadline(time.Now())
		errR.SetReadDeadline(time.Now())
		<-drained
	}
	outR.Close()
	errR.Close()

	exit := "exited"
	if p.cmd.ProcessState != nil {
		exit = p.cmd.ProcessState.String()
	} else if werr != nil {
		exit = werr.Error()
	}
	now := u.e.now()

	u.mu.Lock()
	u.proc = nil
	u.obs.PID = 0
	u.obs.LastExit = exit
	u.obs.NextStart = time.Time{}
	switch {
	case p.stopping || !u.want:
		u.obs.State, u.obs.Since, u.obs.Message = StateStopped, now, ""
	case u.paused:
		// Only an outside SIGKILL ends a stopped process; Resume starts
		// it again.
		u.obs.Restarts++
		u.obs.Message = crashMessage(exit, tail)
	default:
		u.obs.Restarts++
		u.obs.State, u.obs.Since = StateCrashLoop, now
		u.obs.Message = crashMessage(exit, tail)
		u.scheduleLocked(now, now.Sub(p.started))
	}
	u.mu.Unlock()
	u.publish()
	close(p.done)
}

// scheduleLocked arranges the next start after the backoff; mu must be
// held. upFor is how long the last process ran.
func (u *execUnit) scheduleLocked(now time.Time, upFor time.Duration) {
	b := u.e.backoff
	if u.delay == 0 || upFor >= b.Reset {
		u.delay = b.Initial
	}
	d := u.delay
	u.delay = min(2*d, b.Max)
	u.cancelRetryLocked()
	gen := u.retryGen
	u.obs.NextStart = now.Add(d)
	u.retry = time.AfterFunc(d, func() { u.retryStart(gen) })
}

func (u *execUnit) cancelRetryLocked() {
	if u.retry != nil {
		u.retry.Stop()
		u.retry = nil
	}
	u.retryGen++
	u.obs.NextStart = time.Time{}
}

// retryStart is the restart after backoff. It takes op like any
// operation, so that it cannot start a process behind a Stop's back.
func (u *execUnit) retryStart(gen uint64) {
	u.op.Lock()
	defer u.op.Unlock()
	if u.removed {
		return
	}
	u.mu.Lock()
	ok := gen == u.retryGen && u.want && !u.paused && u.proc == nil
	if ok {
		u.retry = nil
	}
	u.mu.Unlock()
	if ok {
		_ = u.launch() // the failure is in Observed
	}
}

// stop ends the process: SIGTERM, then SIGKILL after timeout or when ctx
// ends; or SIGKILL at once if kill. op must be held. It returns once the
// process is reaped.
func (u *execUnit) stop(ctx context.Context, timeout time.Duration, kill bool) error {
	u.mu.Lock()
	u.want, u.paused = false, false
	u.cancelRetryLocked()
	p := u.proc
	if p == nil {
		if u.obs.State != StateStopped {
			u.obs.State, u.obs.Since, u.obs.PID, u.obs.Message = StateStopped, u.e.now(), 0, ""
		}
		u.mu.Unlock()
		u.publish()
		return nil
	}
	p.stopping = true
	u.obs.State, u.obs.Since = StateStopping, u.e.now()
	u.mu.Unlock()
	u.publish()

	if !kill {
		_ = signalGroup(p, syscall.SIGTERM)
		// A paused group must run to handle its SIGTERM.
		_ = signalGroup(p, syscall.SIGCONT)
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-p.done:
			return nil
		case <-t.C:
		case <-ctx.Done():
		}
	}
	_ = signalGroup(p, syscall.SIGKILL)
	<-p.done // SIGKILL cannot be caught, and watch bounds the draining
	return nil
}

// signalGroup sends sig to p's process group, unless p has been reaped
// already (its pid may then belong to someone else).
func signalGroup(p *execProc, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	err := syscall.Kill(-p.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// waitStopped waits (briefly) until every process of group pgid is
// stopped, reading /proc.
func waitStopped(ctx context.Context, pgid int) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if groupStopped(pgid) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func groupStopped(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // no /proc: nothing to wait on
	}
	for _, ent := range entries {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		if st := f[0]; st != "T" && st != "t" && st != "Z" && st != "X" {
			return false
		}
	}
	return true
}

// publish tells OnChange the unit's current Observed if it differs from
// what was told last. It re-reads the state under notify, so calls that
// race still end with the latest state told, in order.
func (u *execUnit) publish() {
	u.notify.Lock()
	defer u.notify.Unlock()
	u.mu.Lock()
	o := u.obs
	u.mu.Unlock()
	if u.sentOnce && o == u.sent {
		return
	}
	u.sent, u.sentOnce = o, true
	if f := u.e.onChange.Load(); f != nil {
		(*f)(u.id, o)
	}
}

// stderrTail is how many of the last stderr lines a crash message keeps;
// maxCrashMessage bounds it, as it is stored with the service's status.
const (
	stderrTail      = 20
	maxCrashMessage = 2048
)

func crashMessage(exit string, tail *lineTail) string {
	lines := tail.lines()
	if len(lines) == 0 {
		return "exited (" + exit + ") without writing to stderr; see the service's output"
	}
	body := strings.Join(lines, "\n")
	if len(body) > maxCrashMessage {
		body = "…" + strings.ToValidUTF8(body[len(body)-maxCrashMessage:], "")
	}
	return "exited (" + exit + "); last lines of stderr:\n" + body
}
