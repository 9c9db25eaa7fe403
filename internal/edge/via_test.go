package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLoopEndsAfterOnePass: a service whose upstream is the edge itself.
// The edge sees the client's request and its own copy of it, answers the
// copy 508, and that answer goes back to the client: two requests, not a
// storm.
func TestLoopEndsAfterOnePass(t *testing.T) {
	var mu sync.Mutex
	var entries []LogEntry
	e, err := New(Config{ErrorLog: quiet, OnRequest: func(ent LogEntry) {
		mu.Lock()
		entries = append(entries, ent)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	route := Route{Service: "loop", Hosts: []string{"loop.example.com"}, Upstreams: []string{srv.URL}}
	if err := e.SetRoutes([]Route{route}); err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("payload"))
	req.Host = "loop.example.com"
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusLoopDetected {
		t.Errorf("client got %d, want 508", res.StatusCode)
	}

	// The client's own entry may be logged just after its answer left.
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(entries) }
	for deadline := time.Now().Add(5 * time.Second); count() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(entries) != 2 {
		t.Fatalf("the edge saw %d requests, want 2 (the client's and its own copy)", len(entries))
	}
	var loops int
	for _, ent := range entries {
		if ent.Status != http.StatusLoopDetected {
			t.Errorf("entry %+v: status %d, want 508", ent, ent.Status)
		}
		if strings.Contains(ent.Error, "loop") {
			loops++
		}
	}
	if loops != 1 {
		t.Errorf("%d entries give a loop as their reason, want 1: %+v", loops, entries)
	}
}

// TestViaKeepsOtherProxies: another proxy's Via entries reach the upstream
// untouched, with the edge's after them.
func TestViaKeepsOtherProxies(t *testing.T) {
	up := echoUpstream(t, "blog")
	_, srv := newEdge(t, Config{ViaName: "edge-7"}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}})

	for _, tt := range []struct {
		name string
		hdr  []string
		want string
	}{
		{"none", nil, "1.1 edge-7"},
		{"foreign", []string{"Via", "1.0 fred, 1.1 p.example.net (Apache/1.1)"}, "1.0 fred, 1.1 p.example.net (Apache/1.1), 1.1 edge-7"},
		{"lookalike", []string{"Via", "1.1 edge-77"}, "1.1 edge-77, 1.1 edge-7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, body := get(t, srv, "blog.example.com", "/", tt.hdr...)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if got := strings.Join(decode(t, body).Header["Via"], ", "); got != tt.want {
				t.Errorf("upstream saw Via %q, want %q", got, tt.want)
			}
		})
	}
}

func TestViaNames(t *testing.T) {
	v, err := newVia("rampart-1a2b")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		line string
		want bool
	}{
		{"1.1 rampart-1a2b", true},
		{"2 rampart-1a2b", true},
		{"1.0 fred, 1.1 rampart-1a2b (rampart)", true},
		{"1.1 rampart-1a2b,1.1 other", true},
		{"1.1 rampart-1a2b5", false},
		{"1.1 xrampart-1a2b", false},
		{"rampart-1a2b", false}, // no protocol: not an entry received by us
		{"1.1 rampart-1a2bc, 1.1 rampart-1a2b", true},
		{"", false},
	} {
		if got := v.names(tt.line); got != tt.want {
			t.Errorf("names(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestViaName(t *testing.T) {
	a, _ := newVia("")
	b, _ := newVia("")
	if a.name == b.name || !strings.HasPrefix(a.name, "rampart-") || len(a.name) > maxViaName {
		t.Errorf("random names %q and %q: want distinct, short, starting rampart-", a.name, b.name)
	}
	for _, bad := range []string{"has space", "a,b", "(x)", strings.Repeat("x", maxViaName+1)} {
		if _, err := New(Config{ViaName: bad}); err == nil {
			t.Errorf("ViaName %q accepted", bad)
		}
	}
}
