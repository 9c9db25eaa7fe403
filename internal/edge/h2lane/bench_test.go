package h2lane

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkH2Hit compares a ~2 KB cache-hit-like response answered
// inline with the same handler on its own goroutine and on net/http's
// HTTP/2 server: loopback TLS, one connection, many concurrent streams.
// The figure includes the client's work; compare the sub-benchmarks.
func BenchmarkH2Hit(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 2048)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Cache-Control", "max-age=3")
		_, _ = w.Write(body)
	})
	run := func(b *testing.B, addr string) {
		tr := h2Transport()
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr}
		url := "https://" + addr + "/hit"
		b.SetParallelism(8)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				res, err := cl.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	b.Run("inline", func(b *testing.B) {
		run(b, startH2(b, &Server{Handler: h, Eligible: func(*http.Request) bool { return true }}).addr)
	})
	b.Run("goroutine", func(b *testing.B) {
		run(b, startH2(b, &Server{Handler: h}).addr)
	})
	b.Run("net-http", func(b *testing.B) {
		run(b, startNetHTTP(b, h))
	})
}

// BenchmarkH2NewConn is a new TLS connection per request (the handshake
// dominates): the server's per-connection setup against net/http's.
func BenchmarkH2NewConn(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })
	run := func(b *testing.B, addr string) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tr := h2Transport()
				res, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				tr.CloseIdleConnections()
			}
		})
	}
	b.Run("h2lane", func(b *testing.B) { run(b, startH2(b, &Server{Handler: h}).addr) })
	b.Run("net-http", func(b *testing.B) { run(b, startNetHTTP(b, h)) })
}
