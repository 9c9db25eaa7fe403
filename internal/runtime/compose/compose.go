// Package compose is the runtime.Driver for services of Kind "compose": a
// docker compose project per service, driven through the docker-compose
// (v1) or `docker compose` (v2) command line, so that rampart needs no
// Docker client library and runs whatever compose the host has.
//
// Each service's project lives in its spec.ProjectDir: the compose file
// (docker-compose.yml), an env file (.env: spec.Env plus VERSION, DATA_DIR
// and PORT) that compose substitutes into the compose file and that a
// service passes to its containers with `env_file: .env`, and the driver's
// own state file. The project name is ProjectName(spec): keyed by the
// service's ID.
//
// Data belongs in bind mounts of ${DATA_DIR}: that is what backups copy and
// what Remove leaves in place. Named volumes are not part of backups, and
// Remove leaves them to Docker (it does not pass -v to `down`).
package compose

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-dev/rampart/internal/runtime"
)

// Options configure a Driver.
type Options struct {
	// Binary is the compose command, split on spaces: "docker-compose"
	// (Debian's v1.29) when it is on PATH, else "docker compose".
	Binary string
	// Docker is the docker command used to inspect containers and follow
	// their logs; "" means "docker".
	Docker string
	// Logs receives what the containers write, a line at a time; nil
	// means their output is not followed.
	Logs func(runtime.LogLine)
	// Now is the clock of Observed times; nil means time.Now. Where logs
	// are read from is always reckoned on the real clock, which Docker's
	// timestamps share.
	Now func() time.Time
	// Timeout bounds each docker and compose command (a stop waits
	// StopTimeout on top); 0 means 5 minutes, enough to pull an image.
	Timeout time.Duration
}

// Driver runs compose projects. Its methods are safe for concurrent use.
type Driver struct {
	binary  []string
	dockerC string
	logs    func(runtime.LogLine)
	now     func() time.Time
	timeout time.Duration

	mu    sync.Mutex
	units map[int64]*unit
}

// unit is the driver's in-memory part of one service: its log followers
// and what the state file cannot know.
type unit struct {
	id int64

	mu        sync.Mutex
	name      string    // the service's name, for log lines
	started   time.Time // when the last Start began: logs of containers it made are read from their creation
	pausedAt  time.Time
	followers map[string]*follower // by container ID
	lastSeen  map[string]time.Time // by container ID: the time of the last log line read
	wg        sync.WaitGroup
}

var _ runtime.Driver = (*Driver)(nil)

// New returns a Driver.
func New(o Options) *Driver {
	d := &Driver{
		logs:    o.Logs,
		now:     o.Now,
		timeout: o.Timeout,
		dockerC: o.Docker,
		units:   map[int64]*unit{},
	}
	d.binary = strings.Fields(o.Binary)
	if len(d.binary) == 0 {
		if _, err := exec.LookPath("docker-compose"); err == nil {
			d.binary = []string{"docker-compose"}
		} else {
			d.binary = []string{"docker", "compose"}
		}
	}
	if d.dockerC == "" {
		d.dockerC = "docker"
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.timeout <= 0 {
		d.timeout = 5 * time.Minute
	}
	return d
}

func (d *Driver) docker() []string { return strings.Fields(d.dockerC) }

func (d *Driver) unit(spec runtime.Spec) *unit {
	d.mu.Lock()
	u := d.units[spec.ID]
	if u == nil {
		u = &unit{id: spec.ID, followers: map[string]*follower{}, lastSeen: map[string]time.Time{}}
		d.units[spec.ID] = u
	}
	d.mu.Unlock()
	u.mu.Lock()
	u.name = spec.Name // a rename shows in the next log lines
	u.mu.Unlock()
	return u
}

// compose returns the compose command line for spec's project, with every
// path given explicitly so that neither compose's working directory nor a
// stray .env elsewhere matters.
func (d *Driver) compose(spec runtime.Spec, args ...string) []string {
	argv := append([]string{}, d.binary...)
	argv = append(argv,
		"--project-directory", spec.ProjectDir,
		"-f", filepath.Join(spec.ProjectDir, composeFileName),
		"-p", ProjectName(spec),
		"--env-file", filepath.Join(spec.ProjectDir, envFileName),
	)
	if d.binary[0] == "docker-compose" || strings.HasSuffix(d.binary[0], "/docker-compose") {
		argv = append(argv, "--ansi", "never")
	}
	return append(argv, args...)
}

func stopSeconds(spec runtime.Spec) int {
	t := spec.StopTimeout
	if t <= 0 {
		t = runtime.DefaultStopTimeout
	}
	return int(math.Ceil(t.Seconds()))
}

func checkSpec(spec runtime.Spec) error {
	if spec.Kind != "" && spec.Kind != runtime.KindCompose {
		return fmt.Errorf("service %q is of kind %q, not compose", spec.Name, spec.Kind)
	}
	if !filepath.IsAbs(spec.ProjectDir) {
		return fmt.Errorf("project directory %q is not absolute: the service's spec must name an absolute ProjectDir", spec.ProjectDir)
	}
	return nil
}

// Start writes the project's files and runs `up -d --remove-orphans`, which
// creates what is missing, recreates what changed (a new image tag through
// ${VERSION}, a new env file) and starts what is stopped. A new Generation
// with nothing else changed adds --force-recreate: compose itself would see
// nothing to do, and a reboot must give new containers.
//
// When up fails the project is StateFailed, with compose's message and
// what to do, until the next Start, Stop or Remove.
func (d *Driver) Start(ctx context.Context, spec runtime.Spec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	u := d.unit(spec)
	u.mu.Lock()
	u.started = time.Now() // compared with Docker's times, never a test's clock
	u.pausedAt = time.Time{}
	u.mu.Unlock()

	prev, had, err := readState(spec.ProjectDir)
	if err != nil {
		return fmt.Errorf("reading %s's state: %w", spec.Name, err)
	}
	fail := func(msg string) error {
		st := prev
		st.Started = true
		st.Failed = msg
		st.FailedAt = d.now()
		_ = writeState(spec.ProjectDir, st) // best effort: Start's error says it all
		return errors.New(msg)
	}
	if err := writeProject(spec); err != nil {
		return fail(fmt.Sprintf("cannot write %s's compose project: %v", spec.Name, err))
	}
	args := []string{"up", "-d", "--remove-orphans", "-t", strconv.Itoa(stopSeconds(spec))}
	if had && prev.Hash != "" && prev.Generation != spec.Generation {
		args = append(args, "--force-recreate")
	}
	if _, err := d.run(ctx, d.timeout+time.Duration(stopSeconds(spec))*time.Second, d.compose(spec, args...)); err != nil {
		return fail(advice("starting "+spec.Name+" (compose up)", err))
	}
	if err := writeState(spec.ProjectDir, projectState{Hash: spec.Hash(), Generation: spec.Generation, Started: true}); err != nil {
		return fmt.Errorf("recording %s's state: %w", spec.Name, err)
	}
	if cs, err := d.containers(ctx, ProjectName(spec)); err == nil {
		d.follow(u, cs)
	}
	return nil
}

// Stop runs `stop -t <StopTimeout>`: compose stops the containers in
// dependency order, each with SIGTERM and SIGKILL after the timeout.
func (d *Driver) Stop(ctx context.Context, spec runtime.Spec) error {
	return d.halt(ctx, spec, "stop", "stopping", []string{"stop", "-t", strconv.Itoa(stopSeconds(spec))},
		[]string{"stop", "-t", strconv.Itoa(stopSeconds(spec))})
}

// Kill runs `kill`: SIGKILL to every container at once.
func (d *Driver) Kill(ctx context.Context, spec runtime.Spec) error {
	return d.halt(ctx, spec, "kill", "killing", []string{"kill"}, []string{"kill"})
}

// halt stops or kills the project: compose first, and the containers by
// their project label when compose fails, since a compose file that was
// broken or emptied since the last Start must not keep the old containers
// running. It then ends the log followers and records that the project
// should not run.
func (d *Driver) halt(ctx context.Context, spec runtime.Spec, what, doing string, composeArgs, dockerArgs []string) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	u := d.unit(spec)
	st, _, err := readState(spec.ProjectDir)
	if err != nil {
		return fmt.Errorf("reading %s's state: %w", spec.Name, err)
	}
	timeout := d.timeout + time.Duration(stopSeconds(spec))*time.Second
	runErr := d.composeOrDocker(ctx, spec, u, timeout, composeArgs, dockerArgs, func(c container) bool {
		return c.State.Status == "running" || c.State.Status == "paused" || c.State.Status == "restarting"
	})
	d.stopFollowers(u)
	if runErr != nil {
		return errors.New(advice(doing+" "+spec.Name, runErr))
	}
	st.Started = false
	st.Failed, st.FailedAt = "", time.Time{}
	st.StoppedAt = d.now()
	if _, err := os.Stat(spec.ProjectDir); err == nil {
		if err := writeState(spec.ProjectDir, st); err != nil {
			return fmt.Errorf("recording %s's state: %w", spec.Name, err)
		}
	}
	return nil
}

// composeOrDocker runs compose with composeArgs; when that fails (no
// project files, a broken compose file) it runs docker with dockerArgs on
// the project's containers that pick selects, and reports the first error
// only if that fails too.
func (d *Driver) composeOrDocker(ctx context.Context, spec runtime.Spec, u *unit, timeout time.Duration, composeArgs, dockerArgs []string, pick func(container) bool) error {
	var composeErr error
	if _, err := os.Stat(filepath.Join(spec.ProjectDir, composeFileName)); err != nil {
		composeErr = err
	} else if _, err := d.run(ctx, timeout, d.compose(spec, composeArgs...)); err != nil {
		composeErr = err
	} else {
		return nil
	}
	cs, err := d.containers(ctx, ProjectName(spec))
	if err != nil {
		return composeErr
	}
	var ids []string
	for _, c := range cs {
		if pick(c) {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := d.run(ctx, timeout, append(append(d.docker(), dockerArgs...), ids...)); err != nil {
		return composeErr
	}
	return nil
}

// Pause runs `pause`, freezing every container (the cgroup freezer) so that
// DATA_DIR can be copied consistently.
func (d *Driver) Pause(ctx context.Context, spec runtime.Spec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	u := d.unit(spec)
	err := d.composeOrDocker(ctx, spec, u, d.timeout, []string{"pause"}, []string{"pause"}, func(c container) bool {
		return c.State.Status == "running"
	})
	if err != nil {
		return errors.New(advice("pausing "+spec.Name, err))
	}
	u.mu.Lock()
	if u.pausedAt.IsZero() {
		u.pausedAt = d.now()
	}
	u.mu.Unlock()
	return nil
}

// Resume runs `unpause`.
func (d *Driver) Resume(ctx context.Context, spec runtime.Spec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	u := d.unit(spec)
	err := d.composeOrDocker(ctx, spec, u, d.timeout, []string{"unpause"}, []string{"unpause"}, func(c container) bool {
		return c.State.Status == "paused"
	})
	if err != nil {
		return errors.New(advice("resuming "+spec.Name, err))
	}
	u.mu.Lock()
	u.pausedAt = time.Time{}
	u.mu.Unlock()
	return nil
}

// Remove runs `down --remove-orphans` and removes ProjectDir. It does not
// pass -v: data lives in bind mounts of DATA_DIR, which stay, and named
// volumes (not part of backups) stay with Docker, so that removing and
// restoring a service never loses what it stored. When compose cannot run
// (the compose file broken or gone) the project's containers and networks
// are removed by their labels.
func (d *Driver) Remove(ctx context.Context, spec runtime.Spec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	u := d.unit(spec)
	timeout := d.timeout + time.Duration(stopSeconds(spec))*time.Second
	var composeErr error
	if _, err := os.Stat(filepath.Join(spec.ProjectDir, composeFileName)); err != nil {
		composeErr = err
	} else if _, err := d.run(ctx, timeout, d.compose(spec, "down", "--remove-orphans", "-t", strconv.Itoa(stopSeconds(spec)))); err != nil {
		composeErr = err
	}
	if composeErr != nil {
		cs, err := d.containers(ctx, ProjectName(spec))
		if err != nil {
			d.stopFollowers(u)
			return errors.New(advice("removing "+spec.Name, err))
		}
		if len(cs) > 0 {
			args := append(d.docker(), "rm", "-f")
			for _, c := range cs {
				args = append(args, c.ID)
			}
			if _, err := d.run(ctx, timeout, args); err != nil {
				d.stopFollowers(u)
				return errors.New(advice("removing "+spec.Name+"'s containers", err))
			}
		}
		out, err := d.run(ctx, d.timeout, append(d.docker(), "network", "ls", "-q",
			"--filter", "label=com.docker.compose.project="+ProjectName(spec)))
		if err == nil && len(strings.Fields(string(out))) > 0 {
			if _, err := d.run(ctx, d.timeout, append(append(d.docker(), "network", "rm"), strings.Fields(string(out))...)); err != nil {
				d.stopFollowers(u)
				return errors.New(advice("removing "+spec.Name+"'s networks", err))
			}
		}
	}
	d.stopFollowers(u)
	if err := os.RemoveAll(spec.ProjectDir); err != nil {
		return fmt.Errorf("removing %s's project directory: %w", spec.Name, err)
	}
	d.mu.Lock()
	delete(d.units, spec.ID)
	d.mu.Unlock()
	return nil
}

// Observe reads the project's containers. Several containers make one
// state: failed while the last up failed; paused when a container is
// paused; crash-looping when one restarts, or exited non-zero while the
// project should run; running when all that should run do; stopped
// otherwise. When Docker cannot be reached the service is failed, with
// what to do, and Observe returns no error: that is the service's state.
func (d *Driver) Observe(ctx context.Context, spec runtime.Spec) (runtime.Observed, error) {
	if err := checkSpec(spec); err != nil {
		return runtime.Observed{}, err
	}
	u := d.unit(spec)
	st, _, err := readState(spec.ProjectDir)
	if err != nil {
		return runtime.Observed{}, fmt.Errorf("reading %s's state: %w", spec.Name, err)
	}
	obs := runtime.Observed{Hash: st.Hash}
	if st.Failed != "" {
		obs.State, obs.Message, obs.Since = runtime.StateFailed, st.Failed, st.FailedAt
		return obs, nil
	}
	cs, err := d.containers(ctx, ProjectName(spec))
	if err != nil {
		obs.State, obs.Message, obs.Since = runtime.StateFailed, advice("observing "+spec.Name, err), d.now()
		return obs, nil
	}
	if st.Started {
		d.follow(u, cs)
	}
	return d.summarize(u, st, cs), nil
}

func (d *Driver) summarize(u *unit, st projectState, cs []container) runtime.Observed {
	obs := runtime.Observed{Hash: st.Hash}
	if len(cs) == 0 {
		obs.State, obs.Since = runtime.StateStopped, st.StoppedAt
		return obs
	}
	var (
		running, paused, restarting, crashed, starting int
		lastStart, lastFinish                          time.Time
		lastExit                                       string
		crashedAt                                      time.Time
	)
	for _, c := range cs {
		obs.Restarts += c.RestartCount
		// A running container's FinishedAt is its previous run's, and its
		// ExitCode is reset: only a container that is down tells an exit.
		down := c.State.Status != "running" && c.State.Status != "paused"
		if down && c.State.FinishedAt.After(lastFinish) && c.State.FinishedAt.Year() > 1 {
			lastFinish = c.State.FinishedAt
			lastExit = exitText(c)
		}
		switch c.State.Status {
		case "running":
			running++
			if c.State.StartedAt.After(lastStart) {
				lastStart = c.State.StartedAt
			}
			if c.State.Health != nil && c.State.Health.Status == "starting" {
				starting++
			}
		case "paused":
			paused++
		case "restarting":
			restarting++
		case "exited", "dead":
			if c.State.ExitCode != 0 || c.State.Status == "dead" || c.State.OOMKilled {
				crashed++
				if c.State.FinishedAt.After(crashedAt) {
					crashedAt = c.State.FinishedAt
				}
			}
		}
	}
	obs.LastExit = lastExit
	u.mu.Lock()
	pausedAt := u.pausedAt
	u.mu.Unlock()
	switch {
	case paused > 0:
		obs.State, obs.Since = runtime.StatePaused, pausedAt
		if pausedAt.IsZero() {
			obs.Since = lastStart
		}
	case restarting > 0:
		obs.State, obs.Since = runtime.StateCrashLoop, lastFinish
	case st.Started && crashed > 0:
		obs.State, obs.Since = runtime.StateCrashLoop, crashedAt
	case running > 0 && starting > 0:
		obs.State, obs.Since = runtime.StateStarting, lastStart
	case running > 0:
		obs.State, obs.Since = runtime.StateRunning, lastStart
	default:
		obs.State, obs.Since = runtime.StateStopped, lastFinish
		if st.StoppedAt.After(obs.Since) {
			obs.Since = st.StoppedAt
		}
	}
	return obs
}

func exitText(c container) string {
	switch {
	case c.State.OOMKilled:
		return fmt.Sprintf("out of memory (exit status %d)", c.State.ExitCode)
	case c.State.Error != "":
		return c.State.Error
	}
	return fmt.Sprintf("exit status %d", c.State.ExitCode)
}

// Close ends every log follower and waits for them; the driver's projects
// keep running. Call it when rampart shuts down.
func (d *Driver) Close() {
	d.mu.Lock()
	us := make([]*unit, 0, len(d.units))
	for _, u := range d.units {
		us = append(us, u)
	}
	d.mu.Unlock()
	for _, u := range us {
		d.stopFollowers(u)
	}
}
