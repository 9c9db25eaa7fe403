package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/app"
	// The package's tests call their fake edge "edge".
	edgepkg "github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
)

// logged publishes a request for service through the edge log.
func logged(logs *logtail.Log, service, host, path string, status int) {
	logs.Publish(edgepkg.LogEntry{
		Time: time.Now(), Service: service, Host: host, Method: "GET", Path: path, Status: status,
		Bytes: 2100, Duration: 3 * time.Millisecond, ClientIP: netip.MustParseAddr("203.0.113.9"), Cache: "MISS",
	})
}

func TestLogsTab(t *testing.T) {
	logs := logtail.New(logtail.Options{})
	e := newEnvWith(t, edge{logs: logs})
	e.createService(memberEmail, "blog")
	e.createService(otherEmail, "shop")
	logged(logs, "blog", "blog."+testDomain, "/first", 200)
	logged(logs, "blog", "www.example.com", `/<script>alert(1)</script>`, 502)
	logged(logs, "shop", "shop."+testDomain, "/not-blog", 200)
	b := e.browser()
	b.login(memberEmail)

	res := b.get("/services/blog?tab=logs")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="logs"`, `data-stream="/services/blog/logs/stream"`, `data-after="`,
		`<span class="log-path-text">/first</span>`, `<span class="log-status">200</span>`, `data-kind="server"`,
		`<span class="log-host">www.example.com</span>`, // a custom domain is named; the platform hostname is not
		"&lt;script&gt;alert(1)&lt;/script&gt;", "<noscript>", `id="logs-controls" hidden`)
	if strings.Contains(res.Body, "<script>alert(1)") || strings.Contains(res.Body, "/not-blog") {
		t.Error("the tab shows a raw script tag or another service's request")
	}
	// Newest first.
	if strings.Index(res.Body, "alert(1)") > strings.Index(res.Body, "/first") {
		t.Error("rows are not newest first")
	}
	if strings.Count(res.Body, `<span class="log-host">`) != 1 {
		t.Error("the platform hostname is named on its rows")
	}

	// Someone else's service: not found, tab and stream alike.
	wantStatus(t, b.get("/services/shop?tab=logs"), http.StatusNotFound)
	wantStatus(t, b.get("/services/shop/logs/stream"), http.StatusNotFound)
	// No session: the stream is refused.
	wantStatus(t, e.browser().get("/services/blog/logs/stream"), http.StatusUnauthorized)

	// A process without an edge says so instead of showing an empty log.
	e2 := newEnv(t)
	e2.createService(memberEmail, "blog")
	b2 := e2.browser()
	b2.login(memberEmail)
	wantContains(t, b2.get("/services/blog?tab=logs"), `id="logs-unavailable"`, "No edge runs in this process")
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id string
	data     map[string]any
}

// openSSE reads the stream at path over a real connection with b's cookies.
func openSSE(t *testing.T, e *env, b *browser, path string, hdr http.Header) (<-chan sseEvent, *http.Response) {
	t.Helper()
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	events := make(chan sseEvent, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				events <- sseEvent{name: "heartbeat"}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &ev.data); err != nil {
					t.Errorf("data line %q: %v", line, err)
				}
			}
		}
	}()
	return events, res
}

// nextEvent skips heartbeats.
func nextEvent(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if ev.name != "heartbeat" {
				return ev
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5s")
		}
	}
}

func TestLogsStream(t *testing.T) {
	logs := logtail.New(logtail.Options{})
	e := newEnvWith(t, edge{logs: logs})
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)
	logged(logs, "blog", "blog."+testDomain, "/rendered", 200)
	page := b.get("/services/blog?tab=logs")
	cursor := page.Body[strings.Index(page.Body, `data-after="`)+len(`data-after="`):]
	cursor = cursor[:strings.IndexByte(cursor, '"')]
	if cursor == "" {
		t.Fatal("the tab has no cursor")
	}
	logged(logs, "blog", "blog."+testDomain, "/between", 429)

	// The stream goes on after the rendered rows: /rendered is not sent
	// again, /between (after the page) and live rows are.
	events, res := openSSE(t, e, b, "/services/blog/logs/stream?after="+cursor, nil)
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Content-Type %q, Cache-Control %q", ct, res.Header.Get("Cache-Control"))
	}
	ev := nextEvent(t, events)
	if ev.name != "entry" || ev.data["path"] != "/between" || ev.data["kind"] != "limited" || ev.data["size"] != "2.1kB" || ev.data["cache"] != "MISS" || ev.id == "" {
		t.Fatalf("first event %+v", ev)
	}
	logged(logs, "blog", "blog."+testDomain, `/live"<b>`, 200)
	ev = nextEvent(t, events)
	if ev.name != "entry" || ev.data["path"] != `/live"<b>` || ev.data["host"] != "" {
		t.Fatalf("live event %+v", ev)
	}
	// Heartbeats keep a quiet stream alive.
	select {
	case ev := <-events:
		if ev.name != "heartbeat" {
			t.Errorf("quiet stream sent %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("no heartbeat")
	}

	// Reconnecting with the last event's id (the browser sends it as
	// Last-Event-ID) continues after it.
	logged(logs, "blog", "blog."+testDomain, "/after-reconnect", 200)
	again, _ := openSSE(t, e, b, "/services/blog/logs/stream?after="+cursor, http.Header{"Last-Event-ID": {ev.id}})
	if ev := nextEvent(t, again); ev.data["path"] != "/after-reconnect" {
		t.Errorf("after a reconnect: %+v", ev)
	}

	// Deleting the service ends its stream, with the reason.
	if err := e.app.Services.Delete(context.Background(), app.UserActor(e.users[memberEmail], ""), "blog"); err != nil {
		t.Fatal(err)
	}
	for {
		ev := nextEvent(t, events)
		if ev.name == "entry" {
			continue
		}
		if ev.name != "end" || !strings.Contains(ev.data["message"].(string), `service "blog" is gone`) {
			t.Fatalf("after the delete: %+v", ev)
		}
		break
	}
}
