package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testport"
)

// The slow-client test's settings: short, so that the test is.
const (
	slowNoFile    = 512 // the server's descriptor limit (prlimit)
	slowPerClient = 12  // limits.connections_per_client
	slowWindow    = 2 * time.Second
)

// need returns the path of a program the test drives. In CI a missing one
// fails the test; elsewhere it skips it, saying what to install.
func need(t *testing.T, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed: CI must run this test (apt-get install %s, or scripts/test-deps.sh)", prog, pkg)
	}
	t.Skipf("%s is not installed; install %s (scripts/test-deps.sh) to run this test", prog, pkg)
	return ""
}

// startLimited is startNode with the server's file descriptor limit set
// to nofile by prlimit, which then execs rampart (same process).
func startLimited(t *testing.T, nofile int, extra ...string) *node {
	t.Helper()
	prlimit := need(t, "prlimit", "util-linux")
	n := &node{t: t, data: t.TempDir(), admin: testport.Addr(t), http: testport.Addr(t), https: testport.Addr(t), out: &syncBuffer{}}
	n.cliConfig = filepath.Join(t.TempDir(), "cli.json")
	n.args = append([]string{"serve", "--data", n.data, "--admin-addr", n.admin, "--http-addr", n.http, "--https-addr", n.https}, extra...)
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("rampart serve output:\n%s", n.out.String())
		}
	})
	n.waited = make(chan error, 1)
	n.cmd = exec.Command(prlimit, append([]string{"--nofile=" + strconv.Itoa(nofile), "--", bin}, n.args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	n.cmd.Env = n.env()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, waited := n.cmd, n.waited
	go func() { waited <- cmd.Wait() }()
	eventually(t, "rampart serve to answer /healthz", func() bool {
		select {
		case err := <-waited:
			n.cmd = nil
			t.Fatalf("rampart serve exited early (%v):\n%s", err, n.out.String())
		default:
		}
		resp, err := http.Get("http://" + n.admin + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return n
}

// slowUpstream is the app behind the edge: it reads request bodies whole,
// and /big answers 1 MB (for the slow-read attack).
func slowUpstream(t *testing.T) *httptest.Server {
	big := strings.Repeat("rampart ", 1<<17)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		fmt.Fprintf(w, "app got %d bytes", len(b))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// prober checks, from an address of its own and on a new connection each
// time, that the admin listener's /healthz, an API call and a request
// through the edge all succeed, until stop.
type prober struct {
	n      *node
	token  string
	host   string
	client *http.Client
	mu     sync.Mutex
	ok     int
	fails  []string
	stop   chan struct{}
	done   chan struct{}
}

func (n *node) startProber(token, host, src string) *prober {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	p := &prober{n: n, token: token, host: host, stop: make(chan struct{}), done: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 5 * time.Second}}
	go p.run()
	return p
}

func (p *prober) run() {
	defer close(p.done)
	for {
		for _, c := range []struct{ what, url, host, want string }{
			{"admin /healthz", "http://" + p.n.admin + "/healthz", "", "ok"},
			{"API GET /api/v1/services", "http://" + p.n.admin + "/api/v1/services", "", `"name":"app"`},
			{"edge request", "http://" + p.n.http + "/probe", p.host, "app got 0 bytes"},
		} {
			req, _ := http.NewRequest("GET", c.url, nil)
			if c.host != "" {
				req.Host = c.host
			} else {
				req.Header.Set("Authorization", "Bearer "+p.token)
			}
			start := time.Now()
			resp, err := p.client.Do(req)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && (resp.StatusCode != 200 || !strings.Contains(string(body), c.want)) {
					err = fmt.Errorf("status %d, body %.200q", resp.StatusCode, body)
				}
			}
			p.mu.Lock()
			if err != nil {
				p.fails = append(p.fails, fmt.Sprintf("%s at %s (after %v): %v", c.what, start.Format("15:04:05.000"), time.Since(start).Round(time.Millisecond), err))
			} else {
				p.ok++
			}
			p.mu.Unlock()
		}
		select {
		case <-p.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// finish stops the prober and fails t if any probe failed.
func (p *prober) finish(t *testing.T, during string) {
	t.Helper()
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.fails {
		t.Errorf("during %s: %s", during, f)
	}
	if p.ok < 3 {
		t.Errorf("during %s: only %d probes ran", during, p.ok)
	}
}

// slowConn is one attacking connection and what became of it.
type slowConn struct {
	src    string
	target string // "edge" or "admin"
	kind   string // "slow body" or "slowloris"
	lived  time.Duration
	err    error // dial error
}

// attack opens one slow connection: a POST announcing 100000 bytes of body
// and sending none, or request headers that trickle in and never end. It
// returns once the server closes the connection, or after limit.
func attack(addr, host, src, kind string, limit time.Duration) slowConn {
	sc := slowConn{src: src, kind: kind}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		// Refused: the server's reset came before connect returned.
		return sc
	}
	if err != nil {
		sc.err = err
		return sc
	}
	defer c.Close()
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	if kind == "slow body" {
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n", host)
	} else {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n", host)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				if _, err := fmt.Fprintf(c, "X-Slow-%d: still here\r\n", i); err != nil {
					return
				}
			}
		}()
	}
	c.SetReadDeadline(start.Add(limit))
	_, err = io.Copy(io.Discard, c)
	sc.lived = time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		sc.lived = -1 // never closed
	}
	return sc
}

// TestSlowClients is issue 8's slow-client attack against the real binary,
// its descriptor limit set low: slow-body and slowloris connections, more
// than the per-client cap from each of many loopback addresses and more
// in all than the process may open, on the edge and the admin listener.
// Meanwhile the dashboard's /healthz, the API and the edge answer a client
// at another address, and every slow connection is closed within the
// configured time. Then Debian's slowhttptest in its slowloris, slow-body
// and slow-read modes, against both listeners.
func TestSlowClients(t *testing.T) {
	slowhttptest := need(t, "slowhttptest", "slowhttptest")
	n := startLimited(t, slowNoFile, "--platform-domain", domain,
		"--limits-connections-per-client", strconv.Itoa(slowPerClient),
		"--limits-header-timeout", slowWindow.String(),
		"--limits-transfer-window", slowWindow.String(),
		"--limits-transfer-min-bytes", "1024")
	token := n.adminSetup()
	app := slowUpstream(t)
	n.must("", "service", "create", "app", "--upstream", app.URL)
	host := "app." + domain
	eventually(t, "app routed", func() bool { r, _ := n.edgeGet(t, client("127.0.3.9"), host, "/"); return r.StatusCode == 200 })

	t.Run("raw", func(t *testing.T) {
		p := n.startProber(token, host, "127.0.3.1")
		// 20 addresses on the edge and 6 on the admin listener, 30
		// connections each: 780 in all, over the limit of 512.
		const perAddr = 30
		limit := slowWindow + 6*time.Second
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []slowConn
		for _, side := range []struct {
			name, addr, host, net string
			addrs                 int
		}{{"edge", n.http, host, "127.0.1.", 20}, {"admin", n.admin, "localhost", "127.0.2.", 6}} {
			for a := 1; a <= side.addrs; a++ {
				src := side.net + strconv.Itoa(a)
				for i := range perAddr {
					kind := "slow body"
					if i%2 == 1 {
						kind = "slowloris"
					}
					wg.Go(func() {
						sc := attack(side.addr, side.host, src, kind, limit)
						sc.target = side.name
						mu.Lock()
						conns = append(conns, sc)
						mu.Unlock()
					})
				}
			}
		}
		wg.Wait()
		p.finish(t, "the slow-body and slowloris flood")

		held := map[string]int{} // per source address: connections the server kept a while
		var total, heldEdge, heldAdmin int
		var longest time.Duration
		for _, c := range conns {
			total++
			switch {
			case c.err != nil:
				t.Errorf("%s %s from %s: dial: %v", c.target, c.kind, c.src, c.err)
			case c.lived < 0:
				t.Errorf("%s %s from %s: still open after %v: the configured %v did not cut it", c.target, c.kind, c.src, limit, slowWindow)
			case c.lived >= slowWindow/2:
				longest = max(longest, c.lived)
				held[c.src]++
				if c.target == "edge" {
					heldEdge++
				} else {
					heldAdmin++
				}
			}
		}
		for src, k := range held {
			if k > slowPerClient {
				t.Errorf("the server held %d slow connections from %s, over the per-client cap of %d", k, src, slowPerClient)
			}
		}
		t.Logf("%d slow connections; the server held %d on the edge and %d on the admin listener for a while (the longest %v), refused the rest at once", total, heldEdge, heldAdmin, longest.Round(time.Millisecond))
		// The header timeout and the transfer window are both slowWindow;
		// a loaded machine may take a moment more to close.
		if longest > slowWindow+2*time.Second {
			t.Errorf("a slow connection lasted %v, configured to be cut after %v", longest, slowWindow)
		}
		if heldEdge < 100 || heldAdmin < 20 {
			t.Errorf("the server held only %d (edge) and %d (admin) slow connections: the attack did not reach it", heldEdge, heldAdmin)
		}
		metrics := n.metrics(t)
		for _, m := range []string{
			`rampart_connections_refused_total{listener="edge",reason="per_client"}`,
			`rampart_connections_refused_total{listener="edge",reason="total"}`,
			`rampart_connections_refused_total{listener="admin",reason="per_client"}`,
		} {
			if v := metricValue(metrics, m); v <= 0 {
				t.Errorf("%s = %v, want > 0", m, v)
			}
		}
		if v := metricValue(metrics, `rampart_connections_refused_total{listener="edge",reason="no_descriptors"}`); v != 0 {
			t.Errorf("the server ran out of descriptors %v times: the caps do not fit its limit", v)
		}
		if strings.Contains(n.out.String(), "too many open files") {
			t.Error("the server logged 'too many open files'")
		}
	})

	// The HTTPS side goes through the same guard and the same body rate,
	// on HTTP/1.1 (the fast lane's TLS listener) and on HTTP/2 (a
	// stream's own read deadline).
	t.Run("https", func(t *testing.T) {
		tlsConf := &tls.Config{ServerName: host, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.4.1")}, Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", n.https, tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n", host)
		c.SetReadDeadline(start.Add(slowWindow + 6*time.Second))
		_, err = io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > slowWindow+2*time.Second {
			t.Errorf("a slow body over HTTPS/1.1 lasted %v (%v), configured to be cut after %v", time.Since(start).Round(time.Millisecond), err, slowWindow)
		}

		h2 := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.4.2")}}).DialContext,
			TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
		defer h2.CloseIdleConnections()
		body, never := io.Pipe()
		defer never.Close()
		req, _ := http.NewRequest("POST", "https://"+n.https+"/upload", body)
		req.Host, req.ContentLength = host, 100000
		ctx, cancel := context.WithTimeout(context.Background(), slowWindow+6*time.Second)
		defer cancel()
		start = time.Now()
		resp, err := (&http.Client{Transport: h2}).Do(req.WithContext(ctx))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Errorf("the request went over %s, want HTTP/2", resp.Proto)
			}
			if resp.StatusCode == 200 {
				t.Errorf("a body that never came was answered 200")
			}
		}
		t.Logf("HTTP/2 slow body ended after %v: response %v, error %v", time.Since(start).Round(time.Millisecond), statusOf(resp), err)
		if ctx.Err() != nil || time.Since(start) > slowWindow+2*time.Second {
			t.Errorf("a slow body over HTTP/2 lasted %v (%v), configured to be cut after %v", time.Since(start).Round(time.Millisecond), err, slowWindow)
		}
	})

	// slowhttptest connects from 127.0.0.1; the edge's requests name the
	// service's host through its proxy option (the request line carries
	// the absolute URL, as to a forward proxy, which net/http accepts).
	// Its own verdict ("service available") comes from a probe at the
	// attacker's address, which the per-client cap refuses by design:
	// availability is what the prober at another address sees.
	runs := []struct {
		name, mode, seconds string
	}{
		{"slowloris", "-H", "4"},
		{"slow body", "-B", "4"},
		// Long enough for the kernel's send buffer, which grows while
		// the client reads nothing, to fill and a window to pass.
		{"slow read", "-X", "8"},
	}
	for _, run := range runs {
		t.Run("slowhttptest "+run.name, func(t *testing.T) {
			refused := func(listener string) float64 {
				return metricValue(n.metrics(t), `rampart_connections_refused_total{listener="`+listener+`",reason="per_client"}`)
			}
			edgeBefore, adminBefore := refused("edge"), refused("admin")
			p := n.startProber(token, host, "127.0.3.2")
			var wg sync.WaitGroup
			for _, target := range []struct{ name, url, proxy string }{
				{"edge", "http://" + host + "/big", n.http},
				{"admin", "http://" + n.admin + "/api/v1/openapi.json", ""},
			} {
				wg.Go(func() {
					args := []string{run.mode, "-c", "150", "-r", "150", "-l", run.seconds, "-i", "1", "-p", "3", "-u", target.url}
					if target.proxy != "" {
						args = append(args, "-d", target.proxy)
					}
					if run.mode == "-X" {
						args = append(args, "-k", "4", "-n", "1", "-w", "1", "-y", "64", "-z", "16")
					}
					out := runSlowhttptest(t, slowhttptest, args)
					if !strings.Contains(out, "Exit status:") {
						t.Errorf("slowhttptest %s against the %s did not run to its end:\n%s", run.name, target.name, out)
					}
				})
			}
			wg.Wait()
			p.finish(t, "slowhttptest "+run.name)
			// 150 connections from one address: the attack reached a
			// listener if its per-client cap refused some. The admin
			// side answers a POST it does not take (no session) at once
			// and closes, so slow bodies never pile up there.
			if e := refused("edge"); e <= edgeBefore {
				t.Errorf("the edge's per-client refusals stayed at %v: the attack did not reach it", e)
			}
			if a := refused("admin"); a <= adminBefore && run.mode != "-B" {
				t.Errorf("the admin listener's per-client refusals stayed at %v: the attack did not reach it", a)
			}
			if run.mode == "-X" && !strings.Contains(n.out.String(), "the client reads the response too slowly") {
				t.Error("the edge did not cut a slow reader (no 'reads the response too slowly' in its log)")
			}
		})
	}
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "none"
	}
	return resp.Proto + " " + resp.Status
}

// runSlowhttptest runs slowhttptest with a bound on its time and returns
// its output, without its progress lines' terminal escapes.
func runSlowhttptest(t *testing.T, prog string, args []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Errorf("slowhttptest %v did not finish in 30 s", args)
	} else if err != nil {
		t.Errorf("slowhttptest %v: %v", args, err)
	}
	return regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`).ReplaceAllString(string(out), "")
}

// metrics returns the admin listener's /metrics.
func (n *node) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + n.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue finds the sample named exactly name (with its labels) in a
// Prometheus text exposition; -1 when it is missing.
func metricValue(text, name string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
