package compose

// The tests drive the real Docker Engine and docker-compose, set up by
// package dockertest (shared with the end-to-end tests): TestMain makes
// sure a daemon runs and the busybox test images exist before any test.

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/rampart-dev/rampart/internal/runtime/compose/dockertest"
)

// Test images: the same static busybox under two tags, for set-version.
const (
	testImage1 = dockertest.Image1
	testImage2 = dockertest.Image2
)

func TestMain(m *testing.M) {
	if err := dockertest.Setup(); err != nil && dockertest.InCI() {
		// CI installs Docker (scripts/test-deps.sh): a missing one
		// there is a broken machine, not a reason to skip.
		fmt.Fprintf(os.Stderr, "compose tests: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// needDocker skips t, outside CI, when Docker could not be set up.
func needDocker(t *testing.T) {
	t.Helper()
	dockertest.Need(t)
}

func dockerCmd(ctx context.Context, args ...string) ([]byte, error) {
	return dockertest.Docker(ctx, args...)
}
