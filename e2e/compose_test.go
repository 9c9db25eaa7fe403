package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/runtime/compose/dockertest"
	"github.com/rampart-dev/rampart/internal/testport"
)

// composeTestFile is the service's compose file: one busybox httpd serving
// the service's data directory, published on the loopback port rampart
// gives as PORT, its image tag the service's version. init makes the
// container stop at once on SIGTERM (httpd as PID 1 ignores it), so that
// stop and restart do not wait out the grace period.
const composeTestFile = `version: "2.4"
services:
  web:
    image: rampart-test/busybox:${VERSION}
    init: true
    stop_grace_period: 1s
    command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/data/www"]
    ports:
      - "127.0.0.1:${PORT}:8080"
    volumes:
      - "${DATA_DIR}:/data"
`

// composeContainer is what the test reads of one of a project's containers.
type composeContainer struct {
	ID, Image, Status string
	StartedAt         time.Time
}

// composeContainers lists every container of the compose project, running
// or not, by the label compose puts on them: what Docker itself has, not
// what rampart says.
func composeContainers(t *testing.T, project string) []composeContainer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := dockertest.Docker(ctx, "ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project="+project)
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(out))
	if len(ids) == 0 {
		return nil
	}
	out, err = dockertest.Docker(ctx, append([]string{"inspect"}, ids...)...)
	if err != nil {
		// A container removed between ps and inspect (compose down is
		// under way): a state no caller waits for, so it asks again.
		return []composeContainer{{Status: "unknown"}}
	}
	var raw []struct {
		ID     string
		Config struct{ Image string }
		State  struct {
			Status    string
			StartedAt time.Time
		}
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	cs := make([]composeContainer, 0, len(raw))
	for _, r := range raw {
		cs = append(cs, composeContainer{ID: r.ID, Image: r.Config.Image, Status: r.State.Status, StartedAt: r.State.StartedAt})
	}
	return cs
}

// composeWait retries f until it returns true or within passes: a
// container starts in a second or two, but the first start of a project
// (its network, Docker's first use of the image) may take many more.
func composeWait(t *testing.T, what string, within time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestComposeServiceThroughEdge runs a compose service through its whole
// life with the real binary, CLI, Docker and docker-compose: created, it
// serves its data directory through the edge; set-version swaps the
// image; stop, start and restart act on the container and the edge;
// deleted, its containers are gone, and restored, it serves again with the
// data it had.
func TestComposeServiceThroughEdge(t *testing.T) {
	dockertest.Need(t)
	// Registered before the node's own clean-up, so that it runs after the
	// node is killed: nothing can then start the project again.
	var project string
	t.Cleanup(func() {
		if project == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		label := "label=com.docker.compose.project=" + project
		if out, err := dockertest.Docker(ctx, "ps", "-aq", "--filter", label); err == nil && len(strings.Fields(string(out))) > 0 {
			t.Logf("removing containers left by %s", project)
			if _, err := dockertest.Docker(ctx, append([]string{"rm", "-f"}, strings.Fields(string(out))...)...); err != nil {
				t.Error(err)
			}
		}
		if out, err := dockertest.Docker(ctx, "network", "ls", "-q", "--filter", label); err == nil && len(strings.Fields(string(out))) > 0 {
			if _, err := dockertest.Docker(ctx, append([]string{"network", "rm"}, strings.Fields(string(out))...)...); err != nil {
				t.Error(err)
			}
		}
	})
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()

	_, port, _ := net.SplitHostPort(testport.Addr(t))
	composeFile := filepath.Join(t.TempDir(), "docker-compose.yml")
	if err := os.WriteFile(composeFile, []byte(composeTestFile), 0o600); err != nil {
		t.Fatal(err)
	}
	const name = "web"
	host := name + "." + domain
	show := func() rampart.ServiceView {
		t.Helper()
		var s rampart.ServiceView
		if err := json.Unmarshal([]byte(n.must("", "service", "show", name, "-o", "json")), &s); err != nil {
			t.Fatalf("service show -o json: %v", err)
		}
		return s
	}
	// serves asks with a query never asked before: the edge caches GET
	// responses by default and serves a stale copy while the upstream is
	// down, which would pass for a container that does not run.
	asked := 0
	serves := func(path, want string) func() bool {
		return func() bool {
			asked++
			code, body := n.get(t, host, fmt.Sprintf("%s?nocache=%d", path, asked))
			return code == 200 && strings.Contains(body, want)
		}
	}
	containers := func() []composeContainer { return composeContainers(t, project) }
	// running is the project's one container when it is the only one and
	// runs; nil otherwise.
	running := func() *composeContainer {
		cs := containers()
		if len(cs) != 1 || cs[0].Status != "running" {
			return nil
		}
		return &cs[0]
	}

	began := time.Now()
	n.must("", "service", "create", name, "--runtime", "compose", "--compose-file", composeFile, "--version", "1", "--port", port)
	s := show()
	project = fmt.Sprintf("rampart-%d-%s", s.ID, name)
	www := filepath.Join(n.data, "services", fmt.Sprint(s.ID), "data", "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from the compose volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	composeWait(t, "the new service to serve its data directory through the edge", 60*time.Second, serves("/", "hello from the compose volume"))
	composeWait(t, "service show to say running", 10*time.Second, func() bool { s := show(); return s.Run != nil && s.Run.State == "running" })
	if c := running(); c == nil || c.Image != dockertest.Image1 {
		t.Fatalf("after create, the project's containers are %+v; want one running %s", containers(), dockertest.Image1)
	}
	t.Logf("created and serving in %s", time.Since(began).Round(time.Millisecond))

	// set-version: compose recreates the container from the new tag.
	// Requests meanwhile wait for the new container instead of failing
	// with 502. One that Docker's proxy accepted as the old container
	// went away may still hang until the edge's 60 s response timeout
	// (504): Docker holds it, and rampart does not run the two containers
	// side by side.
	n.must("", "ratelimit", "set", name, "--off")
	stop := n.traffic(host)
	n.must("", "service", "set-version", name, "2")
	composeWait(t, "the container to run "+dockertest.Image2, 60*time.Second, func() bool {
		c := running()
		return c != nil && c.Image == dockertest.Image2
	})
	composeWait(t, "version 2 to serve", 30*time.Second, serves("/", "hello from the compose volume"))
	if codes, _ := stop(); codes[502] > 0 || codes[0] > 0 || codes[200] == 0 {
		t.Errorf("requests during set-version: statuses %v, want 200 and no 502", codes)
	} else if len(codes) > 1 {
		t.Logf("requests during set-version: statuses %v", codes)
	}
	if s := show(); s.Runtime.Version != "2" {
		t.Errorf("after set-version, service show says version %q", s.Runtime.Version)
	}

	// stop: the edge answers 503 for it and its container is stopped, not
	// removed.
	n.must("", "service", "stop", name)
	composeWait(t, "the edge to answer 503 for the stopped service", 10*time.Second, func() bool {
		code, _ := n.get(t, host, "/")
		return code == 503
	})
	composeWait(t, "the container to stop", 30*time.Second, func() bool {
		cs := containers()
		return len(cs) == 1 && cs[0].Status == "exited"
	})
	composeWait(t, "service show to say stopped", 10*time.Second, func() bool { s := show(); return s.Run != nil && s.Run.State == "stopped" })

	// start: it serves again.
	n.must("", "service", "start", name)
	composeWait(t, "the started service to serve", 60*time.Second, serves("/", "hello from the compose volume"))
	before := running()
	if before == nil {
		t.Fatalf("after start served, the project's containers are %+v", containers())
	}

	// restart: a new container start, and it serves again.
	n.must("", "service", "restart", name)
	composeWait(t, "the restart to start the container anew", 60*time.Second, func() bool {
		c := running()
		return c != nil && c.StartedAt.After(before.StartedAt)
	})
	composeWait(t, "the restarted service to serve", 30*time.Second, serves("/", "hello from the compose volume"))

	// Data written into the volume now must survive delete and restore.
	if err := os.WriteFile(filepath.Join(www, "kept.html"), []byte("written before the delete\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	composeWait(t, "the new file to be served", 10*time.Second, serves("/kept.html", "written before the delete"))

	n.must("", "service", "delete", name)
	composeWait(t, "the edge to answer 404 for the deleted service", 10*time.Second, func() bool {
		code, _ := n.get(t, host, "/")
		return code == 404
	})
	composeWait(t, "the deleted service's containers to be removed", 60*time.Second, func() bool { return len(containers()) == 0 })
	if out := n.must("", "backup", "list", name); !strings.Contains(out, "final") {
		t.Errorf("backup list after delete shows no final backup:\n%s", out)
	}

	n.must("", "service", "restore", name)
	composeWait(t, "the restored service to serve its kept data", 60*time.Second, serves("/kept.html", "written before the delete"))
	composeWait(t, "the restored service to serve its index", 10*time.Second, serves("/", "hello from the compose volume"))
	if c := running(); c == nil || c.Image != dockertest.Image2 {
		t.Errorf("after restore, the project's containers are %+v; want one running %s", containers(), dockertest.Image2)
	}
	// The runtimes reconciler reports the restored project's state a
	// moment after it serves.
	composeWait(t, "service show to say running after restore", 20*time.Second, func() bool {
		s := show()
		return s.Run != nil && s.Run.State == "running"
	})

	// Clean up through rampart: delete and purge remove the project.
	n.must("", "service", "delete", name)
	composeWait(t, "the containers to be removed again", 60*time.Second, func() bool { return len(containers()) == 0 })
	n.must("", "service", "purge", name, "--yes")
	t.Logf("whole life in %s", time.Since(began).Round(time.Millisecond))
}
