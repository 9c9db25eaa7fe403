package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/fastlane"
)

// rawUpstream is a loopback upstream that records the bytes of each
// request it receives and answers with a scripted raw response chosen by
// the request path.
type rawUpstream struct {
	ln net.Listener

	mu       sync.Mutex
	requests []string // raw head and body of each request, in order
	conns    int
}

func (u *rawUpstream) seen() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.requests...)
}

func startRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.mu.Lock()
			u.conns++
			u.mu.Unlock()
			go u.serve(c)
		}
	}()
	return u
}

var headEnd = []byte("\r\n\r\n")

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head bytes.Buffer
		for !bytes.HasSuffix(head.Bytes(), headEnd) {
			b, err := br.ReadByte()
			if err != nil {
				return
			}
			head.WriteByte(b)
		}
		raw := head.String()
		if m := regexp.MustCompile(`(?i)\r\ncontent-length: *(\d+)`).FindStringSubmatch(raw); m != nil {
			n, _ := strconv.Atoi(m[1])
			body := make([]byte, n)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			raw += string(body)
		}
		if regexp.MustCompile(`(?i)\r\ntransfer-encoding: *chunked`).MatchString(raw) {
			body, err := io.ReadAll(httputil.NewChunkedReader(br))
			if err != nil {
				return
			}
			raw += fmt.Sprintf("(chunked body %q)", body)
			for { // the trailer section, which the chunked reader leaves
				ln, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if ln == "\r\n" {
					break
				}
			}
		}
		u.mu.Lock()
		u.requests = append(u.requests, raw)
		u.mu.Unlock()
		words := strings.Fields(raw)
		if len(words) < 2 {
			return
		}
		path := words[1]
		if !u.answer(c, path, strings.HasPrefix(raw, "HEAD ")) {
			return
		}
	}
}

// answer writes the scripted response for path and reports whether the
// connection stays open.
func (u *rawUpstream) answer(c net.Conn, path string, head bool) bool {
	w := func(s string) bool { _, err := io.WriteString(c, s); return err == nil }
	path, _, _ = strings.Cut(path, "?")
	switch path {
	case "/plain":
		return w("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nX-Request-Id: upstream\r\n" +
			"Connection: x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Multi: a\r\nX-Multi: b\r\n\r\nhello")
	case "/empty":
		return w("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	case "/chunked":
		return w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	case "/trailers":
		return w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nContent-Type: text/x\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n")
	case "/trailers-unannounced":
		return w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nContent-Type: text/x\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Late: 1\r\n\r\n")
	case "/lengthless":
		w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		return false
	case "/204":
		return w("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
	case "/304":
		return w("HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nContent-Length: 10\r\n\r\n")
	case "/head-cl":
		if head {
			return w("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n")
		}
		return w("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
	case "/big":
		body := strings.Repeat("0123456789abcdef", 20000)
		return w("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	case "/big-chunked":
		w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/x\r\n\r\n")
		for range 20 {
			w("2710\r\n" + strings.Repeat("x", 10000) + "\r\n")
		}
		return w("0\r\n\r\n")
	case "/slow":
		w("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab")
		time.Sleep(50 * time.Millisecond)
		w("cd")
		time.Sleep(50 * time.Millisecond)
		return w("ef")
	case "/sse":
		w("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 18\r\n\r\ndata: 1\n\n")
		time.Sleep(20 * time.Millisecond)
		return w("data: 2\n\n")
	case "/early":
		return w("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	case "/http10":
		w("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return false
	case "/close-after":
		w("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
		return false
	case "/cut-before-head":
		return false
	case "/cut-in-head":
		w("HTTP/1.1 200 OK\r\nContent-Le")
		return false
	case "/cut-mid-body":
		w("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")
		return false
	case "/cut-mid-chunk":
		w("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/x\r\n\r\n10\r\nshort")
		return false
	case "/dup-cl-same":
		return w("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
	case "/dup-cl-differ":
		w("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
		return false
	case "/upgrade":
		w("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
		return false
	case "/hang":
		time.Sleep(2 * time.Second)
		return false
	}
	return w("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
}

// pathEdge is one way through the edge: which transport, which server.
type pathEdge struct {
	name string
	addr string
}

// threeEdges starts the edge three times in front of up: the old path
// (net/http server, httputil with its own transport), the forwarder under
// net/http, and the forwarder under the fast lane (rampart serve's path).
func threeEdges(t *testing.T, up string, tune func(*Config)) []pathEdge {
	t.Helper()
	var out []pathEdge
	for _, p := range []string{"httputil", "forward", "lane"} {
		cfg := Config{ErrorLog: quiet, ViaName: "edge-test"}
		if p == "httputil" {
			cfg.Transport = NewTransport()
		}
		if tune != nil {
			tune(&cfg)
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetRoutes([]Route{{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{"http://" + up}}}); err != nil {
			t.Fatal(err)
		}
		srv := NewServer("", e, quiet, SlowClients{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if p == "lane" {
			lane := fastlane.Install(srv, e.Routed)
			ln = lane.Listener(ln)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		out = append(out, pathEdge{p, ln.Addr().String()})
	}
	return out
}

// rawExchange writes in on a new connection to addr and reads until the
// server closes the connection or, once it has answered, is quiet for
// quiet.
func rawExchange(t *testing.T, addr, in string, quiet time.Duration) string {
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
		wait := quiet
		if out.Len() == 0 {
			wait = 5 * time.Second // a loaded machine (-race) may take a while to answer at all
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

// parsed is a client's view of a stream of responses: status, fields
// (without Date), body and trailers of each, and whether the stream ended
// cleanly. Chunk boundaries, which depend on how reads happen to split a
// streamed body, are not compared.
func parsed(raw string, methods []string) string {
	br := bufio.NewReader(strings.NewReader(raw))
	var b strings.Builder
	for _, m := range methods {
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			fmt.Fprintf(&b, "read error (%v)\n", err != io.EOF)
			return b.String()
		}
		// 1xx come first, as their own responses.
		for res.StatusCode < 200 {
			fmt.Fprintf(&b, "%d %v\n", res.StatusCode, res.Header)
			if res, err = http.ReadResponse(br, &http.Request{Method: m}); err != nil {
				fmt.Fprintf(&b, "read error\n")
				return b.String()
			}
		}
		body, err := io.ReadAll(res.Body)
		res.Header.Del("Date")
		shown := body
		if len(shown) > 64 {
			shown = shown[:64]
		}
		fmt.Fprintf(&b, "%d cl=%d te=%v %v\nbody %d bytes %q sum %x err=%v trailer=%v\n", res.StatusCode, res.ContentLength, res.TransferEncoding, res.Header, len(body), shown, sha256.Sum256(body), err != nil, res.Trailer)
		if err != nil {
			return b.String()
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		fmt.Fprintf(&b, "then %q\n", rest)
	}
	return b.String()
}

var requestIDField = regexp.MustCompile(`(?m)^X-Request-Id: .*\r\n`)

// TestForwardSameAsHTTPUtil sends the same requests through the old path
// and the forwarder (under net/http and under the lane) and compares what
// the client gets and what the upstream sees.
func TestForwardSameAsHTTPUtil(t *testing.T) {
	req := func(method, path string, extra ...string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: svc.test\r\nX-Request-Id: rid-1\r\n" + strings.Join(extra, "") + "\r\n"
	}
	cases := []struct {
		name    string
		in      string
		methods []string
	}{
		{"get", req("GET", "/plain?a=1&b=%41", "User-Agent: ua\r\nAccept: */*\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nForwarded: for=x\r\n"+
			"Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nTe: trailers\r\nVia: 1.1 other\r\nX_Real_IP: 7\r\n"), []string{"GET"}},
		{"head", req("HEAD", "/head-cl"), []string{"HEAD"}},
		{"post", req("POST", "/plain", "Content-Length: 11\r\nContent-Type: text/plain\r\n") + "hello world", []string{"POST"}},
		{"post empty", req("POST", "/plain", "Content-Length: 0\r\n"), []string{"POST"}},
		{"put", req("PUT", "/empty", "Content-Length: 3\r\n") + "abc", []string{"PUT"}},
		{"delete", req("DELETE", "/empty"), []string{"DELETE"}},
		{"chunked", req("GET", "/chunked"), []string{"GET"}},
		{"trailers", req("GET", "/trailers"), []string{"GET"}},
		{"trailers unannounced", req("GET", "/trailers-unannounced"), []string{"GET"}},
		{"lengthless", req("GET", "/lengthless"), []string{"GET"}},
		{"204 304", req("GET", "/204") + req("GET", "/304"), []string{"GET", "GET"}},
		{"big", req("GET", "/big"), []string{"GET"}},
		{"big chunked", req("GET", "/big-chunked"), []string{"GET"}},
		{"slow", req("GET", "/slow"), []string{"GET"}},
		{"sse", req("GET", "/sse"), []string{"GET"}},
		{"early hints", req("GET", "/early"), []string{"GET"}},
		{"http10 upstream", req("GET", "/http10") + req("GET", "/plain"), []string{"GET", "GET"}},
		{"close after", req("GET", "/close-after") + req("GET", "/plain"), []string{"GET", "GET"}},
		{"pipelined", req("GET", "/plain") + req("HEAD", "/head-cl") + req("GET", "/chunked") + req("GET", "/plain"), []string{"GET", "HEAD", "GET", "GET"}},
		{"cut before head", req("GET", "/cut-before-head"), []string{"GET"}},
		{"cut in head", req("GET", "/cut-in-head"), []string{"GET"}},
		{"cut mid body", req("GET", "/cut-mid-body"), []string{"GET"}},
		{"cut mid chunk", req("GET", "/cut-mid-chunk"), []string{"GET"}},
		{"dup cl same", req("GET", "/dup-cl-same"), []string{"GET"}},
		{"dup cl differ", req("GET", "/dup-cl-differ"), []string{"GET"}},
		{"upgrade answered", req("GET", "/upgrade"), []string{"GET"}},
		{"odd query", req("GET", "/plain?a=1;b=2"), []string{"GET"}},
		{"no user agent", req("GET", "/plain", "Accept: x\r\n"), []string{"GET"}},
		// Request smuggling: each must end as net/http alone ends it,
		// and no second request may reach the upstream.
		{"smuggle cl.te", req("POST", "/plain", "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle te.cl", req("POST", "/plain", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n") + "8\r\nSMUGGLED\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle xchunked", req("POST", "/plain", "Content-Length: 4\r\nTransfer-Encoding: xchunked\r\n") + "5c\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle space te", req("POST", "/plain", "Content-Length: 4\r\nTransfer-Encoding : chunked\r\n") + "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle leading space te", req("POST", "/plain", "Content-Length: 4\r\nTransfer-Encoding:  chunked\r\n") + "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle chunked identity", req("POST", "/plain", "Transfer-Encoding: chunked, identity\r\nContent-Length: 4\r\n") + "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle tab te", req("POST", "/plain", "Content-Length: 4\r\nTransfer-Encoding:\tchunked\r\n") + "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle double cl", req("POST", "/plain", "Content-Length: 0\r\nContent-Length: 44\r\n") + "GET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle folded te", req("POST", "/plain", "Content-Length: 4\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n") + "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
		{"smuggle bare lf", "POST /plain HTTP/1.1\nHost: svc.test\nContent-Length: 4\nTransfer-Encoding: chunked\n\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: svc.test\r\n\r\n", []string{"POST", "GET"}},
	}
	// All cases at once: each waits for the edges to go quiet, and
	// t.Parallel would run only GOMAXPROCS of them at a time.
	var all sync.WaitGroup
	for _, tc := range cases {
		all.Go(func() {
			t := &caseT{T: t, name: tc.name}
			// One upstream per way through the edge, all at once.
			edges := make([]pathEdge, 0, 3)
			ups := make([]*rawUpstream, 0, 3)
			for range 3 {
				up := startRawUpstream(t.T)
				e := threeEdges(t.T, up.ln.Addr().String(), nil)
				edges = append(edges, e[len(ups)])
				ups = append(ups, up)
			}
			got := make([]string, 3)
			var wg sync.WaitGroup
			for i, p := range edges {
				wg.Go(func() {
					got[i] = parsed(requestIDField.ReplaceAllString(rawExchange(t.T, p.addr, tc.in, 600*time.Millisecond), ""), tc.methods)
				})
			}
			wg.Wait()
			want, wantUp := got[0], requestIDField.ReplaceAllString(strings.Join(ups[0].seen(), "\n---\n"), "")
			for i, p := range edges[1:] {
				gotUp := requestIDField.ReplaceAllString(strings.Join(ups[i+1].seen(), "\n---\n"), "")
				if got[i+1] != want {
					t.Errorf("%s: the client got\n%s\nhttputil gives\n%s", p.name, got[i+1], want)
				}
				if gotUp != wantUp {
					t.Errorf("%s: the upstream saw\n%q\nhttputil sends\n%q", p.name, gotUp, wantUp)
				}
				// Every request the upstream saw is one the edge framed
				// and stamped: none hid in another's body.
				for _, r := range ups[i+1].seen() {
					if !strings.Contains(r, "\r\nVia: 1.1 edge-test\r\n") {
						t.Errorf("%s: the upstream saw a request the edge did not send: %q", p.name, r)
					}
				}
			}
		})
	}
	all.Wait()
}

// caseT names the case in each error of a test run without subtests.
type caseT struct {
	*testing.T
	name string
}

func (t *caseT) Errorf(format string, args ...any) {
	t.T.Helper()
	t.T.Errorf("%s: "+format, append([]any{t.name}, args...)...)
}

// TestForwardRetriesClosedIdleConnection: an upstream that closes its idle
// keep-alive connections without saying so (a short keep-alive timeout)
// costs no client a 502: an idempotent request is sent again on a new
// connection, and one with a body gets a connection that is still open.
func TestForwardRetriesClosedIdleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// Then close after a moment, as if idle for too long.
				time.Sleep(30 * time.Millisecond)
			})
		}
	}()
	_, srv := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{"http://" + ln.Addr().String()}})
	for i, method := range []string{"GET", "GET", "POST", "GET", "PUT"} {
		req, _ := http.NewRequest(method, srv.URL+"/x", strings.NewReader("body"))
		if method == "GET" {
			req.Body, req.ContentLength = nil, 0
		}
		req.Host = "svc.test"
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "ok" {
			t.Errorf("request %d (%s): %d %q", i, method, res.StatusCode, b)
		}
		time.Sleep(200 * time.Millisecond) // the upstream has closed the pooled connection
	}
}

// TestForwardHeaderTimeout: an upstream that does not answer in time is a
// 504, as with the transport's ResponseHeaderTimeout.
func TestForwardHeaderTimeout(t *testing.T) {
	up := startRawUpstream(t)
	e, srv := newEdge(t, Config{}, Route{Service: "svc", Hosts: []string{"svc.test"}, Upstreams: []string{"http://" + up.ln.Addr().String()}})
	e.pools.restricted.HeaderTimeout = 200 * time.Millisecond
	start := time.Now()
	res, _ := get(t, srv, "svc.test", "/hang")
	if res.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", res.StatusCode)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %v", d)
	}
}

// TestForwardClientGoneOnLane: a client that leaves while the upstream is
// still sending ends the forwarding (the lane notices on write) and its
// connection is not pooled.
func TestForwardClientGoneOnLane(t *testing.T) {
	up := startRawUpstream(t)
	edges := threeEdges(t, up.ln.Addr().String(), nil)
	for _, p := range edges {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /big-chunked HTTP/1.1\r\nHost: svc.test\r\n\r\n")
		buf := make([]byte, 100)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		c.Close()
	}
	// Every path still answers.
	for _, p := range edges {
		got := rawExchange(t, p.addr, "GET /plain HTTP/1.1\r\nHost: svc.test\r\nConnection: close\r\n\r\n", time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Errorf("%s after a client left: %q", p.name, got)
		}
	}
}

// TestSlowMissClientGone: a client that leaves while the upstream has not
// answered yet frees the upstream connection within seconds on every path
// (net/http notices at once; the lane when it next looks, each second),
// rather than when the upstream answers or the header timeout ends.
func TestSlowMissClientGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The upstream reads a request, never answers, and reports when the
	// edge closes the connection.
	closed := make(chan time.Time, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				io.Copy(io.Discard, c)
				closed <- time.Now()
			}()
		}
	}()
	for _, p := range threeEdges(t, ln.Addr().String(), nil) {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /never HTTP/1.1\r\nHost: svc.test\r\n\r\n")
		time.Sleep(200 * time.Millisecond) // the request reaches the upstream
		left := time.Now()
		c.Close()
		select {
		case at := <-closed:
			t.Logf("%s: upstream connection closed %v after the client left", p.name, at.Sub(left).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Errorf("%s: the upstream connection is still open 5 s after its client left", p.name)
		}
	}
}
