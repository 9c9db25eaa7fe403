// Package dockertest prepares the real Docker Engine for the tests that
// drive it: the compose driver's own tests and the end-to-end tests of
// `rampart serve` running compose services. What those tests must get
// right is how Docker and docker-compose behave (what up recreates, what
// inspect says of a paused container), which a mock would only restate.
//
// Setup makes sure a daemon runs, starting dockerd itself when none
// answers, and imports a busybox image under two tags (Image1, Image2): no
// registry is reachable from CI. Need skips a test when that could not be
// done, except under CI=true, where a missing Docker is a broken machine
// and fails the test instead.
package dockertest

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Test images: the same static busybox under two tags, for set-version.
const (
	Image  = "rampart-test/busybox"
	Image1 = Image + ":1"
	Image2 = Image + ":2"
)

var (
	once     sync.Once
	setupErr error
)

// Setup makes Docker usable for tests: it finds or starts dockerd and
// imports Image1 and Image2. It does the work once per process and returns
// the same answer to every later call, so that each test may call it.
func Setup() error {
	once.Do(func() { setupErr = setup() })
	return setupErr
}

// InCI reports whether the tests run in CI (CI=true), where Docker is
// installed (scripts/test-deps.sh) and its absence must fail, not skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need makes t skip, outside CI, when Docker could not be set up, and fail
// in CI.
func Need(t testing.TB) {
	t.Helper()
	if err := Setup(); err != nil {
		if InCI() {
			t.Fatalf("Docker is missing in CI (scripts/test-deps.sh installs it): %v", err)
		}
		t.Skipf("needs Docker and docker-compose (scripts/test-deps.sh installs them): %v", err)
	}
}

// Docker runs the docker command and returns its standard output; a
// failure's error carries its standard error.
func Docker(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("no docker command: install docker.io")
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return fmt.Errorf("no docker-compose command: install docker-compose")
	}
	// go test runs the test binaries of several packages at once, and each
	// would start its own dockerd and import its own images, retagging
	// those another package's containers were made from. A lock file
	// serialises them; the second finds the work done.
	unlock, err := lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := startDockerd(ctx); err != nil {
		return err
	}
	return importBusybox(ctx)
}

// lock takes an exclusive lock on a file in the temp directory, shared by
// every test process of the machine, and returns its release.
func lock() (func(), error) {
	path := filepath.Join(os.TempDir(), "rampart-test-docker.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("docker test lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("docker test lock %s: %v", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// startDockerd starts dockerd when no daemon answers and waits until it
// does. It is left running for the next test run: it takes seconds to
// start and nothing to keep.
func startDockerd(ctx context.Context) error {
	if _, err := Docker(ctx, "info"); err == nil {
		return nil
	}
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return fmt.Errorf("docker does not answer and there is no dockerd to start: install docker.io")
	}
	logPath := filepath.Join(os.TempDir(), "rampart-test-dockerd.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the test binary
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %v", err)
	}
	go func() { _ = cmd.Wait() }() // reap it if it dies while the tests run
	for {
		if _, err := Docker(ctx, "info"); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dockerd did not answer in time; see %s", logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// importBusybox makes Image1 and Image2 from the host's static busybox,
// once: a root file system of one binary and its applet links.
func importBusybox(ctx context.Context) error {
	if _, err := Docker(ctx, "image", "inspect", Image1, Image2); err == nil {
		return nil
	}
	bb := "/bin/busybox"
	if err := checkStatic(bb); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "rampart-busybox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "httpd", "env", "echo", "sleep", "cat", "ls", "mkdir", "head", "tr"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			return err
		}
	}
	for _, dir := range []string{"tmp", "data"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return err
		}
	}
	tar := exec.CommandContext(ctx, "tar", "-C", root, "-c", ".")
	imp := exec.CommandContext(ctx, "docker", "import", "-c", "ENV PATH=/bin", "-c", `CMD ["/bin/sh"]`, "-", Image1)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var impErr bytes.Buffer
	imp.Stderr = &impErr
	if err := tar.Start(); err != nil {
		return err
	}
	if err := imp.Run(); err != nil {
		_ = tar.Wait()
		return fmt.Errorf("docker import: %v: %s", err, impErr.String())
	}
	if err := tar.Wait(); err != nil {
		return fmt.Errorf("tar of the busybox root: %v", err)
	}
	if _, err := Docker(ctx, "tag", Image1, Image2); err != nil {
		return err
	}
	return nil
}

// checkStatic refuses a dynamically linked busybox: an image of it alone
// would not run.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("no busybox at %s: install busybox-static (%v)", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: install busybox-static", path)
		}
	}
	return nil
}
