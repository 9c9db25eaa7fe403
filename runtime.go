package rampart

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// RuntimeKind says who runs a service's application.
type RuntimeKind string

const (
	// RuntimeProxy: the application runs elsewhere; rampart only fronts
	// it. Stop and start change routing only.
	RuntimeProxy RuntimeKind = "proxy"
	// RuntimeExec: rampart runs and supervises the service's process.
	RuntimeExec RuntimeKind = "exec"
	// RuntimeCompose: rampart runs the service as a docker compose project.
	RuntimeCompose RuntimeKind = "compose"
)

// Runtime is how a service's application runs: desired state, set at
// create time and by UPDATE CONFIG. A runtime other than proxy runs
// commands on the host, so only an admin may set one (see app.Services).
type Runtime struct {
	Kind RuntimeKind `json:"kind"`
	// Version is the software version: substituted for ${VERSION} in the
	// exec command and arguments, the image tag (${VERSION}) of a compose
	// file. Changing it is the "change software version" action.
	Version string `json:"version,omitempty"`
	// Port is the loopback port the application listens on (exec, given
	// to it as PORT) or publishes (compose); the edge proxies to
	// http://127.0.0.1:Port.
	Port int `json:"port,omitempty"`
	// StopTimeout is how long a graceful stop waits before killing; zero
	// means 10s.
	StopTimeout Duration `json:"stop_timeout,omitempty"`

	// exec
	Command string   `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// Dir is the working directory; empty means the service's data
	// directory.
	Dir string `json:"dir,omitempty"`
	// User runs the process as this system user (name or uid); empty
	// means rampart's own user.
	User string `json:"user,omitempty"`

	// compose: the docker-compose.yml text.
	ComposeFile string `json:"compose_file,omitempty"`
}

// Bounds of a runtime's settings.
const (
	MaxRuntimeArgs       = 64
	MaxRuntimeArgLength  = 4096
	MaxComposeFileLength = 64 << 10
	MaxVersionLength     = 128
	MaxStopTimeout       = 10 * time.Minute
)

// Equal reports whether r and o are the same runtime, field by field (no
// arguments and an empty list are the same).
func (r Runtime) Equal(o Runtime) bool {
	return r.Kind == o.Kind && r.Version == o.Version && r.Port == o.Port && r.StopTimeout == o.StopTimeout &&
		r.Command == o.Command && slices.Equal(r.Args, o.Args) && r.Dir == o.Dir && r.User == o.User && r.ComposeFile == o.ComposeFile
}

// Runs reports whether rampart runs the application itself.
func (r Runtime) Runs() bool { return r.Kind == RuntimeExec || r.Kind == RuntimeCompose }

// UpstreamURL is where the edge reaches a service rampart runs.
func (r Runtime) UpstreamURL() string { return fmt.Sprintf("http://127.0.0.1:%d", r.Port) }

// Validate checks every field and reports every problem at once.
func (r Runtime) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, FieldError("runtime", Errorf(EINVALID, format, args...)))
	}
	switch r.Kind {
	case RuntimeProxy, "":
		if r.Command != "" || r.ComposeFile != "" || r.Port != 0 {
			bad("runtime proxy takes no command, compose file or port: the application runs elsewhere (give upstreams instead)")
		}
		return errors.Join(errs...)
	case RuntimeExec:
		switch {
		case r.Command == "":
			bad("runtime exec needs a command, e.g. /opt/app/${VERSION}/bin/server")
		case r.ComposeFile != "":
			bad("runtime exec takes a command, not a compose file")
		}
	case RuntimeCompose:
		switch {
		case strings.TrimSpace(r.ComposeFile) == "":
			bad("runtime compose needs a compose file (the docker-compose.yml text)")
		case len(r.ComposeFile) > MaxComposeFileLength:
			bad("the compose file is %d bytes: at most %d are allowed", len(r.ComposeFile), MaxComposeFileLength)
		case r.Command != "" || len(r.Args) > 0 || r.User != "" || r.Dir != "":
			bad("runtime compose takes a compose file, not a command, arguments, user or directory")
		case !utf8.ValidString(r.ComposeFile) || strings.ContainsRune(r.ComposeFile, 0):
			bad("the compose file must be UTF-8 text")
		}
	default:
		bad("runtime %q is unknown: use %q, %q or %q", r.Kind, RuntimeProxy, RuntimeExec, RuntimeCompose)
		return errors.Join(errs...)
	}
	if r.Port < 1 || r.Port > 65535 {
		bad("runtime %s needs the port the application listens on (1-65535), e.g. 8080", r.Kind)
	}
	if len(r.Version) > MaxVersionLength || !printable(r.Version) {
		bad("version must be at most %d printable characters", MaxVersionLength)
	}
	if r.Kind == RuntimeCompose && r.Version != "" && !validImageTag(r.Version) {
		bad("version %q is not a valid image tag: use letters, digits, '_', '.' and '-' (at most 128)", r.Version)
	}
	if r.StopTimeout < 0 || time.Duration(r.StopTimeout) > MaxStopTimeout {
		bad("stop timeout must be between 0 and %s", MaxStopTimeout)
	}
	if len(r.Args) > MaxRuntimeArgs {
		bad("%d arguments given: at most %d are allowed", len(r.Args), MaxRuntimeArgs)
	}
	for _, s := range append([]string{r.Command, r.Dir, r.User}, r.Args...) {
		if len(s) > MaxRuntimeArgLength || strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
			bad("command, arguments, directory and user must be UTF-8 text without NUL, at most %d bytes each", MaxRuntimeArgLength)
			break
		}
	}
	if r.Dir != "" && !filepath.IsAbs(r.Dir) {
		bad("working directory %q must be an absolute path (or empty: the service's data directory)", r.Dir)
	}
	return errors.Join(errs...)
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || !utf8.ValidRune(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// validImageTag is Docker's tag grammar: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validImageTag(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// RunState is what the runtime observed of a service rampart runs (not
// desired state: the runtimes reconciler writes it).
type RunState struct {
	State string    `json:"state"` // starting, running, crash-looping, stopping, stopped, paused, failed
	PID   int       `json:"pid,omitempty"`
	Since time.Time `json:"since"`
	// Restarts counts crashes restarted since the last start.
	Restarts  int       `json:"restarts"`
	LastExit  string    `json:"last_exit,omitempty"`
	NextStart time.Time `json:"next_start,omitempty"`
	Message   string    `json:"message,omitempty"`
}
