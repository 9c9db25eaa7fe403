package edge

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

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
