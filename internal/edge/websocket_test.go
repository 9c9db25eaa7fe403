//lint:file-ignore SA1019 x/net's HTTP/2 client is deprecated, but it is the one Go client that sends extended CONNECT (RFC 8441): net/http's refuses the :protocol field.

package edge

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/websocket"

	"github.com/rampart-dev/rampart/internal/certs/certstest"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/fastlane"
	"github.com/rampart-dev/rampart/internal/edge/h2lane"
)

// h2Edge serves e over TLS as rampart serve does: HTTP/2 connections go to
// h2lane with extended CONNECT on, behind the body-rate guard; it returns
// the address.
func h2Edge(t *testing.T, e *Edge, bodyWindow time.Duration) string {
	t.Helper()
	certPEM, keyPEM := certstest.SelfSigned(t, "svc.test", time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", e, nil, SlowClients{TransferWindow: bodyWindow, TransferMinBytes: 1})
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	h2 := &h2lane.Server{Handler: srv.Handler, HTTPServer: srv, ExtendedConnect: true}
	lane := fastlane.Install(srv, e.Fresh)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.Serve(lane.TLSListenerH2(ln, srv.TLSConfig, h2.ServeConn)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { srv.Close(); h2.Close() })
	return ln.Addr().String()
}

// wsUpstream is an HTTP/1.1 upstream whose WebSockets answer each
// message with "echo: " and the message, and which answers other requests
// with page. opened, if set, is called with each WebSocket's request, and
// what it returns when that WebSocket ends.
func wsUpstream(t *testing.T, contentType, page string, opened func(*http.Request) func()) *httptest.Server {
	ws := websocket.Server{Handler: func(ws *websocket.Conn) {
		if opened != nil {
			defer opened(ws.Request())()
		}
		var msg string
		for websocket.Message.Receive(ws, &msg) == nil {
			if websocket.Message.Send(ws, "echo: "+msg) != nil {
				return
			}
		}
	}}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			ws.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, page)
	}))
	t.Cleanup(up.Close)
	return up
}

// h2Transport is x/net's HTTP/2 client, which sends extended CONNECT to a
// server that allows it (net/http's does not yet), behind an http.Client.
func h2Transport(t *testing.T) *http.Client {
	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// wsFrame is one masked client frame (RFC 6455 §5.2) of opcode op.
func wsFrame(op byte, payload string) []byte {
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	default:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	b = append(b, mask[:]...)
	for i := range len(payload) {
		b = append(b, payload[i]^mask[i%4])
	}
	return b
}

// readWSFrame reads one unmasked server frame and returns its opcode and
// payload.
func readWSFrame(r *bufio.Reader) (byte, string, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, "", err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return 0, "", err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0] & 0x0f, string(p), err
}

// openWS opens a WebSocket over HTTP/2 to path on addr: an extended
// CONNECT through x/net's client. It returns the response and the stream
// to write frames into.
func openWS(t *testing.T, tr *http.Client, addr, path string, hdr ...string) (*http.Response, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, "https://"+addr+path, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "svc.test"
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := tr.Do(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	t.Cleanup(func() { pw.Close(); res.Body.Close() })
	return res, pw
}

// TestWebSocketOverHTTP2: a WebSocket opened over HTTP/2 (RFC 8441) reaches
// an HTTP/1.1 upstream through the Upgrade handshake and carries frames
// both ways, also after an idle time longer than the body-rate window; the
// upstream sees the edge's forwarded fields and a path with its query;
// the stored pages of the URL stay (no invalidation).
func TestWebSocketOverHTTP2(t *testing.T) {
	var seen atomic.Value
	var open atomic.Int32 // upstream WebSockets not yet ended
	up := wsUpstream(t, "text/plain", "the chat page", func(r *http.Request) func() {
		open.Add(1)
		seen.Store(r.URL.RequestURI() + " " + r.Header.Get("X-Forwarded-Proto") + " " + r.Header.Get("Sec-Websocket-Protocol"))
		return func() { open.Add(-1) }
	})
	e, _ := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{up.URL}, Cache: &cache.Config{TTL: time.Hour}})
	addr := h2Edge(t, e, 300*time.Millisecond)
	tr := h2Transport(t)
	page := func() string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/chat?room=1", nil)
		req.Host = "svc.test"
		res, err := tr.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.Header.Get("X-Cache")
	}
	page()
	if c := page(); c != "HIT" {
		t.Fatalf("the page is not stored: %s", c)
	}

	res, pw := openWS(t, tr, addr, "/chat?room=1")
	if res.StatusCode != 200 || res.Header.Get("Sec-Websocket-Accept") != "" || res.Header.Get("Upgrade") != "" {
		t.Fatalf("response %d %v", res.StatusCode, res.Header)
	}
	br := bufio.NewReader(res.Body)
	for i, msg := range []string{"hello", strings.Repeat("x", 300)} {
		if i == 1 {
			time.Sleep(700 * time.Millisecond) // idle: longer than the body-rate window
		}
		if _, err := pw.Write(wsFrame(1, msg)); err != nil {
			t.Fatal(err)
		}
		op, got, err := readWSFrame(br)
		if err != nil || op != 1 || got != "echo: "+msg {
			t.Fatalf("message %d: op %d %q, %v", i, op, got, err)
		}
	}
	if s, _ := seen.Load().(string); s != "/chat?room=1 https " {
		t.Errorf("the upstream saw %q", s)
	}

	// The client's closing frame, and the end of its side of the stream:
	// the upstream (x/net/websocket sends no closing frame back) closes
	// its connection and the stream ends.
	pw.Write(wsFrame(8, "\x03\xe8"))
	pw.Close()
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, br); done <- err }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the stream did not end after the closing handshake")
	}
	if c := page(); c != "HIT" {
		t.Errorf("after a WebSocket on its URL, the stored page is %s: a WebSocket changes no resource", c)
	}

	// A client that goes away (its stream reset) ends the upstream's
	// WebSocket too.
	res, pw = openWS(t, tr, addr, "/again")
	pw.Write(wsFrame(1, "hi"))
	if _, got, err := readWSFrame(bufio.NewReader(res.Body)); err != nil || got != "echo: hi" {
		t.Fatalf("second WebSocket: %q, %v", got, err)
	}
	res.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d upstream WebSockets still open after their clients left", n)
	}
}

// TestWebSocketOverHTTP2Refused: an upstream that refuses the WebSocket
// answers the CONNECT with its own status; one that answers the handshake
// with a plain 200 or a 101 without the right Sec-WebSocket-Accept is a
// 502, so the client never believes a WebSocket is open; other extended
// CONNECTs (another :protocol) are 405.
func TestWebSocketOverHTTP2Refused(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		case "/ok":
			io.WriteString(w, "not a websocket")
		case "/bad-accept":
			c, brw, _ := http.NewResponseController(w).Hijack()
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n")
			brw.Flush()
		}
	}))
	t.Cleanup(up.Close)
	e, _ := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{up.URL}})
	addr := h2Edge(t, e, time.Second)
	tr := h2Transport(t)
	for path, want := range map[string]int{"/forbidden": 403, "/ok": 502, "/bad-accept": 502} {
		res, _ := openWS(t, tr, addr, path)
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
		}
	}
	pr, _ := io.Pipe()
	req, _ := http.NewRequest(http.MethodConnect, "https://"+addr+"/", pr)
	req.Host = "svc.test"
	req.Header.Set(":protocol", "connect-udp")
	res, err := tr.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("connect-udp: %d, want 405", res.StatusCode)
	}
}

// chromium returns the path of a Chromium to run, or skips t (fails it
// under CI, which must run every test).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: CI must run the browser tests (apt-get install chromium)")
	}
	t.Skip("chromium is not installed; install it to run this test")
	return ""
}

// TestWebSocketOverHTTP2InChromium: a real browser, given the edge's
// SETTINGS, opens its WebSocket as an extended CONNECT on the HTTP/2
// connection that loaded the page, and talks through it to an HTTP/1.1
// upstream.
func TestWebSocketOverHTTP2InChromium(t *testing.T) {
	bin := chromium(t)
	up := wsUpstream(t, "text/html", `<!doctype html><div id=out>waiting</div><script>
var s = new WebSocket("wss://" + location.host + "/ws");
s.onopen = function() { s.send("hi"); };
s.onmessage = function(e) { document.getElementById("out").textContent = "got " + e.data; };
s.onerror = function() { document.getElementById("out").textContent = "error"; };
</script>`, nil)
	var mu sync.Mutex
	var seen []string
	e, _ := newEdge(t, Config{OnRequest: func(l LogEntry) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s %s %d %s", l.Method, l.Path, l.Status, l.Upstream))
	}}, Route{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{up.URL}})
	_, port, _ := net.SplitHostPort(h2Edge(t, e, time.Second))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+t.TempDir(),
		"--ignore-certificate-errors", "--host-resolver-rules=MAP svc.test 127.0.0.1", "--virtual-time-budget=5000",
		"--dump-dom", "https://svc.test:"+port+"/").Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if !strings.Contains(string(out), `<div id="out">got echo: hi</div>`) {
		t.Errorf("the page's WebSocket did not echo:\n%s", out)
	}
	// Logged when the WebSocket ends: Chromium closed it as it exited.
	want := "CONNECT /ws 200 " + up.URL
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		ok := slices.Contains(seen, want)
		got := slices.Clone(seen)
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge logged %q, want %q: the WebSocket as an extended CONNECT to the upstream", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
