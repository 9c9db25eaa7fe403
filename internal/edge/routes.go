package edge

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// Route sends the requests for some host names to one service's upstreams.
type Route struct {
	// ID identifies the service for as long as it exists, and never
	// another one after it: the store's service ID, say, in decimal. All
	// the edge keeps of a service between tables (cached responses,
	// limiter counters, traffic counts, metric series) belongs to its ID,
	// so that a service deleted and created again under the same name,
	// by another owner, starts with nothing of the old one's. It must be
	// unique within one SetRoutes call. Empty: the Service name stands in
	// for it, which is right only for a caller whose names are never
	// reused (a fixed configuration, a test).
	ID string
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
	// HSTS adds Strict-Transport-Security to the route's HTTPS responses
	// in place of the upstream's; nil: the upstream's header, if any,
	// passes through.
	HSTS *HSTS
	// AllowPrivate lifts the egress policy of an [UpstreamTransport] for
	// this route's upstreams (an admin's per-service override): they may
	// be on loopback, link-local and other forbidden networks, but still
	// never on rampart's own listeners.
	AllowPrivate bool
	// Hold is how long a request may wait for an upstream that refuses
	// its connection before it is answered 502: for a service whose
	// process rampart runs, a restart refuses connections between the old
	// process's exit and the new one's listen, and requests wait that out
	// (see forward.DialHolding). 0: a refusal is a 502 at once, as for an
	// upstream rampart knows nothing of.
	Hold time.Duration
	// With Hold, a request that may be sent twice (no body, a safe
	// method) whose new connection the upstream closes before any answer
	// is sent once more: a process on its way out resets what waits in
	// its listen backlog. HoldClosed makes such requests wait out, within
	// Hold, every such close: a container's published port is Docker's
	// proxy, which accepts connections while the app behind it is being
	// replaced or is still booting. Not for an app's own port: there a
	// close may be the app's answer to this request (a crash).
	HoldClosed bool
}

// key is what the edge files the route's service state under.
func (rc *Route) key() string {
	if rc.ID != "" {
		return rc.ID
	}
	return rc.Service
}

// table is an immutable routing table. A new one is built for every
// SetRoutes call and swapped in whole, so readers never lock.
type table struct {
	hosts    map[string]*route // normalized host name → route
	services map[string]*route // route key → route
}

// route is a compiled Route.
type route struct {
	key       string // Route.key: the service's ID
	service   string // its name
	stopped   bool
	targets   []*url.URL
	rateLimit *ratelimit.Config
	cacheCfg  *cache.Config
	hsts      []string           // the Strict-Transport-Security value; nil: none
	handler   http.Handler       // the per-route chain; ends in the upstream proxies
	cached    http.Handler       // the output cache's link of the chain, for Fresh; nil: not cached
	limiter   *ratelimit.Limiter // nil: no rate limit
	metrics   *serviceMetrics    // nil: no metrics
	traffic   *traffic           // recent counts, for the dashboard

	allowPrivate bool          // Route.AllowPrivate: proxies use the overridden pool
	hold         time.Duration // Route.Hold
	holdClosed   bool          // Route.HoldClosed
}

// svcState is what the edge keeps of one service from one table to the
// next, filed under the service's ID. Its cached responses are in the
// cache, under the same ID.
type svcState struct {
	name    string
	traffic *traffic
	limiter *ratelimit.Limiter // nil: not limited in the current table
	limit   ratelimit.Config   // what limiter was last set to
	metrics *serviceMetrics    // nil: no metrics
	hsts    string             // the HSTS value of the last table; "": none
}

// SetRoutes replaces the routing table with one that holds every valid
// route of routes, so that one service's mistake never takes the others
// down. It returns nil when all were installed; otherwise the errors.Join
// of one [*RouteError] per route left out (see [RouteErrors]). A route is
// left out when it is invalid, when an earlier route has the same service
// ID or name, or when an earlier route, valid or not, claims one of its
// hosts: a mistake in one service's settings must not hand its hosts to
// another. Requests already in flight finish on the table they started
// with.
func (e *Edge) SetRoutes(routes []Route) error {
	e.mu.Lock()
	defer e.mu.Unlock()

	// Forget what belonged to services that are gone: metric series,
	// limiter state, cached responses, traffic counts. Services that stay
	// keep theirs across tables (see compileRoute), and so do services
	// whose route was refused: they still exist, and once their route is
	// fixed they carry on where they were. Gone is by ID: a service whose
	// name comes back with a new ID is a new service and starts empty.
	listed := make(map[string]string, len(routes)) // key → name
	for i := range routes {
		if _, dup := listed[routes[i].key()]; !dup {
			listed[routes[i].key()] = routes[i].Service
		}
	}
	var gone []string
	for key, st := range e.services {
		name, ok := listed[key]
		switch {
		case !ok:
			gone = append(gone, key)
		case name != st.name && st.metrics != nil:
			// Renamed: its series carry the name, so they start over.
			e.forgetMetrics(st)
		}
	}
	// Metric series go before the new table is compiled: series are found
	// by name, and a new service of the same name must get new ones, not
	// the old service's counts. Requests still running on the old table
	// count into series that are no longer exported.
	for _, key := range gone {
		e.forgetMetrics(e.services[key])
	}

	next, refused := e.compile(routes)
	e.table.Store(next)

	// The rest goes once no new request can reach it. A request of a gone
	// service that is still running may yet try to store its response:
	// the cache refuses it (see cache.Forget).
	for _, key := range gone {
		e.cache.Forget(key)
		delete(e.services, key)
	}
	for key, st := range e.services {
		if rt, ok := next.services[key]; ok && rt.limiter == nil {
			st.limiter = nil
		}
	}
	return errors.Join(refused...)
}

// forgetMetrics deletes the metric series of st's service.
func (e *Edge) forgetMetrics(st *svcState) {
	if st.metrics == nil {
		return
	}
	st.metrics.gone.Store(true)
	e.metrics.forget(st.name)
	st.metrics = nil
}

// compile builds a table of the valid routes and returns a *RouteError
// for each of the others.
func (e *Edge) compile(routes []Route) (*table, []error) {
	t := &table{
		hosts:    make(map[string]*route),
		services: make(map[string]*route, len(routes)),
	}
	var refused []error
	refuse := func(service string, err error) {
		refused = append(refused, &RouteError{Service: service, Err: err})
	}
	named := make(map[string]bool, len(routes))
	keyed := make(map[string]bool, len(routes))
	owner := make(map[string]string) // normalized host → service of the first route that named it
	for i := range routes {
		rc := &routes[i]
		rt, err := checkRoute(rc)
		if rc.Service == "" {
			refuse("", err)
			continue
		}
		if named[rc.Service] {
			refuse(rc.Service, errors.New("the service has two routes: give each service one route with all its hosts (only the first one counts)"))
			continue
		}
		named[rc.Service] = true
		if keyed[rc.key()] {
			refuse(rc.Service, fmt.Errorf("its ID %q is another route's too: give each service an ID of its own", rc.ID))
			continue
		}
		keyed[rc.key()] = true
		if claimErr := claimHosts(owner, rc); claimErr != nil {
			refuse(rc.Service, claimErr)
			continue
		}
		if err != nil {
			refuse(rc.Service, err)
			continue
		}
		t.services[rt.key] = rt
		for _, h := range rc.Hosts {
			t.hosts[normalizeHost(h)] = rt
		}
	}
	// Metric series and handlers only for the routes that made it.
	for _, rt := range t.services {
		e.compileRoute(rt)
	}
	return t, refused
}

// claimHosts records rc's hosts as its service's, unless an earlier route
// of another service has claimed one of them; then it claims none.
func claimHosts(owner map[string]string, rc *Route) error {
	for _, h := range rc.Hosts {
		if other, ok := owner[normalizeHost(h)]; ok && other != rc.Service {
			return fmt.Errorf("host %q is claimed by services %q and %q: a host can belong to one service only, and %q keeps it", normalizeHost(h), other, rc.Service, other)
		}
	}
	for _, h := range rc.Hosts {
		owner[normalizeHost(h)] = rc.Service
	}
	return nil
}

// checkRoute validates one route and returns it parsed, without handler.
// Its errors leave the service's name to the RouteError that carries them,
// and the middlewares' own errors, which name their package, as they are.
func checkRoute(rc *Route) (*route, error) {
	if rc.Service == "" {
		return nil, fmt.Errorf("it has no service name (hosts %q): give it the name of its service", rc.Hosts)
	}
	if len(rc.Hosts) == 0 {
		return nil, errors.New("it has no hosts: give at least the service's platform host name")
	}
	var errs []error
	for _, h := range rc.Hosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	if len(rc.Upstreams) == 0 && !rc.Stopped {
		errs = append(errs, errors.New("it has no upstreams: give at least one, e.g. http://127.0.0.1:8080, or mark it stopped"))
	}
	if rc.RateLimit != nil {
		if err := rc.RateLimit.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if rc.Cache != nil {
		if err := rc.Cache.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if rc.HSTS != nil {
		if err := rc.HSTS.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if rc.Hold < 0 {
		errs = append(errs, fmt.Errorf("its hold is %s: give how long a request may wait for the upstream to listen, or 0", rc.Hold))
	}
	rt := &route{key: rc.key(), service: rc.Service, stopped: rc.Stopped, rateLimit: rc.RateLimit, cacheCfg: rc.Cache}
	if rc.HSTS != nil {
		rt.hsts = rc.HSTS.value()
	}
	rt.allowPrivate = rc.AllowPrivate
	rt.hold, rt.holdClosed = rc.Hold, rc.HoldClosed
	for _, raw := range rc.Upstreams {
		u, err := parseUpstream(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rt.targets = append(rt.targets, u)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rt, nil
}

// compileRoute resolves a valid route's metrics and builds its handler
// chain.
func (e *Edge) compileRoute(rt *route) {
	// State lives in the Edge, keyed by service ID, so that a new table
	// (one is built for every change to any service) keeps each service's
	// limiter counters, cached responses and traffic counts.
	st := e.services[rt.key]
	if st == nil {
		st = &svcState{name: rt.service, traffic: new(traffic)}
		e.services[rt.key] = st
	}
	st.name = rt.service
	if e.metrics != nil && st.metrics == nil {
		st.metrics = e.metrics.forService(rt.service)
	}
	rt.metrics = st.metrics
	rt.traffic = st.traffic
	var hsts string
	if rt.hsts != nil {
		hsts = rt.hsts[0]
	}
	if hsts != st.hsts {
		// Copies stored under the old setting may carry the upstream's
		// own HSTS header, which a hit would put over the edge's; or
		// lack it now that the upstream's passes through again.
		e.cache.Purge(rt.key)
		st.hsts = hsts
	}
	if rt.stopped {
		return
	}
	// The chain, built from the inside out: the rate limiter first, so
	// that a limited request costs no cache lookup; then the output
	// cache; then the upstream proxies.
	var h http.Handler = e.newUpstreams(rt)
	if c := rt.cacheCfg; c != nil && !c.Disabled {
		h = e.cache.HandlerWithBackground(rt.key, *c, h, e.backgroundRefresh(rt))
		rt.cached = h
	} else {
		e.cache.Purge(rt.key) // turned off: nothing stale may come back when it is on again
	}
	if rl := rt.rateLimit; rl != nil && !rl.Disabled {
		switch {
		case st.limiter == nil:
			// Validated in checkRoute, so New cannot fail on the config.
			st.limiter, _ = ratelimit.New(*rl, e.limiterOptions)
		case !sameLimit(st.limit, *rl):
			// Only on a change: SetConfig takes every shard's lock, and
			// the table is rebuilt for every change to any service.
			_ = st.limiter.SetConfig(*rl) // validated in checkRoute
		}
		st.limit = *rl
		st.limit.Allow = slices.Clone(rl.Allow)
		rt.limiter = st.limiter
		h = st.limiter.Wrap(h, e.wrapLimiter)
	}
	rt.handler = h
}

// sameLimit reports whether a and b limit alike.
func sameLimit(a, b ratelimit.Config) bool {
	return a.Requests == b.Requests && a.Period == b.Period && a.Disabled == b.Disabled && slices.Equal(a.Allow, b.Allow)
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
