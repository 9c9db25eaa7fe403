package compose

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/runtime"
	"github.com/rampart-dev/rampart/internal/testport"
)

// httpdCompose serves DATA_DIR/www on PORT, passes the env file to the
// container and stops at once (init: true forwards SIGTERM to httpd, which
// as PID 1 would ignore it).
const httpdCompose = `version: "2.4"
services:
  web:
    image: rampart-test/busybox:${VERSION}
    init: true
    stop_grace_period: 1s
    command: ["httpd", "-f", "-p", "8080", "-h", "/data/www"]
    ports:
      - "127.0.0.1:${PORT}:8080"
    volumes:
      - "${DATA_DIR}:/data"
    env_file: .env
`

// logsCompose writes a line to stdout, one to stderr, one longer than
// runtime.MaxLogLine, and then waits.
const logsCompose = `version: "2.4"
services:
  talk:
    image: rampart-test/busybox:${VERSION}
    init: true
    stop_grace_period: 1s
    command:
      - sh
      - -c
      - "echo out-line; echo err-line >&2; head -c 5000 /dev/zero | tr '\\000' x; echo; echo after-long; exec sleep 600"
`

// logRecorder collects what the driver's followers hand over.
type logRecorder struct {
	mu    sync.Mutex
	lines []runtime.LogLine
}

func (r *logRecorder) add(l runtime.LogLine) {
	r.mu.Lock()
	r.lines = append(r.lines, l)
	r.mu.Unlock()
}

func (r *logRecorder) find(f func(runtime.LogLine) bool) []runtime.LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []runtime.LogLine
	for _, l := range r.lines {
		if f(l) {
			out = append(out, l)
		}
	}
	return out
}

// newSpec returns a compose spec with its own data and project directories
// and a free port, and removes its project when the test ends.
func newSpec(t *testing.T, d *Driver, id int64, name, composeFile string) runtime.Spec {
	t.Helper()
	dir := t.TempDir()
	spec := runtime.Spec{
		ID: id, Name: name, Kind: runtime.KindCompose,
		Version:     "1",
		DataDir:     filepath.Join(dir, "data"),
		Port:        testport.Number(t),
		StopTimeout: time.Second,
		ComposeFile: composeFile,
		ProjectDir:  filepath.Join(dir, "project"),
	}
	// httpd exits when the directory it serves is missing.
	if err := os.MkdirAll(filepath.Join(spec.DataDir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A project left over by an earlier run that died.
	_ = d.Remove(context.Background(), spec)
	t.Cleanup(func() {
		if err := d.Remove(context.Background(), spec); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		d.Close()
	})
	return spec
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or timeout passes (generous: Docker
// is slow on a loaded 2-core CI machine); last says what was
// seen, for the failure message.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last saw %s", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitState(t *testing.T, d *Driver, spec runtime.Spec, want runtime.State) runtime.Observed {
	t.Helper()
	var obs runtime.Observed
	waitFor(t, time.Minute, "state "+string(want), func() (bool, string) {
		var err error
		obs, err = d.Observe(context.Background(), spec)
		if err != nil {
			return false, err.Error()
		}
		b, _ := json.Marshal(obs)
		return obs.State == want, string(b)
	})
	return obs
}

// get fetches path from the service, retrying while httpd starts.
func get(t *testing.T, port int, path string) string {
	t.Helper()
	var body string
	client := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, time.Minute, "GET "+path, func() (bool, string) {
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + path)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, resp.Status + " " + body
	})
	return body
}

// projectContainer inspects the project's one container.
func projectContainer(t *testing.T, d *Driver, spec runtime.Spec) container {
	t.Helper()
	cs, err := d.containers(context.Background(), ProjectName(spec))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("project %s has %d containers, want 1", ProjectName(spec), len(cs))
	}
	return cs[0]
}

func execEnv(t *testing.T, id string) string {
	t.Helper()
	out, err := dockerCmd(context.Background(), "exec", id, "env")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestServeRemoveRestore: a started project serves DATA_DIR through its
// published port; Remove leaves DATA_DIR as it was and a new Start serves
// the same data, which is what restoring a service relies on.
func TestServeRemoveRestore(t *testing.T) {
	needDocker(t)
	t.Parallel()
	d := New(Options{})
	spec := newSpec(t, d, 990001, "Web Site!", httpdCompose)
	www := filepath.Join(spec.DataDir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("kept across remove\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	obs := waitState(t, d, spec, runtime.StateRunning)
	if obs.Hash != spec.Hash() {
		t.Errorf("observed hash %q, want %q", obs.Hash, spec.Hash())
	}
	if obs.Since.IsZero() {
		t.Error("running with no Since")
	}
	if got := get(t, spec.Port, "/index.html"); got != "kept across remove\n" {
		t.Fatalf("GET = %q", got)
	}
	for _, name := range []string{composeFileName, envFileName} {
		fi, err := os.Stat(filepath.Join(spec.ProjectDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}

	if err := d.Remove(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spec.ProjectDir); !os.IsNotExist(err) {
		t.Errorf("project directory still there after Remove: %v", err)
	}
	if cs, err := d.containers(ctx, ProjectName(spec)); err != nil || len(cs) != 0 {
		t.Errorf("after Remove: %d containers, %v", len(cs), err)
	}
	if b, err := os.ReadFile(filepath.Join(www, "index.html")); err != nil || string(b) != "kept across remove\n" {
		t.Fatalf("DATA_DIR after Remove: %q, %v", b, err)
	}
	if obs, err := d.Observe(ctx, spec); err != nil || obs.State != runtime.StateStopped {
		t.Errorf("Observe after Remove = %+v, %v; want stopped", obs, err)
	}
	if err := d.Remove(ctx, spec); err != nil {
		t.Errorf("second Remove: %v", err)
	}

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got := get(t, spec.Port, "/index.html"); got != "kept across remove\n" {
		t.Fatalf("GET after restore = %q", got)
	}
}

// TestVersionEnvGeneration: a new Version swaps the image tag, a new Env
// reaches the container, a new Generation alone gives a new container, and
// the same spec again changes nothing.
func TestVersionEnvGeneration(t *testing.T) {
	needDocker(t)
	t.Parallel()
	d := New(Options{})
	spec := newSpec(t, d, 990002, "versions", httpdCompose)
	spec.Env = []string{"GREETING=hello world", "PORT=1"} // PORT is the driver's
	ctx := ctxT(t)

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c1 := projectContainer(t, d, spec)
	if c1.Config.Image != testImage1 {
		t.Errorf("image %q, want %q", c1.Config.Image, testImage1)
	}
	env := execEnv(t, c1.ID)
	if !strings.Contains(env, "GREETING=hello world\n") || !strings.Contains(env, "PORT="+strconv.Itoa(spec.Port)+"\n") {
		t.Errorf("container env lacks GREETING or the driver's PORT:\n%s", env)
	}

	spec.Version = "2"
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c2 := projectContainer(t, d, spec)
	if c2.Config.Image != testImage2 || c2.ID == c1.ID {
		t.Errorf("after set-version: image %q (want %q), same container %v", c2.Config.Image, testImage2, c2.ID == c1.ID)
	}

	spec.Env = []string{"GREETING=it's changed"}
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c3 := projectContainer(t, d, spec)
	if env := execEnv(t, c3.ID); !strings.Contains(env, "GREETING=it's changed\n") {
		t.Errorf("new env did not reach the container:\n%s", env)
	}

	// The same spec again: nothing to do.
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if c := projectContainer(t, d, spec); c.ID != c3.ID || !c.State.StartedAt.Equal(c3.State.StartedAt) {
		t.Errorf("Start with the same spec restarted the container")
	}

	spec.Generation++
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	c4 := projectContainer(t, d, spec)
	if !c4.State.StartedAt.After(c3.State.StartedAt) {
		t.Errorf("new Generation: StartedAt %v, not after %v", c4.State.StartedAt, c3.State.StartedAt)
	}
	obs := waitState(t, d, spec, runtime.StateRunning)
	if obs.Hash != spec.Hash() {
		t.Errorf("observed hash %q, want %q", obs.Hash, spec.Hash())
	}
}

// TestStopKillPause: stop, kill, pause and resume, each seen by Observe.
func TestStopKillPause(t *testing.T) {
	needDocker(t)
	t.Parallel()
	d := New(Options{})
	spec := newSpec(t, d, 990003, "lifecycle", httpdCompose)
	if err := os.MkdirAll(filepath.Join(spec.DataDir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.DataDir, "www", "index.html"), []byte("up"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, spec, runtime.StateRunning)

	if err := d.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	obs := waitState(t, d, spec, runtime.StateStopped)
	if obs.Since.IsZero() {
		t.Error("stopped with no Since")
	}
	// 143 is SIGTERM (a graceful stop), 137 would be the SIGKILL after
	// the timeout.
	if obs.LastExit != "exit status 143" {
		t.Errorf("LastExit after stop = %q, want exit status 143", obs.LastExit)
	}
	if err := d.Stop(ctx, spec); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, spec, runtime.StateRunning)
	if err := d.Kill(ctx, spec); err != nil {
		t.Fatal(err)
	}
	obs = waitState(t, d, spec, runtime.StateStopped)
	if obs.LastExit != "exit status 137" {
		t.Errorf("LastExit after kill = %q, want exit status 137", obs.LastExit)
	}

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, spec, runtime.StateRunning)
	if err := d.Pause(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, spec, runtime.StatePaused)
	if err := d.Resume(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, spec, runtime.StateRunning)
	if got := get(t, spec.Port, "/index.html"); got != "up" {
		t.Errorf("GET after resume = %q", got)
	}
}

// TestLogs: stdout and stderr lines arrive apart, an overlong line is cut,
// followers end with Stop, and a Start of the same container reads only
// what is new.
func TestLogs(t *testing.T) {
	needDocker(t)
	t.Parallel()
	var rec logRecorder
	d := New(Options{Logs: rec.add})
	spec := newSpec(t, d, 990004, "talker", logsCompose)
	ctx := ctxT(t)

	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	is := func(stream, text string) func(runtime.LogLine) bool {
		return func(l runtime.LogLine) bool { return l.Stream == stream && l.Text == text }
	}
	waitFor(t, time.Minute, "the container's lines", func() (bool, string) {
		n := len(rec.find(is("stdout", "out-line"))) + len(rec.find(is("stderr", "err-line"))) + len(rec.find(is("stdout", "after-long")))
		return n == 3, strconv.Itoa(n) + " of 3"
	})
	long := rec.find(func(l runtime.LogLine) bool { return strings.HasPrefix(l.Text, "xxx") })
	if len(long) != 1 || len(long[0].Text) != runtime.MaxLogLine {
		t.Errorf("long line: %d lines, want 1 of %d bytes", len(long), runtime.MaxLogLine)
	}
	for _, l := range rec.find(func(runtime.LogLine) bool { return true }) {
		if l.ServiceID != spec.ID || l.Service != spec.Name || l.Time.IsZero() {
			t.Errorf("line %+v lacks its service or time", l)
		}
	}

	if err := d.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	u := d.unit(spec)
	u.mu.Lock()
	nf := len(u.followers)
	u.mu.Unlock()
	if nf != 0 {
		t.Errorf("%d log followers left after Stop", nf)
	}

	// Observe follows no stopped project.
	if _, err := d.Observe(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the second run's lines", func() (bool, string) {
		n := len(rec.find(is("stdout", "after-long")))
		return n == 2, strconv.Itoa(n) + " of 2"
	})
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	if n := len(rec.find(is("stderr", "err-line"))); n != 2 {
		t.Errorf("err-line read %d times over two runs, want 2", n)
	}

	// Close ends the followers of a running project, and waits for them.
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return: a log follower hangs")
	}
	u.mu.Lock()
	nf = len(u.followers)
	u.mu.Unlock()
	if nf != 0 {
		t.Errorf("%d log followers left after Close", nf)
	}
}

// TestCrashLoop: a container that keeps exiting non-zero is crash-looping,
// whether Docker restarts it (restart: always) or it stays exited.
func TestCrashLoop(t *testing.T) {
	needDocker(t)
	t.Parallel()
	d := New(Options{})
	spec := newSpec(t, d, 990007, "crasher", `version: "2.4"
services:
  again:
    image: rampart-test/busybox:${VERSION}
    restart: always
    command: ["sh", "-c", "exit 3"]
  once:
    image: rampart-test/busybox:${VERSION}
    command: ["sh", "-c", "exit 4"]
`)
	ctx := ctxT(t)
	if err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var obs runtime.Observed
	waitFor(t, time.Minute, "crash loop with restarts", func() (bool, string) {
		obs, _ = d.Observe(ctx, spec)
		return obs.State == runtime.StateCrashLoop && obs.Restarts > 0, string(obs.State) + " " + strconv.Itoa(obs.Restarts)
	})
	if obs.LastExit != "exit status 3" && obs.LastExit != "exit status 4" {
		t.Errorf("LastExit = %q", obs.LastExit)
	}
	if err := d.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, spec, runtime.StateStopped)
}

// TestBrokenComposeFile: a compose file compose refuses makes the service
// failed, with compose's words and what to do, and Stop and Remove still
// work.
func TestBrokenComposeFile(t *testing.T) {
	needDocker(t)
	t.Parallel()
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	d := New(Options{Now: func() time.Time { return clock }})
	spec := newSpec(t, d, 990005, "broken", "services: [oops\n")
	ctx := ctxT(t)

	err := d.Start(ctx, spec)
	if err == nil {
		t.Fatal("Start of a broken compose file succeeded")
	}
	t.Logf("broken compose file: %v", err)
	if !strings.Contains(err.Error(), "fix it") || !strings.Contains(err.Error(), "expected ','") {
		t.Errorf("Start error does not say what to do or quote compose: %v", err)
	}
	obs, oerr := d.Observe(ctx, spec)
	if oerr != nil || obs.State != runtime.StateFailed || obs.Message != err.Error() || !obs.Since.Equal(clock) {
		t.Errorf("Observe = %+v, %v; want failed with the Start error", obs, oerr)
	}
	if err := d.Stop(ctx, spec); err != nil {
		t.Errorf("Stop of a broken project: %v", err)
	}
	if obs, _ := d.Observe(ctx, spec); obs.State != runtime.StateStopped {
		t.Errorf("after Stop: %s, want stopped", obs.State)
	}

	// A missing image: compose tries the registry, which is out of reach.
	spec.ComposeFile = strings.Replace(httpdCompose, "${VERSION}", "missing", 1)
	err = d.Start(ctx, spec)
	t.Logf("missing image: %v", err)
	if err == nil || !strings.Contains(err.Error(), "image") {
		t.Errorf("Start with a missing image: %v", err)
	}
	if obs, _ := d.Observe(ctx, spec); obs.State != runtime.StateFailed {
		t.Errorf("after a missing image: %s, want failed", obs.State)
	}

	// Env values the env file cannot hold are refused before compose runs.
	spec.ComposeFile = httpdCompose
	spec.Env = []string{"KEY=two\nlines"}
	if err := d.Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "newline") {
		t.Errorf("Start with a newline in a value: %v", err)
	}
}

// TestDockerUnreachable: with no daemon at DOCKER_HOST, Start fails and
// says to start Docker. It runs compose against a socket nobody serves, not
// against the real daemon, so it does not run in parallel (it sets env).
func TestDockerUnreachable(t *testing.T) {
	needDocker(t)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	d := New(Options{})
	dir := t.TempDir()
	spec := runtime.Spec{ID: 990006, Name: "nodocker", Kind: runtime.KindCompose, Version: "1",
		DataDir: dir, Port: 1, ComposeFile: httpdCompose, ProjectDir: filepath.Join(dir, "p")}
	ctx := ctxT(t)
	err := d.Start(ctx, spec)
	t.Logf("no Docker: %v", err)
	if err == nil || !strings.Contains(err.Error(), "Docker is not running") {
		t.Fatalf("Start without Docker: %v", err)
	}
	if obs, _ := d.Observe(ctx, spec); obs.State != runtime.StateFailed || !strings.Contains(obs.Message, "Docker is not running") {
		t.Errorf("Observe without Docker = %+v", obs)
	}
}
