package connguard

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is a guarded loopback listener whose accepted connections the test
// can look at and close.
type server struct {
	t        *testing.T
	g        *Guard
	ln       net.Listener
	accepted chan net.Conn
}

func newServer(t *testing.T, l Limits) *server {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := New("test", l, nil)
	s := &server{t: t, g: g, ln: g.Listener(raw), accepted: make(chan net.Conn, 100)}
	go func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- c
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		g.Close()
	})
	return s
}

// dial connects from the loopback address src (all of 127/8 is loopback on
// Linux).
func (s *server) dial(src string) net.Conn {
	s.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.ln.Addr().String())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// admitted dials from src and reports whether the guard let the
// connection through: a refused one is reset without a byte.
func (s *server) admitted(src string) (net.Conn, bool) {
	s.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.ln.Addr().String())
	if errors.Is(err, syscall.ECONNRESET) {
		return nil, false // the guard's reset came before connect returned
	}
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	select {
	case sc := <-s.accepted:
		s.t.Cleanup(func() { sc.Close() })
		if sc.RemoteAddr().String() != c.LocalAddr().String() {
			s.t.Fatalf("accepted %s, dialed from %s", sc.RemoteAddr(), c.LocalAddr())
		}
		return sc, true
	case <-time.After(300 * time.Millisecond):
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		s.t.Fatalf("connection from %s neither accepted nor closed (%v)", src, err)
	}
	return nil, false
}

func TestPerClientCap(t *testing.T) {
	s := newServer(t, Limits{PerClient: 3})
	var mine []net.Conn
	for i := range 3 {
		c, ok := s.admitted("127.0.0.2")
		if !ok {
			t.Fatalf("connection %d of 3 refused", i+1)
		}
		mine = append(mine, c)
	}
	if _, ok := s.admitted("127.0.0.2"); ok {
		t.Fatal("a 4th connection from one address got in over a cap of 3")
	}
	if _, ok := s.admitted("127.0.0.3"); !ok {
		t.Fatal("another address was refused")
	}
	if n := s.g.Refused(ReasonPerClient); n != 1 {
		t.Errorf("Refused(per_client) = %d, want 1", n)
	}
	// Closing one gives its place back, once however often it is closed.
	mine[0].Close()
	mine[0].Close()
	if _, ok := s.admitted("127.0.0.2"); !ok {
		t.Fatal("a closed connection's place was not given back")
	}
	if _, ok := s.admitted("127.0.0.2"); ok {
		t.Fatal("a double Close gave back two places")
	}
	if n := s.g.Open(); n != 4 {
		t.Errorf("Open() = %d, want 4", n)
	}
}

func TestTotalCapLetsNewcomersIn(t *testing.T) {
	l := Limits{PerClient: 10, Total: 4}
	if l.Hard() != 6 {
		t.Fatalf("Hard() = %d, want 6", l.Hard())
	}
	s := newServer(t, l)
	for i := range 4 {
		if _, ok := s.admitted("127.0.0.2"); !ok {
			t.Fatalf("connection %d of 4 refused", i+1)
		}
	}
	if _, ok := s.admitted("127.0.0.2"); ok {
		t.Fatal("past the total, a client with 4 connections got a 5th")
	}
	// A newcomer still gets NewcomerConns, up to the hard ceiling.
	if _, ok := s.admitted("127.0.0.3"); !ok {
		t.Fatal("a newcomer was refused past the soft total")
	}
	if _, ok := s.admitted("127.0.0.3"); !ok {
		t.Fatal("a newcomer's second connection was refused")
	}
	if _, ok := s.admitted("127.0.0.4"); ok {
		t.Fatal("a connection got in past the hard ceiling")
	}
	if n := s.g.Refused(ReasonTotal); n != 2 {
		t.Errorf("Refused(total) = %d, want 2", n)
	}
}

func TestIPv6CountsBySlash64(t *testing.T) {
	g := New("test", Limits{PerClient: 2}, nil)
	defer g.Close()
	key := func(s string) netip.Addr {
		k, ok := g.limits.clientKey(&net.TCPAddr{IP: net.ParseIP(s), Port: 1234})
		if !ok {
			t.Fatalf("no key for %s", s)
		}
		return k
	}
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if ok, _ := g.admit(key(a), true); !ok {
			t.Fatalf("%s refused", a)
		}
	}
	if ok, reason := g.admit(key("2001:db8:1:2:abcd::1"), true); ok || reason != ReasonPerClient {
		t.Fatalf("a third address in one /64 got in (reason %q)", reason)
	}
	if ok, _ := g.admit(key("2001:db8:1:3::1"), true); !ok {
		t.Fatal("the next /64 was refused")
	}
	// IPv4 counts by address, including in its IPv6-mapped form.
	if key("::ffff:192.0.2.1") != key("192.0.2.1") || key("192.0.2.1") == key("192.0.2.2") {
		t.Error("IPv4 keys are not per address")
	}
	g.release(key("2001:db8:1:2::1"), true)
	if ok, _ := g.admit(key("2001:db8:1:2::77"), true); !ok {
		t.Fatal("release did not give the /64 its place back")
	}
	for i := range g.shard {
		for k, n := range g.shard[i].n {
			if n <= 0 {
				t.Errorf("entry %s holds %d", k, n)
			}
		}
	}
}

// A trusted proxy carries many clients: the per-client cap does not apply
// to it, the total does.
func TestExemptPeers(t *testing.T) {
	proxy := netip.MustParseAddr("127.0.0.9")
	s := newServer(t, Limits{PerClient: 2, Total: 4, Exempt: func(a netip.Addr) bool { return a == proxy }})
	for i := range 4 {
		if _, ok := s.admitted("127.0.0.9"); !ok {
			t.Fatalf("the proxy's connection %d was refused under a per-client cap of 2", i+1)
		}
	}
	if _, ok := s.admitted("127.0.0.9"); ok {
		t.Fatal("the proxy got past the total")
	}
	if _, ok := s.admitted("127.0.0.2"); !ok {
		t.Fatal("a newcomer was refused")
	}
}

// fakeListener answers Accept from a script: EMFILE, or a connection.
type fakeListener struct {
	mu     sync.Mutex
	script []error // nil: return a connection
	calls  int
	closed []*fakeConn
}

type fakeConn struct {
	net.Conn
	closed bool
}

func (c *fakeConn) Close() error         { c.closed = true; return nil }
func (c *fakeConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1} }

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls >= len(l.script) {
		return nil, net.ErrClosed
	}
	err := l.script[l.calls]
	l.calls++
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", err)}
	}
	c := &fakeConn{}
	l.closed = append(l.closed, c)
	return c, nil
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestEMFILEBacksOff(t *testing.T) {
	emfile, enfile := syscall.EMFILE, syscall.ENFILE
	// accept fails; the shed accepts the waiting connection and closes
	// it; accept fails again and the shed finds nothing; then a
	// connection arrives.
	fl := &fakeListener{script: []error{emfile, nil, enfile, emfile, nil}}
	g := New("test", Limits{}, nil)
	defer g.Close()
	ln := g.Listener(fl)
	start := time.Now()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v, want the connection after the EMFILEs", err)
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("Accept returned after %v: it did not back off (5 ms, then 10 ms)", d)
	}
	if fl.calls != 5 {
		t.Errorf("underlying Accept called %d times, want 5", fl.calls)
	}
	if !fl.closed[0].closed {
		t.Error("the connection accepted with the spare descriptor was not closed")
	}
	if fl.closed[1].closed {
		t.Error("the connection handed out is closed")
	}
	if n := g.Refused(ReasonNoFiles); n != 2 {
		t.Errorf("Refused(no_descriptors) = %d, want 2", n)
	}
	if g.spare == nil {
		t.Error("the spare descriptor was not reopened")
	}
	c.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("after the script, Accept = %v, want net.ErrClosed passed through", err)
	}
}

// pair returns a guarded server-side connection and its client, with small
// socket buffers so that a client that reads nothing blocks writes soon.
func pair(t *testing.T, l Limits) (server *conn, client net.Conn) {
	t.Helper()
	s := newServer(t, l)
	c := s.dial("127.0.0.1")
	c.(*net.TCPConn).SetReadBuffer(8 << 10)
	sc := <-s.accepted
	t.Cleanup(func() { sc.Close() })
	gc := sc.(*conn)
	gc.Conn.(*net.TCPConn).SetWriteBuffer(8 << 10)
	return gc, c
}

func TestWriteCutsAClientThatReadsNothing(t *testing.T) {
	sc, _ := pair(t, Limits{Window: 300 * time.Millisecond, MinBytes: 1024})
	start := time.Now()
	n, err := sc.Write(make([]byte, 16<<20))
	if !errors.Is(err, ErrSlowReader) {
		t.Fatalf("Write = %d, %v; want ErrSlowReader", n, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("cut after %v, want about 300 ms", d)
	}
	if _, err := sc.Write([]byte("x")); err == nil {
		t.Error("the connection is still open after the cut")
	}
	if n := sc.g.Open(); n != 0 {
		t.Errorf("Open() = %d after the cut, want 0", n)
	}
}

func TestWriteKeepsASlowReaderThatMoves(t *testing.T) {
	// Loopback's large segments make the window open in big steps, so the
	// window here is longer than the pauses those steps cause.
	sc, c := pair(t, Limits{Window: time.Second, MinBytes: 16 << 10})
	const size = 320 << 10
	read := make(chan int)
	go func() {
		// About 160 KB/s, far above the minimum of 16 KiB per second,
		// for more than one window.
		total, buf := 0, make([]byte, 8<<10)
		for total < size {
			n, err := io.ReadFull(c, buf[:min(len(buf), size-total)])
			total += n
			if err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		read <- total
	}()
	start := time.Now()
	if n, err := sc.Write(make([]byte, size)); err != nil || n != size {
		t.Fatalf("Write = %d, %v; a slow reader that moves was cut", n, err)
	}
	if got := <-read; got != size {
		t.Fatalf("client read %d bytes of %d", got, size)
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("the write took %v: the test did not span several windows (socket buffers too large?)", d)
	}
}

func TestWriteHonoursTheCallersDeadline(t *testing.T) {
	sc, _ := pair(t, Limits{Window: 5 * time.Second, MinBytes: 1})
	sc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	_, err := sc.Write(make([]byte, 16<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrSlowReader) {
		t.Fatalf("Write = %v, want the caller's deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the caller's 200 ms deadline took %v", d)
	}
}

func TestBudget(t *testing.T) {
	p, err := Budget(65536, 256, 0)
	if err != nil {
		t.Fatal(err)
	}
	used := p.Reserve + p.Admin.Hard() + 2*p.Edge.Hard()
	if used > 65536 || p.Edge.Total < 20000 || p.Admin.Total < 200 {
		t.Errorf("Budget(65536) = %+v, uses %d descriptors", p, used)
	}
	if p.Admin.PerClient > p.Admin.Total/4 || p.Edge.PerClient != 256 {
		t.Errorf("per-client caps %d (admin), %d (edge)", p.Admin.PerClient, p.Edge.PerClient)
	}
	p, err = Budget(512, 256, 0)
	if err != nil {
		t.Fatal(err)
	}
	if used := p.Reserve + p.Admin.Hard() + 2*p.Edge.Hard(); used > 512 {
		t.Errorf("Budget(512) = %+v, uses %d descriptors", p, used)
	}
	if _, err := Budget(65536, 256, 40000); err == nil {
		t.Error("a total the descriptors cannot carry was accepted")
	}
	if _, err := Budget(32, 256, 0); err == nil {
		t.Error("32 descriptors were accepted")
	}
}

// BenchmarkAdmitRelease is the guard's cost per connection: one atomic
// add, one shard lock and a map update on accept, the same on close.
func BenchmarkAdmitRelease(b *testing.B) {
	g := New("bench", Limits{PerClient: 1 << 20, Total: 1 << 30}, nil)
	defer g.Close()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			a, _ := netip.AddrFromSlice([]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if ok, _ := g.admit(a, true); !ok {
				b.Fatal("refused")
			}
			g.release(a, true)
		}
	})
}

// BenchmarkAcceptClose is a whole guarded accept and close over loopback,
// next to BenchmarkAcceptCloseBare without the guard.
func BenchmarkAcceptClose(b *testing.B)     { benchAccept(b, true) }
func BenchmarkAcceptCloseBare(b *testing.B) { benchAccept(b, false) }

func benchAccept(b *testing.B, guarded bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := New("bench", Limits{PerClient: 1 << 20, Total: 1 << 20, Window: time.Minute, MinBytes: 1}, nil)
	defer g.Close()
	if guarded {
		ln = g.Listener(ln)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Read(make([]byte, 1))
		c.Close()
	}
}

// BenchmarkWrite is a small write on a guarded connection, the common
// case: the kernel takes it at once.
func BenchmarkWrite(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		name := "bare"
		if guarded {
			name = "guarded"
		}
		b.Run(name, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			g := New("bench", Limits{Window: 30 * time.Second, MinBytes: 4096}, nil)
			defer g.Close()
			var l net.Listener = ln
			if guarded {
				l = g.Listener(ln)
			}
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err == nil {
					io.Copy(io.Discard, c)
				}
			}()
			sc, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer sc.Close()
			p := make([]byte, 512)
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for range b.N {
				if _, err := sc.Write(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
