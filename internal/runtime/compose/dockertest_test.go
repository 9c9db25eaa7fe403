package compose

// The tests drive the real Docker Engine and docker-compose: what the driver
// must get right is how they behave (what up recreates, what inspect says of
// a paused container), which a mock would only restate. TestMain makes sure
// a daemon runs, starting dockerd itself when none answers, and imports a
// busybox image under two tags: no registry is reachable from CI.

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Test images: the same static busybox under two tags, for set-version.
const (
	testImage  = "rampart-test/busybox"
	testImage1 = testImage + ":1"
	testImage2 = testImage + ":2"
)

// dockerMissing says why the Docker tests cannot run; "" when they can.
var dockerMissing string

func TestMain(m *testing.M) {
	if err := setupDocker(); err != nil {
		dockerMissing = err.Error()
		if os.Getenv("CI") == "true" {
			// CI installs Docker (scripts/test-deps.sh): a missing one
			// there is a broken machine, not a reason to skip.
			fmt.Fprintf(os.Stderr, "compose tests: %s\n", dockerMissing)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// needDocker skips t, outside CI, when Docker could not be set up.
func needDocker(t *testing.T) {
	t.Helper()
	if dockerMissing != "" {
		t.Skipf("needs Docker and docker-compose (scripts/test-deps.sh installs them): %s", dockerMissing)
	}
}

func dockerCmd(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func setupDocker() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("no docker command: install docker.io")
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		return fmt.Errorf("no docker-compose command: install docker-compose")
	}
	if err := startDockerd(ctx); err != nil {
		return err
	}
	return importBusybox(ctx)
}

// startDockerd starts dockerd when no daemon answers and waits until it
// does. It is left running for the next test run: it takes seconds to
// start and nothing to keep.
func startDockerd(ctx context.Context) error {
	if _, err := dockerCmd(ctx, "info"); err == nil {
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
		if _, err := dockerCmd(ctx, "info"); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dockerd did not answer in time; see %s", logPath)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// importBusybox makes testImage1 and testImage2 from the host's static
// busybox, once: a root file system of one binary and its applet links.
func importBusybox(ctx context.Context) error {
	if _, err := dockerCmd(ctx, "image", "inspect", testImage1, testImage2); err == nil {
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
	imp := exec.CommandContext(ctx, "docker", "import", "-c", "ENV PATH=/bin", "-c", `CMD ["/bin/sh"]`, "-", testImage1)
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
	if _, err := dockerCmd(ctx, "tag", testImage1, testImage2); err != nil {
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
