// Package runtime runs the services that rampart hosts itself, as opposed
// to the "proxy" services whose application runs elsewhere. A Supervisor
// keeps each service's process (the exec driver) or docker compose project
// (runtime/compose) in the state the reconciler asks for, restarts what
// crashes, captures its output and reports what it observes.
//
// The package knows nothing of the store or of HTTP: the runtimes
// reconciler (internal/agent) hands it plain Specs and writes back what
// OnChange reports.
package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Kind names a driver.
type Kind string

const (
	KindExec    Kind = "exec"
	KindCompose Kind = "compose"
)

// Spec is everything a driver needs to run one service. Two Specs with the
// same Hash run the same thing; a different Hash means a restart.
type Spec struct {
	ID   int64  // the service's ID: units are keyed by it, never by name
	Name string // the service's name (project names, log lines)
	Kind Kind

	// Version is substituted for ${VERSION} in Command and Args (exec) and
	// given to compose as the VERSION variable (the image tag).
	Version string
	// Env is the service's environment, KEY=VALUE, sorted by key. The
	// drivers add PORT, DATA_DIR and VERSION.
	Env []string
	// DataDir is the service's data directory (absolute, exists). It is
	// what backups copy; exec runs in it unless Dir says otherwise, and
	// compose files mount it as ${DATA_DIR}.
	DataDir string
	// Port is the loopback port the service listens on (exec) or publishes
	// (compose); the edge proxies to 127.0.0.1:Port.
	Port int
	// StopTimeout is how long a graceful stop waits before SIGKILL
	// (exec) or is passed as compose's -t. 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Generation changes when someone asks for a restart with nothing
	// else changed (the "reboot" action): part of the Hash.
	Generation int64

	// exec
	Command string   // the program: an absolute path, or a name looked up in PATH
	Args    []string // its arguments
	Dir     string   // working directory; "" means DataDir
	User    string   // run as this user (name or uid); "" means rampart's own user

	// compose
	// ComposeFile is the docker-compose.yml text. The driver writes it,
	// with an env file of Env plus VERSION and DATA_DIR, to ProjectDir.
	ComposeFile string
	ProjectDir  string // absolute; the driver's own files
}

// DefaultStopTimeout is how long a stop waits for a graceful exit.
const DefaultStopTimeout = 10 * time.Second

// State is what a driver observes of a service.
type State string

const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	// StateCrashLoop: the process exited and waits for its next restart
	// (Observed.NextStart), with the backoff doubling while it keeps
	// crashing.
	StateCrashLoop State = "crash-looping"
	StateStopping  State = "stopping"
	StateStopped   State = "stopped"
	StatePaused    State = "paused"
	// StateFailed: the driver could not start the service at all (no
	// such command, compose file refused, Docker not running…); Message
	// says why and what to do.
	StateFailed State = "failed"
)

// Observed is what the supervisor last saw of one service.
type Observed struct {
	State    State     `json:"state"`
	PID      int       `json:"pid,omitempty"` // exec: the process's pid while running
	Since    time.Time `json:"since"`         // when State began
	Restarts int       `json:"restarts"`      // crashes restarted since the last start or spec change
	// LastExit describes the last exit of the process, e.g. "exit status 1"
	// or "signal: killed"; "" if it has not exited.
	LastExit  string    `json:"last_exit,omitempty"`
	NextStart time.Time `json:"next_start,omitempty"` // crash-looping: when the next try is
	Message   string    `json:"message,omitempty"`    // failed: why
	Hash      string    `json:"hash,omitempty"`       // the Spec.Hash it runs
}

// Driver runs services of one Kind. Every method is idempotent and safe for
// concurrent use on different services; the Supervisor never calls two
// methods for the same service at once.
type Driver interface {
	// Start brings the service up as spec says; when it runs already with
	// another hash it is stopped (gracefully) and started again.
	Start(ctx context.Context, spec Spec) error
	// Stop stops the service gracefully: SIGTERM (exec) or `compose stop`,
	// then SIGKILL after spec.StopTimeout.
	Stop(ctx context.Context, spec Spec) error
	// Kill stops it at once (SIGKILL, `compose kill`).
	Kill(ctx context.Context, spec Spec) error
	// Pause freezes the service (SIGSTOP to its process group, `compose
	// pause`) so that its data directory can be copied consistently;
	// Resume undoes it.
	Pause(ctx context.Context, spec Spec) error
	Resume(ctx context.Context, spec Spec) error
	// Remove stops the service and removes what the driver made for it
	// (containers, networks, ProjectDir), never DataDir.
	Remove(ctx context.Context, spec Spec) error
	// Observe reports the service's state now.
	Observe(ctx context.Context, spec Spec) (Observed, error)
}

// LogLine is one line a service wrote.
type LogLine struct {
	Time      time.Time
	ServiceID int64
	Service   string
	Stream    string // "stdout" or "stderr"
	Text      string // without the newline; lines longer than MaxLogLine are cut
}

// MaxLogLine bounds one captured line, so that a service writing without
// newlines cannot grow rampart's memory.
const MaxLogLine = 4096

// Hash names what the spec runs: drivers compare it with what runs now to
// know whether a Start must restart.
func (s Spec) Hash() string {
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
