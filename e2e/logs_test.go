package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tail is a `rampart logs` running in the background.
type tail struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan int // the exit code
}

func (n *node) startTail(args ...string) *tail {
	n.t.Helper()
	tl := &tail{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
	tl.cmd = exec.Command(bin, append([]string{"logs"}, args...)...)
	tl.cmd.Env = n.env()
	tl.cmd.Stdout, tl.cmd.Stderr = tl.stdout, tl.stderr
	if err := tl.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go func() {
		err := tl.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		tl.done <- code
	}()
	n.t.Cleanup(func() {
		tl.cmd.Process.Kill()
		select {
		case code := <-tl.done:
			tl.done <- code
		case <-time.After(10 * time.Second):
		}
	})
	return tl
}

// waitFor waits until the tail printed a line containing every one of
// subs, and returns it.
func (tl *tail) waitFor(t *testing.T, what string, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, l := range strings.Split(tl.stdout.String(), "\n") {
			found := true
			for _, s := range subs {
				found = found && strings.Contains(l, s)
			}
			if found {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rampart logs never printed %s; stdout:\n%s\nstderr:\n%s", what, tl.stdout.String(), tl.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exit waits for the tail to end and returns its exit code.
func (tl *tail) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-tl.done:
		tl.done <- code
		return code
	case <-time.After(15 * time.Second):
		t.Fatalf("rampart logs did not exit; stderr:\n%s", tl.stderr.String())
		return 0
	}
}

// TestLogsFollow is the troubleshooting flow: `rampart logs -f --service
// blog` shows a request made through the edge as it happens, and Ctrl+C
// ends it cleanly; when the server shuts down, the command says so.
func TestLogsFollow(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	blog := upstream(t, "blog")
	n.must("", "service", "create", "blog", "--upstream", blog.URL)
	eventually(t, "blog to be routed", func() bool {
		code, _ := n.get(t, "blog."+domain, "/warm-up")
		return code == 200
	})

	tl := n.startTail("-f", "--service", "blog", "-n", "5")
	// The backlog comes first: the routing checks above.
	tl.waitFor(t, "the backlog", "blog", "/warm-up", "200")
	// A request made now appears as it finishes.
	n.get(t, "blog."+domain, "/cart")
	line := tl.waitFor(t, "the new request", "/cart")
	for _, want := range []string{"blog", "GET", " 200 ", "127.0.0.1", "MISS"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	if _, err := time.Parse(time.RFC3339, strings.Fields(line)[0]); err != nil {
		t.Errorf("line %q does not start with the time: %v", line, err)
	}
	// A request refused by the rate limiter says so.
	n.must("", "ratelimit", "set", "blog", "--requests", "1", "--per", "minute")
	eventually(t, "the limiter to refuse", func() bool {
		code, _ := n.get(t, "blog."+domain, "/limited")
		return code == 429
	})
	tl.waitFor(t, "the refused request", "/limited", "429", "rate-limited")

	// Ctrl+C: exit 0, nothing on stderr.
	if err := tl.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := tl.exit(t); code != 0 || tl.stderr.String() != "" {
		t.Errorf("after Ctrl+C: exit %d, stderr %q", code, tl.stderr.String())
	}

	// -o json without -f: the recent entries, one object per line.
	out := n.must("", "logs", "--service", "blog", "-n", "3", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("-n 3 -o json printed %d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var e struct {
			Service string `json:"service"`
			Path    string `json:"path"`
			Status  int    `json:"status"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Service != "blog" || e.Status == 0 {
			t.Errorf("line %q: %+v %v", l, e, err)
		}
	}
	if r := n.rampart("", "logs", "--service", "nope"); r.code != 1 || !strings.Contains(r.stderr, `service "nope" not found`) {
		t.Errorf("unknown service: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := n.rampart("", "logs", "-n", "5000"); r.code != 2 || !strings.Contains(r.stderr, "-n 5000 is out of range: use 0 to 1000") {
		t.Errorf("-n 5000: exit %d, stderr %q", r.code, r.stderr)
	}

	// The server shuts down: a following command ends with the reason,
	// and the stream does not hold the shutdown up.
	tl = n.startTail("-f")
	tl.waitFor(t, "the backlog of everything", "/cart")
	start := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := tl.exit(t); code != 1 || !strings.Contains(tl.stderr.String(), "rampart is shutting down") {
		t.Errorf("after the server stopped: exit %d, stderr %q", code, tl.stderr.String())
	}
	select {
	case err := <-n.waited:
		n.waited <- err // for the cleanup
		if err != nil {
			t.Errorf("serve exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit: an open log stream held the shutdown up")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("shutdown took %s with a log stream open", d)
	}
}
