package edge

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// Route sends the requests for some host names to one service's upstreams.
type Route struct {
	// Service names the service; it labels metrics and log lines and must
	// be unique within one SetRoutes call.
	Service string
	// Hosts are the full host names the service answers to, such as
	// "blog.example.com": no scheme, no port. Matching ignores case and a
	// trailing dot.
	Hosts []string
	// Upstreams are the base URLs requests are proxied to, round-robin,
	// e.g. "http://127.0.0.1:8080" or "http://10.0.0.5:8080/app". A base
	// path is joined with the request path. A stopped route needs none.
	Upstreams []string
	// Stopped routes answer 503 without contacting an upstream.
	Stopped bool
	// RateLimit limits requests per client IP; nil: no limit.
	RateLimit *ratelimit.Config
	// Cache serves GET and HEAD responses from the edge's output cache;
	// nil: not cached.
	Cache *cache.Config
}

// table is an immutable routing table. A new one is built for every
// SetRoutes call and swapped in whole, so readers never lock.
type table struct {
	hosts    map[string]*route // normalized host name → route
	services map[string]*route // service name → route
}

// route is a compiled Route.
type route struct {
	service   string
	stopped   bool
	targets   []*url.URL
	rateLimit *ratelimit.Config
	cacheCfg  *cache.Config
	handler   http.Handler       // the per-route chain; ends in the upstream proxies
	limiter   *ratelimit.Limiter // nil: no rate limit
	metrics   *serviceMetrics    // nil: no metrics
	traffic   *traffic           // recent counts, for the dashboard
}

// SetRoutes replaces the routing table. It validates all routes first: on
// any error the current table stays as it is, and the error lists every
// problem found. Requests already in flight finish on the table they started
// with.
func (e *Edge) SetRoutes(routes []Route) error {
	e.mu.Lock()
	defer e.mu.Unlock()

	next, err := e.compile(routes)
	if err != nil {
		return err
	}
	prev := e.table.Swap(next)

	// Forget what belonged to services that are gone: metric series,
	// limiter state, cached responses, traffic counts. Services that stay
	// keep theirs across tables (see compileRoute).
	for name := range prev.services {
		if _, ok := next.services[name]; ok {
			continue
		}
		if e.metrics != nil {
			e.metrics.forget(name)
		}
		e.cache.Forget(name)
		delete(e.traffic, name)
	}
	for name := range e.limiters {
		if rt, ok := next.services[name]; !ok || rt.limiter == nil {
			delete(e.limiters, name)
		}
	}
	return nil
}

func (e *Edge) compile(routes []Route) (*table, error) {
	t := &table{
		hosts:    make(map[string]*route),
		services: make(map[string]*route, len(routes)),
	}
	var errs []error
	for i := range routes {
		rc := &routes[i]
		rt, err := checkRoute(rc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := t.services[rc.Service]; dup {
			errs = append(errs, fmt.Errorf("edge: service %q has two routes: give each service one route with all its hosts", rc.Service))
			continue
		}
		t.services[rc.Service] = rt
		for _, h := range rc.Hosts {
			key := normalizeHost(h)
			if other, dup := t.hosts[key]; dup && other != rt {
				errs = append(errs, fmt.Errorf("edge: host %q is claimed by services %q and %q: a host can belong to one service only", key, other.service, rc.Service))
				continue
			}
			t.hosts[key] = rt
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Only now that all routes are valid: metric series and handlers.
	for _, rt := range t.services {
		e.compileRoute(rt)
	}
	return t, nil
}

// checkRoute validates one route and returns it parsed, without handler.
func checkRoute(rc *Route) (*route, error) {
	if rc.Service == "" {
		return nil, fmt.Errorf("edge: a route has no service name (hosts %q)", rc.Hosts)
	}
	if len(rc.Hosts) == 0 {
		return nil, fmt.Errorf("edge: service %q has no hosts: give at least its platform host name", rc.Service)
	}
	for _, h := range rc.Hosts {
		if err := checkHost(h); err != nil {
			return nil, fmt.Errorf("edge: service %q: %w", rc.Service, err)
		}
	}
	if len(rc.Upstreams) == 0 && !rc.Stopped {
		return nil, fmt.Errorf("edge: service %q has no upstreams: give at least one, e.g. http://127.0.0.1:8080, or mark it stopped", rc.Service)
	}
	rt := &route{service: rc.Service, stopped: rc.Stopped, rateLimit: rc.RateLimit, cacheCfg: rc.Cache}
	if rc.RateLimit != nil {
		if err := rc.RateLimit.Validate(); err != nil {
			return nil, fmt.Errorf("edge: service %q: rate limit: %w", rc.Service, err)
		}
	}
	if rc.Cache != nil {
		if err := rc.Cache.Validate(); err != nil {
			return nil, fmt.Errorf("edge: service %q: cache: %w", rc.Service, err)
		}
	}
	for _, raw := range rc.Upstreams {
		u, err := parseUpstream(raw)
		if err != nil {
			return nil, fmt.Errorf("edge: service %q: %w", rc.Service, err)
		}
		rt.targets = append(rt.targets, u)
	}
	return rt, nil
}

// compileRoute resolves a valid route's metrics and builds its handler
// chain.
func (e *Edge) compileRoute(rt *route) {
	if e.metrics != nil {
		rt.metrics = e.metrics.forService(rt.service)
	}
	// State lives in the Edge, keyed by service, so that a new table (one
	// is built for every change to any service) keeps each service's
	// limiter counters, cached responses and traffic counts.
	rt.traffic = e.traffic[rt.service]
	if rt.traffic == nil {
		rt.traffic = new(traffic)
		e.traffic[rt.service] = rt.traffic
	}
	if rt.stopped {
		return
	}
	if rl := rt.rateLimit; rl != nil && !rl.Disabled {
		lim := e.limiters[rt.service]
		if lim == nil {
			// Validated in checkRoute, so New cannot fail on the config.
			lim, _ = ratelimit.New(*rl, e.limiterOptions)
			e.limiters[rt.service] = lim
		} else {
			_ = lim.SetConfig(*rl) // validated in checkRoute
		}
		rt.limiter = lim
	}
	// The chain: the rate limiter runs in ServeHTTP, before this handler, so
	// that a limited request costs no cache lookup; then the output cache;
	// then the upstream proxies.
	var h http.Handler = e.newUpstreams(rt)
	if c := rt.cacheCfg; c != nil && !c.Disabled {
		h = e.cache.Handler(rt.service, *c, h)
	} else {
		e.cache.Purge(rt.service) // turned off: nothing stale may come back when it is on again
	}
	rt.handler = h
}

// checkHost rejects host names that could never match a request's Host.
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host name")
	}
	n := strings.TrimSuffix(h, ".")
	if len(n) > 253 {
		return fmt.Errorf("host name %.40q… is longer than 253 characters", h)
	}
	if strings.HasPrefix(n, "*") {
		return fmt.Errorf("host %q: wildcard hosts are not supported: list each host name", h)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("host %q has the character %q: give a bare host name such as blog.example.com (no scheme, port or path; internationalized names in punycode)", h, string(rune(c)))
		}
	}
	if n == "" || strings.HasPrefix(n, ".") || strings.Contains(n, "..") {
		return fmt.Errorf("host %q has an empty label", h)
	}
	return nil
}

// parseUpstream parses one upstream base URL.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream %q is not a valid URL: give one like http://127.0.0.1:8080", raw)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("upstream %q must start with http:// or https://", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("upstream %q has no host: give one like http://127.0.0.1:8080", raw)
	case u.User != nil:
		return nil, fmt.Errorf("upstream %q must not contain credentials", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("upstream %q must not have a query or fragment", raw)
	}
	return u, nil
}

// lookup returns the route for a Host header, or nil: one atomic load and
// one map read.
func (e *Edge) lookup(host string) *route {
	return e.table.Load().hosts[normalizeHost(host)]
}

// normalizeHost turns a Host header (or a configured host name) into a
// table key: port removed, trailing dot removed, lower case. It allocates
// only when the host has upper-case letters.
func normalizeHost(h string) string {
	if strings.HasPrefix(h, "[") {
		// IPv6 literal: "[::1]:8080" → "[::1]". Never in the table, but
		// its colons must not be mistaken for a port.
		if i := strings.IndexByte(h, ']'); i >= 0 {
			h = h[:i+1]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return lower(h)
}

// lower maps ASCII upper-case letters to lower case and leaves every other
// byte alone (strings.ToLower would turn invalid UTF-8 into U+FFFD). It
// returns h itself, without allocating, when there is nothing to change.
func lower(h string) string {
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			b := []byte(h)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return h
}
