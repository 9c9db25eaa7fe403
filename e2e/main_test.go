// Package e2e drives the real rampart binary the way an operator does: it
// builds it with CGO_ENABLED=0, starts `rampart serve` as a child process,
// and uses the CLI and plain HTTP against it.
package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testport"
)

// bin is the rampart binary built once for all tests; appBin the test
// application rampart runs (testdata/app).
var bin, appBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rampart-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "rampart")
	appBin = filepath.Join(dir, "app")
	for _, b := range []struct{ out, pkg string }{{bin, "../cmd/rampart"}, {appBin, "./testdata/app"}} {
		build := exec.Command("go", "build", "-trimpath", "-o", b.out, b.pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestStaticBinary: CGO_ENABLED=0 gives one binary with no dynamic loader.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has a PT_INTERP segment: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("binary imports shared libraries %v", libs)
	}
}

// node is one running `rampart serve`.
type node struct {
	t         *testing.T
	data      string
	admin     string // host:port
	http      string // host:port
	https     string // host:port
	args      []string
	cmd       *exec.Cmd
	out       *syncBuffer
	cliConfig string
	waited    chan error
	// serveEnv is added to the environment of rampart serve (not of the
	// CLI), e.g. a crash test's RAMPART_FAILPOINT.
	serveEnv []string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode runs rampart serve with the given extra flags on free ports and
// waits for /healthz.
func startNode(t *testing.T, extra ...string) *node {
	t.Helper()
	n := &node{t: t, data: t.TempDir(), admin: testport.Addr(t), http: testport.Addr(t), https: testport.Addr(t), out: &syncBuffer{}}
	n.cliConfig = filepath.Join(t.TempDir(), "cli.json")
	n.args = append([]string{"serve", "--data", n.data, "--admin-addr", n.admin, "--http-addr", n.http, "--https-addr", n.https}, extra...)
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("rampart serve output:\n%s", n.out.String())
		}
	})
	n.start()
	return n
}

// stop kills the server and waits for it to exit.
func (n *node) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Kill()
	<-n.waited
	n.cmd = nil
}

// start runs rampart serve with n.args and waits for /healthz.
func (n *node) start() {
	t := n.t
	t.Helper()
	n.waited = make(chan error, 1)
	n.cmd = exec.Command(bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.Env = append(n.env(), n.serveEnv...)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := n.waited
	cmd := n.cmd
	go func() { waited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + n.admin + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-n.waited:
			n.cmd = nil // already waited for
			t.Fatalf("rampart serve exited early (%v):\n%s", err, n.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rampart serve not healthy after 20s:\n%s", n.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAMPART_") {
			env = append(env, kv)
		}
	}
	return append(env, "RAMPART_CLI_CONFIG="+n.cliConfig)
}

// result of one CLI run.
type result struct {
	stdout, stderr string
	code           int
}

// rampart runs the CLI with stdin and the given args against this node's
// data directory and CLI config.
func (n *node) rampart(stdin string, args ...string) result {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = n.env()
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("running rampart %v: %v", args, err)
	}
	return r
}

// must runs the CLI and fails the test if it exits non-zero.
func (n *node) must(stdin string, args ...string) string {
	n.t.Helper()
	r := n.rampart(stdin, args...)
	if r.code != 0 {
		n.t.Fatalf("rampart %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// get requests path on the edge with the given Host header.
func (n *node) get(t *testing.T, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+n.http+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s through the edge: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually retries f until it returns true or 5 s pass: the edge applies
// changes within milliseconds, but the test should not depend on a number.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// adminSetup creates an admin and logs the CLI in; it returns the token.
func (n *node) adminSetup() string {
	n.t.Helper()
	n.must("correct horse battery staple\n", "user", "create", "--data", n.data, "--email", "admin@example.com", "--admin", "--password-stdin")
	token := strings.TrimSpace(n.must("", "token", "create", "--data", n.data, "--email", "admin@example.com"))
	n.must(token, "login", "--server", "http://"+n.admin, "--token-stdin")
	return token
}

// client returns an HTTP client whose connections come from the loopback
// address src (any of 127.0.0.0/8), so that one test can be many clients.
func client(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
}
