package connguard

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

const testWindow = 300 * time.Millisecond

// bodyServer serves h behind BodyRate (300 ms, 1 KiB) on loopback and
// returns its address.
func bodyServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: BodyRate(h, testWindow, 1024), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// readResult is what the handler saw of the body.
type readResult struct {
	n   int
	err error
	at  time.Duration
}

func readingServer(t *testing.T) (string, chan readResult) {
	got := make(chan readResult, 1)
	addr := bodyServer(t, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		b, err := io.ReadAll(r.Body)
		got <- readResult{len(b), err, time.Since(start)}
		if err == nil {
			fmt.Fprintf(w, "got %d bytes", len(b))
		}
	})
	return addr, got
}

// post sends a request head announcing size bytes, then the body through
// send, and returns the connection.
func post(t *testing.T, addr string, size int, send func(c net.Conn)) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size)
	go send(c)
	return c
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestBodyRateCutsABodyThatNeverComes(t *testing.T) {
	addr, got := readingServer(t)
	c := post(t, addr, 100000, func(net.Conn) {})
	select {
	case r := <-got:
		var slow *ErrSlowBody
		if !errors.As(r.err, &slow) {
			t.Fatalf("handler read %d bytes, error %v; want ErrSlowBody", r.n, r.err)
		}
		if r.at < testWindow-50*time.Millisecond || r.at > 3*testWindow {
			t.Errorf("cut after %v, want about %v", r.at, testWindow)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still waits for a body that never comes")
	}
	if !closedWithin(c, 2*time.Second) {
		t.Error("the connection stayed open after its body timed out")
	}
}

func TestBodyRateCutsATrickle(t *testing.T) {
	addr, got := readingServer(t)
	stop := make(chan struct{})
	defer close(stop)
	// 100 bytes every 100 ms: it moves, but at 300 bytes a window, below
	// the minimum of 1 KiB.
	post(t, addr, 100000, func(c net.Conn) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := c.Write([]byte(strings.Repeat("x", 100))); err != nil {
					return
				}
			}
		}
	})
	select {
	case r := <-got:
		var slow *ErrSlowBody
		if !errors.As(r.err, &slow) {
			t.Fatalf("handler read %d bytes, error %v; want ErrSlowBody", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a trickle below the minimum rate was not cut")
	}
}

func TestBodyRateKeepsAnUploadThatMoves(t *testing.T) {
	addr, got := readingServer(t)
	const size = 20 * 5000
	// 5000 bytes every 100 ms for 2 s: many windows, each well above
	// the minimum.
	c := post(t, addr, size, func(c net.Conn) {
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte(strings.Repeat("y", 5000))); err != nil {
				return
			}
		}
	})
	r := <-got
	if r.err != nil || r.n != size {
		t.Fatalf("handler read %d bytes, error %v; want all %d", r.n, r.err, size)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %v, %v", resp, err)
	}
}

// A handler that pauses (a slow upstream) does not use up the client's
// window, and once the body is read the connection has no read deadline
// left: net/http's background read must not cancel a long answer.
func TestBodyRateCountsOnlyWaitingForTheClient(t *testing.T) {
	type result struct {
		err    error
		ctxErr error
	}
	got := make(chan result, 1)
	addr := bodyServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * testWindow) // the body is all there meanwhile
		_, err := io.ReadAll(r.Body)
		time.Sleep(3 * testWindow) // a slow answer after the body
		got <- result{err, r.Context().Err()}
		io.WriteString(w, "done")
	})
	post(t, addr, 5000, func(c net.Conn) { c.Write([]byte(strings.Repeat("z", 5000))) })
	r := <-got
	if r.err != nil {
		t.Errorf("reading the body after a pause: %v", r.err)
	}
	if r.ctxErr != nil {
		t.Errorf("the request was canceled while the handler answered: %v", r.ctxErr)
	}
}

// A handler that never reads the body: net/http drains it after the
// response, and a client that sends nothing is not kept for it.
func TestBodyRateBoundsTheDrain(t *testing.T) {
	addr := bodyServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "not reading that")
	})
	c := post(t, addr, 100000, func(net.Conn) {})
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("response %v, %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the connection is held open waiting for a body nobody reads")
	}
}

func TestBodyRateLeavesBodylessRequestsAlone(t *testing.T) {
	got := make(chan error, 1)
	addr := bodyServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * testWindow)
		got <- r.Context().Err()
		io.WriteString(w, "slow answer")
	})
	resp, err := http.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := <-got; err != nil || string(b) != "slow answer" {
		t.Errorf("a long answer to a GET: %q, context %v", b, err)
	}
}
