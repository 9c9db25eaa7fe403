package compose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// commandEnv is the whole environment of every docker and compose command:
// what they need to find their programs and the daemon, and nothing else.
// rampart's own environment may hold its secrets, and compose would also
// let any variable of it override the service's env file (PORT, VERSION…).
func commandEnv() []string {
	env := []string{"PATH=" + envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")}
	if home, err := os.UserHomeDir(); err == nil {
		env = append(env, "HOME="+home)
	}
	// DOCKER_HOST names the daemon; the TLS pair is how a tcp:// one is
	// reached. They are paths and switches, not secrets.
	for _, k := range []string{"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// tailBuffer keeps the last max bytes written to it: compose's stderr, of
// which an error message quotes the end (where compose says what failed).
type tailBuffer struct {
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// lastLines returns the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var out []string
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append(out, l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return strings.Join(out, "; ")
}

// cmdError is a docker or compose command that failed; Stderr is the end
// of what it wrote there.
type cmdError struct {
	Cmd    string
	Err    error
	Stderr string
}

func (e *cmdError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Cmd, e.Err, e.Stderr)
}

func (e *cmdError) Unwrap() error { return e.Err }

// run runs argv with the minimal environment and the driver's timeout, and
// returns its stdout.
func (d *Driver) run(ctx context.Context, timeout time.Duration, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = commandEnv()
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 8 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	err := cmd.Run()
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("no answer after %v (is the Docker daemon overloaded or hung?)", timeout)
		}
		return stdout.Bytes(), &cmdError{Cmd: commandName(argv), Err: err, Stderr: lastLines(string(stderr.b), 6)}
	}
	return stdout.Bytes(), nil
}

// commandName is argv for messages: the program and its command, without
// the project's paths (the same for every command, and long).
func commandName(argv []string) string {
	name, rest := filepath.Base(argv[0]), argv[1:]
	if name == "docker" && len(rest) > 0 && rest[0] == "compose" {
		name, rest = "docker compose", rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		switch a := rest[i]; {
		case a == "--project-directory" || a == "-f" || a == "-p" || a == "--env-file" || a == "--ansi":
			i++ // and its value
		case !strings.HasPrefix(a, "-"):
			return name + " " + a
		}
	}
	return name
}

// advice turns a failed command into what the person running rampart
// should do about it: the cases that happen in practice, recognised from
// what docker and compose print, and compose's own words otherwise.
func advice(what string, err error) string {
	msg := err.Error()
	low := strings.ToLower(msg)
	var hint string
	switch {
	case errors.Is(err, exec.ErrNotFound):
		hint = "docker-compose is not installed: install it (Debian: apt install docker-compose, or the docker compose plugin)"
	case strings.Contains(low, "cannot connect to the docker daemon"), strings.Contains(low, "couldn't connect to docker daemon"),
		strings.Contains(low, "is the docker daemon running"), strings.Contains(low, "error while fetching server api version"),
		strings.Contains(low, "connection refused") && strings.Contains(low, "docker"):
		hint = "Docker is not running or not reachable: start it (systemctl start docker) or set DOCKER_HOST"
	case strings.Contains(low, "pulling ") && (strings.Contains(low, "no such host") || strings.Contains(low, "timeout") ||
		strings.Contains(low, "connection refused") || strings.Contains(low, "network is unreachable")):
		hint = "the image is not on this host and its registry cannot be reached: check the image name and the version (its tag), or load the image here (docker load)"
	case strings.Contains(low, "pull access denied"), strings.Contains(low, "manifest unknown"),
		strings.Contains(low, "no such image"), strings.Contains(low, "not found: manifest"),
		strings.Contains(low, "repository does not exist"), strings.Contains(low, "manifest for"):
		hint = "the image is missing: check the image name and the version (its tag), or pull or load the image on this host"
	case strings.Contains(low, "port is already allocated"), strings.Contains(low, "address already in use"):
		hint = "the service's port is taken by another program: free it or give the service another port"
	case strings.Contains(low, "yaml"), strings.Contains(low, "the compose file"), strings.Contains(low, "invalid interpolation"),
		strings.Contains(low, "unsupported config option"), strings.Contains(low, "is invalid because"),
		strings.Contains(low, "service") && strings.Contains(low, "has neither an image nor a build context"),
		strings.Contains(low, "version in") && strings.Contains(low, "is unsupported"):
		hint = "compose refused the compose file: fix it in the service's settings and save"
	}
	if hint == "" {
		return fmt.Sprintf("%s failed: %v", what, err)
	}
	return fmt.Sprintf("%s: %s (%v)", hint, what, err)
}

// container is what the driver reads of one container with docker inspect.
type container struct {
	ID      string `json:"Id"`
	Created time.Time
	State   struct {
		Status     string // created, running, paused, restarting, removing, exited, dead
		ExitCode   int
		OOMKilled  bool
		Error      string
		StartedAt  time.Time
		FinishedAt time.Time
		Health     *struct{ Status string }
	}
	RestartCount int
	Config       struct {
		Image  string
		Env    []string
		Labels map[string]string
	}
}

// containers lists the project's containers, stopped ones included (not
// compose's one-off `run` containers), from the labels compose puts on
// them: the docker CLI answers without compose's start-up time, and
// whatever the compose file now says.
func (d *Driver) containers(ctx context.Context, project string) ([]container, error) {
	out, err := d.run(ctx, d.timeout, append(d.docker(), "ps", "-a", "-q", "--no-trunc",
		"--filter", "label=com.docker.compose.project="+project))
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return nil, nil
	}
	out, err = d.run(ctx, d.timeout, append(append(d.docker(), "inspect", "--type", "container"), ids...))
	if err != nil {
		// A container removed between ps and inspect: ask once more.
		out, err = d.run(ctx, d.timeout, append(d.docker(), "ps", "-a", "-q", "--no-trunc",
			"--filter", "label=com.docker.compose.project="+project))
		if err != nil {
			return nil, err
		}
		ids = strings.Fields(string(out))
		if len(ids) == 0 {
			return nil, nil
		}
		if out, err = d.run(ctx, d.timeout, append(append(d.docker(), "inspect", "--type", "container"), ids...)); err != nil {
			return nil, err
		}
	}
	var cs []container
	if err := json.Unmarshal(out, &cs); err != nil {
		return nil, fmt.Errorf("reading docker inspect: %w", err)
	}
	var keep []container
	for _, c := range cs {
		if strings.EqualFold(c.Config.Labels["com.docker.compose.oneoff"], "true") {
			continue
		}
		keep = append(keep, c)
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].ID < keep[j].ID })
	return keep, nil
}
