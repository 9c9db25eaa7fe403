package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/limits"
)

// TestBoundsReachTheEdge walks every bound of every per-service setting
// through the path a change takes: the service layer's validation, the
// routes reconciler's translation, and the running edge. A value the
// service layer accepts must be served by the edge (a refusal there would
// leave the service out), and one step past a bound must be refused by the
// service layer already.
func TestBoundsReachTheEdge(t *testing.T) {
	allow := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
		}
		return out
	}
	d := func(v time.Duration) rampart.Duration { return rampart.Duration(v) }
	base := func() rampart.Service {
		return rampart.Service{Name: "blog", Upstreams: []string{"http://127.0.0.1:1"}, State: rampart.StateActive,
			RateLimit: rampart.DefaultRateLimit(), Cache: rampart.DefaultCache(), Env: rampart.Env{}}
	}
	cases := []struct {
		name   string
		edit   func(s *rampart.Service)
		accept bool
	}{
		{"rate limit: fewest requests", func(s *rampart.Service) { s.RateLimit.Requests = limits.RateLimitMinRequests }, true},
		{"rate limit: below the fewest", func(s *rampart.Service) { s.RateLimit.Requests = limits.RateLimitMinRequests - 1 }, false},
		{"rate limit: most requests", func(s *rampart.Service) { s.RateLimit.Requests = limits.RateLimitMaxRequests }, true},
		{"rate limit: above the most", func(s *rampart.Service) { s.RateLimit.Requests = limits.RateLimitMaxRequests + 1 }, false},
		{"rate limit: per second", func(s *rampart.Service) { s.RateLimit.Per = rampart.PerSecond }, true},
		{"rate limit: longest allow-list", func(s *rampart.Service) { s.RateLimit.Allow = allow(limits.RateLimitMaxAllow) }, true},
		{"rate limit: allow-list too long", func(s *rampart.Service) { s.RateLimit.Allow = allow(limits.RateLimitMaxAllow + 1) }, false},
		{"cache: shortest TTL", func(s *rampart.Service) { s.Cache.TTL = d(limits.CacheMinTTL) }, true},
		{"cache: TTL too short", func(s *rampart.Service) { s.Cache.TTL = d(limits.CacheMinTTL - 1) }, false},
		{"cache: longest TTL", func(s *rampart.Service) { s.Cache.TTL = d(limits.CacheMaxTTL) }, true},
		{"cache: TTL too long", func(s *rampart.Service) { s.Cache.TTL = d(limits.CacheMaxTTL + 1) }, false},
		{"cache: no stale copies", func(s *rampart.Service) { s.Cache.StaleIfError = 0 }, true},
		{"cache: longest stale-if-error", func(s *rampart.Service) { s.Cache.StaleIfError = d(limits.CacheMaxStaleIfError) }, true},
		{"cache: stale-if-error too long", func(s *rampart.Service) { s.Cache.StaleIfError = d(limits.CacheMaxStaleIfError + 1) }, false},
		{"cache: off, with its bounds", func(s *rampart.Service) { s.Cache.Enabled = false }, true},
		{"rate limit: off", func(s *rampart.Service) { s.RateLimit.Enabled = false }, true},
		{"hsts: max-age 0", func(s *rampart.Service) { s.HSTS = rampart.HSTS{Enabled: true} }, true},
		{"hsts: negative max-age", func(s *rampart.Service) { s.HSTS = rampart.HSTS{Enabled: true, MaxAge: -1} }, false},
		{"hsts: longest max-age", func(s *rampart.Service) { s.HSTS = rampart.HSTS{Enabled: true, MaxAge: limits.HSTSMaxMaxAge} }, true},
		{"hsts: max-age too long", func(s *rampart.Service) { s.HSTS = rampart.HSTS{Enabled: true, MaxAge: limits.HSTSMaxMaxAge + 1} }, false},
		{"hsts: preload, shortest max-age", func(s *rampart.Service) {
			s.HSTS = rampart.HSTS{Enabled: true, MaxAge: limits.HSTSPreloadMinMaxAge, IncludeSubDomains: true, Preload: true}
		}, true},
		{"hsts: preload, max-age too short", func(s *rampart.Service) {
			s.HSTS = rampart.HSTS{Enabled: true, MaxAge: limits.HSTSPreloadMinMaxAge - 1, IncludeSubDomains: true, Preload: true}
		}, false},
		{"hsts: preload without subdomains", func(s *rampart.Service) {
			s.HSTS = rampart.HSTS{Enabled: true, MaxAge: limits.HSTSMaxMaxAge, Preload: true}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := base()
			tc.edit(&svc)
			err := svc.Validate()
			if !tc.accept {
				if err == nil {
					t.Fatal("the service layer accepted a value past a bound")
				}
				return
			}
			if err != nil {
				t.Fatalf("the service layer refused a value within the bounds: %v", err)
			}
			e, err := edge.New(edge.Config{})
			if err != nil {
				t.Fatal(err)
			}
			routes := RoutesFor([]*rampart.Service{&svc}, nil, "apps.test")
			if err := e.SetRoutes(routes); err != nil {
				t.Fatalf("the edge refused what the service layer accepted: %v", err)
			}
			// The route is live: the upstream is down, so 502, not the
			// unknown-host 404.
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "http://blog.apps.test/", nil)
			e.ServeHTTP(rec, req)
			if rec.Code == http.StatusNotFound {
				t.Fatalf("the route is not served: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestRoutesForAllowPrivate: the admin's override reaches the edge's
// route, where it picks the dialer that allows private addresses.
func TestRoutesForAllowPrivate(t *testing.T) {
	for _, allow := range []bool{false, true} {
		svc := &rampart.Service{ID: 1, Name: "blog", Upstreams: []string{"http://127.0.0.1:9"}, State: rampart.StateActive, AllowPrivateUpstreams: allow}
		routes := RoutesFor([]*rampart.Service{svc}, nil, "apps.test")
		if len(routes) != 1 || routes[0].AllowPrivate != allow {
			t.Errorf("AllowPrivateUpstreams %v: routes %+v", allow, routes)
		}
	}
}

// TestRoutesForHSTS: HSTS reaches the edge's route when on, and only then.
func TestRoutesForHSTS(t *testing.T) {
	for _, h := range []rampart.HSTS{rampart.DefaultHSTS(), {Enabled: true, MaxAge: 600, IncludeSubDomains: true}} {
		svc := &rampart.Service{ID: 1, Name: "blog", Upstreams: []string{"http://127.0.0.1:9"}, State: rampart.StateActive, HSTS: h}
		routes := RoutesFor([]*rampart.Service{svc}, nil, "apps.test")
		got := routes[0].HSTS
		switch {
		case !h.Enabled && got != nil:
			t.Errorf("off: route has %+v", got)
		case h.Enabled && (got == nil || *got != edge.HSTS{MaxAge: 600, IncludeSubDomains: true}):
			t.Errorf("on: route has %+v", got)
		}
	}
}

// TestRoutesForHold: a running service that rampart runs has its requests
// held through a restart; a proxy, a stopped service and one that
// crash-loops or failed do not.
func TestRoutesForHold(t *testing.T) {
	exec := rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/true", Port: 18080}
	for _, tc := range []struct {
		name string
		svc  rampart.Service
		want time.Duration
	}{
		{"proxy", rampart.Service{State: rampart.StateActive}, 0},
		{"exec, not yet observed", rampart.Service{State: rampart.StateActive, Runtime: exec}, RestartHold},
		{"exec, running", rampart.Service{State: rampart.StateActive, Runtime: exec, Run: &rampart.RunState{State: "running"}}, RestartHold},
		{"exec, stopping for a restart", rampart.Service{State: rampart.StateActive, Runtime: exec, Run: &rampart.RunState{State: "stopping"}}, RestartHold},
		{"exec, crash-looping", rampart.Service{State: rampart.StateActive, Runtime: exec, Run: &rampart.RunState{State: "crash-looping"}}, 0},
		{"exec, failed", rampart.Service{State: rampart.StateActive, Runtime: exec, Run: &rampart.RunState{State: "failed"}}, 0},
		{"exec, stopped", rampart.Service{State: rampart.StateStopped, Runtime: exec}, 0},
	} {
		svc := tc.svc
		svc.ID, svc.Name, svc.Upstreams = 1, "app", []string{"http://127.0.0.1:18080"}
		routes := RoutesFor([]*rampart.Service{&svc}, nil, "apps.test")
		if len(routes) != 1 || routes[0].Hold != tc.want || routes[0].HoldClosed {
			t.Errorf("%s: routes %+v, want hold %v and not HoldClosed", tc.name, routes, tc.want)
		}
	}
	// A container's published port is Docker's proxy, which accepts
	// connections while the container is replaced.
	svc := rampart.Service{ID: 1, Name: "app", Upstreams: []string{"http://127.0.0.1:18080"}, State: rampart.StateActive,
		Runtime: rampart.Runtime{Kind: rampart.RuntimeCompose, ComposeFile: "services: {}", Port: 18080}}
	if routes := RoutesFor([]*rampart.Service{&svc}, nil, "apps.test"); routes[0].Hold != RestartHold || !routes[0].HoldClosed {
		t.Errorf("compose: route %+v, want hold %v and HoldClosed", routes[0], RestartHold)
	}
}
