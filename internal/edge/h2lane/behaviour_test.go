package h2lane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/connguard"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestRequestLooksLikeNetHTTP checks the request a handler gets, inline
// and on its goroutine.
func TestRequestLooksLikeNetHTTP(t *testing.T) {
	type seen struct {
		proto             string
		major             int
		tls               bool
		host, uri, remote string
		cl                int64
		noBody            bool
		cookie            string
		srv               bool
	}
	got := make(chan seen, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, srv := r.Context().Value(http.ServerContextKey).(*http.Server)
		got <- seen{r.Proto, r.ProtoMajor, r.TLS != nil, r.Host, r.RequestURI, r.RemoteAddr, r.ContentLength, r.Body == http.NoBody, r.Header.Get("Cookie"), srv}
	})
	for _, inline := range []bool{true, false} {
		ts := startH2(t, &Server{Handler: h, HTTPServer: &http.Server{}, Eligible: func(*http.Request) bool { return inline }})
		req, _ := http.NewRequest("GET", "https://"+ts.addr+"/a?b=c", nil)
		req.AddCookie(&http.Cookie{Name: "x", Value: "1"})
		req.AddCookie(&http.Cookie{Name: "y", Value: "2"})
		res, err := h2Client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		s := <-got
		if s.proto != "HTTP/2.0" || s.major != 2 || !s.tls || s.host != ts.addr || s.uri != "/a?b=c" || s.remote == "" || s.cl != 0 || !s.noBody || s.cookie != "x=1; y=2" || !s.srv {
			t.Errorf("inline=%v: %+v", inline, s)
		}
	}
}

// TestPostLargeBody sends bodies far over the windows, which the server
// must return as the handler reads.
func TestPostLargeBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hash := sha256.New()
		n, err := io.Copy(hash, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d %x %d", n, hash.Sum(nil), r.ContentLength)
	})
	ts := startH2(t, &Server{Handler: h, StreamWindow: 65535, ConnWindow: 65535})
	cl := h2Client(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte('a' + i)}, 1<<20+i)
			res, err := cl.Post("https://"+ts.addr+"/up", "application/octet-stream", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := fmt.Sprintf("%d %x %d", len(body), sha256.Sum256(body), len(body))
			if string(b) != want {
				t.Errorf("got %q, want %q", b, want)
			}
		}()
	}
	wg.Wait()
}

// TestLargeResponse: responses over the client's windows, inline and not.
func TestLargeResponse(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 100<<10) // 1.6 MB
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})
	for _, inline := range []bool{true, false} {
		ts := startH2(t, &Server{Handler: h, Eligible: func(*http.Request) bool { return inline }})
		cl := h2Client(t)
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := cl.Get("https://" + ts.addr + "/big")
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if !bytes.Equal(b, body) {
					t.Errorf("inline=%v: got %d bytes", inline, len(b))
				}
			}()
		}
		wg.Wait()
	}
}

// TestTrailers: request trailers reach the handler, response trailers
// (announced and TrailerPrefix) the client.
func TestTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		w.Write(b)
		w.Header().Set("X-Sum", "sum:"+r.Trailer.Get("X-Req"))
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	ts := startH2(t, &Server{Handler: h})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "https://"+ts.addr+"/t", pr)
	req.Trailer = http.Header{"X-Req": nil}
	go func() {
		pw.Write([]byte("body"))
		req.Trailer.Set("X-Req", "r1")
		pw.Close()
	}()
	res, err := h2Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "body" || res.Trailer.Get("X-Sum") != "sum:r1" || res.Trailer.Get("X-Late") != "late" {
		t.Fatalf("body %q trailer %v", b, res.Trailer)
	}
}

func TestConcurrentStreams(t *testing.T) {
	var n atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, r.URL.Path)
	})
	ts := startH2(t, &Server{Handler: h, Eligible: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "0") }})
	cl := h2Client(t)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("/p%d", i)
			res, err := cl.Get("https://" + ts.addr + p)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != p {
				t.Errorf("%s: got %q", p, b)
			}
		}()
	}
	wg.Wait()
	if n.Load() != 100 || ts.Answered() != 10 {
		t.Fatalf("handled %d, inline %d", n.Load(), ts.Answered())
	}
}

func TestHead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "twelve bytes")
	})
	for _, inline := range []bool{true, false} {
		ts := startH2(t, &Server{Handler: h, Eligible: func(*http.Request) bool { return inline }})
		res, err := h2Client(t).Head("https://" + ts.addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if len(b) != 0 || res.ContentLength != 12 {
			t.Fatalf("inline=%v: body %q, length %d", inline, b, res.ContentLength)
		}
	}
}

func TestInterimResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "ok")
	})
	ts := startH2(t, &Server{Handler: h})
	var hints []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, code)
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "https://"+ts.addr+"/", nil)
	res, err := h2Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "ok" || len(hints) != 1 || hints[0] != 103 {
		t.Fatalf("%q %v", b, hints)
	}
}

// TestHandlerPanic: the stream is reset, the connection serves on.
func TestHandlerPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})
	for _, inline := range []bool{true, false} {
		ts := startH2(t, &Server{Handler: h, Eligible: func(*http.Request) bool { return inline }})
		cl := h2Client(t)
		if res, err := cl.Get("https://" + ts.addr + "/panic"); err == nil {
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil {
				t.Fatalf("inline=%v: a panicking handler's response looked complete: %q", inline, b)
			}
		}
		res, err := cl.Get("https://" + ts.addr + "/after")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != "fine" {
			t.Fatalf("%q", b)
		}
	}
}

// TestClientCancel: RST_STREAM from the client cancels the handler's
// context.
func TestClientCancel(t *testing.T) {
	started := make(chan struct{})
	canceled := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		canceled <- r.Context().Err()
	})
	ts := startH2(t, &Server{Handler: h})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+ts.addr+"/", nil)
	go func() { <-started; cancel() }()
	if _, err := h2Client(t).Do(req); err == nil {
		t.Fatal("no error after cancel")
	}
	select {
	case err := <-canceled:
		if !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler's context not canceled")
	}
}

// TestShutdown: GOAWAY; the stream in flight finishes; Shutdown returns.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ts := startH2(t, &Server{Handler: h})
	cl := h2Client(t)
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		res, err := cl.Get("https://" + ts.addr + "/")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		done <- result{string(b), err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(ctxTimeout(t, 5*time.Second)) }()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-shut:
		t.Fatal("Shutdown returned with a stream in flight")
	default:
	}
	close(release)
	if r := <-done; r.err != nil || r.body != "finished" {
		t.Fatalf("%+v", r)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

// TestFlusher: a flushed part reaches the client before the handler ends.
func TestFlusher(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second")
	})
	ts := startH2(t, &Server{Handler: h})
	res, err := h2Client(t).Get("https://" + ts.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "first" {
		t.Fatal(err, string(buf))
	}
	close(release)
	rest, _ := io.ReadAll(res.Body)
	if string(rest) != "second" {
		t.Fatalf("%q", rest)
	}
}

// TestSlowBody: connguard.BodyRate's moving read deadline works on a
// stream's body: a client that stops sending is cut off after a window.
func TestSlowBody(t *testing.T) {
	readErr := make(chan error, 1)
	h := connguard.BodyRate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), 200*time.Millisecond, 100)
	ts := startH2(t, &Server{Handler: h})
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", "https://"+ts.addr+"/", pr)
	go h2Client(t).Do(req)
	pw.Write([]byte("a little"))
	select {
	case err := <-readErr:
		var slow *connguard.ErrSlowBody
		if !errors.As(err, &slow) {
			t.Fatalf("read error %v, want ErrSlowBody", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stalled body was not cut off")
	}
}

// TestExpectContinue: 100 Continue goes out when the handler first reads
// the body, and the handler does not see the Expect field.
func TestExpectContinue(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Header.Get("Expect")+string(b))
	})
	ts := startH2(t, &Server{Handler: h})
	rc := dialRaw(t, ts.addr)
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "expect", "100-continue")
	dec := hpack.NewDecoder(4096, nil)
	var status string
	rc.until(func(f http2.Frame) bool {
		if h, ok := f.(*http2.HeadersFrame); ok && h.StreamID == 1 {
			fs, _ := dec.DecodeFull(h.HeaderBlockFragment())
			status = fs[0].Value
			return true
		}
		return false
	})
	if status != "100" {
		t.Fatalf("first response %q, want 100", status)
	}
	rc.fr.WriteData(1, true, []byte("body"))
	var got string
	rc.until(func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			got += string(d.Data())
			return d.StreamEnded()
		}
		return false
	})
	if got != "body" {
		t.Fatalf("%q", got)
	}
}

// TestConnectAndOptions: CONNECT (without :scheme and :path) and
// OPTIONS * reach the handler as net/http would build them.
func TestConnectAndOptions(t *testing.T) {
	got := make(chan string, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- fmt.Sprintf("%s %s %s %s", r.Method, r.Host, r.RequestURI, r.URL)
		w.WriteHeader(http.StatusMethodNotAllowed)
	})
	ts := startH2(t, &Server{Handler: h})
	rc := dialRaw(t, ts.addr)
	rc.headers(1, false, ":method", "CONNECT", ":authority", "example.test:443")
	if s := <-got; s != "CONNECT example.test:443 example.test:443 //example.test:443" {
		t.Errorf("CONNECT: %q", s)
	}
	rc.headers(3, true, ":method", "OPTIONS", ":scheme", "https", ":authority", "a", ":path", "*")
	if s := <-got; s != "OPTIONS a * *" {
		t.Errorf("OPTIONS *: %q", s)
	}
}

// TestClientGoAway: after the client's GOAWAY the streams it opened are
// answered, even those whose frames came in the same packet as the GOAWAY,
// and the connection goes on without special behaviour (RFC 9113 §6.8,
// §7: a PING is still answered) but opens no new stream; no GOAWAY of
// rampart's answers it (nginx sends none either: the client is leaving).
// When the client closes, so does the server.
func TestClientGoAway(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(map[bool]string{true: "inline", false: "goroutine"}[inline], func(t *testing.T) {
			s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "answer to "+r.URL.Path)
			}), Eligible: func(*http.Request) bool { return inline }}
			ts := startH2(t, s)
			rc := dialRaw(t, ts.addr)
			var hb headerBuf
			enc := hpack.NewEncoder(&hb)
			headers := func(fr *http2.Framer, id uint32, path string) {
				hb.b = hb.b[:0]
				for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "example.test"}, {":path", path}} {
					_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
				}
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.b, EndStream: true, EndHeaders: true})
			}
			// One write: HEADERS, GOAWAY and a PING after it.
			var buf bytes.Buffer
			fr := http2.NewFramer(&buf, nil)
			headers(fr, 1, "/last")
			_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			_ = fr.WritePing(false, [8]byte{1})
			if _, err := rc.c.Write(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			var body []byte
			var sawGoAway, sawStream3 bool
			var acked byte
			// pinged reads until the ack of PING n, and for n == 1 the
			// whole answer to stream 1 too (in either order).
			pinged := func(n byte) func(http2.Frame) bool {
				return func(f http2.Frame) bool {
					switch f := f.(type) {
					case *http2.DataFrame:
						if f.StreamID == 1 {
							body = append(body, f.Data()...)
						} else {
							sawStream3 = true
						}
					case *http2.HeadersFrame:
						sawStream3 = sawStream3 || f.StreamID != 1
					case *http2.GoAwayFrame:
						sawGoAway = true
					case *http2.PingFrame:
						if f.IsAck() {
							acked = f.Data[0]
						}
					}
					return acked == n && (n > 1 || string(body) == "answer to /last")
				}
			}
			if err := rc.until(pinged(1)); err != nil {
				t.Fatalf("no answer and PING ack after the client's GOAWAY (body %q): %v", body, err)
			}
			// A new stream is not served; the connection still is.
			buf.Reset()
			headers(fr, 3, "/new")
			_ = fr.WritePing(false, [8]byte{2})
			if _, err := rc.c.Write(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			if err := rc.until(pinged(2)); err != nil {
				t.Fatalf("no PING ack: %v", err)
			}
			if sawStream3 {
				t.Error("a stream opened after the client's GOAWAY was served")
			}
			if sawGoAway {
				t.Error("the server answered the client's GOAWAY with one of its own")
			}
			// The client closes its side: the server closes the connection.
			if cw, ok := rc.c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			} else {
				t.Fatalf("%T cannot half-close", rc.c)
			}
			if err := rc.until(func(http2.Frame) bool { return false }); err == nil || isTimeout(err) {
				t.Fatalf("connection not closed after the client closed: %v", err)
			}
		})
	}
}

// TestExtendedConnect: with ExtendedConnect the server advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL, and an extended CONNECT (RFC 8441 §4)
// reaches the handler as net/http's HTTP/2 server builds it, its DATA as
// a body that the handler can read while it writes; :protocol anywhere
// else, or without :scheme, :path or :authority, is malformed.
func TestExtendedConnect(t *testing.T) {
	got := make(chan string, 1)
	ts := startH2(t, &Server{ExtendedConnect: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- fmt.Sprintf("%s %s %s %s %q %d", r.Method, r.Host, r.RequestURI, r.URL, r.Header[":protocol"], r.ContentLength)
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				http.NewResponseController(w).Flush()
			}
			if err != nil {
				return
			}
		}
	})})
	rc := dialRaw(t, ts.addr)
	advertised := false
	if err := rc.until(func(f http2.Frame) bool {
		sf, ok := f.(*http2.SettingsFrame)
		if ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingEnableConnectProtocol)
			advertised = ok && v == 1
		}
		return ok
	}); err != nil || !advertised {
		t.Fatalf("SETTINGS_ENABLE_CONNECT_PROTOCOL not advertised (%v)", err)
	}
	rc.headers(1, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.test", ":path", "/chat?room=1",
		"sec-websocket-version", "13")
	if s := <-got; s != `CONNECT example.test /chat?room=1 /chat?room=1 ["websocket"] -1` {
		t.Errorf("request %s", s)
	}
	// Both ways at once: what the client sends comes back while the
	// stream stays open.
	for _, msg := range []string{"one", "two"} {
		if err := rc.fr.WriteData(1, false, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		var echo string
		if err := rc.until(func(f http2.Frame) bool {
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 && len(d.Data()) > 0 {
				echo = string(d.Data())
				return true
			}
			return false
		}); err != nil || echo != msg {
			t.Fatalf("echo of %q: %q, %v", msg, echo, err)
		}
	}
	rc.fr.WriteData(1, true, nil)
	if code, _ := rc.streamEnd(1); code != -1 {
		t.Errorf("after the client's END_STREAM the stream ended with %d, want the server's END_STREAM", code)
	}

	for name, fields := range map[string][]string{
		"on GET":       append(get("/"), ":protocol", "websocket"),
		"no :path":     {":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a"},
		"no :scheme":   {":method", "CONNECT", ":protocol", "websocket", ":authority", "a", ":path", "/"},
		"no authority": {":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/"},
		"empty":        {":method", "CONNECT", ":protocol", "", ":scheme", "https", ":authority", "a", ":path", "/"},
	} {
		rc := dialRaw(t, ts.addr)
		rc.headers(1, true, fields...)
		if code, g := rc.streamEnd(1); code != int(http2.ErrCodeProtocol) && !(code == -2 && g == http2.ErrCodeProtocol) {
			t.Errorf("%s: ended with %d, want PROTOCOL_ERROR", name, code)
		}
	}
}

// TestExtendedConnectLimit: one connection holds at most maxTunnels
// extended CONNECT streams at once (each may be an upstream connection for
// hours); more are refused with REFUSED_STREAM, and once one ends there is
// room again. Other streams are not counted.
func TestExtendedConnectLimit(t *testing.T) {
	ts := startH2(t, &Server{ExtendedConnect: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		io.Copy(io.Discard, r.Body)
	})})
	rc := dialRaw(t, ts.addr)
	tunnel := func(id uint32) {
		rc.headers(id, false, ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "example.test", ":path", "/ws")
	}
	status := func(id uint32) string {
		t.Helper()
		got := ""
		if err := rc.until(func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if f.StreamID == id {
					got = f.PseudoValue("status")
					return true
				}
			case *http2.RSTStreamFrame:
				if f.StreamID == id {
					got = f.ErrCode.String()
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatalf("stream %d: %v", id, err)
		}
		return got
	}
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	id := uint32(1)
	for range maxTunnels {
		tunnel(id)
		if s := status(id); s != "200" {
			t.Fatalf("tunnel %d: %s", id, s)
		}
		id += 2
	}
	tunnel(id)
	if s := status(id); s != "REFUSED_STREAM" {
		t.Errorf("tunnel %d over the limit: %s, want REFUSED_STREAM", maxTunnels+1, s)
	}
	id += 2
	rc.headers(id, true, get("/")...)
	if s := status(id); s != "200" {
		t.Errorf("a GET beside the tunnels: %s", s)
	}
	id += 2
	rc.fr.WriteData(1, true, nil) // the first tunnel ends
	deadline := time.Now().Add(5 * time.Second)
	for {
		tunnel(id)
		if s := status(id); s == "200" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no room after a tunnel ended: %s", s)
		}
		id += 2
		time.Sleep(20 * time.Millisecond)
	}
}
