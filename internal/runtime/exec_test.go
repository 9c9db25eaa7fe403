package runtime

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var ctx = context.Background()

func TestExecCrashLoopRestartsWithBackoff(t *testing.T) {
	e, rec := newTestExec(t)
	spec := scriptSpec(t, 1, `echo start >> "$DATA_DIR/starts"; echo boom >&2; exit 3`)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three restarts", func() bool { return observe(t, e, spec).Restarts >= 3 })

	var delays []time.Duration
	for _, o := range rec.history(spec.ID) {
		if o.State != StateCrashLoop {
			continue
		}
		if o.LastExit != "exit status 3" {
			t.Errorf("LastExit = %q, want exit status 3", o.LastExit)
		}
		if !strings.Contains(o.Message, "boom") {
			t.Errorf("Message = %q, want the stderr tail", o.Message)
		}
		delays = append(delays, o.NextStart.Sub(o.Since))
	}
	if len(delays) < 2 {
		t.Fatalf("crash loop seen %d times in OnChange, want several", len(delays))
	}
	for i, d := range delays {
		if d < testBackoff.Initial || d > testBackoff.Max {
			t.Errorf("delay %d = %v, want within [%v, %v]", i, d, testBackoff.Initial, testBackoff.Max)
		}
		if i > 0 && d < delays[i-1] {
			t.Errorf("delays %v do not grow", delays)
		}
	}
	if delays[len(delays)-1] == testBackoff.Initial {
		t.Errorf("delays %v never doubled", delays)
	}

	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	o := observe(t, e, spec)
	if o.State != StateStopped || !o.NextStart.IsZero() {
		t.Fatalf("after Stop: %+v", o)
	}
	n := len(fileLines(filepath.Join(spec.DataDir, "starts")))
	time.Sleep(4 * testBackoff.Max) // a restart that escaped Stop would show here
	if m := len(fileLines(filepath.Join(spec.DataDir, "starts"))); m != n {
		t.Fatalf("started %d more times after Stop", m-n)
	}
}

func TestExecBackoffResetsAfterStayingUp(t *testing.T) {
	rec := newRecorder()
	b := Backoff{Initial: 20 * time.Millisecond, Max: time.Second, Reset: 50 * time.Millisecond}
	e := NewExec(ExecOptions{Backoff: b, OnChange: rec.change})
	spec := scriptSpec(t, 2, `sleep 0.2; exit 1`)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three restarts", func() bool { return observe(t, e, spec).Restarts >= 3 })
	if err := e.Remove(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for _, o := range rec.history(spec.ID) {
		if o.State == StateCrashLoop && o.NextStart.Sub(o.Since) != b.Initial {
			t.Errorf("a process that stayed up longer than Reset waits %v, want %v", o.NextStart.Sub(o.Since), b.Initial)
		}
	}
}

const trapTerm = `trap 'echo bye > "$DATA_DIR/term"; exit 0' TERM
echo ready > "$DATA_DIR/ready"
while :; do sleep 0.05; done`

const ignoreTerm = `trap '' TERM
echo ready > "$DATA_DIR/ready"
while :; do sleep 0.05; done`

func waitReady(t *testing.T, spec Spec) {
	t.Helper()
	waitFor(t, "the service to be ready", func() bool {
		return strings.TrimSpace(readFile(filepath.Join(spec.DataDir, "ready"))) == "ready"
	})
}

func TestExecStopIsGraceful(t *testing.T) {
	e, rec := newTestExec(t)
	spec := scriptSpec(t, 3, trapTerm)
	spec.StopTimeout = time.Hour // if SIGTERM were not enough, the test would hang
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, spec)
	pid := observe(t, e, spec).PID
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(readFile(filepath.Join(spec.DataDir, "term"))); got != "bye" {
		t.Fatalf("the TERM trap did not run (term file %q)", got)
	}
	o := observe(t, e, spec)
	if o.State != StateStopped || o.LastExit != "exit status 0" || o.PID != 0 {
		t.Fatalf("after Stop: %+v", o)
	}
	if alive(pid) {
		t.Fatalf("pid %d still alive", pid)
	}
	var states []State
	for _, o := range rec.history(spec.ID) {
		states = append(states, o.State)
	}
	if want := []State{StateRunning, StateStopping, StateStopped}; !slices.Equal(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
}

func TestExecStopKillsWhatIgnoresTerm(t *testing.T) {
	e, _ := newTestExec(t)
	spec := scriptSpec(t, 4, ignoreTerm)
	spec.StopTimeout = 200 * time.Millisecond
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, spec)
	pid := observe(t, e, spec).PID
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if o := observe(t, e, spec); o.State != StateStopped || o.LastExit != "signal: killed" {
		t.Fatalf("after Stop: %+v", o)
	}
	if alive(pid) {
		t.Fatalf("pid %d still alive", pid)
	}
}

func TestExecKillIsImmediate(t *testing.T) {
	e, _ := newTestExec(t)
	spec := scriptSpec(t, 5, ignoreTerm)
	spec.StopTimeout = time.Hour
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitReady(t, spec)
	pid := observe(t, e, spec).PID
	if err := e.Kill(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if o := observe(t, e, spec); o.State != StateStopped || o.LastExit != "signal: killed" {
		t.Fatalf("after Kill: %+v", o)
	}
	if alive(pid) {
		t.Fatalf("pid %d still alive", pid)
	}
}

func TestExecStopReachesChildren(t *testing.T) {
	e, _ := newTestExec(t)
	spec := scriptSpec(t, 6, `sleep 60 &
echo $! > "$DATA_DIR/child"
wait`)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var child int
	waitFor(t, "the child's pid", func() bool {
		child, _ = strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(spec.DataDir, "child"))))
		return child > 0
	})
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// The child is not ours to reap: it may linger as a zombie of init
	// for a moment.
	waitFor(t, "the child to die", func() bool { return !alive(child) || isZombie(child) })
}

func isZombie(pid int) bool {
	s := readFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(s, ')')
	return i > 0 && strings.HasPrefix(s[i+1:], " Z")
}

func TestExecNewHashRestarts(t *testing.T) {
	e, _ := newTestExec(t)
	spec := scriptSpec(t, 7, trapTerm)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	pid := observe(t, e, spec).PID
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if got := observe(t, e, spec).PID; got != pid {
		t.Fatalf("Start with the same hash restarted: pid %d → %d", pid, got)
	}
	waitReady(t, spec)
	spec.Generation++
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	o := observe(t, e, spec)
	if o.PID == pid || o.State != StateRunning || o.Hash != spec.Hash() {
		t.Fatalf("after a new generation: %+v (old pid %d)", o, pid)
	}
	if alive(pid) {
		t.Fatalf("old pid %d still alive", pid)
	}
	if got := strings.TrimSpace(readFile(filepath.Join(spec.DataDir, "term"))); got != "bye" {
		t.Fatal("the old process was not stopped gracefully")
	}
}

func TestExecEnvironment(t *testing.T) {
	t.Setenv("RAMPART_TEST_SECRET", "hunter2")
	e, _ := newTestExec(t)
	dir := t.TempDir()
	body := `env > "$DATA_DIR/env.tmp" && mv "$DATA_DIR/env.tmp" "$DATA_DIR/env"
for a in "$@"; do echo "$a"; done > "$DATA_DIR/args.tmp" && mv "$DATA_DIR/args.tmp" "$DATA_DIR/args"
exec sleep 60`
	if err := os.WriteFile(filepath.Join(dir, "app-1.2.3"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		ID: 8, Name: "env", Kind: KindExec,
		Command: filepath.Join(dir, "app-${VERSION}"),
		Args:    []string{"--version=${VERSION}", "$HOME", "${FOO}", "a b"},
		Env:     []string{"FOO=bar baz", "PORT=1", "VERSION=0"},
		Version: "1.2.3",
		DataDir: t.TempDir(),
		Port:    8123,
	}
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the args file", func() bool { return readFile(filepath.Join(spec.DataDir, "args")) != "" })

	env := fileLines(filepath.Join(spec.DataDir, "env"))
	for _, want := range []string{
		"FOO=bar baz", "PORT=8123", "DATA_DIR=" + spec.DataDir, "VERSION=1.2.3", "PATH=" + defaultPath,
	} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %q: %q", want, env)
		}
	}
	for _, kv := range env {
		if strings.Contains(kv, "hunter2") || strings.HasPrefix(kv, "HOME=") {
			t.Errorf("rampart's environment leaked: %q", kv)
		}
		if kv == "PORT=1" || kv == "VERSION=0" {
			t.Errorf("Env's %q won over the driver's", kv)
		}
	}
	args := fileLines(filepath.Join(spec.DataDir, "args"))
	if want := []string{"--version=1.2.3", "$HOME", "${FOO}", "a b"}; !slices.Equal(args, want) {
		t.Errorf("args %q, want %q", args, want)
	}
}

func TestExecCommandInServicePATH(t *testing.T) {
	e, _ := newTestExec(t)
	p := script(t, `echo hi > "$DATA_DIR/ran"; exec sleep 60`)
	spec := Spec{
		ID: 9, Name: "path", Kind: KindExec,
		Command: filepath.Base(p),
		Env:     []string{"PATH=" + filepath.Dir(p) + ":/bin:/usr/bin"},
		DataDir: t.TempDir(),
	}
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to run", func() bool { return readFile(filepath.Join(spec.DataDir, "ran")) == "hi\n" })

	// Not in the default PATH: a name found only in rampart's PATH
	// must not be.
	t.Setenv("PATH", filepath.Dir(p)+":"+os.Getenv("PATH"))
	spec2 := Spec{ID: 10, Name: "nopath", Kind: KindExec, Command: filepath.Base(p), DataDir: t.TempDir()}
	err := e.Start(ctx, spec2)
	if err == nil || !strings.Contains(err.Error(), "not in the service's PATH") {
		t.Fatalf("Start = %v, want a PATH error", err)
	}
}

func TestExecOutputCaptured(t *testing.T) {
	e, rec := newTestExec(t)
	spec := scriptSpec(t, 11, `echo out1
echo err1 >&2
head -c 10000 /dev/zero | tr '\0' a
echo
echo out2
printf 'no newline'
sleep 0.1
printf ' at exit'`)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last line", func() bool { return len(rec.logs(spec.ID, "stdout")) >= 4 })
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range rec.logs(spec.ID, "stdout")[:4] {
		if l.Service != spec.Name || l.Time.IsZero() {
			t.Errorf("line %+v lacks its service or time", l)
		}
		out = append(out, l.Text)
	}
	want := []string{"out1", strings.Repeat("a", MaxLogLine), "out2", "no newline at exit"}
	if !slices.Equal(out, want) {
		t.Errorf("stdout lines %.60q, want %.60q", out, want)
	}
	if errs := rec.logs(spec.ID, "stderr"); len(errs) == 0 || errs[0].Text != "err1" {
		t.Errorf("stderr lines %+v, want err1", errs)
	}
}

func TestCaptureCutsLongLines(t *testing.T) {
	long := strings.Repeat("x", MaxLogLine)
	euro := strings.Repeat("x", MaxLogLine-2) + "€" // € is 3 bytes: cut inside it
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"lines", "a\nb\r\n\nc", []string{"a", "b", "", "c"}},
		{"exactly max", long + "\nnext\n", []string{long, "next"}},
		{"max plus one", long + "y\nnext\n", []string{long, "next"}},
		{"much longer", long + strings.Repeat("z", 3*MaxLogLine) + "\nnext", []string{long, "next"}},
		{"long at EOF", long + "zzz", []string{long}},
		{"rune cut", euro + "tail\nnext\n", []string{strings.Repeat("x", MaxLogLine-2), "next"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			u := &execUnit{e: &Exec{logs: rec.log, now: time.Now}, id: 1}
			u.capture(bytes.NewReader([]byte(tc.in)), "svc", "stdout", nil)
			var got []string
			for _, l := range rec.logs(1, "stdout") {
				got = append(got, l.Text)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %.40q, want %.40q", got, tc.want)
			}
		})
	}
}

func TestExecPauseStopsProgress(t *testing.T) {
	e, rec := newTestExec(t)
	spec := scriptSpec(t, 12, `i=0
while :; do i=$((i+1)); echo $i >> "$DATA_DIR/count"; sleep 0.02; done`)
	count := filepath.Join(spec.DataDir, "count")
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "progress", func() bool { return len(fileLines(count)) >= 3 })
	if err := e.Pause(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if o := observe(t, e, spec); o.State != StatePaused || o.PID == 0 {
		t.Fatalf("after Pause: %+v", o)
	}
	n := len(fileLines(count))
	time.Sleep(300 * time.Millisecond)
	if m := len(fileLines(count)); m != n {
		t.Fatalf("the counter went from %d to %d while paused", n, m)
	}
	if err := e.Resume(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if o := observe(t, e, spec); o.State != StateRunning {
		t.Fatalf("after Resume: %+v", o)
	}
	waitFor(t, "progress after Resume", func() bool { return len(fileLines(count)) > n })

	// A paused service still stops gracefully.
	if err := e.Pause(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if o := observe(t, e, spec); o.State != StateStopped || o.LastExit != "signal: terminated" {
		t.Fatalf("stopping while paused: %+v", o)
	}
	if o := rec.history(spec.ID); o[len(o)-1].State != StateStopped {
		t.Fatalf("last report %+v", o[len(o)-1])
	}
}

func TestExecFailedStartIsRetried(t *testing.T) {
	e, rec := newTestExec(t)
	spec := scriptSpec(t, 13, "")
	spec.Command = filepath.Join(t.TempDir(), "later.sh")
	err := e.Start(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Start = %v, want a missing-command error", err)
	}
	o := observe(t, e, spec)
	if o.State != StateFailed || o.Message != err.Error() || o.NextStart.IsZero() {
		t.Fatalf("after a failed start: %+v", o)
	}
	// Applying again while it fails still reports why.
	if err := e.Start(ctx, spec); err == nil {
		t.Fatal("second Start of a failing service returned nil")
	}
	if err := os.WriteFile(spec.Command, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o = waitState(t, e, spec, StateRunning)
	if o.Message != "" || o.PID == 0 {
		t.Fatalf("after the fix: %+v", o)
	}
	waitFor(t, "OnChange to be told", func() bool {
		h := rec.history(spec.ID)
		return len(h) >= 2 && h[0].State == StateFailed && h[len(h)-1].State == StateRunning
	})
}

func TestExecStartErrorsSayWhatToFix(t *testing.T) {
	e, _ := newTestExec(t)
	notExec := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noShebang := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(noShebang, []byte("\x00\x01binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	ok := script(t, "exec sleep 60")
	for i, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Command: ok, Dir: "/nonexistent/dir"}, "working directory /nonexistent/dir does not exist"},
		{Spec{Command: notExec}, "chmod +x"},
		{Spec{Command: noShebang}, "#! line"},
		{Spec{Command: t.TempDir()}, "is a directory"},
		{Spec{}, "no command"},
		{Spec{Command: "no-such-program-here"}, "not in the service's PATH"},
	} {
		tc.spec.ID = int64(100 + i)
		tc.spec.Kind = KindExec
		tc.spec.DataDir = t.TempDir()
		err := e.Start(ctx, tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%d: Start = %v, want %q", i, err, tc.want)
		}
		if o := observe(t, e, tc.spec); o.State != StateFailed {
			t.Errorf("%d: state %s, want failed", i, o.State)
		}
	}
}

func TestExecUser(t *testing.T) {
	if os.Geteuid() != 0 {
		spec := Spec{ID: 14, Kind: KindExec, Command: script(t, "exit 0"), DataDir: t.TempDir(), User: "nobody"}
		e, _ := newTestExec(t)
		if err := e.Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "not running as root") {
			t.Fatalf("Start as non-root = %v", err)
		}
		return
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	// nobody must reach the script and the data directory.
	base := t.TempDir()
	if err := os.Chmod(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := filepath.Join(base, "app")
	if err := os.WriteFile(cmd, []byte("#!/bin/sh\nid -u > \"$DATA_DIR/uid\"; id -G > \"$DATA_DIR/groups\"; exec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	e, _ := newTestExec(t)
	for i, who := range []string{"nobody", nobody.Uid} {
		spec := Spec{ID: int64(15 + i), Kind: KindExec, Command: cmd, DataDir: data, User: who}
		os.Remove(filepath.Join(data, "uid"))
		if err := e.Start(ctx, spec); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the uid file", func() bool { return strings.TrimSpace(readFile(filepath.Join(data, "uid"))) != "" })
		if got := strings.TrimSpace(readFile(filepath.Join(data, "uid"))); got != nobody.Uid {
			t.Fatalf("runs as uid %s, want %s", got, nobody.Uid)
		}
		if strings.Contains(" "+readFile(filepath.Join(data, "groups"))+" ", " 0 ") {
			t.Fatalf("kept root's group: %s", readFile(filepath.Join(data, "groups")))
		}
		if err := e.Stop(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(data, "sub"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != nobody.Uid {
		t.Fatalf("data directory's contents owned by %d, want %s", uid, nobody.Uid)
	}
	bad := Spec{ID: 17, Kind: KindExec, Command: cmd, DataDir: data, User: "no-such-user-here"}
	if err := e.Start(ctx, bad); err == nil || !strings.Contains(err.Error(), "create it") {
		t.Fatalf("Start with an unknown user = %v", err)
	}
}

// A process that leaves the group (setsid) and keeps the output pipes
// open must not keep the crash from being seen.
func TestExecEscapedChildDoesNotHangWatch(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid")
	}
	e, _ := newTestExec(t)
	spec := scriptSpec(t, 20, `setsid sh -c 'echo $$ > "$DATA_DIR/escaped"; exec sleep 30' &
while [ ! -s "$DATA_DIR/escaped" ]; do sleep 0.01; done
exit 2`)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pid, _ := strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(spec.DataDir, "escaped")))); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	o := waitState(t, e, spec, StateCrashLoop)
	if o.LastExit != "exit status 2" {
		t.Fatalf("crash: %+v", o)
	}
	if err := e.Stop(ctx, spec); err != nil {
		t.Fatal(err)
	}
}

// helperEnv names the data directory of TestHelperRampart, which plays a
// rampart that gets killed.
const helperEnv = "RAMPART_RUNTIME_TEST_HELPER"

func TestHelperRampart(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("run by TestExecServiceDiesWithRampart")
	}
	e := NewExec(ExecOptions{})
	spec := Spec{ID: 1, Kind: KindExec, Command: filepath.Join(dir, "app"), DataDir: dir}
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Minute)
}

func TestExecServiceDiesWithRampart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/sh\necho $$ > \"$DATA_DIR/pid\"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	rampart := exec.Command(os.Args[0], "-test.run=^TestHelperRampart$")
	rampart.Env = append(os.Environ(), helperEnv+"="+dir)
	if err := rampart.Start(); err != nil {
		t.Fatal(err)
	}
	defer rampart.Wait()
	defer rampart.Process.Kill()
	var pid int
	waitFor(t, "the service to start", func() bool {
		pid, _ = strconv.Atoi(strings.TrimSpace(readFile(filepath.Join(dir, "pid"))))
		return pid > 0
	})
	if err := rampart.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service to die with rampart", func() bool { return !alive(pid) || isZombie(pid) })
}

func TestExecPauseWhileCrashLooping(t *testing.T) {
	e, _ := newTestExec(t)
	spec := scriptSpec(t, 21, `echo x >> "$DATA_DIR/starts"; exit 1`)
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitState(t, e, spec, StateCrashLoop)
	if err := e.Pause(ctx, spec); err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(spec.DataDir, "starts")
	n := len(fileLines(starts))
	time.Sleep(4 * testBackoff.Max)
	if m := len(fileLines(starts)); m != n || observe(t, e, spec).State != StatePaused {
		t.Fatalf("a paused crash loop went on: %d → %d starts, %+v", n, m, observe(t, e, spec))
	}
	if err := e.Resume(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a start after Resume", func() bool { return len(fileLines(starts)) > n })
}
