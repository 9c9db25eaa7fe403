package ratelimit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHeaders(t *testing.T) {
	ip := addr("192.0.2.1")
	for _, tc := range []struct {
		name                        string
		cfg                         Config
		before                      int           // requests sent at the start
		wait                        time.Duration // then the clock moves on
		policy, rateLimit, retryAft string        // the fields of the next request
	}{
		{"first request", Config{}, 0, 0, `"ip";q=150;w=60`, `"ip";r=149;t=1`, ""},
		{"quota half used", Config{}, 74, 0, `"ip";q=150;w=60`, `"ip";r=75;t=30`, ""},
		{"last of the burst", Config{}, 149, 0, `"ip";q=150;w=60`, `"ip";r=0;t=1`, ""},
		{"refused", Config{}, 150, 0, `"ip";q=150;w=60`, `"ip";r=0;t=1`, "1"},
		{"refused, partly waited", Config{}, 150, 300 * time.Millisecond, `"ip";q=150;w=60`, `"ip";r=0;t=1`, "1"},
		{"after a wait", Config{}, 150, 10 * time.Second, `"ip";q=150;w=60`, `"ip";r=24;t=51`, ""},
		{"per second", Config{Requests: 10, Period: time.Second}, 0, 0, `"ip";q=10;w=1`, `"ip";r=9;t=1`, ""},
		{"per second, refused", Config{Requests: 10, Period: time.Second}, 10, 0, `"ip";q=10;w=1`, `"ip";r=0;t=1`, "1"},
		{"one per minute, refused", Config{Requests: 1, Period: time.Minute}, 1, 0, `"ip";q=1;w=60`, `"ip";r=0;t=60`, "60"},
		{"one per minute, half waited", Config{Requests: 1, Period: time.Minute}, 1, 29500 * time.Millisecond, `"ip";q=1;w=60`, `"ip";r=0;t=31`, "31"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newLimiter(t, tc.cfg, Options{})
			burst(l, ip, tc.before)
			clk.Advance(tc.wait)
			d := l.Allow(ip)
			h := http.Header{}
			d.WriteHeaders(h)
			if got := h.Get("RateLimit-Policy"); got != tc.policy {
				t.Errorf("RateLimit-Policy: %s, want %s", got, tc.policy)
			}
			if got := h.Get("RateLimit"); got != tc.rateLimit {
				t.Errorf("RateLimit: %s, want %s", got, tc.rateLimit)
			}
			if got := h.Get("Retry-After"); got != tc.retryAft {
				t.Errorf("Retry-After: %q, want %q", got, tc.retryAft)
			}
			if len(h) != 2+min(len(tc.retryAft), 1) {
				t.Errorf("header fields: %v", h)
			}
			// A Decision made by hand, without the precomputed policy.
			d.rate = nil
			h2 := http.Header{}
			d.WriteHeaders(h2)
			if h2.Get("RateLimit-Policy") != tc.policy {
				t.Errorf("hand-made Decision: RateLimit-Policy %s", h2.Get("RateLimit-Policy"))
			}
		})
	}
	t.Run("exempt", func(t *testing.T) {
		h := http.Header{}
		Decision{Allowed: true}.WriteHeaders(h)
		if len(h) != 0 {
			t.Errorf("exempt Decision wrote %v", h)
		}
	})
}

func TestReject(t *testing.T) {
	l, _ := newLimiter(t, Default(), Options{})
	ip := addr("192.0.2.1")
	_, d := burst(l, ip, 151)
	for _, tc := range []struct {
		name, method, accept, ctype string
		body                        []string
	}{
		{"curl", http.MethodGet, "*/*", "text/plain; charset=utf-8", []string{
			"Too many requests from your address: this site allows 150 requests per minute.\nPlease wait 1 second and try again.\n",
		}},
		{"browser", http.MethodGet, "text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8", []string{
			"<title>429 Too many requests</title>",
			"<p>Too many requests from your address: this site allows 150 requests per minute.</p>",
			"<p>Please wait 1 second and try again.</p>",
		}},
		{"head", http.MethodHead, "", "text/plain; charset=utf-8", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://example.com/", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := httptest.NewRecorder()
			Reject(w, r, d)
			res := w.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("status %d", res.StatusCode)
			}
			for k, want := range map[string]string{
				"Content-Type":           tc.ctype,
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
				"Retry-After":            "1",
				"RateLimit":              `"ip";r=0;t=1`,
				"RateLimit-Policy":       `"ip";q=150;w=60`,
			} {
				if got := res.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if tc.method == http.MethodHead {
				if len(body) != 0 {
					t.Errorf("HEAD got a body: %q", body)
				}
				return
			}
			if cl := res.Header.Get("Content-Length"); cl != itoa(len(body)) {
				t.Errorf("Content-Length %s, body %d bytes", cl, len(body))
			}
			if tc.name == "curl" && string(body) != tc.body[0] {
				t.Errorf("body %q, want %q", body, tc.body[0])
			}
			for _, want := range tc.body {
				if !strings.Contains(string(body), want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
		})
	}
	t.Run("longer wait", func(t *testing.T) {
		l, _ := newLimiter(t, Config{Requests: 1, Period: time.Minute}, Options{})
		_, d := burst(l, ip, 2)
		w := httptest.NewRecorder()
		Reject(w, httptest.NewRequest(http.MethodGet, "/", nil), d)
		if got := w.Body.String(); !strings.Contains(got, "allows 1 request per minute.\nPlease wait 60 seconds") {
			t.Errorf("body %q", got)
		}
	})
	t.Run("zero Decision", func(t *testing.T) {
		w := httptest.NewRecorder()
		Reject(w, httptest.NewRequest(http.MethodGet, "/", nil), Decision{})
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" ||
			w.Body.String() != "Too many requests from your address.\nPlease wait 1 second and try again.\n" {
			t.Errorf("%d %v %q", w.Code, w.Header(), w.Body)
		}
	})
}

func itoa(n int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

func TestWrap(t *testing.T) {
	l, _ := newLimiter(t, Config{Requests: 3}, Options{})
	calls := 0
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		_, _ = io.WriteString(w, "ok")
	}), HandlerOptions{})
	codes := ""
	for i := range 5 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "[::ffff:192.0.2.1]:1234"
		if i == 4 {
			r.RemoteAddr = "192.0.2.2:1234" // another client
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		codes += " " + itoa(w.Code)
		if w.Header().Get("RateLimit") == "" {
			t.Errorf("request %d: no RateLimit field", i+1)
		}
	}
	if codes != " 200 200 200 429 200" || calls != 4 {
		t.Errorf("codes%s, %d calls", codes, calls)
	}

	// A trusted-proxy function decides the client, not the peer.
	xff := func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Client")) }
	h = l.Wrap(http.NotFoundHandler(), HandlerOptions{ClientIP: xff})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Client", "192.0.2.1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("client from clientIP: %d", w.Code)
	}
	r.RemoteAddr = "not an address"
	r.Header.Set("X-Client", "192.0.2.3")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("other client: %d", w.Code)
	}
}

// TestHandlerOptions: QuietUntilHalf holds the RateLimit fields back until
// half the quota is used, and Observe sees every decision before the answer.
func TestHandlerOptions(t *testing.T) {
	l, _ := newLimiter(t, Config{Requests: 4}, Options{})
	type seen struct {
		client  netip.Addr
		refused bool
		wrote   bool // whether anything was written when Observe ran
	}
	var got []seen
	h := l.Wrap(http.NotFoundHandler(), HandlerOptions{
		QuietUntilHalf: true,
		Observe: func(w http.ResponseWriter, client netip.Addr, refused bool) {
			got = append(got, seen{client, refused, w.(*httptest.ResponseRecorder).Code != http.StatusOK || len(w.Header()) > 0})
		},
	})
	var fields []bool
	for range 5 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fields = append(fields, w.Header().Get("RateLimit") != "")
	}
	// Remaining after each request: 3, 2, 1, 0, refused.
	if want := []bool{false, false, true, true, true}; !slices.Equal(fields, want) {
		t.Errorf("RateLimit field present: %v, want %v", fields, want)
	}
	if len(got) != 5 {
		t.Fatalf("Observe called %d times, want 5", len(got))
	}
	for i, s := range got {
		if s.client != addr("192.0.2.1") || s.refused != (i == 4) || s.wrote {
			t.Errorf("Observe call %d: %+v", i+1, s)
		}
	}
}
