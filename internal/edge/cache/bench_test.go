package cache

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// benchPage is the bench origin's ~2 KB page.
var benchPage = []byte(strings.Repeat("<p>rampart bench page</p>\n", 75))

// benchOrigin answers at once, like a loopback upstream with no delay but
// without the network, so that the benchmarks measure the cache.
var benchOrigin = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"text/html; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(benchPage))}
	h["Date"] = []string{"Mon, 01 Jun 2026 10:00:00 GMT"}
	_, _ = w.Write(benchPage)
})

// discardWriter is a reusable ResponseWriter. Its header map is cleared,
// not replaced, between requests, so that the numbers count the cache's
// allocations, not the server's per-request map.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// serverRequest builds a request as net/http's server hands it over: the
// request URI in origin form.
func serverRequest(target string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	r.RequestURI = r.URL.RequestURI()
	return r
}

func benchServe(b *testing.B, h http.Handler, r *http.Request) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPage)))
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header, 8)}
		rr := r.Clone(r.Context())
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, rr)
		}
	})
}

// BenchmarkHit: one hot URL, as in the flood; requests as wrk sends them.
func BenchmarkHit(b *testing.B) {
	h := New(Options{}).Handler("bench", Config{TTL: MaxTTL}, benchOrigin)
	r := serverRequest("http://bench.localhost/page?id=1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	benchServe(b, h, r)
}

// BenchmarkHitBrowser: a hit for a request with a browser's headers.
func BenchmarkHitBrowser(b *testing.B) {
	h := New(Options{}).Handler("bench", Config{TTL: MaxTTL}, benchOrigin)
	r := serverRequest("http://bench.localhost/page?id=1")
	for k, v := range map[string]string{
		"User-Agent":                "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		"Accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Language":           "en-US,en;q=0.5",
		"Accept-Encoding":           "gzip, deflate, br, zstd",
		"Connection":                "keep-alive",
		"Upgrade-Insecure-Requests": "1",
		"Sec-Fetch-Dest":            "document",
		"Sec-Fetch-Mode":            "navigate",
		"Sec-Fetch-Site":            "none",
		"Priority":                  "u=0, i",
	} {
		r.Header.Set(k, v)
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	benchServe(b, h, r)
}

// BenchmarkHitVary: a hit on a response that varies on Accept-Encoding.
func BenchmarkHitVary(b *testing.B) {
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Vary"] = []string{"Accept-Encoding"}
		benchOrigin(w, r)
	})
	h := New(Options{}).Handler("bench", Config{TTL: MaxTTL}, origin)
	r := serverRequest("http://bench.localhost/page?id=1")
	r.Header.Set("Accept-Encoding", "gzip, br")
	h.ServeHTTP(httptest.NewRecorder(), r)
	benchServe(b, h, r)
}

// BenchmarkMiss: every request a new URL: lead a fill, store, evict.
func BenchmarkMiss(b *testing.B) {
	h := New(Options{MaxBytes: 8 << 20, MaxServiceBytes: 8 << 20}).Handler("bench", Config{TTL: MaxTTL}, benchOrigin)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, serverRequest("http://bench.localhost/page?id="+strconv.FormatInt(n.Add(1), 10)))
		}
	})
}

// BenchmarkMissCollapse: runs of 16 requests on each new URL, from all
// goroutines at once: one leads, the others wait for it or hit.
func BenchmarkMissCollapse(b *testing.B) {
	var upstream atomic.Int64
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		benchOrigin(w, r)
	})
	h := New(Options{MaxBytes: 8 << 20, MaxServiceBytes: 8 << 20}).Handler("bench", Config{TTL: MaxTTL}, origin)
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header, 8)}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, serverRequest("http://bench.localhost/page?id="+strconv.FormatInt(n.Add(1)/16, 10)))
		}
	})
	b.ReportMetric(float64(upstream.Load())/float64(b.N), "upstream/op")
}

// BenchmarkBypass: a request with a Cookie, passed through.
func BenchmarkBypass(b *testing.B) {
	h := New(Options{}).Handler("bench", Config{}, benchOrigin)
	r := serverRequest("http://bench.localhost/page?id=1")
	r.Header.Set("Cookie", "session=abc")
	benchServe(b, h, r)
}

// BenchmarkNoCache: the origin alone, for reference: what the cache adds
// on the bypass path is the difference to BenchmarkBypass.
func BenchmarkNoCache(b *testing.B) {
	r := serverRequest("http://bench.localhost/page?id=1")
	benchServe(b, benchOrigin, r)
}
