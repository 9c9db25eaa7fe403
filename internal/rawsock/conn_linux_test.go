package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pair returns a wrapped server end and a plain client end of a loopback
// TCP connection.
func pair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := Listener(ln).Accept()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := sc.(*Conn)
	if !ok {
		t.Fatalf("Accept returned %T, want *rawsock.Conn", sc)
	}
	t.Cleanup(func() { c.Close(); client.Close() })
	return c, client.(*net.TCPConn)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestReadWriteBothWays(t *testing.T) {
	c, client := pair(t)
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\n\r\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if n, err := c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")); n != 27 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got := make([]byte, 27)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "HTTP/1.1 204 No Content\r\n\r\n" {
		t.Fatalf("client read %q, %v", got, err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v; want 0, nil", n, err)
	}
}

// A raw write that meets a full socket buffer waits in the poller and goes
// on when the peer reads: every byte arrives, in order, whatever the size
// of the writes (below, at and above maxRaw).
func TestWriteWaitsForAFullBuffer(t *testing.T) {
	for _, size := range []int{1000, maxRaw, maxRaw + 1, 1 << 20} {
		c, client := pair(t)
		_ = client.SetReadBuffer(64 << 10)
		writes := max(4, (4<<20)/size)
		data := pattern(size * writes)
		done := make(chan error, 1)
		go func() {
			for i := range writes {
				n, err := c.Write(data[i*size : (i+1)*size])
				if err != nil || n != size {
					done <- errors.Join(err, errors.New("short write"))
					return
				}
			}
			done <- c.CloseWrite()
		}()
		time.Sleep(50 * time.Millisecond) // let the buffers fill
		got, err := io.ReadAll(client)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: received %d bytes, not the %d written in order", size, len(got), len(data))
		}
	}
}

// Reads of any buffer size get the stream whole; a buffer over maxRaw
// reads at most maxRaw at a time.
func TestReadLargeBuffer(t *testing.T) {
	c, client := pair(t)
	data := pattern(3 << 20)
	go func() { client.Write(data); client.CloseWrite() }()
	var got []byte
	buf := make([]byte, 1<<20)
	for {
		n, err := c.Read(buf)
		if n > maxRaw {
			t.Fatalf("one Read returned %d bytes, more than maxRaw", n)
		}
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(data))
	}
}

func TestEOF(t *testing.T) {
	c, client := pair(t)
	client.Write([]byte("last"))
	client.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "last" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestReadDeadline(t *testing.T) {
	c, _ := pair(t)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read = %v; want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Read's error %#v: want an *net.OpError named read", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("Read returned after %v, before its deadline", d)
	}
	// A deadline in the past fails at once; lifting it reads again.
	c.SetReadDeadline(time.Time{})
}

// A write to a peer that reads nothing stops at the write deadline and says
// how much the kernel took: connguard's slow-reader rule counts on it.
func TestWriteDeadlinePartial(t *testing.T) {
	c, client := pair(t)
	_ = client.SetReadBuffer(4096)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	total := 0
	var err error
	for err == nil && total < 64<<20 {
		var n int
		n, err = c.Write(pattern(maxRaw))
		total += n
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after %d bytes, Write = %v; want the deadline", total, err)
	}
	if total == 0 {
		t.Fatal("the kernel took nothing before the deadline")
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	c, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the Read")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v; want net.ErrClosed", err)
	}
}

// A peer's reset reaches Read and Write as the errno, as for a TCPConn.
func TestReset(t *testing.T) {
	c, client := pair(t)
	client.SetLinger(0)
	client.Close()
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after a reset = %v; want ECONNRESET", err)
	}
	var err error
	for range 10 {
		if _, err = c.Write([]byte("x")); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Write after a reset = %v; want EPIPE or ECONNRESET", err)
	}
}

// One reader and one writer may run at once, as on any net.Conn (net/http
// reads the next request while a response is written); so may several
// writers, each Write whole.
func TestConcurrentUse(t *testing.T) {
	c, client := pair(t)
	go io.Copy(client, client) // echo
	const writers, each, size = 4, 50, 1000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range each {
				if n, err := c.Write(msg); n != size || err != nil {
					t.Errorf("Write = %d, %v", n, err)
					return
				}
			}
		}()
	}
	got := make([]byte, writers*each*size)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// Each Write is one run of its letter: count the runs' lengths.
	for i := 0; i < len(got); i += size {
		if !bytes.Equal(got[i:i+size], bytes.Repeat(got[i:i+1], size)) {
			t.Fatalf("writes interleaved at byte %d", i)
		}
	}
}

func TestWrapLeavesOthersAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap changed a connection that is not a *net.TCPConn")
	}
	c, _ := pair(t)
	if _, ok := c.NetConn().(*net.TCPConn); !ok {
		t.Fatal("NetConn does not give the TCPConn")
	}
	// What the edge asks of the socket under it still works.
	if _, err := c.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRoundTrip compares a request-sized write and read on a wrapped
// connection with the same on a plain one.
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range []string{"tcpconn", "rawsock"} {
		b.Run(name, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			go func() {
				s, err := ln.Accept()
				if err == nil {
					io.Copy(s, s)
				}
			}()
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			if name == "rawsock" {
				nc = Wrap(nc)
			}
			msg, buf := pattern(512), make([]byte, 512)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				nc.Write(msg)
				io.ReadFull(nc, buf)
			}
		})
	}
}
