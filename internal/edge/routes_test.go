package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

func TestSetRoutesRejectsBadInput(t *testing.T) {
	up := echoUpstream(t, "good")
	good := Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}}
	e, srv := newEdge(t, Config{}, good)

	tests := []struct {
		name   string
		routes []Route
		want   string // in the error
	}{
		{"duplicate host across services", []Route{
			good,
			{Service: "shop", Hosts: []string{"shop.example.com", "BLOG.example.com."}, Upstreams: []string{up.URL}},
		}, `host "blog.example.com" is claimed by services "blog" and "shop"`},
		{"duplicate service", []Route{good, good}, `service "blog" has two routes`},
		{"no service name", []Route{{Hosts: []string{"x.example"}, Upstreams: []string{up.URL}}}, "no service name"},
		{"no hosts", []Route{{Service: "blog", Upstreams: []string{up.URL}}}, "has no hosts"},
		{"empty host", []Route{{Service: "blog", Hosts: []string{""}, Upstreams: []string{up.URL}}}, "empty host name"},
		{"host with port", []Route{{Service: "blog", Hosts: []string{"blog.example.com:80"}, Upstreams: []string{up.URL}}}, "bare host name"},
		{"host with scheme", []Route{{Service: "blog", Hosts: []string{"https://blog.example.com"}, Upstreams: []string{up.URL}}}, "bare host name"},
		{"wildcard", []Route{{Service: "blog", Hosts: []string{"*.example.com"}, Upstreams: []string{up.URL}}}, "wildcard"},
		{"empty label", []Route{{Service: "blog", Hosts: []string{"blog..example.com"}, Upstreams: []string{up.URL}}}, "empty label"},
		{"no upstreams", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}}}, "no upstreams"},
		{"bad scheme", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"ftp://127.0.0.1:21"}}}, "must start with http:// or https://"},
		{"not a URL", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http://[::1"}}}, "not a valid URL"},
		{"no upstream host", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http:///path"}}}, "has no host"},
		{"bare address", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"127.0.0.1:8080"}}}, "127.0.0.1:8080"},
		{"credentials", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http://u:p@127.0.0.1"}}}, "credentials"},
		{"query", []Route{{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{"http://127.0.0.1/?a=b"}}}, "query"},
		{"one bad among good", []Route{
			{Service: "other", Hosts: []string{"other.example.com"}, Upstreams: []string{up.URL}},
			{Service: "bad", Hosts: []string{"bad.example.com"}, Upstreams: []string{"gopher://x"}},
		}, `service "bad"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.table.Load()
			err := e.SetRoutes(tt.routes)
			if err == nil {
				t.Fatal("SetRoutes accepted bad input")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
			if e.table.Load() != before {
				t.Fatal("SetRoutes changed the table despite the error")
			}
			if res, body := get(t, srv, "blog.example.com", "/"); res.StatusCode != http.StatusOK || decode(t, body).Name != "good" {
				t.Fatalf("after rejected SetRoutes: %d %s", res.StatusCode, body)
			}
			if res, _ := get(t, srv, "other.example.com", "/"); res.StatusCode != http.StatusNotFound {
				t.Fatalf("a route from the rejected input is live: %d", res.StatusCode)
			}
		})
	}
}

func TestSetRoutesReportsEveryProblem(t *testing.T) {
	e, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = e.SetRoutes([]Route{
		{Service: "a", Hosts: []string{"a.example"}, Upstreams: []string{"ftp://x"}},
		{Service: "b", Hosts: []string{"b.example"}},
	})
	if err == nil || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("error %v should name both services", err)
	}
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
