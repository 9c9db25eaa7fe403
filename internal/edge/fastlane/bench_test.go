package fastlane

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
)

// hitHandler answers as the output cache does on a hit: the stored fields,
// X-Cache and Age, then the body in one Write.
func hitHandler() http.Handler {
	body := bytes.Repeat([]byte("x"), 1935)
	fields := map[string][]string{
		"Content-Type":   {"text/html; charset=utf-8"},
		"Content-Length": {"1935"},
		"X-Cache":        {"HIT"},
		"Age":            {"1"},
		"X-Request-Id":   {"0123456789abcdef"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range fields {
			h[k] = v
		}
		w.Write(body)
	})
}

// benchmarkHits sends b.N requests one after the other on one keep-alive
// connection, as a browser or wrk does, and reads each response.
func benchmarkHits(b *testing.B, withLane bool) {
	srv := &http.Server{Handler: hitHandler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if withLane {
		ln = Install(srv, func(*http.Request) bool { return true }).Listener(ln)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /page?id=1 HTTP/1.1\r\nHost: bench.localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkHit compares one cache-hit-shaped response on the lane with the
// same handler behind net/http alone. ns/op includes the client's work.
func BenchmarkHit(b *testing.B) {
	b.Run("lane", func(b *testing.B) { benchmarkHits(b, true) })
	b.Run("net-http", func(b *testing.B) { benchmarkHits(b, false) })
}
