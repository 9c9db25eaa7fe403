package fastlane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs/certstest"
	"github.com/rampart-dev/rampart/internal/connguard"
	"github.com/rampart-dev/rampart/internal/rawsock"
)

// testServer is an http.Server on loopback with a handler that tells in
// its response what it saw, optionally with a lane in front.
type testServer struct {
	addr string
	srv  *http.Server
	lane *Lane

	mu   sync.Mutex
	seen []string // one line per request that reached the handler
}

func (ts *testServer) log() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.seen...)
}

func startServer(t *testing.T, withLane bool, eligible func(*http.Request) bool, tune func(*http.Server)) *testServer {
	t.Helper()
	ts := &testServer{}
	ts.srv = &http.Server{
		Handler:           http.HandlerFunc(ts.serve),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       5 * time.Second,
		ErrorLog:          nil,
	}
	if tune != nil {
		tune(ts.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	// Raw sockets, as rampart serve's listeners have: the lane then holds
	// each response back for the read of the next request (conn.pending).
	ln = rawsock.Listener(ln)
	if withLane {
		if eligible == nil {
			eligible = func(*http.Request) bool { return true }
		}
		ts.lane = Install(ts.srv, eligible)
		ln = ts.lane.Listener(ln)
	}
	go func() { _ = ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ts
}

// serve answers by path: /big a long body without Content-Length, /flush
// a flushed stream, /304, /panic, /hijack an echo of raw bytes; anything
// else a short text naming what came in.
func (ts *testServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	line := fmt.Sprintf("%s %s host=%q body=%q err=%v x=%q tls=%v", r.Method, r.RequestURI, r.Host, body, err, r.Header["X-Test"], r.TLS != nil)
	ts.mu.Lock()
	ts.seen = append(ts.seen, line)
	ts.mu.Unlock()
	switch r.URL.Path {
	case "/big":
		for i := range 1000 {
			fmt.Fprintf(w, "line %04d of a long response without a length\n", i)
		}
	case "/flush":
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	case "/cl":
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hel")
		io.WriteString(w, "lo")
	case "/fast/clbig":
		// A large stored response: Content-Length, one Write.
		b := bytes.Repeat([]byte("0123456789"), 5000)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	case "/short":
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	case "/trailer":
		w.Header().Set("Trailer", "X-Sum, Content-Length")
		w.Header().Set("X-Sum", "early")
		io.WriteString(w, "with trailers")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "a\r\nb")
	case "/trailer-flush":
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Sum", "7")
	case "/trailer-cl":
		w.Header().Set("Trailer", "X-Sum")
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ok")
		w.Header().Set("X-Sum", "7")
	case "/interim":
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "after hints")
	case "/304":
		w.WriteHeader(http.StatusNotModified)
	case "/panic":
		panic("test panic")
	case "/hijack":
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(brw, buf); err == nil {
			c.Write(bytes.ToUpper(buf))
		}
	default:
		w.Header().Set("X-Method", r.Method)
		w.Header()["X-Odd"] = []string{"a\r\nInjected: yes"}
		fmt.Fprintln(w, line)
	}
}

// exchange writes in to a new connection to addr, then reads until the
// server closes it or is quiet for quiet.
func exchange(t *testing.T, addr string, in string, quiet time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, in); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

var dateLine = regexp.MustCompile(`(?m)^Date: .*\r\n`)

// streams are byte streams of one connection each, sent at once: the
// lane must make of each exactly what net/http alone makes of it.
var streams = map[string]string{
	"one":       "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
	"pipelined": "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c?d HTTP/1.1\r\nHost: h\r\nX-Test: 3\r\n\r\n",
	"post between": "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello worldGET /b HTTP/1.1\r\nHost: h\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
	"chunked then get": "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
	"close":            "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n",
	"http10":           "GET /a HTTP/1.0\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
	"bare lf":          "GET /a HTTP/1.1\nHost: h\n\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
	"smuggle cl cl":    "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nContent-Length: 30\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n",
	"smuggle cl te":    "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n",
	"smuggle te cl":    "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n",
	"no host":          "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
	"two hosts":        "GET /a HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
	"folded":           "GET /a HTTP/1.1\r\nHost: h\r\nX-Test: a\r\n b\r\n\r\n",
	"bad name":         "GET /a HTTP/1.1\r\nHost: h\r\nX Test: a\r\n\r\n",
	"absolute":         "GET http://h/a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
	"garbage":          "HELLO\r\n\r\n",
	"expect":           "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nokGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
	"long head":        "GET /a HTTP/1.1\r\nHost: h\r\nX-Test: " + strings.Repeat("x", 6000) + "\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
	"cl and 304":       "GET /cl HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\nHEAD /cl HTTP/1.1\r\nHost: h\r\n\r\n",
	"short body":       "GET /short HTTP/1.1\r\nHost: h\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n",
	"upgrade":          "GET /a HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"bad target":       "GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
	"trailers":         "GET /trailer HTTP/1.1\r\nHost: h\r\n\r\nGET /trailer-flush HTTP/1.1\r\nHost: h\r\n\r\nGET /trailer-cl HTTP/1.1\r\nHost: h\r\n\r\nHEAD /trailer HTTP/1.1\r\nHost: h\r\n\r\n",
	"interim":          "GET /interim HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
	"percent":          "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
}

func TestSameAsNetHTTP(t *testing.T) {
	plain := startServer(t, false, nil, nil)
	laned := startServer(t, true, nil, nil)
	t.Run("streams", func(t *testing.T) {
		for name, in := range streams {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				want := exchange(t, plain.addr, in, 300*time.Millisecond)
				got := exchange(t, laned.addr, in, 300*time.Millisecond)
				want, got = dateLine.ReplaceAllString(want, ""), dateLine.ReplaceAllString(got, "")
				if got != want {
					t.Errorf("with the lane:\n%s\nnet/http alone:\n%s", got, want)
				}
			})
		}
	})
	if laned.lane.Answered() == 0 {
		t.Error("the lane answered no request itself")
	}
	if got, want := strings.Join(laned.log(), "\n"), strings.Join(plain.log(), "\n"); len(got) != len(want) {
		t.Errorf("handler saw different requests:\nwith the lane:\n%s\nalone:\n%s", got, want)
	}
}

// TestMixedConnection alternates requests the lane answers with ones it
// hands to net/http on one keep-alive connection, through http.Client.
func TestMixedConnection(t *testing.T) {
	ts := startServer(t, true, func(r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/fast") || r.URL.Path == "/big" || r.URL.Path == "/flush"
	}, nil)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var conns sync.Map
	get := func(method, path string, body io.Reader) string {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+ts.addr+path, body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		conns.Store(resp.Request.Host, true)
		return string(b)
	}
	before := ts.lane.Answered()
	for i := range 5 {
		if got := get("GET", fmt.Sprintf("/fast/%d", i), nil); !strings.Contains(got, fmt.Sprintf("GET /fast/%d", i)) {
			t.Errorf("fast %d: %q", i, got)
		}
		if got := get("POST", "/slow", strings.NewReader("payload")); !strings.Contains(got, `body="payload"`) {
			t.Errorf("slow %d: %q", i, got)
		}
	}
	if got := get("GET", "/fast/clbig", nil); got != strings.Repeat("0123456789", 5000) {
		t.Errorf("/fast/clbig: %d bytes", len(got))
	}
	big := get("GET", "/big", nil)
	if n := strings.Count(big, "\n"); n != 1000 || !strings.HasPrefix(big, "line 0000") {
		t.Errorf("/big: %d lines", n)
	}
	if got := get("GET", "/flush", nil); got != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Errorf("/flush: %q", got)
	}
	if n := ts.lane.Answered() - before; n != 8 {
		t.Errorf("lane answered %d requests, want 8", n)
	}
}

// TestClientGoneDuringHandover checks that a handler net/http runs still
// learns that its client went away (the proxy cancels its upstream
// request on that).
func TestClientGoneDuringHandover(t *testing.T) {
	canceled := make(chan error, 1)
	started := make(chan struct{})
	ts := startServer(t, true, func(*http.Request) bool { return false }, func(s *http.Server) {
		s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-r.Context().Done():
				canceled <- r.Context().Err()
			case <-time.After(5 * time.Second):
				canceled <- nil
			}
		})
	})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: h\r\n\r\n")
	<-started
	c.Close()
	if err := <-canceled; err == nil {
		t.Fatal("the handler's context was not canceled when the client left")
	}
}

func TestHijackAfterHandover(t *testing.T) {
	ts := startServer(t, true, func(r *http.Request) bool { return r.URL.Path != "/hijack" }, nil)
	got := exchange(t, ts.addr, "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /hijack HTTP/1.1\r\nHost: h\r\n\r\nhello", 500*time.Millisecond)
	if !strings.Contains(got, "GET /a") || !strings.HasSuffix(got, "HTTP/1.1 101 Switching Protocols\r\n\r\nHELLO") {
		t.Errorf("got %q", got)
	}
}

func TestPanicOnLane(t *testing.T) {
	var logged bytes.Buffer
	var mu sync.Mutex
	ts := startServer(t, true, nil, func(s *http.Server) {
		s.ErrorLog = newLogger(&logged, &mu)
	})
	got := exchange(t, ts.addr, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n", time.Second)
	if got != "" {
		t.Errorf("a panicking handler's connection got %q; want it closed", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "panic serving") || !strings.Contains(logged.String(), "test panic") {
		t.Errorf("log: %q", logged.String())
	}
	if got := exchange(t, ts.addr, "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", time.Second); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("after the panic: %q", got)
	}
}

// TestTimeouts: the lane keeps net/http's idle and header timeouts on the
// connections it reads.
func TestTimeouts(t *testing.T) {
	ts := startServer(t, true, nil, func(s *http.Server) {
		s.IdleTimeout = 300 * time.Millisecond
		s.ReadHeaderTimeout = 300 * time.Millisecond
	})
	for name, in := range map[string]string{
		"idle after a request": "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
		"partial head":         "GET /a HTTP/1.1\r\nHost:",
		"partial second head":  "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, in)
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			out, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("the server did not close the connection: %v (read %q)", err, out)
			}
			if strings.Count(string(out), "HTTP/1.1 200") != strings.Count(in, "\r\n\r\n") {
				t.Errorf("got %q", out)
			}
		})
	}
}

func TestShutdownClosesLaneConnections(t *testing.T) {
	ts := startServer(t, true, nil, nil)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for range 3 {
		io.WriteString(c, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if ts.lane.Answered() != 3 {
		t.Fatalf("lane answered %d", ts.lane.Answered())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after Shutdown (%v): read %v, want EOF", time.Since(start), err)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newLogger(w io.Writer, mu *sync.Mutex) *log.Logger { return log.New(lockedWriter{w, mu}, "", 0) }

func TestTLS(t *testing.T) {
	certPEM, keyPEM := certstest.SelfSigned(t, "lane.test", time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	var mu sync.Mutex
	ts := &testServer{}
	ts.srv = &http.Server{
		Handler:           http.HandlerFunc(ts.serve),
		ReadHeaderTimeout: 2 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ErrorLog:          newLogger(&logged, &mu),
	}
	ts.lane = Install(ts.srv, func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/fast") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(ts.lane.TLSListener(ln, ts.srv.TLSConfig))
	defer ts.srv.Close()
	base := "https://" + ln.Addr().String()

	get := func(c *http.Client, path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	insecure := &tls.Config{InsecureSkipVerify: true}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	defer h1.CloseIdleConnections()
	for _, path := range []string{"/fast/1", "/slow", "/fast/2"} {
		resp, body := get(h1, path)
		if resp.ProtoMajor != 1 || !strings.Contains(body, "GET "+path) || !strings.Contains(body, "tls=true") {
			t.Errorf("HTTP/1.1 %s: %s %q", path, resp.Proto, body)
		}
	}
	if _, body := get(h1, "/fast/clbig"); body != strings.Repeat("0123456789", 5000) {
		t.Errorf("large response over TLS: %d bytes", len(body))
	}
	if n := ts.lane.Answered(); n != 3 {
		t.Errorf("lane answered %d requests over TLS, want 3", n)
	}

	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure.Clone(), ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	if resp, body := get(h2, "/fast/3"); resp.ProtoMajor != 2 || !strings.Contains(body, "tls=true") {
		t.Errorf("HTTP/2: %s %q", resp.Proto, body)
	}
	if n := ts.lane.Answered(); n != 3 {
		t.Errorf("lane answered an HTTP/2 request (%d)", n)
	}

	if got := exchange(t, ln.Addr().String(), "GET / HTTP/1.1\r\nHost: h\r\n\r\n", time.Second); !strings.HasPrefix(got, "HTTP/1.0 400 Bad Request") {
		t.Errorf("plain HTTP on the TLS port: %q", got)
	}
	// The server logs after it has answered: give it a moment.
	logs := func() string { mu.Lock(); defer mu.Unlock(); return logged.String() }
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs(), "TLS handshake error from 127.0.0.1:") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs(), "TLS handshake error from 127.0.0.1:") {
		t.Errorf("log: %q", logs())
	}
}

// TestBodyOnLane: the lane answers requests with a Content-Length body;
// a handler that leaves it unread gets the connection closed after its
// response (net/http would read up to 256 KiB of it), and a client that
// sends it too slowly is cut off by connguard's BodyRate as under
// net/http.
func TestBodyOnLane(t *testing.T) {
	var got sync.Map
	ts := startServer(t, true, nil, func(s *http.Server) {
		s.Handler = connguard.BodyRate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/read" {
				b, err := io.ReadAll(r.Body)
				got.Store(string(b), err)
			}
			io.WriteString(w, "ok")
		}), 200*time.Millisecond, 1000)
	})
	out := exchange(t, ts.addr, "POST /read HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPUT /read HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"+
		"POST /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nworldGET /never HTTP/1.1\r\nHost: h\r\n\r\n", time.Second)
	if n := strings.Count(out, "HTTP/1.1 200 OK"); n != 3 {
		t.Errorf("%d responses, want 3 and a closed connection: %q", n, out)
	}
	for _, body := range []string{"hello", "abc"} {
		if err, ok := got.Load(body); !ok || err != nil {
			t.Errorf("body %q: read %v, %v", body, ok, err)
		}
	}
	if ts.lane.Answered() != 3 {
		t.Errorf("the lane answered %d requests, want 3", ts.lane.Answered())
	}

	// A body that stalls: the request ends in under a second or two.
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /read HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\nstart")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.ReadAll(c)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a stalled body held the connection for %v", d)
	}
	var slow error
	got.Range(func(k, v any) bool {
		if strings.HasPrefix(k.(string), "start") {
			slow, _ = v.(error)
		}
		return true
	})
	var es *connguard.ErrSlowBody
	if !errors.As(slow, &es) {
		t.Errorf("the handler's read ended with %v, want connguard.ErrSlowBody", slow)
	}
}
