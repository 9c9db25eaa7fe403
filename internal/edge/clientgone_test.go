package edge

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// goneSetup is an edge with one service "app", whose log entries arrive
// on entries and whose access log is in log.
type goneSetup struct {
	e       *Edge
	srv     *httptest.Server
	entries chan LogEntry
	log     *logBuffer
}

// goneEdge serves the edge in front of up, over HTTPS with HTTP/2 when h2
// is set.
func goneEdge(t *testing.T, up http.Handler, h2 bool) *goneSetup {
	t.Helper()
	ups := httptest.NewServer(up)
	t.Cleanup(ups.Close)
	g := &goneSetup{entries: make(chan LogEntry, 4), log: &logBuffer{}}
	var err error
	g.e, err = New(Config{ErrorLog: quiet, Metrics: newRegistry(t), AccessLog: slogJSON(g.log), OnRequest: func(e LogEntry) { g.entries <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.e.SetRoutes([]Route{{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{ups.URL}}}); err != nil {
		t.Fatal(err)
	}
	g.srv = httptest.NewUnstartedServer(g.e)
	if h2 {
		g.srv.EnableHTTP2 = true
		g.srv.StartTLS()
	} else {
		g.srv.Start()
	}
	t.Cleanup(g.srv.Close)
	return g
}

func nextEntry(t *testing.T, entries chan LogEntry) LogEntry {
	t.Helper()
	select {
	case ent := <-entries:
		return ent
	case <-time.After(10 * time.Second):
		t.Fatal("no log entry")
	}
	return LogEntry{}
}

// wantClientGone checks that a request the client ended is logged and
// counted as the client's doing: 499, and no upstream error.
func wantClientGone(t *testing.T, g *goneSetup, detail string) LogEntry {
	t.Helper()
	e, ent := g.e, nextEntry(t, g.entries)
	t.Logf("logged %d %q", ent.Status, ent.Error)
	if ent.Status != statusClientClosed || !strings.HasPrefix(ent.Error, "the client went away before the answer") || !strings.Contains(ent.Error, detail) {
		t.Errorf("logged %d %q, want %d and the client went away (%s)", ent.Status, ent.Error, statusClientClosed, detail)
	}
	// The access log writes the same entry, and at info level: a client
	// leaving is no warning about the service.
	if lines := g.log.lines(t); len(lines) != 1 || lines[0]["status"] != float64(statusClientClosed) || lines[0]["error"] != ent.Error || lines[0]["level"] != "INFO" {
		t.Errorf("access log %v", lines)
	}
	if got := counterValue(t, e.metrics.upstreamErrors.WithLabelValues("app")); got != 0 {
		t.Errorf("upstream errors %v, want 0", got)
	}
	if got := counterValue(t, e.metrics.requests.WithLabelValues("app", "499")); got != 1 {
		t.Errorf("499 requests counted %v, want 1", got)
	}
	if got := counterValue(t, e.metrics.requests.WithLabelValues("app", "502")); got != 0 {
		t.Errorf("502 requests counted %v, want 0", got)
	}
	return ent
}

func dialEdge(t *testing.T, srv *httptest.Server, request string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestClientHangsUpMidResponse: the client goes away while the upstream is
// still sending the body, whether the edge notices on its next write to
// the client or by the request's context.
func TestClientHangsUpMidResponse(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		name := map[bool]string{false: "upstream pauses", true: "upstream keeps sending"}[streaming]
		t.Run(name, func(t *testing.T) {
			g := goneEdge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				chunk := []byte(strings.Repeat("x", 16<<10))
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					if !streaming {
						<-r.Context().Done()
					}
				}
			}), false)
			conn := dialEdge(t, g.srv, "GET /big HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(res.Body, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			ent := wantClientGone(t, g, "")
			if ent.Bytes == 0 || ent.Upstream == "" {
				t.Errorf("entry %+v: want the bytes sent and the upstream", ent)
			}
		})
	}
}

// TestClientCutsRequestBodyShort: a POST whose body ends early because the
// client closed the connection is the client's doing, not a 502; this is
// what read "readfrom tcp …: unexpected EOF" as an upstream failure.
func TestClientCutsRequestBodyShort(t *testing.T) {
	for _, half := range []bool{false, true} {
		name := map[bool]string{false: "close", true: "half-close"}[half]
		t.Run(name, func(t *testing.T) {
			arrived := make(chan struct{})
			g := goneEdge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				_, _ = io.Copy(io.Discard, r.Body)
			}), false)
			conn := dialEdge(t, g.srv, "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nContent-Length: 100000\r\n\r\nonly a few bytes")
			<-arrived
			if half {
				// The client stops sending but could still read an
				// answer: it must not get one that looks like success
				// (an empty 200), only the connection closed.
				conn.(*net.TCPConn).CloseWrite()
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				if got, err := io.ReadAll(conn); len(got) != 0 || err != nil {
					t.Errorf("client read %q, %v; want the connection closed", got, err)
				}
			} else {
				conn.Close()
			}
			detail := "its request body broke off"
			if !half {
				// The request's context may end before the body read fails.
				detail = ""
			}
			wantClientGone(t, g, detail)
		})
	}
}

// TestClientSendsMalformedBody: a chunked body that does not parse is the
// client's fault too, and the client is still there to read a 400.
func TestClientSendsMalformedBody(t *testing.T) {
	g := goneEdge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), false)
	conn := dialEdge(t, g.srv, "POST /upload HTTP/1.1\r\nHost: app.example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", res.StatusCode)
	}
	ent := nextEntry(t, g.entries)
	if ent.Status != http.StatusBadRequest || !strings.Contains(ent.Error, "request body") {
		t.Errorf("logged %d %q", ent.Status, ent.Error)
	}
	if got := counterValue(t, g.e.metrics.upstreamErrors.WithLabelValues("app")); got != 0 {
		t.Errorf("upstream errors %v, want 0", got)
	}
}

// h2Client speaks HTTP/2 frames to the edge, so that a test can do what
// well-behaved clients do not: reset a stream part-way, or break the
// protocol.
type h2Client struct {
	mu sync.Mutex // the framer is not safe for concurrent writes
	fr *http2.Framer
	// data receives the stream's DATA frames' lengths as they arrive.
	data chan int
}

func dialH2(t *testing.T, srv *httptest.Server) *h2Client {
	t.Helper()
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{
		RootCAs:    srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		NextProtos: []string{"h2"},
		ServerName: "example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	c := &h2Client{fr: http2.NewFramer(conn, conn), data: make(chan int, 64)}
	c.write(t, func() error { return c.fr.WriteSettings() })
	go func() {
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				close(c.data)
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					c.mu.Lock()
					_ = c.fr.WriteSettingsAck()
					c.mu.Unlock()
				}
			case *http2.DataFrame:
				select {
				case c.data <- len(f.Data()):
				default:
				}
			}
		}
	}()
	return c
}

func (c *h2Client) write(t *testing.T, f func() error) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

// request opens stream 1; the body, if any, follows with data.
func (c *h2Client) request(t *testing.T, method string, contentLength int) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, kv := range [][2]string{{":method", method}, {":scheme", "https"}, {":authority", "app.example.com"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	if contentLength >= 0 {
		_ = enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(contentLength)})
	}
	c.write(t, func() error {
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true, EndStream: contentLength < 0})
	})
}

func (c *h2Client) send(t *testing.T, data string) {
	c.write(t, func() error { return c.fr.WriteData(1, false, []byte(data)) })
}

func (c *h2Client) reset(t *testing.T) {
	c.write(t, func() error { return c.fr.WriteRSTStream(1, http2.ErrCodeCancel) })
}

// TestHTTP2ClientResetsStream: a client that resets its stream, before the
// answer, during its upload or in the middle of the response body, or that
// breaks the protocol on its stream, ended the request itself: 499, not
// an upstream 502.
func TestHTTP2ClientResetsStream(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wait     bool   // the upstream sends nothing until the request ends
		method   string // a POST sends body, declaring length
		length   int
		body     string
		awaitRes bool // the client waits for response data before it acts
		act      func(c *h2Client, t *testing.T)
	}{
		{name: "before the answer", wait: true, method: "GET", act: (*h2Client).reset},
		{name: "during the upload", method: "POST", length: 100000, body: "only a few bytes", act: (*h2Client).reset},
		{name: "in the response body", method: "GET", awaitRes: true, act: (*h2Client).reset},
		{
			// Half the body first, so that the edge is reading the rest
			// when the excess arrives. Whether the log then names the
			// body's error or only the stream's end depends on which the
			// edge notices first; the status does not.
			name: "protocol error: more body than declared", method: "POST", length: 10, body: "01234",
			act: func(c *h2Client, t *testing.T) { c.send(t, "one too many") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{})
			g := goneEdge(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				if r.Method == "POST" {
					_, _ = io.Copy(io.Discard, r.Body)
				}
				if tc.wait {
					<-r.Context().Done()
				}
				chunk := []byte(strings.Repeat("x", 4<<10))
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			}), true)
			c := dialH2(t, g.srv)
			if tc.method == "GET" {
				c.request(t, tc.method, -1)
			} else {
				c.request(t, tc.method, tc.length)
				c.send(t, tc.body)
			}
			<-arrived
			if tc.awaitRes {
				for n := range c.data {
					if n > 0 {
						break
					}
				}
			}
			tc.act(c, t)
			wantClientGone(t, g, "")
		})
	}
}
