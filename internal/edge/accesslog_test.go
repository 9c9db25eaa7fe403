package edge

import (
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

func TestAccessLog(t *testing.T) {
	up := echoUpstream(t, "blog")
	logs := &logBuffer{}
	entries := make(chan LogEntry, 2)
	_, srv := newEdge(t, Config{
		AccessLog: slogJSON(logs),
		OnRequest: func(e LogEntry) { entries <- e },
	}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}})

	res, body := get(t, srv, "Blog.Example.com:8080", "/posts/1?token=secret", "X-Request-Id", "req-42")
	get(t, srv, "unknown.example.com", "/")

	lines := logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2", len(lines))
	}
	l := lines[0]
	want := map[string]any{
		"msg":        "request",
		"level":      "INFO",
		"service":    "blog",
		"host":       "blog.example.com",
		"method":     "GET",
		"path":       "/posts/1",
		"status":     float64(200),
		"bytes":      float64(len(body)),
		"client_ip":  "127.0.0.1",
		"upstream":   up.URL,
		"request_id": "req-42",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("log %s = %#v, want %#v", k, l[k], v)
		}
	}
	if d, ok := l["duration"].(float64); !ok || d <= 0 {
		t.Errorf("log duration %#v", l["duration"])
	}
	if _, ok := l["error"]; ok {
		t.Errorf("successful request logged an error: %v", l["error"])
	}
	if res.Header.Get("X-Request-Id") != "req-42" {
		t.Errorf("response request ID %q", res.Header.Get("X-Request-Id"))
	}

	u := lines[1]
	if u["service"] != "" || u["host"] != "unknown.example.com" || u["status"] != float64(404) || u["upstream"] != "" {
		t.Errorf("unknown-host line %v", u)
	}

	if len(entries) != 2 {
		t.Fatalf("OnRequest got %d entries, want 2", len(entries))
	}
	e := <-entries
	if e.Service != "blog" || e.Status != 200 || e.Path != "/posts/1" || e.ClientIP.String() != "127.0.0.1" ||
		e.RequestID != "req-42" || e.Upstream != up.URL || e.Bytes != int64(len(body)) || e.Duration <= 0 || e.Time.IsZero() {
		t.Errorf("entry %+v", e)
	}
}

// TestAccessLogProtection: the log line and the entry say what the output
// cache did and whether the rate limiter refused the request, which is what
// a person tailing the log wants to know about a 429 or a stale page.
func TestAccessLogProtection(t *testing.T) {
	up := echoUpstream(t, "shop")
	logs := &logBuffer{}
	entries := make(chan LogEntry, 4)
	_, srv := newEdge(t, Config{
		AccessLog: slogJSON(logs),
		OnRequest: func(e LogEntry) { entries <- e },
	}, Route{
		Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{up.URL},
		RateLimit: &ratelimit.Config{Requests: 2, Period: time.Minute},
		Cache:     &cache.Config{TTL: time.Minute},
	})

	get(t, srv, "shop.example.com", "/p")
	get(t, srv, "shop.example.com", "/p")
	if res, _ := get(t, srv, "shop.example.com", "/p"); res.StatusCode != 429 {
		t.Fatalf("third request: status %d, want 429", res.StatusCode)
	}

	tests := []struct {
		cache   string
		limited bool
	}{{"MISS", false}, {"HIT", false}, {"", true}}
	lines := logs.lines(t)
	if len(lines) != len(tests) {
		t.Fatalf("%d log lines, want %d", len(lines), len(tests))
	}
	for i, tt := range tests {
		e := <-entries
		if e.Cache != tt.cache || e.Limited != tt.limited {
			t.Errorf("entry %d: cache %q limited %v, want %q %v", i, e.Cache, e.Limited, tt.cache, tt.limited)
		}
		l := lines[i]
		if got, _ := l["cache"].(string); got != tt.cache {
			t.Errorf("line %d: cache %v, want %q", i, l["cache"], tt.cache)
		}
		if got, _ := l["limited"].(bool); got != tt.limited {
			t.Errorf("line %d: limited %v, want %v", i, l["limited"], tt.limited)
		}
	}
}
