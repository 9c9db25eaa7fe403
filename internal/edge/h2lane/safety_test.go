package h2lane

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func okHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
}

// TestHPACKTableSize: a client that allows no dynamic table gets header
// blocks that use none; one that grows the table past the server's
// SETTINGS_HEADER_TABLE_SIZE (4096) breaks the connection.
func TestHPACKTableSize(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(okHandler), Eligible: func(*http.Request) bool { return true }})
	rc := dialRaw(t, ts.addr, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
	dec := hpack.NewDecoder(0, nil)
	for i := uint32(1); i <= 5; i += 2 {
		rc.headers(i, true, get("/")...)
		err := rc.until(func(f http2.Frame) bool {
			h, ok := f.(*http2.HeadersFrame)
			if !ok {
				return false
			}
			if _, err := dec.DecodeFull(h.HeaderBlockFragment()); err != nil {
				t.Fatalf("stream %d: %v (the server used a dynamic table the client did not allow)", i, err)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	rc = dialRaw(t, ts.addr)
	var buf headerBuf
	enc := hpack.NewEncoder(&buf)
	enc.SetMaxDynamicTableSizeLimit(1 << 20)
	enc.SetMaxDynamicTableSize(1 << 20) // emits a size update over 4096
	for i := 0; i < len(get("/")); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: get("/")[i], Value: get("/")[i+1]})
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: buf.b, EndStream: true, EndHeaders: true})
	if code := rc.goAway(); code != http2.ErrCodeCompression {
		t.Fatalf("GOAWAY %v, want COMPRESSION_ERROR", code)
	}
}

// TestHeaderListTooLarge: 431, as net/http answers.
func TestHeaderListTooLarge(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(okHandler), MaxHeaderListSize: 4096})
	rc := dialRaw(t, ts.addr)
	var big []string
	for i := range 10 {
		big = append(big, fmt.Sprintf("x-big-%d", i), strings.Repeat("a", 500))
	}
	rc.headers(1, true, get("/", big...)...)
	dec := hpack.NewDecoder(4096, nil)
	var status string
	rc.until(func(f http2.Frame) bool {
		if h, ok := f.(*http2.HeadersFrame); ok {
			fs, _ := dec.DecodeFull(h.HeaderBlockFragment())
			for _, f := range fs {
				if f.Name == ":status" {
					status = f.Value
				}
			}
			return true
		}
		return false
	})
	if status != "431" {
		t.Fatalf("status %q, want 431", status)
	}
}

// TestContinuationFlood (CVE-2023-45288): endless CONTINUATION frames are
// neither buffered nor decoded without bound: the connection ends.
func TestContinuationFlood(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(okHandler)})
	rc := dialRaw(t, ts.addr)
	var buf headerBuf
	enc := hpack.NewEncoder(&buf)
	for i := 0; i < len(get("/")); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: get("/")[i], Value: get("/")[i+1]})
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: buf.b, EndStream: true})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, rc.c)
	}()
	frag := make([]byte, 16000)
	for i := range frag {
		frag[i] = 0x40 // literal with incremental indexing, new name: never completes cheaply
	}
	sent := 0
	for ; sent < 64<<20; sent += len(frag) {
		if err := rc.fr.WriteContinuation(1, false, frag); err != nil {
			break
		}
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open after a CONTINUATION flood")
	}
	if sent >= 64<<20 {
		t.Fatalf("the server took %d bytes of CONTINUATION", sent)
	}
}

// TestRapidReset (CVE-2023-44487): HEADERS + RST_STREAM in a loop never
// runs more handlers at once than MaxConcurrentStreams, and the abuse
// ends the connection with ENHANCE_YOUR_CALM.
func TestRapidReset(t *testing.T) {
	var running, peak atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond) // ignores the cancellation for a while
		running.Add(-1)
	})
	ts := startH2(t, &Server{Handler: h, MaxConcurrentStreams: 10})
	rc := dialRaw(t, ts.addr)
	go func() {
		for id := uint32(1); id < 20000; id += 2 {
			if rc.tryHeaders(id, true, get("/")...) != nil || rc.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
				return
			}
		}
	}()
	if code := rc.goAway(); code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
	}
	if p := peak.Load(); p > 10 {
		t.Fatalf("%d handlers ran at once, over MaxConcurrentStreams 10", p)
	}
}

// TestFloods: frames that ask for no response, sent without end, close
// the connection with ENHANCE_YOUR_CALM.
func TestFloods(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})})
	floods := map[string]func(rc *rawConn, i int) error{
		"SETTINGS": func(rc *rawConn, i int) error { return rc.fr.WriteSettings() },
		"PING":     func(rc *rawConn, i int) error { return rc.fr.WritePing(false, [8]byte{}) },
		"PRIORITY": func(rc *rawConn, i int) error {
			return rc.fr.WritePriority(uint32(2*i+1), http2.PriorityParam{StreamDep: 0, Weight: 1})
		},
		"empty DATA": func(rc *rawConn, i int) error {
			if i == 0 {
				if err := rc.tryHeaders(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/"); err != nil {
					return err
				}
			}
			return rc.fr.WriteData(1, false, nil)
		},
		"WINDOW_UPDATE": func(rc *rawConn, i int) error { return rc.fr.WriteWindowUpdate(0, 1) },
	}
	for name, send := range floods {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			go func() {
				for i := 0; i < 100000; i++ {
					if send(rc, i) != nil {
						return
					}
				}
			}()
			if code := rc.goAway(); code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM", code)
			}
		})
	}
}

// TestZeroWindow: a client that never opens its window does not hold a
// handler, nor an inline response, past WriteTimeout.
func TestZeroWindow(t *testing.T) {
	handlerDone := make(chan error, 1)
	big := bytes.Repeat([]byte("x"), 100<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "102400")
		_, err := w.Write(big)
		if r.URL.Path == "/goroutine" {
			handlerDone <- err
		}
	})
	ts := startH2(t, &Server{Handler: h, WriteTimeout: 300 * time.Millisecond, Eligible: func(r *http.Request) bool { return r.URL.Path == "/inline" }})
	rc := dialRaw(t, ts.addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	rc.headers(1, true, get("/goroutine")...)
	select {
	case err := <-handlerDone:
		if err == nil {
			t.Fatal("Write succeeded without window")
		}
		t.Log(err)
	case <-time.After(5 * time.Second):
		t.Fatal("handler still blocked on a zero window")
	}
	if code, _ := rc.streamEnd(1); code != int(http2.ErrCodeCancel) {
		t.Fatalf("stream 1 ended with %d, want RST_STREAM CANCEL", code)
	}
	rc.headers(3, true, get("/inline")...)
	if code, _ := rc.streamEnd(3); code != int(http2.ErrCodeCancel) {
		t.Fatalf("inline stream 3 ended with %d, want RST_STREAM CANCEL", code)
	}
}

// TestRefusedStream: streams beyond MaxConcurrentStreams are refused.
func TestRefusedStream(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ts := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }), MaxConcurrentStreams: 2})
	rc := dialRaw(t, ts.addr)
	for id := uint32(1); id <= 5; id += 2 {
		rc.headers(id, true, get("/")...)
	}
	if code, _ := rc.streamEnd(5); code != int(http2.ErrCodeRefusedStream) {
		t.Fatalf("third stream ended with %d, want REFUSED_STREAM", code)
	}
}

func TestIdleAndPrefaceTimeout(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(okHandler), IdleTimeout: 200 * time.Millisecond, ReadHeaderTimeout: 200 * time.Millisecond})
	rc := dialRaw(t, ts.addr)
	if code := rc.goAway(); code != http2.ErrCodeNo {
		t.Fatalf("idle: GOAWAY %v", code)
	}
	rc = dialRaw(t, ts.addr)
	rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, rc.c); err != nil {
		t.Fatal(err)
	}

	// A client that never sends its preface.
	rc2 := dialRaw(t, ts.addr) // writes the preface and SETTINGS...
	_ = rc2
	c, err := tlsDialNoPreface(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatal("preface timeout: ", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("preface timeout not applied")
	}
}

// TestFlowControlViolation: DATA beyond the stream's window resets the
// stream, beyond the connection's ends the connection.
func TestFlowControlViolation(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
		StreamWindow: 65535, ConnWindow: 1 << 20})
	rc := dialRaw(t, ts.addr)
	post := []string{":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/"}
	rc.headers(1, false, post...)
	chunk := make([]byte, 16384)
	for range 5 { // 80 KiB > 64 KiB
		rc.fr.WriteData(1, false, chunk)
	}
	if code, _ := rc.streamEnd(1); code != int(http2.ErrCodeFlowControl) {
		t.Fatalf("stream: %d, want FLOW_CONTROL_ERROR", code)
	}

	ts = startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
		StreamWindow: 1 << 20, ConnWindow: 65535})
	rc = dialRaw(t, ts.addr)
	rc.headers(1, false, post...)
	for range 5 {
		rc.fr.WriteData(1, false, chunk)
	}
	if code := rc.goAway(); code != http2.ErrCodeFlowControl {
		t.Fatalf("connection: %v, want FLOW_CONTROL_ERROR", code)
	}
}

// TestMalformed: requests RFC 9113 §8.2-8.3 calls malformed are reset
// with PROTOCOL_ERROR and never reach the handler.
func TestMalformed(t *testing.T) {
	var reached atomic.Int32
	ts := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.Copy(io.Discard, r.Body)
	})})
	cases := map[string][]string{
		"uppercase name":       get("/", "X-Upper", "1"),
		"connection header":    get("/", "connection", "keep-alive"),
		"upgrade header":       get("/", "upgrade", "websocket"),
		"transfer-encoding":    get("/", "transfer-encoding", "chunked"),
		"te not trailers":      get("/", "te", "gzip"),
		"duplicate :path":      append(get("/"), ":path", "/again"),
		"pseudo after regular": {":method", "GET", ":scheme", "https", "accept", "*/*", ":path", "/"},
		"no :path":             {":method", "GET", ":scheme", "https", ":authority", "a"},
		"empty :path":          {":method", "GET", ":scheme", "https", ":authority", "a", ":path", ""},
		"relative :path":       {":method", "GET", ":scheme", "https", ":authority", "a", ":path", "x"},
		":protocol":            append(get("/"), ":protocol", "websocket"),
		"content-length":       get("/", "content-length", "5"),
		"bad content-length":   get("/", "content-length", "1x"),
		"response pseudo":      append(get("/"), ":status", "200"),
		"host mismatch":        get("/", "host", "other.test"),
		"two hosts":            {":method", "GET", ":scheme", "https", ":path", "/", "host", "a", "host", "a"},
		"userinfo":             {":method", "GET", ":scheme", "https", ":authority", "u@a", ":path", "/"},
		"bad authority":        {":method", "GET", ":scheme", "https", ":authority", "a b", ":path", "/"},
	}
	id := uint32(1)
	for name, fields := range cases {
		rc := dialRaw(t, ts.addr)
		rc.headers(id, true, fields...)
		if code, g := rc.streamEnd(id); code != int(http2.ErrCodeProtocol) && !(code == -2 && g == http2.ErrCodeProtocol) {
			t.Errorf("%s: ended with %d, want PROTOCOL_ERROR", name, code)
		}
	}
	// DATA not matching content-length.
	rc := dialRaw(t, ts.addr)
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":authority", "a", ":path", "/", "content-length", "3")
	rc.fr.WriteData(1, true, []byte("four"))
	if code, _ := rc.streamEnd(1); code != int(http2.ErrCodeProtocol) {
		t.Errorf("content-length mismatch: %d", code)
	}
	if n := reached.Load(); n > 1 { // the mismatched POST reaches its handler
		t.Errorf("%d malformed requests reached the handler", n)
	}
}

// TestShutdownGoAway: Shutdown sends GOAWAY naming the last stream it
// takes; the stream in flight still gets its response, later streams are
// not served, and the connection then closes.
func TestShutdownGoAway(t *testing.T) {
	release := make(chan struct{})
	var served atomic.Int32
	ts := startH2(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		<-release
		io.WriteString(w, "done")
	})})
	rc := dialRaw(t, ts.addr)
	rc.headers(1, true, get("/")...)
	for served.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(ctxTimeout(t, 5*time.Second)) }()
	var last uint32
	rc.until(func(f http2.Frame) bool {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			last = g.LastStreamID
			return true
		}
		return false
	})
	if last != 1 {
		t.Fatalf("GOAWAY last stream %d, want 1", last)
	}
	rc.headers(3, true, get("/")...)
	close(release)
	if code, _ := rc.streamEnd(1); code != -1 {
		t.Fatalf("stream 1 ended with %d, want its response", code)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if n := served.Load(); n != 1 {
		t.Fatalf("%d requests served, want 1 (stream 3 came after GOAWAY)", n)
	}
}

// TestShutdownIdle: idle connections close at once on Shutdown.
func TestShutdownIdle(t *testing.T) {
	ts := startH2(t, &Server{Handler: http.HandlerFunc(okHandler)})
	rc := dialRaw(t, ts.addr)
	rc.headers(1, true, get("/")...)
	rc.streamEnd(1)
	start := time.Now()
	if err := ts.Shutdown(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Shutdown took %v with an idle connection", d)
	}
	if _, err := io.Copy(io.Discard, rc.c); err != nil {
		t.Fatal(err)
	}
}
