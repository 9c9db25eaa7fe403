package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/rawsock/rawsocktest"
)

// answerAfter has client read one request of len(want) bytes and answer
// it after d.
func answerAfter(t *testing.T, client *net.TCPConn, want, answer string, d time.Duration) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(client, got); err != nil || string(got) != want {
			done <- errors.Join(err, errors.New("the peer read "+strconv.Quote(string(got))))
			return
		}
		time.Sleep(d)
		_, err := client.Write([]byte(answer))
		done <- err
	}()
	return done
}

// The answer comes whether it is there at once or only later: the wait
// for it starts after the write and misses nothing.
func TestWriteReadAnswer(t *testing.T) {
	for _, d := range []time.Duration{0, 30 * time.Millisecond} {
		c, client := pair(t)
		done := answerAfter(t, client, "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n", d)
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		wn, rn, err := c.WriteRead([]byte("GET / HTTP/1.1\r\n\r\n"), buf)
		if wn != 18 || err != nil || string(buf[:rn]) != "HTTP/1.1 204 No Content\r\n\r\n" {
			t.Fatalf("delay %v: WriteRead = %d, %q, %v", d, wn, buf[:rn], err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// The point of WriteRead: an answer that takes a while costs one read(2),
// where Write then Read costs two (the first finds nothing). Counted on
// the test's own thread, to which the goroutine is locked.
func TestWriteReadSkipsTheEmptyRead(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, client := pair(t)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, res := "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"
	// What reading the count costs, in reads of its own.
	base := rawsocktest.ThreadReads(t)
	self := rawsocktest.ThreadReads(t) - base
	buf := make([]byte, 64)

	done := answerAfter(t, client, req, res, 30*time.Millisecond)
	before := rawsocktest.ThreadReads(t)
	if _, rn, err := c.WriteRead([]byte(req), buf); err != nil || rn != len(res) {
		t.Fatalf("WriteRead = %d, %v", rn, err)
	}
	raw := rawsocktest.ThreadReads(t) - before - self
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	done = answerAfter(t, client, req, res, 30*time.Millisecond)
	before = rawsocktest.ThreadReads(t)
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if rn, err := c.Read(buf); err != nil || rn != len(res) {
		t.Fatalf("Read = %d, %v", rn, err)
	}
	plain := rawsocktest.ThreadReads(t) - before - self
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if raw != 1 || plain != 2 {
		t.Fatalf("read(2) calls: WriteRead %d, Write+Read %d; want 1 and 2", raw, plain)
	}
}

// The read deadline bounds the wait; the error is Read's.
func TestWriteReadDeadline(t *testing.T) {
	c, _ := pair(t)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	wn, rn, err := c.WriteRead([]byte("ping"), make([]byte, 8))
	var oe *net.OpError
	if wn != 4 || rn != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("WriteRead = %d, %d, %v; want 4, 0 and a read timeout", wn, rn, err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("WriteRead returned after %v, before the deadline", d)
	}
}

// A peer that closed its end before the request: the answer is an EOF or
// a reset, at once, not a wait for the deadline.
func TestWriteReadPeerGone(t *testing.T) {
	for _, reset := range []bool{false, true} {
		c, client := pair(t)
		if reset {
			client.SetLinger(0)
		}
		client.Close()
		time.Sleep(20 * time.Millisecond) // the FIN or RST is in
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		n, werr, rerr := WriteRead(c, []byte("GET / HTTP/1.1\r\n\r\n"), make([]byte, 64))
		err := errors.Join(werr, rerr)
		if n != 0 || err == nil {
			t.Fatalf("reset %v: WriteRead read %d, %v; want an error", reset, n, err)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > time.Second {
			t.Fatalf("reset %v: WriteRead waited %v for %v", reset, time.Since(start), err)
		}
	}
}

// A request the socket cannot take at once is left to Write, and the
// package's WriteRead then writes the rest and reads: every byte arrives,
// in order, and the answer too.
func TestWriteReadFullBuffer(t *testing.T) {
	c, client := pair(t)
	_ = client.SetReadBuffer(4096)
	_ = c.SetWriteBuffer(4096)                          // fixed: no growing once full
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // no hang if it fails
	// Fill the socket's buffers: the peer reads nothing yet.
	var sent []byte
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		chunk := pattern(4096)
		n, err := c.Write(chunk)
		sent = append(sent, chunk[:n]...)
		if err != nil {
			break
		}
	}
	c.SetWriteDeadline(time.Time{})
	req := pattern(maxRaw)
	wn, rn, err := c.WriteRead(req, make([]byte, 8))
	if wn >= len(req) || rn != 0 || err != nil {
		t.Fatalf("WriteRead into a full buffer = %d, %d, %v; want a short write, 0, nil", wn, rn, err)
	}
	want := append(sent, req...)
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, len(want))
		_ = client.SetReadBuffer(1 << 20) // drain it quickly
		_, _ = io.ReadFull(client, b)
		_, _ = client.Write([]byte("ok"))
		got <- b
	}()
	// The rest through the package's function, as a caller would.
	buf := make([]byte, 8)
	n, werr, rerr := WriteRead(c, req[wn:], buf)
	if werr != nil || rerr != nil || string(buf[:n]) != "ok" {
		t.Fatalf("WriteRead of the rest = %q, %v, %v", buf[:n], werr, rerr)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatal("the request arrived out of order or incomplete")
	}
}

// Closed: the write's error, as Write gives it. Other connections (no
// WriteRead) get Write then Read.
func TestWriteReadFallbacks(t *testing.T) {
	c, _ := pair(t)
	c.Close()
	if _, werr, _ := WriteRead(c, []byte("x"), make([]byte, 8)); !errors.Is(werr, net.ErrClosed) {
		t.Fatalf("WriteRead after Close: write error %v; want net.ErrClosed", werr)
	}
	if wn, rn, err := c.WriteRead(pattern(maxRaw+1), make([]byte, 8)); wn != 0 || rn != 0 || err != nil {
		t.Fatalf("WriteRead of more than maxRaw = %d, %d, %v; want 0, 0, nil (for Write)", wn, rn, err)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		buf := make([]byte, 4)
		_, _ = io.ReadFull(b, buf)
		_, _ = b.Write([]byte("pong"))
	}()
	buf := make([]byte, 8)
	n, werr, rerr := WriteRead(a, []byte("ping"), buf)
	if werr != nil || rerr != nil || string(buf[:n]) != "pong" {
		t.Fatalf("WriteRead on a pipe = %q, %v, %v", buf[:n], werr, rerr)
	}
}
