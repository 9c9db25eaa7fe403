package compose

// Tests of what needs no Docker: names, the env file, the state summary and
// the log reader.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/runtime"
)

func TestProjectName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	for _, tc := range []struct {
		id   int64
		name string
		want string
	}{
		{7, "blog", "rampart-7-blog"},
		{7, "My Blog!", "rampart-7-my-blog"},
		{12, "--", "rampart-12"},
		{3, "Ünïcode_ok", "rampart-3-n-code_ok"},
		{4, strings.Repeat("a", 100), "rampart-4-" + strings.Repeat("a", 40)},
	} {
		got := ProjectName(runtime.Spec{ID: tc.id, Name: tc.name})
		if got != tc.want {
			t.Errorf("ProjectName(%d, %q) = %q, want %q", tc.id, tc.name, got, tc.want)
		}
		if !valid.MatchString(got) {
			t.Errorf("ProjectName(%d, %q) = %q: not a valid compose project name", tc.id, tc.name, got)
		}
	}
	// Keyed by ID: a new service reusing a name gets another project.
	if ProjectName(runtime.Spec{ID: 1, Name: "x"}) == ProjectName(runtime.Spec{ID: 2, Name: "x"}) {
		t.Error("two IDs share a project name")
	}
}

func TestEnvFile(t *testing.T) {
	spec := runtime.Spec{
		Version: "1.2", DataDir: "/srv/data dir", Port: 8080,
		Env: []string{"A=plain-value", "B=has space", "C=it's", `D=back\slash "q"`, "E=", "PORT=1", "F=a$b"},
	}
	b, err := envFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Written by rampart for this service; changes here are overwritten.
A=plain-value
B='has space'
C="it's"
D="back\\slash \"q\""
E=
F='a$b'
VERSION=1.2
DATA_DIR='/srv/data dir'
PORT=8080
`
	if string(b) != want {
		t.Errorf("env file:\n%s\nwant:\n%s", b, want)
	}

	for _, bad := range []struct{ env, says string }{
		{"K=line\nbreak", "newline"},
		{"K=cr\rhere", "newline"},
		{"K=${OTHER}", "expands"},
		{`K=$'\`, "no compose env file quoting"},
		{"1K=v", "not valid"},
		{"K-1=v", "not valid"},
		{"NOEQUALS", "KEY=VALUE"},
	} {
		_, err := envFile(runtime.Spec{Env: []string{bad.env}})
		if err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("envFile(%q) error = %v, want one saying %q", bad.env, err, bad.says)
		}
	}
}

// TestEnvFileReadByCompose checks the quoting against docker-compose
// itself: `config` prints the values it read back.
func TestEnvFileReadByCompose(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		needDocker(t)
		t.Skip("no docker-compose")
	}
	t.Parallel()
	dir := t.TempDir()
	values := []string{"plain", "has space", "it's", `back\slash "q"`, "a$b", "#hash", " lead", "x # y"}
	var env []string
	var compose strings.Builder
	compose.WriteString("version: \"2.4\"\nservices:\n  s:\n    image: busybox\n    env_file: .env\n")
	for i, v := range values {
		env = append(env, "V"+string(rune('A'+i))+"="+v)
	}
	spec := runtime.Spec{ID: 1, Name: "quote", Env: env, ComposeFile: compose.String(), ProjectDir: dir, DataDir: dir, Version: "1"}
	if err := writeProject(spec); err != nil {
		t.Fatal(err)
	}
	d := New(Options{})
	out, err := d.run(ctxT(t), time.Minute, d.compose(spec, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		// config prints environment values YAML-quoted when needed and
		// with $ doubled: read each back by its key.
		key := "V" + string(rune('A'+i)) + ":"
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), key) {
				line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), key))
			}
		}
		got := unyaml(line)
		if got != strings.ReplaceAll(v, "$", "$$") {
			t.Errorf("%s read back as %q (line %q), want %q", key, got, line, v)
		}
	}
}

// unyaml undoes the quoting of a YAML scalar as PyYAML writes it.
func unyaml(s string) string {
	switch {
	case len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'':
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		return strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(s[1 : len(s)-1])
	}
	return s
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(p, []byte("new")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "new" || fi.Mode().Perm() != 0o600 {
		t.Errorf("after write: %q, mode %v", b, fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("a\n\nb\nc\n\n", 2); got != "b; c" {
		t.Errorf("lastLines = %q", got)
	}
	tb := &tailBuffer{max: 4}
	tb.Write([]byte("abc"))
	tb.Write([]byte("def"))
	if string(tb.b) != "cdef" {
		t.Errorf("tailBuffer kept %q", tb.b)
	}
}

func TestAdvice(t *testing.T) {
	for _, tc := range []struct {
		err  error
		says string
	}{
		{&cmdError{Cmd: "docker-compose up", Err: errors.New("exit status 1"), Stderr: "Couldn't connect to Docker daemon at http+docker://localhost - is it running?"}, "Docker is not running"},
		{&cmdError{Cmd: "docker-compose up", Err: errors.New("exit status 1"), Stderr: "Pulling web (x:1)...; Get \"https://registry/v2/\": dial tcp: lookup registry: no such host"}, "load the image"},
		{&cmdError{Cmd: "docker-compose up", Err: errors.New("exit status 1"), Stderr: "pull access denied for x, repository does not exist"}, "image is missing"},
		{&cmdError{Cmd: "docker-compose up", Err: errors.New("exit status 1"), Stderr: "Bind for 127.0.0.1:80 failed: port is already allocated"}, "port is taken"},
		{&cmdError{Cmd: "docker-compose up", Err: errors.New("exit status 1"), Stderr: "yaml.parser.ParserError: while parsing"}, "fix it"},
		{&cmdError{Cmd: "docker-compose", Err: exec.ErrNotFound}, "install it"},
		{errors.New("something else"), "something else"},
	} {
		if got := advice("starting x", tc.err); !strings.Contains(got, tc.says) {
			t.Errorf("advice(%v) = %q, want it to say %q", tc.err, got, tc.says)
		}
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(status string, exit, restarts int, started, finished time.Time) container {
		var c container
		c.State.Status, c.State.ExitCode, c.RestartCount = status, exit, restarts
		c.State.StartedAt, c.State.FinishedAt = started, finished
		return c
	}
	d := New(Options{Binary: "docker-compose"})
	u := &unit{}
	for _, tc := range []struct {
		name    string
		started bool
		cs      []container
		want    runtime.State
		exit    string
		since   time.Time
	}{
		{"none", true, nil, runtime.StateStopped, "", time.Time{}},
		{"running", true, []container{mk("running", 0, 1, t0, time.Time{}), mk("running", 0, 2, t0.Add(time.Minute), time.Time{})}, runtime.StateRunning, "", t0.Add(time.Minute)},
		{"one paused", true, []container{mk("running", 0, 0, t0, time.Time{}), mk("paused", 0, 0, t0, time.Time{})}, runtime.StatePaused, "", t0},
		{"restarting", true, []container{mk("restarting", 3, 5, t0, t0.Add(time.Second))}, runtime.StateCrashLoop, "exit status 3", t0.Add(time.Second)},
		{"crashed while wanted", true, []container{mk("running", 0, 0, t0, time.Time{}), mk("exited", 1, 0, t0, t0.Add(2*time.Second))}, runtime.StateCrashLoop, "exit status 1", t0.Add(2 * time.Second)},
		{"stopped", false, []container{mk("exited", 137, 0, t0, t0.Add(time.Hour))}, runtime.StateStopped, "exit status 137", t0.Add(time.Hour)},
		{"one-shot done", true, []container{mk("running", 0, 0, t0, time.Time{}), mk("exited", 0, 0, t0, t0.Add(time.Second))}, runtime.StateRunning, "exit status 0", t0},
	} {
		obs := d.summarize(u, projectState{Started: tc.started, Hash: "h"}, tc.cs)
		if obs.State != tc.want || obs.LastExit != tc.exit || !obs.Since.Equal(tc.since) || obs.Hash != "h" {
			t.Errorf("%s: got %+v, want %s, exit %q, since %v", tc.name, obs, tc.want, tc.exit, tc.since)
		}
	}
	if obs := d.summarize(u, projectState{}, []container{mk("running", 0, 2, t0, time.Time{}), mk("running", 0, 3, t0, time.Time{})}); obs.Restarts != 5 {
		t.Errorf("restarts = %d, want 5", obs.Restarts)
	}
}

// TestReadLines: timestamps parsed, long lines cut without splitting a
// character, the rest of them dropped, lines read already skipped.
func TestReadLines(t *testing.T) {
	var got []runtime.LogLine
	d := New(Options{Binary: "docker-compose", Logs: func(l runtime.LogLine) { got = append(got, l) }})
	u := &unit{id: 5, name: "svc", lastSeen: map[string]time.Time{}}
	long := strings.Repeat("é", runtime.MaxLogLine) // 2 bytes each
	in := "2026-01-01T00:00:01.000000001Z first\n" +
		"2026-01-01T00:00:02Z " + long + "\n" +
		"2026-01-01T00:00:03Z third\r\n" +
		"no stamp\n"
	d.readLines(u, "c1", "stdout", strings.NewReader(in))
	if len(got) != 4 {
		t.Fatalf("%d lines: %+v", len(got), got)
	}
	if got[0].Text != "first" || got[0].Time.Nanosecond() != 1 || got[0].Stream != "stdout" || got[0].ServiceID != 5 || got[0].Service != "svc" {
		t.Errorf("first line %+v", got[0])
	}
	if n := len(got[1].Text); n > runtime.MaxLogLine || n < runtime.MaxLogLine-1 || !strings.HasPrefix(long, got[1].Text) {
		t.Errorf("long line cut to %d bytes, or not at a character", n)
	}
	if got[2].Text != "third" || got[3].Text != "no stamp" {
		t.Errorf("after the long line: %q, %q", got[2].Text, got[3].Text)
	}
	// A second follower of the same container from an earlier time skips
	// what the first read.
	got = nil
	d.readLines(u, "c1", "stdout", strings.NewReader("2026-01-01T00:00:03Z third\n2026-01-01T00:00:04Z fourth\n"))
	if len(got) != 1 || got[0].Text != "fourth" {
		t.Errorf("re-read: %+v", got)
	}
}

func TestCommandName(t *testing.T) {
	spec := runtime.Spec{ID: 1, Name: "x", ProjectDir: "/p"}
	for _, bin := range []string{"docker-compose", "docker compose"} {
		d := New(Options{Binary: bin})
		if got := commandName(d.compose(spec, "up", "-d")); got != bin+" up" {
			t.Errorf("commandName = %q, want %q", got, bin+" up")
		}
	}
	if got := commandName([]string{"/usr/bin/docker", "ps", "-a"}); got != "docker ps" {
		t.Errorf("commandName = %q", got)
	}
}
