package cache

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests put the cache where the edge puts it: in an http.Server, in
// front of an httputil.ReverseProxy to a real upstream, so that streaming,
// the proxy's error pages and its ErrAbortHandler panics are the real ones.

// stack is client → server(cache(proxy)) → upstream.
type stack struct {
	cache *Cache
	clock *clock
	front *httptest.Server
	up    *httptest.Server
	calls atomic.Int64
}

func newStack(t *testing.T, cfg Config, upstream http.HandlerFunc) *stack {
	t.Helper()
	s := &stack{clock: newClock()}
	s.up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		upstream(w, r)
	}))
	t.Cleanup(s.up.Close)
	target, _ := url.Parse(s.up.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		// Like the edge: an unreachable upstream becomes a 502 page.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "Service not answering")
		},
		ErrorLog: discardLog,
	}
	s.cache = New(Options{Now: s.clock.Now})
	s.front = httptest.NewUnstartedServer(s.cache.Handler("svc", cfg, proxy))
	s.front.Config.ErrorLog = discardLog
	s.front.Start()
	t.Cleanup(s.front.Close)
	return s
}

func (s *stack) get(t *testing.T, method, path string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(method, s.front.URL+path, nil)
	res, err := s.front.Client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, string(b), err
}

func (s *stack) expect(t *testing.T, method, path string, status int, xcache, body string) *http.Response {
	t.Helper()
	res, b, err := s.get(t, method, path)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.StatusCode != status || res.Header.Get("X-Cache") != xcache || b != body {
		t.Fatalf("%s %s: %d %q %q; want %d %q %q", method, path, res.StatusCode, res.Header.Get("X-Cache"), b, status, xcache, body)
	}
	return res
}

func TestProxyHitMiss(t *testing.T) {
	s := newStack(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/chunked" {
			_, _ = io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part two")
			return
		}
		_, _ = io.WriteString(w, "hello "+r.URL.RawQuery)
	})
	s.expect(t, "GET", "/?a", 200, "MISS", "hello a")
	res := s.expect(t, "GET", "/?a", 200, "HIT", "hello a")
	if res.Header.Get("Age") != "0" || res.ContentLength != 7 {
		t.Fatalf("hit: Age %q, length %d", res.Header.Get("Age"), res.ContentLength)
	}
	s.expect(t, "HEAD", "/?a", 200, "HIT", "")
	s.expect(t, "HEAD", "/?b", 200, "MISS", "")
	s.expect(t, "GET", "/?b", 200, "HIT", "hello b")
	// A chunked response is stored and served with a length.
	s.expect(t, "GET", "/chunked", 200, "MISS", "part one, part two")
	res = s.expect(t, "GET", "/chunked", 200, "HIT", "part one, part two")
	if res.ContentLength != 18 {
		t.Fatalf("chunked hit length %d", res.ContentLength)
	}
	if s.calls.Load() != 3 {
		t.Fatalf("upstream calls %d", s.calls.Load())
	}
}

// TestProxyUpstreamDown: the upstream is gone; the proxy's 502 page is
// replaced by the stale copy.
func TestProxyUpstreamDown(t *testing.T) {
	s := newStack(t, Config{TTL: time.Second, StaleIfError: time.Minute}, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "still here")
	})
	s.expect(t, "GET", "/", 200, "MISS", "still here")
	s.up.Close()
	s.expect(t, "GET", "/", 200, "HIT", "still here")
	s.clock.Advance(2 * time.Second)
	s.expect(t, "GET", "/", 200, "STALE", "still here")
	s.expect(t, "GET", "/other", 502, "MISS", "Service not answering")
	s.clock.Advance(time.Minute)
	s.expect(t, "GET", "/", 502, "MISS", "Service not answering")
}

// TestProxyBrokenBody: an upstream that breaks off mid-body makes the
// proxy abort the client's response; nothing is stored, and requests
// that were waiting for it are still answered.
func TestProxyBrokenBody(t *testing.T) {
	var n atomic.Int64
	gate := make(chan struct{})
	s := newStack(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			<-gate // until the waiters are queued
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		_, _ = io.WriteString(w, "whole")
	})
	var wg sync.WaitGroup
	var broken atomic.Bool
	wg.Go(func() {
		if _, _, err := s.get(t, "GET", "/"); err != nil {
			broken.Store(true)
		}
	})
	// The leader's client has its header: the fill is under way.
	for s.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	bodies := make([]string, 8)
	for i := range bodies {
		wg.Go(func() {
			_, b, err := s.get(t, "GET", "/")
			if err != nil {
				b = err.Error()
			}
			bodies[i] = b
		})
	}
	time.Sleep(50 * time.Millisecond) // let them queue; correctness does not depend on it
	close(gate)
	wg.Wait()
	if !broken.Load() {
		t.Fatalf("the leader's client got a complete response")
	}
	for _, b := range bodies {
		if b != "whole" {
			t.Fatalf("a waiter got %q", b)
		}
	}
	// Waiters go upstream on their own, uncached, so this is a MISS
	// unless a late request led a new fill; either way it is whole now.
	if res, b, err := s.get(t, "GET", "/"); err != nil || b != "whole" || res.Header.Get("X-Cache") == "STALE" {
		t.Fatalf("after the broken fill: %v %q", err, b)
	}
	s.expect(t, "GET", "/", 200, "HIT", "whole")
}

// TestProxyFlood: the flood over real sockets, small: 16 clients
// for 1.5 s on one URL of a 20 ms upstream, TTL 1 s.
func TestProxyFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 1.5 s")
	}
	var calls atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "page")
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	c := New(Options{})
	front := httptest.NewServer(c.Handler("svc", Config{TTL: time.Second}, httputil.NewSingleHostReverseProxy(target)))
	defer front.Close()
	client := front.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16
	stop := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	var bad atomic.Int64
	var total atomic.Int64
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(stop) {
				res, err := client.Get(front.URL + "/page?id=1")
				if err != nil {
					bad.Add(1)
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(b) != "page" {
					bad.Add(1)
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() != 0 || calls.Load() > 2 {
		t.Fatalf("%d bad responses of %d; upstream saw %d requests, want ≤ 2", bad.Load(), total.Load(), calls.Load())
	}
	t.Logf("%d requests, %d upstream", total.Load(), calls.Load())
}

// TestUnwrap: the edge finds its recorder under the cache's writer.
func TestUnwrap(t *testing.T) {
	w := httptest.NewRecorder()
	var seen http.ResponseWriter
	h := New(Options{}).Handler("svc", Config{}, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		seen = rw.(interface{ Unwrap() http.ResponseWriter }).Unwrap()
	}))
	h.ServeHTTP(w, newReq("GET", "/"))
	if seen != w {
		t.Fatalf("Unwrap returned %T", seen)
	}
}

var discardLog = log.New(io.Discard, "", 0)
