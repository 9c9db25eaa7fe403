package edge

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rampart-dev/rampart/internal/edge/fastlane"
)

func TestForwardedHeaders(t *testing.T) {
	up := echoUpstream(t, "blog")
	route := Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}}

	e, err := New(Config{ErrorLog: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetRoutes([]Route{route}); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(e)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(e)
	defer tlsSrv.Close()

	spoof := []string{
		"X-Forwarded-For", "6.6.6.6",
		"X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "https",
		"Forwarded", "for=6.6.6.6;proto=https",
	}
	tests := []struct {
		name      string
		srv       *httptest.Server
		host      string
		hdr       []string
		wantProto string
	}{
		{"plain", plain, "blog.example.com", nil, "http"},
		{"plain spoofed", plain, "Blog.Example.com:8080", spoof, "http"},
		{"tls", tlsSrv, "blog.example.com", nil, "https"},
		{"tls spoofed", tlsSrv, "blog.example.com", spoof, "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, tt.srv, tt.host, "/", tt.hdr...)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			s := decode(t, body)
			if s.Host != tt.host {
				t.Errorf("upstream saw Host %q, want the original %q", s.Host, tt.host)
			}
			want := map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  tt.host,
				"X-Forwarded-Proto": tt.wantProto,
			}
			for k, v := range want {
				if got := s.Header[k]; len(got) != 1 || got[0] != v {
					t.Errorf("upstream saw %s %q, want [%q]", k, got, v)
				}
			}
			if got := s.Header["Forwarded"]; got != nil {
				t.Errorf("client's Forwarded header reached the upstream: %q", got)
			}
		})
	}
}

func TestHopByHopHeadersRemoved(t *testing.T) {
	var got http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Connection", "X-Upstream-Hop")
		w.Header().Set("X-Upstream-Hop", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-End-To-End", "kept")
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	_, srv := newEdge(t, Config{}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}})

	res, _ := get(t, srv, "blog.example.com", "/",
		"Connection", "X-Client-Hop",
		"X-Client-Hop", "secret",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"Proxy-Connection", "keep-alive",
		"Te", "gzip",
		"X-End-To-End", "kept",
	)
	for _, h := range []string{"X-Client-Hop", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te"} {
		if v, ok := got[h]; ok {
			t.Errorf("upstream received hop-by-hop request header %s: %q", h, v)
		}
	}
	if got.Get("X-End-To-End") != "kept" {
		t.Errorf("end-to-end request header lost")
	}
	for _, h := range []string{"X-Upstream-Hop", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := res.Header[h]; ok {
			t.Errorf("client received hop-by-hop response header %s: %q", h, v)
		}
	}
	if res.Header.Get("X-End-To-End") != "kept" {
		t.Errorf("end-to-end response header lost")
	}
}

func TestUpstreamPathJoin(t *testing.T) {
	up := echoUpstream(t, "app")
	tests := []struct {
		base, path, want string
	}{
		{up.URL, "/", "/"},
		{up.URL, "/a/b?x=1&y=2", "/a/b?x=1&y=2"},
		{up.URL + "/", "/a", "/a"},
		{up.URL + "/app", "/", "/app/"},
		{up.URL + "/app", "/a/b?x=1", "/app/a/b?x=1"},
		{up.URL + "/app/", "/a", "/app/a"},
		{up.URL + "/app", "/a%2Fb", "/app/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.base+" "+tt.path, func(t *testing.T) {
			_, srv := newEdge(t, Config{}, Route{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{tt.base}})
			_, body := get(t, srv, "app.example.com", tt.path)
			if got := decode(t, body).URI; got != tt.want {
				t.Fatalf("upstream got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRoundRobin(t *testing.T) {
	a := echoUpstream(t, "a")
	b := echoUpstream(t, "b")
	_, srv := newEdge(t, Config{}, Route{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{a.URL, b.URL}})
	var order []string
	counts := map[string]int{}
	for range 10 {
		_, body := get(t, srv, "app.example.com", "/")
		name := decode(t, body).Name
		order = append(order, name)
		counts[name]++
	}
	if counts["a"] != 5 || counts["b"] != 5 {
		t.Fatalf("distribution %v, want 5/5", counts)
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("not alternating: %v", order)
		}
	}
}

func TestRequestID(t *testing.T) {
	var upstreamID string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamID = r.Header.Get("X-Request-Id")
		// Many frameworks echo the ID; the client must still get one value.
		w.Header().Set("X-Request-Id", upstreamID)
	}))
	defer up.Close()
	_, srv := newEdge(t, Config{}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}})

	tests := []struct {
		name, incoming string
		reuse          bool
	}{
		{"none", "", false},
		{"sane", "abc-123_DEF.456", true},
		{"uuid", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", true},
		{"too long", strings.Repeat("a", 65), false},
		{"bad characters", "abc def", false},
		{"injection", `x","status":200`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.incoming != "" {
				hdr = []string{"X-Request-Id", tt.incoming}
			}
			res, _ := get(t, srv, "blog.example.com", "/", hdr...)
			ids := res.Header.Values("X-Request-Id")
			if len(ids) != 1 {
				t.Fatalf("response has request IDs %q, want one", ids)
			}
			if ids[0] != upstreamID {
				t.Fatalf("client got %q, upstream got %q", ids[0], upstreamID)
			}
			if tt.reuse && ids[0] != tt.incoming {
				t.Fatalf("incoming ID %q not reused: %q", tt.incoming, ids[0])
			}
			if !tt.reuse && (ids[0] == tt.incoming || len(ids[0]) != 16) {
				t.Fatalf("got ID %q, want a fresh 16-digit one", ids[0])
			}
		})
	}
}

// wsAccept is the Sec-WebSocket-Accept value for key (RFC 6455, 4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// TestWebSocket upgrades a connection through the edge and sends bytes both
// ways over it. The payload is line-based rather than WebSocket frames: the
// proxy copies bytes and never looks at frames.
func TestWebSocket(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("upstream hijack: %v", err)
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		fmt.Fprintf(brw, "hello from upstream\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			fmt.Fprintf(brw, "echo: %s", line)
			_ = brw.Flush()
		}
	}))
	defer up.Close()

	logs := &logBuffer{}
	entries := make(chan LogEntry, 1)
	_, srv := newEdge(t, Config{
		AccessLog: slogJSON(logs),
		OnRequest: func(e LogEntry) { entries <- e },
	}, Route{Service: "chat", Hosts: []string{"chat.example.com"}, Upstreams: []string{up.URL}})

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET /socket HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	if res.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) || !strings.EqualFold(res.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("handshake headers %v", res.Header)
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Errorf("no request ID on the 101 response")
	}

	// upstream → client
	if line, err := br.ReadString('\n'); err != nil || line != "hello from upstream\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	// client → upstream → client, twice
	for _, msg := range []string{"ping\n", "second message\n"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		if line, err := br.ReadString('\n'); err != nil || line != "echo: "+msg {
			t.Fatalf("read %q, %v; want echo of %q", line, err, msg)
		}
	}
	conn.Close()

	select {
	case ent := <-entries:
		if ent.Status != http.StatusSwitchingProtocols || ent.Service != "chat" || ent.Path != "/socket" {
			t.Errorf("log entry %+v", ent)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no log entry after the WebSocket closed")
	}
}

// TestStreaming checks that a chunk reaches the client while the upstream
// is still writing the response.
func TestStreaming(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
	}{
		{"server-sent events", "text/event-stream"},
		{"chunked", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				_, _ = io.WriteString(w, "data: first\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				case <-time.After(10 * time.Second):
				}
				_, _ = io.WriteString(w, "data: second\n\n")
			}))
			defer up.Close()
			_, srv := newEdge(t, Config{}, Route{Service: "live", Hosts: []string{"live.example.com"}, Upstreams: []string{up.URL}})

			// Headers and the first chunk must both arrive while the
			// upstream is still blocked, so time them together.
			type result struct {
				res  *http.Response
				br   *bufio.Reader
				line string
				err  error
			}
			first := make(chan result, 1)
			go func() {
				req, _ := http.NewRequest("GET", srv.URL+"/events", nil)
				req.Host = "live.example.com"
				res, err := srv.Client().Do(req)
				if err != nil {
					first <- result{err: err}
					return
				}
				br := bufio.NewReader(res.Body)
				line, err := br.ReadString('\n')
				first <- result{res, br, line, err}
			}()
			var r result
			select {
			case r = <-first:
			case <-time.After(5 * time.Second):
				close(release)
				t.Fatal("the first chunk did not arrive before the upstream finished: the edge buffers")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.res.Body.Close()
			if r.line != "data: first\n" {
				t.Fatalf("first line %q", r.line)
			}
			br := r.br
			close(release)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: second\n\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	tr := NewTransport()
	tr.ResponseHeaderTimeout = 100 * time.Millisecond
	entries := make(chan LogEntry, 10)
	e, srv := newEdge(t, Config{Transport: tr, Metrics: newRegistry(t), OnRequest: func(e LogEntry) { entries <- e }},
		Route{Service: "dead", Hosts: []string{"dead.example.com"}, Upstreams: []string{dead}},
		Route{Service: "slow", Hosts: []string{"slow.example.com"}, Upstreams: []string{slow.URL}},
	)

	tests := []struct {
		host       string
		wantStatus int
		wantText   string
		wantErr    string // in the log entry
	}{
		{"dead.example.com", http.StatusBadGateway, "The service at dead.example.com is not answering.", "connection refused"},
		{"slow.example.com", http.StatusGatewayTimeout, "The service at slow.example.com did not answer in time.", "timeout"},
	}
	for _, tt := range tests {
		for _, accept := range []string{"text/html,application/xhtml+xml,*/*;q=0.8", "*/*"} {
			t.Run(tt.host+" "+accept, func(t *testing.T) {
				res, body := get(t, srv, tt.host, "/", "Accept", accept)
				if res.StatusCode != tt.wantStatus {
					t.Fatalf("status %d, want %d", res.StatusCode, tt.wantStatus)
				}
				plainBody := strings.NewReplacer("<strong>", "", "</strong>", "").Replace(body)
				if !strings.Contains(plainBody, tt.wantText) {
					t.Errorf("page does not say %q:\n%s", tt.wantText, body)
				}
				for _, leak := range []string{"127.0.0.1", strings.TrimPrefix(dead, "http://"), slow.Listener.Addr().String(), "dial", "refused", "timeout awaiting"} {
					if strings.Contains(body, leak) {
						t.Errorf("page leaks %q:\n%s", leak, body)
					}
				}
				id := res.Header.Get("X-Request-Id")
				if id == "" || !strings.Contains(body, id) {
					t.Errorf("page does not quote request ID %q", id)
				}
				ent := <-entries
				if ent.Status != tt.wantStatus || !strings.Contains(ent.Error, tt.wantErr) || ent.RequestID != id {
					t.Errorf("log entry %+v", ent)
				}
			})
		}
	}
	if got := counterValue(t, e.metrics.upstreamErrors.WithLabelValues("dead")); got != 2 {
		t.Errorf("upstream errors for dead: %v, want 2", got)
	}
	if got := counterValue(t, e.metrics.upstreamErrors.WithLabelValues("slow")); got != 2 {
		t.Errorf("upstream errors for slow: %v, want 2", got)
	}
}

// TestClientGoneAway: a client that gives up before the upstream answers is
// logged as 499 and is not counted as an upstream error, under net/http
// and on the fast lane (which notices within its watch period).
func TestClientGoneAway(t *testing.T) {
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer up.Close()
	entries := make(chan LogEntry, 1)
	e, srv := newEdge(t, Config{Metrics: newRegistry(t), OnRequest: func(e LogEntry) { entries <- e }},
		Route{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{up.URL}})

	laneSrv := NewServer("", e, quiet, SlowClients{})
	lane := fastlane.Install(laneSrv, e.Routed)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go laneSrv.Serve(lane.Listener(ln))
	defer laneSrv.Close()

	for _, addr := range []string{srv.Listener.Addr().String(), ln.Addr().String()} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: app.example.com\r\n\r\n")
		<-arrived
		conn.Close()
		select {
		case ent := <-entries:
			if ent.Status != statusClientClosed {
				t.Errorf("%s: status %d, want %d", addr, ent.Status, statusClientClosed)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no log entry", addr)
		}
	}
	if lane.Answered() != 1 {
		t.Errorf("the lane answered %d requests, want 1", lane.Answered())
	}
	if got := counterValue(t, e.metrics.upstreamErrors.WithLabelValues("app")); got != 0 {
		t.Errorf("upstream errors %v, want 0", got)
	}
}

func TestConnectRejected(t *testing.T) {
	up := echoUpstream(t, "app")
	e, _ := newEdge(t, Config{}, Route{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{up.URL}})
	rr := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodConnect, "http://app.example.com:443", nil)
	req.Host = "app.example.com:443"
	e.ServeHTTP(rr, req)
	if rr.Code != http.StatusMethodNotAllowed {
		t.Fatalf("CONNECT: %d, want 405", rr.Code)
	}
}

func TestClientIPHook(t *testing.T) {
	up := echoUpstream(t, "blog")
	entries := make(chan LogEntry, 1)
	want := netip.MustParseAddr("203.0.113.7")
	_, srv := newEdge(t, Config{
		ClientIP:  func(*http.Request) netip.Addr { return want },
		OnRequest: func(e LogEntry) { entries <- e },
	}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}})
	_, body := get(t, srv, "blog.example.com", "/", "X-Forwarded-For", "6.6.6.6")
	if got := decode(t, body).Header["X-Forwarded-For"]; len(got) != 1 || got[0] != want.String() {
		t.Errorf("upstream saw X-Forwarded-For %q, want [%s]", got, want)
	}
	if ent := <-entries; ent.ClientIP != want {
		t.Errorf("logged client IP %v, want %v", ent.ClientIP, want)
	}
}

func TestRemoteIP(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"@", "invalid IP"},
		{"", "invalid IP"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote}
		if got := RemoteIP(r).String(); got != tt.want {
			t.Errorf("RemoteIP(%q) = %s, want %s", tt.remote, got, tt.want)
		}
	}
}

// TestUpstreamBreaksOffBody: when an upstream dies in the middle of a
// response, the client's connection is aborted (it must not take a
// truncated body for a whole one) and the request is still logged.
func TestUpstreamBreaksOffBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		_, _ = io.WriteString(w, "only ten b")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	entries := make(chan LogEntry, 1)
	_, srv := newEdge(t, Config{OnRequest: func(e LogEntry) { entries <- e }},
		Route{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{up.URL}})

	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "app.example.com"
	res, err := srv.Client().Do(req)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Error("client read a truncated body without an error")
	}
	select {
	case ent := <-entries:
		if ent.Error != "response aborted" || ent.Status != http.StatusOK || ent.Service != "app" {
			t.Errorf("entry %+v", ent)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("aborted request was not logged")
	}
}

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
