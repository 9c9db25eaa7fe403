package firewall

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests build small networks of namespaces joined by veth pairs and
// send real packets through rampart's ruleset. They need root and the ip
// and nft commands (Debian's iproute2 and nftables); nft only inspects and
// plays the part of other programs (Docker's NAT table, someone deleting
// the table). Nothing runs in the host's own namespace: the host's ruleset
// is never read or changed.

// need skips the test, or fails it when CI=true, unless the machine can
// run namespace tests.
func need(tb testing.TB) {
	tb.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and nftables need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
	}
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, fmt.Sprintf("the %s command (apt-get install %s)", cmd, map[string]string{"ip": "iproute2", "nft": "nftables"}[cmd]))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "namespace tests need " + strings.Join(missing, " and ")
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + "; CI must run them")
	}
	tb.Skip(msg)
}

// netns is a network namespace made for one test and deleted after it.
type netns struct {
	name string
	fd   int
}

var nsSeq atomic.Int64

func newNS(tb testing.TB, role string) *netns {
	tb.Helper()
	name := fmt.Sprintf("rfw-%d-%d-%s", os.Getpid(), nsSeq.Add(1), role)
	run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	ns := &netns{name: name, fd: int(f.Fd())}
	ns.run(tb, "ip", "link", "set", "lo", "up")
	return ns
}

func run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// run runs a command inside the namespace.
func (ns *netns) run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	return run(tb, "ip", append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// nft runs nft inside the namespace, with a script on its standard input
// when one is given.
func (ns *netns) nft(tb testing.TB, script string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.name, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("nft %s in %s: %v\n%s", strings.Join(args, " "), ns.name, err, out)
	}
	return string(out)
}

// link joins two namespaces with a veth pair and gives each end its
// addresses (IPv6 ones without duplicate address detection, so they are
// usable at once).
func link(tb testing.TB, a, b *netns, aAddrs, bAddrs []string) {
	tb.Helper()
	run(tb, "ip", "link", "add", "veth-"+b.name[len(b.name)-1:], "netns", a.name, "type", "veth",
		"peer", "name", "veth-"+a.name[len(a.name)-1:], "netns", b.name)
	for _, side := range []struct {
		ns    *netns
		dev   string
		addrs []string
	}{{a, "veth-" + b.name[len(b.name)-1:], aAddrs}, {b, "veth-" + a.name[len(a.name)-1:], bAddrs}} {
		for _, addr := range side.addrs {
			args := []string{"addr", "add", addr, "dev", side.dev}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			side.ns.run(tb, "ip", args...)
		}
		side.ns.run(tb, "ip", "link", "set", side.dev, "up")
	}
}

// in runs fn on an OS thread switched into the namespace: sockets created
// there belong to the namespace for the rest of their lives.
func (ns *netns) in(tb testing.TB, fn func()) {
	tb.Helper()
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatal(err)
	}
	defer self.Close()
	if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("entering %s: %v", ns.name, err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: Go ends it with the goroutine
			// rather than reuse it in the wrong namespace.
			tb.Errorf("leaving %s: %v", ns.name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// serveTCP listens on [::]:port (IPv4 and IPv6) in the namespace and
// answers each connection with its first line echoed back.
func (ns *netns) serveTCP(tb testing.TB, port int) {
	tb.Helper()
	var l net.Listener
	var err error
	ns.in(tb, func() { l, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", port)) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
}

// serveUDP echoes datagrams on [::]:port in the namespace.
func (ns *netns) serveUDP(tb testing.TB, port int) {
	tb.Helper()
	var pc net.PacketConn
	var err error
	ns.in(tb, func() { pc, err = net.ListenPacket("udp", fmt.Sprintf("[::]:%d", port)) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
}

// How long a check waits for an answer. A veth round trip takes
// microseconds, so when the answer is expected not to come, a short wait
// is enough (expectClosed); when it is expected, the wait is long, so that
// a machine busy with other work does not fail the test (expectOpen).
const (
	expectClosed = 400 * time.Millisecond
	expectOpen   = 10 * time.Second
)

// dialTCP connects from the namespace, from the local address src, to dst
// ("host:port").
func (ns *netns) dialTCP(tb testing.TB, src, dst string, timeout time.Duration) (net.Conn, error) {
	tb.Helper()
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	var c net.Conn
	var err error
	ns.in(tb, func() {
		// The socket is created (in the namespace) before DialContext
		// returns; only its waiting happens elsewhere.
		c, err = d.DialContext(context.Background(), "tcp", dst)
	})
	return c, err
}

// tcpWorks reports whether a TCP connection from src to dst is set up and
// carries data both ways within wait.
func (ns *netns) tcpWorks(tb testing.TB, src, dst string, wait time.Duration) bool {
	tb.Helper()
	c, err := ns.dialTCP(tb, src, dst, wait)
	if err != nil {
		return false
	}
	defer c.Close()
	return echoes(c, wait)
}

func echoes(c net.Conn, wait time.Duration) bool {
	_ = c.SetDeadline(time.Now().Add(wait))
	msg := []byte("ping\n")
	if _, err := c.Write(msg); err != nil {
		return false
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return err == nil && bytes.Equal(got, msg)
}

// udpWorks reports whether a datagram from src to dst is echoed back
// within wait.
func (ns *netns) udpWorks(tb testing.TB, src, dst string, wait time.Duration) bool {
	tb.Helper()
	var c net.Conn
	var err error
	ns.in(tb, func() {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}
		c, err = d.Dial("udp", dst)
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return echoes(c, wait)
}

// wait is how long to wait for an answer that is wanted or not.
func wait(want bool) time.Duration {
	if want {
		return expectOpen
	}
	return expectClosed
}

// lab is the network most tests use: a server, where the ruleset is
// applied, and a client with two addresses of each family, so that
// source-restricted rules can be tested from inside and outside their
// sources.
type lab struct {
	server, client *netns
	fw             *Firewall
}

const (
	server4, server6   = "10.99.0.1", "fd99::1"
	client4, client6   = "10.99.0.2", "fd99::2"
	client4b, client6b = "10.99.0.3", "fd99::3"
)

func newLab(tb testing.TB) *lab {
	tb.Helper()
	need(tb)
	l := &lab{server: newNS(tb, "s"), client: newNS(tb, "c")}
	link(tb, l.server, l.client,
		[]string{server4 + "/24", server6 + "/64"},
		[]string{client4 + "/24", client4b + "/24", client6 + "/64", client6b + "/64"})
	l.fw = New(Options{NetNS: l.server.fd})
	return l
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, fmt.Sprint(port)) }
