package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/testport"
)

// showService is `rampart service show NAME -o json`.
func (n *node) showService(name string) rampart.ServiceView {
	n.t.Helper()
	var s rampart.ServiceView
	if err := json.Unmarshal([]byte(n.must("", "service", "show", name, "-o", "json")), &s); err != nil {
		n.t.Fatal(err)
	}
	return s
}

// createApp has rampart run the test application (testdata/app) as name.
func (n *node) createApp(name string, port int) rampart.ServiceView {
	n.t.Helper()
	n.must("", "service", "create", name, "--runtime", "exec", "--command", appBin,
		"--arg", "--version", "--arg", "${VERSION}", "--version", "1.0", "--port", strconv.Itoa(port), "--stop-timeout", "3s")
	s := n.showService(name)
	waitFor(n.t, name+" to answer through the edge", 20*time.Second, func() bool {
		code, body := n.get(n.t, name+"."+domain, "/")
		return code == 200 && strings.Contains(body, "version=1.0")
	})
	return s
}

func (n *node) post(t *testing.T, host, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+n.http+path, strings.NewReader(body))
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// traffic sends GETs to host, one after another and each to a URL of its
// own (no cached answer hides the upstream's), until the returned function
// is called; that returns how many got each status (0: no answer) and
// the pids that answered. Turn the service's rate limiter off first.
func (n *node) traffic(host string) func() (map[int]int, map[int]bool) {
	codes, pids := map[int]int{}, map[int]bool{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("GET", "http://"+n.http+"/?n="+strconv.Itoa(i), nil)
			req.Host = host
			code, body := 0, ""
			if resp, err := http.DefaultClient.Do(req); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, body = resp.StatusCode, string(b)
			}
			codes[code]++
			if code == 200 {
				pids[pidOf(body)] = true
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() (map[int]int, map[int]bool) {
		close(stop)
		<-done
		return codes, pids
	}
}

func pidOf(body string) int {
	_, rest, _ := strings.Cut(body, "pid=")
	f, _, _ := strings.Cut(rest, " ")
	p, _ := strconv.Atoi(f)
	return p
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// A zombie (state Z) has exited.
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// TestExecRuntime: rampart runs a real process, restarts it with backoff
// when it crashes, stops, starts, restarts and kills it, captures what it
// writes into `rampart logs`, and a saved environment reaches it.
func TestExecRuntime(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	host := "app." + domain
	n.createApp("app", testport.Number(t))

	_, body := n.get(t, host, "/")
	pid := pidOf(body)
	if !alive(pid) {
		t.Fatalf("the app's pid %d is not alive: %q", pid, body)
	}
	if s := n.showService("app"); s.Run == nil || s.Run.State != "running" || s.Run.PID != pid {
		t.Errorf("service show: run %+v, want running with pid %d", s.Run, pid)
	}

	// Crash: restarted after a backoff, the crash visible.
	if code := n.post(t, host, "/crash", ""); code == 200 {
		t.Errorf("the crash request answered %d", code)
	}
	var after rampart.ServiceView
	waitFor(t, "the app to be restarted after its crash", 20*time.Second, func() bool {
		after = n.showService("app")
		code, b := n.get(t, host, "/")
		return code == 200 && pidOf(b) != pid && after.Run != nil && after.Run.Restarts >= 1
	})
	if after.Run.LastExit != "exit status 3" {
		t.Errorf("last exit after the crash = %q, want exit status 3", after.Run.LastExit)
	}
	if out := n.must("", "service", "show", "app"); !strings.Contains(out, "running since") {
		t.Errorf("service show does not say it runs:\n%s", out)
	}
	_, body = n.get(t, host, "/")
	pid = pidOf(body)

	// Output captured, marked by stream, beside the edge's requests.
	waitFor(t, "the app's output in rampart logs", 10*time.Second, func() bool {
		out := n.must("", "logs", "--service", "app", "-n", "200")
		return strings.Contains(out, "stdout  app started version=1.0") && strings.Contains(out, "stderr  app crashing on request") &&
			strings.Contains(out, "GET") && strings.Contains(out, "stdout  app got SIGTERM") == false
	})

	// Stop: graceful (the app sees SIGTERM), the edge answers 503.
	n.must("", "service", "stop", "app")
	waitFor(t, "the app to stop", 10*time.Second, func() bool { return !alive(pid) })
	if code, _ := n.get(t, host, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("stopped service answers %d, want 503", code)
	}
	waitFor(t, "the graceful stop in the log", 10*time.Second, func() bool {
		return strings.Contains(n.must("", "logs", "--service", "app", "-n", "200"), "app got SIGTERM")
	})
	if s := n.showService("app"); s.Run == nil || s.Run.State != "stopped" {
		t.Errorf("run state after stop: %+v", s.Run)
	}

	// Start, restart: a new process each time.
	n.must("", "service", "start", "app")
	waitFor(t, "the app to start again", 20*time.Second, func() bool {
		code, b := n.get(t, host, "/")
		return code == 200 && pidOf(b) != pid
	})
	_, body = n.get(t, host, "/")
	pid = pidOf(body)
	// Under traffic: between the old process closing its port and the
	// new one opening it, the edge holds requests instead of answering
	// 502, so a restart costs no request.
	n.must("", "ratelimit", "set", "app", "--off")
	stop := n.traffic(host)
	n.must("", "service", "restart", "app")
	waitFor(t, "a new process after restart", 20*time.Second, func() bool {
		code, b := n.get(t, host, "/")
		return code == 200 && pidOf(b) != pid && pidOf(b) != 0
	})
	if codes, pids := stop(); len(codes) != 1 || codes[200] == 0 || len(pids) != 2 {
		t.Errorf("requests during the restart: statuses %v from pids %v, want only 200 from the old process and the new", codes, pids)
	}
	_, body = n.get(t, host, "/")
	pid = pidOf(body)

	// Kill: at once, and it stays stopped. The edge answers 503 as soon
	// as the command returns: it took the service off before the kill.
	n.must("", "service", "kill", "app")
	if code, _ := n.get(t, host, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("killed service answers %d, want 503", code)
	}
	waitFor(t, "the app to be killed", 5*time.Second, func() bool { return !alive(pid) })
	n.must("", "service", "start", "app")

	// The environment, saved, reaches the process (a restart).
	n.must("", "env", "set", "app", "GREETING=hello-from-env")
	waitFor(t, "the new environment to reach the app", 20*time.Second, func() bool {
		code, b := n.get(t, host, "/")
		return code == 200 && strings.Contains(b, "greeting=hello-from-env")
	})
	// set-version: the ${VERSION} of the command; a deploy under traffic
	// costs no request either.
	stop = n.traffic(host)
	n.must("", "service", "set-version", "app", "2.0")
	waitFor(t, "version 2.0 to run", 20*time.Second, func() bool {
		code, b := n.get(t, host, "/")
		return code == 200 && strings.Contains(b, "version=2.0")
	})
	if codes, _ := stop(); len(codes) != 1 || codes[200] == 0 {
		t.Errorf("requests during set-version: statuses %v, want only 200", codes)
	}
}

// TestDeleteRestoreThroughEdge: data the service wrote before its
// deletion is there after the restore and it answers through the edge
// again; a damaged archive is refused with a checksum error and changes
// nothing.
func TestDeleteRestoreThroughEdge(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	host := "notes." + domain
	svc := n.createApp("notes", testport.Number(t))
	if code := n.post(t, host, "/note", "written before the delete"); code != 200 {
		t.Fatalf("writing the note: %d", code)
	}

	out := n.must("", "service", "delete", "notes")
	if !strings.Contains(out, "Restore it until") {
		t.Errorf("delete says %q", out)
	}
	eventually(t, "notes gone from the edge", func() bool { code, _ := n.get(t, host, "/"); return code == 404 })
	if _, err := os.Stat(filepath.Join(n.data, "services", strconv.FormatInt(svc.ID, 10), "data")); !os.IsNotExist(err) {
		t.Errorf("the data directory is still there after the delete: %v", err)
	}
	var backups []rampart.Backup
	if err := json.Unmarshal([]byte(n.must("", "backup", "list", "notes", "-o", "json")), &backups); err != nil || len(backups) != 1 || backups[0].Kind != rampart.BackupFinal {
		t.Fatalf("backups after the delete: %+v %v", backups, err)
	}
	if r := n.rampart("", "service", "create", "notes", "--upstream", "http://127.0.0.1:1"); r.code == 0 || !strings.Contains(r.stderr, "belongs to a deleted service") {
		t.Errorf("taking the deleted service's name: exit %d %q", r.code, r.stderr)
	}

	// A damaged archive: refused, nothing changes.
	archive := filepath.Join(n.data, "backups", filepath.FromSlash(backups[0].Key))
	good, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)/2] ^= 0x40
	if err := os.WriteFile(archive, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	r := n.rampart("", "service", "restore", "notes")
	if r.code == 0 || !strings.Contains(r.stderr, "checksum") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("restore of a damaged archive: exit %d, stderr %q", r.code, r.stderr)
	}
	if s := n.showService("notes"); s.State != rampart.StateDeleted {
		t.Errorf("state after the refused restore: %s", s.State)
	}
	if code, _ := n.get(t, host, "/"); code != 404 {
		t.Errorf("after the refused restore the edge answers %d", code)
	}

	// The intact archive: back, with its data, through the edge.
	if err := os.WriteFile(archive, good, 0o600); err != nil {
		t.Fatal(err)
	}
	n.must("", "service", "restore", "notes")
	waitFor(t, "notes to answer again with its note", 20*time.Second, func() bool {
		code, b := n.get(t, host, "/")
		return code == 200 && strings.Contains(b, "note=written before the delete")
	})
	audit := n.must("", "audit", "--service", "notes")
	for _, want := range []string{"service.delete", "service.restore"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
}

// TestCrashSafety: rampart killed (-9) at each point of a backup and of a
// delete leaves the old state or the new one: the service is either live
// with its data, or deleted with a final backup that restores it; no
// backup on record is an archive that fails its checks.
func TestCrashSafety(t *testing.T) {
	points := []struct {
		point  string
		action []string
	}{
		{"backup.write:3", []string{"backup", "create", "vault"}},
		{"backup.put", []string{"backup", "create", "vault"}},
		{"backup.recorded", []string{"backup", "create", "vault"}},
		{"backup.write:3", []string{"service", "delete", "vault"}},
		{"backup.put", []string{"service", "delete", "vault"}},
		{"delete.backed-up", []string{"service", "delete", "vault"}},
		{"delete.committed", []string{"service", "delete", "vault"}},
		{"delete.data-moved", []string{"service", "delete", "vault"}},
	}
	for _, p := range points {
		t.Run(strings.Join(p.action[:2], "-")+"@"+p.point, func(t *testing.T) {
			n := startNode(t, "--platform-domain", domain)
			n.adminSetup()
			host := "vault." + domain
			svc := n.createApp("vault", testport.Number(t))
			// Enough data that the archive is written in many pieces.
			dataDir := filepath.Join(n.data, "services", strconv.FormatInt(svc.ID, 10), "data")
			big := make([]byte, 8<<20)
			for i := range big {
				big[i] = byte(i*7919 + i/4096)
			}
			if err := os.WriteFile(filepath.Join(dataDir, "big.bin"), big, 0o600); err != nil {
				t.Fatal(err)
			}
			if code := n.post(t, host, "/note", "precious"); code != 200 {
				t.Fatalf("note: %d", code)
			}

			// Arm the failpoint: restart with it, run the action, and
			// wait for the process to kill itself.
			n.stop()
			n.serveEnv = []string{"RAMPART_FAILPOINT=" + p.point}
			n.start()
			r := n.rampart("", p.action...)
			if r.code == 0 {
				t.Fatalf("%v succeeded although the server was to die at %s:\n%s", p.action, p.point, n.out.String())
			}
			select {
			case <-n.waited:
				n.cmd = nil
			case <-time.After(20 * time.Second):
				t.Fatalf("the server did not die at %s", p.point)
			}
			n.serveEnv = nil
			n.start()

			s := n.showService("vault")
			t.Logf("after a kill -9 at %s during %v: %s", p.point, p.action, s.State)
			switch s.State {
			case rampart.StateActive:
				b, err := os.ReadFile(filepath.Join(dataDir, "big.bin"))
				if err != nil || len(b) != len(big) {
					t.Fatalf("live after the crash, but its data is damaged: %d bytes, %v", len(b), err)
				}
				waitFor(t, "vault to answer after the restart", 20*time.Second, func() bool {
					code, body := n.get(t, host, "/")
					return code == 200 && strings.Contains(body, "note=precious")
				})
			case rampart.StateDeleted:
				n.must("", "service", "restore", "vault")
				waitFor(t, "vault restored with its data", 20*time.Second, func() bool {
					code, body := n.get(t, host, "/")
					return code == 200 && strings.Contains(body, "note=precious")
				})
				b, err := os.ReadFile(filepath.Join(dataDir, "big.bin"))
				if err != nil || string(b) != string(big) {
					t.Fatalf("restored data differs: %d bytes, %v", len(b), err)
				}
			default:
				t.Fatalf("state after the crash: %s", s.State)
			}
			// Every backup on record is a whole archive with the recorded
			// checksum.
			var backups []rampart.Backup
			if err := json.Unmarshal([]byte(n.must("", "backup", "list", "vault", "-o", "json")), &backups); err != nil {
				t.Fatal(err)
			}
			for _, b := range backups {
				f, err := os.Open(filepath.Join(n.data, "backups", filepath.FromSlash(b.Key)))
				if err != nil {
					t.Fatalf("backup %d on record has no archive: %v", b.ID, err)
				}
				want, _ := backup.ParseSum(b.SHA256)
				_, err = backup.Verify(t.Context(), f, want)
				f.Close()
				if err != nil {
					t.Errorf("backup %d on record fails its checks: %v", b.ID, err)
				}
			}
		})
	}
}
