package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rampart-dev/rampart"
)

// The firewall test runs `rampart serve` with firewall.enforce on inside a
// "server" network namespace, and connects to it from a "client" namespace
// over a veth pair: real packets through the ruleset rampart applies. The
// host's own namespace and ruleset are never touched. It needs root and
// the ip and nft commands; with CI=true it fails without them.

func needNetNS(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, "the "+c+" command (apt-get install iproute2 nftables)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the firewall e2e test needs " + strings.Join(missing, " and ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run it")
	}
	t.Skip(msg)
}

type namespace struct {
	name string
	fd   int
}

func newNamespace(t *testing.T, role string) *namespace {
	t.Helper()
	name := fmt.Sprintf("rfwe-%d-%s", os.Getpid(), role)
	sh(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	sh(t, "ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
	return &namespace{name: name, fd: int(f.Fd())}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dial connects from inside ns: the socket is made on a thread switched
// into the namespace and stays there.
func (ns *namespace) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	} // else the thread stays locked and Go retires it with this goroutine
	return c, err
}

// connects reports whether a TCP connection from ns to addr is accepted.
// The ruleset drops, so a closed port times out; 300ms is ample on a veth.
func (ns *namespace) connects(addr string) bool {
	ch := make(chan bool, 1)
	go func() {
		c, err := ns.dial("tcp", addr, 300*time.Millisecond)
		if err == nil {
			c.Close()
		}
		ch <- err == nil
	}()
	return <-ch
}

// fwServer is `rampart serve` in the server namespace.
type fwServer struct {
	t          *testing.T
	ns         *namespace
	data, cfg  string
	admin      string
	cmd        *exec.Cmd
	out        *syncBuffer
	waited     chan error
	token      string
	httpTarget string // the edge's HTTP port, as the client dials it
}

func (s *fwServer) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAMPART_") {
			env = append(env, kv)
		}
	}
	return append(env, "RAMPART_CLI_CONFIG="+s.cfg, "RAMPART_FIREWALL_ENFORCE=true")
}

func (s *fwServer) start() {
	t := s.t
	t.Helper()
	s.waited = make(chan error, 1)
	s.cmd = exec.Command("ip", "netns", "exec", s.ns.name, bin, "serve", "--data", s.data,
		"--admin-addr", s.admin, "--http-addr", "0.0.0.0:80", "--https-addr", "0.0.0.0:443")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.Env = s.env()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, waited := s.cmd, s.waited
	go func() { waited <- cmd.Wait() }()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
		return s.ns.dial(network, addr, time.Second)
	}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := hc.Get("http://" + s.admin + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-s.waited:
			s.cmd = nil
			t.Fatalf("rampart serve exited early (%v):\n%s", err, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rampart serve not healthy after 20s:\n%s", s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends rampart the hard way: nothing gets to clean up, as in a crash.
func (s *fwServer) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.waited
	s.cmd = nil
}

// cli runs the CLI inside the server namespace (loopback always passes the
// firewall, as an operator's SSH session on the machine would).
func (s *fwServer) cli(args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"netns", "exec", s.ns.name, bin}, args...)
	full = append(full, "--server", "http://"+s.admin, "--token", s.token)
	cmd := exec.CommandContext(ctx, "ip", full...)
	cmd.Env = s.env()
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("rampart %v: %v", args, err)
	}
	return r
}

func (s *fwServer) must(args ...string) string {
	s.t.Helper()
	r := s.cli(args...)
	if r.code != 0 {
		s.t.Fatalf("rampart %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (s *fwServer) state() *rampart.FirewallState {
	s.t.Helper()
	var st rampart.FirewallState
	if err := json.Unmarshal([]byte(s.must("firewall", "show", "-o", "json")), &st); err != nil {
		s.t.Fatal(err)
	}
	return &st
}

func (s *fwServer) ruleID(port int) string {
	s.t.Helper()
	for _, r := range s.state().Rules {
		if r.PortFrom == port {
			return strconv.FormatInt(r.ID, 10)
		}
	}
	s.t.Fatalf("no rule for port %d", port)
	return ""
}

// liveTable is rampart's table as nft lists it inside the server namespace.
func (s *fwServer) liveTable() string {
	s.t.Helper()
	return sh(s.t, "ip", "netns", "exec", s.ns.name, "nft", "list", "table", "inet", "rampart")
}

func waitFor(t *testing.T, what string, within time.Duration, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestFirewallCommitConfirm is Done-when 2 and 3 of the firewall issue
// through the real binary.
func TestFirewallCommitConfirm(t *testing.T) {
	needNetNS(t)
	srvNS, cliNS := newNamespace(t, "srv"), newNamespace(t, "cli")
	// A subnet of its own per run, on a veth pair between the two.
	sub := fmt.Sprintf("10.%d.%d", 100+os.Getpid()%100, os.Getpid()/100%250)
	srvIP, cliIP := sub+".1", sub+".2"
	sh(t, "ip", "link", "add", "fwe-s", "netns", srvNS.name, "type", "veth", "peer", "name", "fwe-c", "netns", cliNS.name)
	sh(t, "ip", "netns", "exec", srvNS.name, "ip", "addr", "add", srvIP+"/24", "dev", "fwe-s")
	sh(t, "ip", "netns", "exec", cliNS.name, "ip", "addr", "add", cliIP+"/24", "dev", "fwe-c")
	sh(t, "ip", "netns", "exec", srvNS.name, "ip", "link", "set", "fwe-s", "up")
	sh(t, "ip", "netns", "exec", cliNS.name, "ip", "link", "set", "fwe-c", "up")

	s := &fwServer{t: t, ns: srvNS, data: t.TempDir(), cfg: filepath.Join(t.TempDir(), "cli.json"), admin: "127.0.0.1:7171", out: &syncBuffer{}, httpTarget: srvIP + ":80"}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("rampart serve output:\n%s", s.out.String())
		}
	})
	// The operator commands work on the data directory, from any namespace.
	op := func(stdin string, args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Stdin = s.env(), strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rampart %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	s.start()
	op("correct horse battery staple\n", "user", "create", "--data", s.data, "--email", "admin@example.com", "--admin", "--password-stdin")
	s.token = strings.TrimSpace(op("", "token", "create", "--data", s.data, "--email", "admin@example.com"))
	if !strings.Contains(s.out.String(), "firewall: enforced") {
		t.Errorf("serve did not say the firewall is enforced:\n%s", s.out.String())
	}

	// The first enforcing apply is behind a window; confirm it.
	waitFor(t, "the first enforcing apply", 10*time.Second, func() bool {
		st := s.state()
		return st.Status.Enforced && st.Pending != nil && st.Pending.Unenforced
	})
	s.must("firewall", "confirm")
	if !cliNS.connects(s.httpTarget) {
		t.Fatal("the client cannot reach the edge's port 80, which the default rules open")
	}
	http80 := s.ruleID(80)
	if plan := s.must("firewall", "show", "--nft"); !strings.Contains(plan, "table inet rampart") || !strings.Contains(plan, "policy drop") {
		t.Errorf("show --nft:\n%s", plan)
	}

	t.Run("guards leave the live ruleset unchanged", func(t *testing.T) {
		s.must("service", "create", "shop", "--upstream", "http://203.0.113.10:80")
		s.must("domain", "add", "shop", "shop.example.com") // TLS mode managed
		before := s.liveTable()
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"firewall", "update", http80, "--source", "192.0.2.0/24", "--force"}, "shop.example.com"},
			{[]string{"firewall", "remove", http80, "--yes", "--force"}, "managed TLS"},
			{[]string{"firewall", "remove", s.ruleID(22), "--yes", "--force"}, "cannot be removed"},
			{[]string{"firewall", "add", "--proto", "tcp", "--port", "443"}, "both open 443/tcp"},
			{[]string{"firewall", "add", "--proto", "tcp", "--port", "20-30"}, "overlap"},
			{[]string{"firewall", "add", "--proto", "tcp", "--port", "0"}, "port 0"},
			{[]string{"firewall", "add", "--proto", "tcp", "--port", "70000"}, "65535"},
			{[]string{"firewall", "add", "--proto", "tcp", "--port", "9000-8000"}, "reversed"},
			{[]string{"firewall", "add", "--proto", "icmp", "--port", "9000"}, "icmp"},
			{[]string{"firewall", "add", "--proto", "tcp", "--port", "9000", "--source", "10.0.0.0/33"}, "10.0.0.0/33"},
		} {
			r := s.cli(c.args...)
			if r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("rampart %s: exit %d, stderr %q; want an error mentioning %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
			}
		}
		// Give the reconciler the time to act on anything that slipped
		// through, then compare.
		time.Sleep(time.Second)
		if after := s.liveTable(); after != before {
			t.Errorf("a refused change altered the live ruleset:\nbefore\n%s\nafter\n%s", before, after)
		}
		s.must("domain", "remove", "shop", "shop.example.com")
	})

	// cut restricts port 80 to a source the client is not, behind a window.
	cut := func(within string) time.Time {
		t.Helper()
		s.must("firewall", "update", http80, "--source", "192.0.2.1", "--force", "--confirm-within", within)
		applied := time.Now()
		waitFor(t, "the client cut off", 3*time.Second, func() bool { return !cliNS.connects(s.httpTarget) })
		return applied
	}
	deadlineOf := func() time.Time {
		st := s.state()
		if st.Pending == nil {
			t.Fatal("no confirm window is open")
		}
		return st.Pending.Deadline
	}

	t.Run("not confirmed: rolled back within the window plus a second", func(t *testing.T) {
		cut("3s")
		deadline := deadlineOf()
		waitFor(t, "the client back in", time.Until(deadline)+time.Second, func() bool { return cliNS.connects(s.httpTarget) })
		if late := time.Since(deadline); late > time.Second {
			t.Errorf("rolled back %s after the deadline", late)
		}
		if st := s.state(); st.Pending != nil || len(st.Rules[1].Sources) != 0 {
			t.Errorf("after the rollback: pending %+v, rule %+v", st.Pending, st.Rules[1])
		}
		if out := s.must("audit"); !strings.Contains(out, "rolled back: not confirmed within 3s") {
			t.Errorf("no rollback in the audit log:\n%s", out)
		}
	})

	t.Run("confirmed: stays", func(t *testing.T) {
		cut("3s")
		s.must("firewall", "confirm")
		time.Sleep(4 * time.Second)
		if cliNS.connects(s.httpTarget) {
			t.Error("a confirmed change was undone")
		}
		s.must("firewall", "update", http80, "--source", "any")
		waitFor(t, "the client back in after reopening", 3*time.Second, func() bool { return cliNS.connects(s.httpTarget) })
	})

	t.Run("rampart killed and restarted inside the window", func(t *testing.T) {
		cut("5s")
		deadline := deadlineOf()
		s.kill()
		// The table outlives the process: the client is still cut off.
		if cliNS.connects(s.httpTarget) {
			t.Fatal("killing rampart opened the port")
		}
		s.start()
		if time.Now().After(deadline) {
			t.Fatalf("the restart took past the deadline; the machine is too slow for this test's 5s window")
		}
		waitFor(t, "the client back in", time.Until(deadline)+time.Second, func() bool { return cliNS.connects(s.httpTarget) })
		if late := time.Since(deadline); late > time.Second {
			t.Errorf("rolled back %s after the deadline", late)
		}
	})

	t.Run("rampart down past the deadline: rolled back at start", func(t *testing.T) {
		cut("2s")
		deadline := deadlineOf()
		s.kill()
		time.Sleep(time.Until(deadline) + 500*time.Millisecond)
		if cliNS.connects(s.httpTarget) {
			t.Fatal("nothing rolled back while rampart was down, yet the port is open")
		}
		s.start()
		waitFor(t, "the client back in after the start", 3*time.Second, func() bool { return cliNS.connects(s.httpTarget) })
	})
}
