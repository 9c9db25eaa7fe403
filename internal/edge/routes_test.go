package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"blog.example.com", "blog.example.com"},
		{"Blog.Example.COM", "blog.example.com"},
		{"blog.example.com:8443", "blog.example.com"},
		{"blog.example.com.", "blog.example.com"},
		{"BLOG.example.com.:80", "blog.example.com"},
		{"127.0.0.1:8080", "127.0.0.1"},
		{"[::1]:8080", "[::1]"},
		{"[::1]", "[::1]"},
		{"", ""},
		{":80", ""},
	}
	for _, tt := range tests {
		if got := normalizeHost(tt.in); got != tt.want {
			t.Errorf("normalizeHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeHostAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() { _ = normalizeHost("blog.example.com.:443") })
	if allocs != 0 {
		t.Errorf("normalizeHost of a lower-case host allocates %v times", allocs)
	}
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"blog.example.com", "A.B:1", "[::1]:80", "x.", "", "[", "]:", "ä.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := normalizeHost(h)
		if len(got) > len(h) {
			t.Fatalf("normalizeHost(%q) = %q grew", h, got)
		}
		for i := 0; i < len(got); i++ {
			if 'A' <= got[i] && got[i] <= 'Z' {
				t.Fatalf("normalizeHost(%q) = %q has upper case", h, got)
			}
		}
		// A configured host that passes checkHost must be found again
		// whatever case, port or trailing dot a client adds.
		if checkHost(h) == nil {
			key := normalizeHost(h)
			for _, variant := range []string{strings.ToUpper(h), h + ":443", strings.TrimSuffix(h, ".") + "."} {
				if normalizeHost(variant) != key {
					t.Fatalf("host %q: variant %q normalizes to %q, want %q", h, variant, normalizeHost(variant), key)
				}
			}
		}
	})
}

func TestRouting(t *testing.T) {
	blog := echoUpstream(t, "blog")
	shop := echoUpstream(t, "shop")
	_, srv := newEdge(t, Config{},
		Route{Service: "blog", Hosts: []string{"blog.example.com", "www.Blog.example"}, Upstreams: []string{blog.URL}},
		Route{Service: "shop", Hosts: []string{"shop.example.com."}, Upstreams: []string{shop.URL}},
	)
	tests := []struct {
		host string
		want string // upstream name; "" for 404
	}{
		{"blog.example.com", "blog"},
		{"BLOG.Example.Com", "blog"},
		{"blog.example.com:8080", "blog"},
		{"blog.example.com.", "blog"},
		{"Blog.Example.Com.:443", "blog"},
		{"www.blog.example", "blog"},
		{"shop.example.com", "shop"},
		{"shop.example.com.", "shop"},
		{"example.com", ""},
		{"evil.blog.example.com", ""},
		{"blog.example.com.evil", ""},
		{"127.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			res, body := get(t, srv, tt.host, "/")
			if tt.want == "" {
				if res.StatusCode != http.StatusNotFound {
					t.Fatalf("status %d, want 404", res.StatusCode)
				}
				return
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", res.StatusCode, body)
			}
			if got := decode(t, body).Name; got != tt.want {
				t.Fatalf("routed to %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSetRoutesRejectsBadInput: each bad route is left out, named in a
// RouteError, and every other route of the same call is installed.
func TestSetRoutesRejectsBadInput(t *testing.T) {
	up := echoUpstream(t, "good")
	good := Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}}
	other := Route{Service: "other", Hosts: []string{"other.example.com"}, Upstreams: []string{up.URL}}
	e, srv := newEdge(t, Config{}, good)

	tests := []struct {
		name    string
		routes  []Route
		want    string   // in the error
		refused string   // the service named in the RouteError
		live    []string // hosts served after the call
		dead    []string // hosts answered 404 after the call
	}{
		{"duplicate host across services", []Route{
			good,
			{Service: "shop", Hosts: []string{"shop.example.com", "BLOG.example.com."}, Upstreams: []string{up.URL}},
		}, `host "blog.example.com" is claimed by services "blog" and "shop"`, "shop", []string{"blog.example.com"}, []string{"shop.example.com"}},
		{"duplicate service", []Route{good, {Service: "blog", Hosts: []string{"www.blog.example.com"}, Upstreams: []string{up.URL}}},
			"has two routes", "blog", []string{"blog.example.com"}, []string{"www.blog.example.com"}},
		{"duplicate ID", []Route{{ID: "7", Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}},
			{ID: "7", Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{up.URL}}},
			`its ID "7" is another route's too`, "shop", []string{"blog.example.com"}, []string{"shop.example.com"}},
		{"no service name", []Route{other, {Hosts: []string{"x.example"}, Upstreams: []string{up.URL}}}, "no service name", "", []string{"other.example.com"}, []string{"x.example", "blog.example.com"}},
		{"no hosts", []Route{{Service: "blog", Upstreams: []string{up.URL}}}, "has no hosts", "blog", nil, []string{"blog.example.com"}},
		{"empty host", []Route{{Service: "blog", Hosts: []string{""}, Upstreams: []string{up.URL}}}, "empty host name", "blog", nil, []string{"blog.example.com"}},
		{"host with port", []Route{{Service: "blog", Hosts: []string{"blog.example.com:80"}, Upstreams: []string{up.URL}}}, "bare host name", "blog", nil, []string{"blog.example.com"}},
		{"host with scheme", []Route{{Service: "blog", Hosts: []string{"https://blog.example.com"}, Upstreams: []string{up.URL}}}, "bare host name", "blog", nil, []string{"blog.example.com"}},
		{"wildcard", []Route{{Service: "blog", Hosts: []string{"*.example.com"}, Upstreams: []string{up.URL}}}, "wildcard", "blog", nil, []string{"blog.example.com"}},
		{"empty label", []Route{{Service: "blog", Hosts: []string{"blog..example.com"}, Upstreams: []string{up.URL}}}, "empty label", "blog", nil, []string{"blog.example.com"}},
		{"no upstreams", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}}}, "no upstreams", "blog", nil, []string{"blog.example.com"}},
		{"bad scheme", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"ftp://127.0.0.1:21"}}}, "must start with http:// or https://", "blog", nil, []string{"blog.example.com"}},
		{"not a URL", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http://[::1"}}}, "not a valid URL", "blog", nil, []string{"blog.example.com"}},
		{"no upstream host", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http:///path"}}}, "has no host", "blog", nil, []string{"blog.example.com"}},
		{"bare address", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"127.0.0.1:8080"}}}, "127.0.0.1:8080", "blog", nil, []string{"blog.example.com"}},
		{"credentials", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http://u:p@127.0.0.1"}}}, "credentials", "blog", nil, []string{"blog.example.com"}},
		{"query", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http://127.0.0.1/?a=b"}}}, "query", "blog", nil, []string{"blog.example.com"}},
		{"one bad among good", []Route{
			other,
			{Service: "bad", Hosts: []string{"bad.example.com"}, Upstreams: []string{"gopher://x"}},
		}, `service "bad"`, "bad", []string{"other.example.com"}, []string{"bad.example.com", "blog.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.SetRoutes([]Route{good}); err != nil {
				t.Fatal(err)
			}
			err := e.SetRoutes(tt.routes)
			if err == nil {
				t.Fatal("SetRoutes accepted bad input")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
			var re *RouteError
			if !errors.As(err, &re) {
				t.Fatalf("error %v holds no *RouteError", err)
			}
			if errs := RouteErrors(err); len(errs) != 1 || errs[tt.refused] == nil {
				t.Fatalf("RouteErrors = %v, want one for %q", errs, tt.refused)
			}
			for _, h := range tt.live {
				if res, body := get(t, srv, h, "/"); res.StatusCode != http.StatusOK || decode(t, body).Name != "good" {
					t.Errorf("%s after SetRoutes: %d %s", h, res.StatusCode, body)
				}
			}
			for _, h := range tt.dead {
				if res, _ := get(t, srv, h, "/"); res.StatusCode != http.StatusNotFound {
					t.Errorf("%s after SetRoutes: %d, want 404", h, res.StatusCode)
				}
			}
		})
	}
}

// TestSetRoutesIsolatesInvalidRoute: a service whose cache settings became
// invalid drops out, while a new valid service is installed in the same call.
func TestSetRoutesIsolatesInvalidRoute(t *testing.T) {
	blog := echoUpstream(t, "blog")
	shop := echoUpstream(t, "shop")
	e, srv := newEdge(t, Config{}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{blog.URL}})

	err := e.SetRoutes([]Route{
		{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{blog.URL}, Cache: &cache.Config{TTL: 2 * time.Hour}},
		{Service: "shop", Hosts: []string{"shop.example.com"}, Upstreams: []string{shop.URL}},
	})
	if err == nil {
		t.Fatal("SetRoutes accepted a cache TTL of 2h")
	}
	if res, body := get(t, srv, "shop.example.com", "/"); res.StatusCode != http.StatusOK || decode(t, body).Name != "shop" {
		t.Errorf("the valid new route: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, srv, "blog.example.com", "/"); res.StatusCode != http.StatusNotFound {
		t.Errorf("the invalid route: %d, want 404", res.StatusCode)
	}
	errs := RouteErrors(err)
	if len(errs) != 1 || errs["blog"] == nil {
		t.Fatalf("RouteErrors = %v, want blog's alone", errs)
	}
	for _, want := range []string{`"blog"`, "TTL 2h0m0s is out of range", "give a TTL from"} {
		if !strings.Contains(errs["blog"].Error(), want) {
			t.Errorf("blog's error %q does not mention %q", errs["blog"], want)
		}
	}
	if RouteErrors(nil) != nil {
		t.Error("RouteErrors(nil) is not nil")
	}
	if got := RouteErrors(fmt.Errorf("reconcile: %w", err)); got["blog"] == nil {
		t.Errorf("RouteErrors of a wrapped error = %v", got)
	}
}

// TestRouteErrorPrefixes: a middleware's error names its package once.
func TestRouteErrorPrefixes(t *testing.T) {
	errs := refusals(t,
		Route{Service: "a", Hosts: []string{"a.example"}, Upstreams: []string{"http://127.0.0.1:1"}, Cache: &cache.Config{TTL: time.Millisecond, MaxObjectBytes: -1}},
		Route{Service: "b", Hosts: []string{"b.example"}, Upstreams: []string{"http://127.0.0.1:1"}, RateLimit: &ratelimit.Config{Requests: -1, Period: time.Hour}},
	)
	for svc, err := range errs {
		msg := err.Error()
		for _, doubled := range []string{"cache: cache:", "ratelimit: ratelimit:", "edge: edge:", "rate limit: ratelimit:"} {
			if strings.Contains(msg, doubled) {
				t.Errorf("%s: %q has %q", svc, msg, doubled)
			}
		}
		if strings.Count(msg, `"`+svc+`"`) != 1 {
			t.Errorf("%s: %q should name the service once", svc, msg)
		}
	}
	if msg := errs["a"].Error(); !strings.Contains(msg, "cache: TTL 1ms") || !strings.Contains(msg, "cache: maximum object size") {
		t.Errorf("a: %q should list both cache problems", msg)
	}
	if msg := errs["b"].Error(); !strings.Contains(msg, "ratelimit: requests must be") || !strings.Contains(msg, "ratelimit: period must be") {
		t.Errorf("b: %q should list both rate limit problems", msg)
	}
}

func TestSetRoutesReportsEveryProblem(t *testing.T) {
	errs := refusals(t,
		Route{Service: "a", Hosts: []string{"a.example"}, Upstreams: []string{"ftp://x"}},
		Route{Service: "b", Hosts: []string{"b.example"}},
	)
	if !strings.Contains(errs["a"].Error(), `"a"`) || !strings.Contains(errs["b"].Error(), `"b"`) {
		t.Fatalf("errors %v should name their services", errs)
	}
}

// refusals installs routes, each of them refused, on a new edge and
// returns the refusals by service.
func refusals(t *testing.T, routes ...Route) map[string]error {
	t.Helper()
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	errs := RouteErrors(e.SetRoutes(routes))
	if len(errs) != len(routes) {
		t.Fatalf("RouteErrors = %v, want one for each of the %d routes", errs, len(routes))
	}
	return errs
}

func TestSetRoutesSameHostTwiceInOneService(t *testing.T) {
	up := echoUpstream(t, "blog")
	_, srv := newEdge(t, Config{}, Route{Service: "blog", Hosts: []string{"blog.example.com", "Blog.Example.com."}, Upstreams: []string{up.URL}})
	if res, _ := get(t, srv, "blog.example.com", "/"); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
}

func TestStoppedRoute(t *testing.T) {
	_, srv := newEdge(t, Config{}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Stopped: true})
	res, body := get(t, srv, "blog.example.com", "/")
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", res.StatusCode)
	}
	if !strings.Contains(body, "blog.example.com is stopped") {
		t.Fatalf("body %q", body)
	}
}

// TestSetRoutesUnderLoad swaps tables while clients send requests: every
// request must succeed, on the old table or on the new one.
func TestSetRoutesUnderLoad(t *testing.T) {
	a := echoUpstream(t, "a")
	b := echoUpstream(t, "b")
	tableA := []Route{{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{a.URL}}}
	tableB := []Route{
		{Service: "app", Hosts: []string{"app.example.com", "alias.example.com"}, Upstreams: []string{b.URL, a.URL}},
		{Service: "extra", Hosts: []string{"extra.example.com"}, Upstreams: []string{b.URL}},
	}
	e, srv := newEdge(t, Config{Metrics: newRegistry(t), AccessLog: slogDiscard()}, tableA...)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var requests, swaps atomic.Int64
	errs := make(chan error, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", srv.URL+"/", nil)
				req.Host = "app.example.com"
				res, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				var s seen
				err = jsonDecode(res, &s)
				if res.StatusCode != http.StatusOK || err != nil || (s.Name != "a" && s.Name != "b") {
					errs <- fmt.Errorf("status %d, upstream %q, err %v", res.StatusCode, s.Name, err)
					return
				}
				requests.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			routes := tableA
			if i%2 == 1 {
				routes = tableB
			}
			if err := e.SetRoutes(routes); err != nil {
				errs <- err
				return
			}
			swaps.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d requests during %d swaps", requests.Load(), swaps.Load())
	if requests.Load() == 0 || swaps.Load() < 2 {
		t.Fatal("the test did not exercise anything")
	}
}

// TestSetRoutesInFlight: a request that started on the old table finishes
// there, even when the new table no longer has its service.
func TestSetRoutesInFlight(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	defer up.Close()
	e, srv := newEdge(t, Config{Metrics: newRegistry(t)}, Route{Service: "app", Hosts: []string{"app.example.com"}, Upstreams: []string{up.URL}})

	type result struct {
		status int
		body   string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Host = "app.example.com"
		res, err := srv.Client().Do(req)
		if err != nil {
			done <- result{body: err.Error()}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- result{res.StatusCode, string(b)}
	}()
	<-arrived
	if err := e.SetRoutes(nil); err != nil {
		t.Fatal(err)
	}
	if res, _ := get(t, srv, "app.example.com", "/"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("new request after removal: %d, want 404", res.StatusCode)
	}
	close(release)
	if r := <-done; r.status != http.StatusOK || r.body != "finished" {
		t.Fatalf("in-flight request: %d %q", r.status, r.body)
	}
}
