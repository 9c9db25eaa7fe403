package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testBackoff keeps crash loops quick; the tests never assert how long
// anything took.
var testBackoff = Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond}

// recorder collects what the driver or supervisor reports.
type recorder struct {
	mu    sync.Mutex
	obs   map[int64][]Observed
	lines []LogLine
}

func newRecorder() *recorder { return &recorder{obs: make(map[int64][]Observed)} }

func (r *recorder) change(id int64, o Observed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs[id] = append(r.obs[id], o)
}

func (r *recorder) log(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
}

func (r *recorder) history(id int64) []Observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Observed(nil), r.obs[id]...)
}

func (r *recorder) logs(id int64, stream string) []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []LogLine
	for _, l := range r.lines {
		if l.ServiceID == id && l.Stream == stream {
			out = append(out, l)
		}
	}
	return out
}

// newTestExec returns an exec driver whose services are stopped when the
// test ends.
func newTestExec(t *testing.T) (*Exec, *recorder) {
	t.Helper()
	rec := newRecorder()
	e := NewExec(ExecOptions{Logs: rec.log, Backoff: testBackoff, OnChange: rec.change})
	t.Cleanup(func() {
		e.mu.Lock()
		var specs []Spec
		for _, u := range e.units {
			u.mu.Lock()
			specs = append(specs, u.spec)
			u.mu.Unlock()
		}
		e.mu.Unlock()
		for _, s := range specs {
			s.StopTimeout = 100 * time.Millisecond
			if err := e.Remove(context.Background(), s); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return e, rec
}

// script writes an executable /bin/sh script to a directory of its own and
// returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "service.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// scriptSpec is an exec spec that runs body with a fresh data directory.
func scriptSpec(t *testing.T, id int64, body string) Spec {
	t.Helper()
	return Spec{
		ID:      id,
		Name:    "svc" + string(rune('a'+id%26)),
		Kind:    KindExec,
		Command: script(t, body),
		DataDir: t.TempDir(),
		Port:    8000 + int(id),
	}
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func observe(t *testing.T, d Driver, spec Spec) Observed {
	t.Helper()
	o, err := d.Observe(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func waitState(t *testing.T, d Driver, spec Spec, want State) Observed {
	t.Helper()
	var o Observed
	waitFor(t, "state "+string(want), func() bool {
		o = observe(t, d, spec)
		return o.State == want
	})
	return o
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func fileLines(path string) []string {
	s := strings.TrimSpace(readFile(path))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// alive says whether pid exists (our processes are reaped once they exit,
// so a pid that is gone is gone).
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
