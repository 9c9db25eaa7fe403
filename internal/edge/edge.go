package edge

import (
	"context"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/forward"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// Config is what the edge needs from its caller. The zero value works: no
// access log, no metrics, the tuned default transport, client IP from the
// TCP peer address.
type Config struct {
	// AccessLog receives one line per request (see [LogEntry]).
	// Nil: no access log.
	AccessLog *slog.Logger

	// ErrorLog receives errors that concern the proxy rather than one
	// response line, such as an upstream that broke off a response body.
	// Nil: [slog.Default].
	ErrorLog *slog.Logger

	// OnRequest, if set, is called after every request with its log entry;
	// it is where live tailing (`rampart logs -f`, internal/edge/logtail)
	// subscribes. It runs on the request's goroutine, so it must return
	// quickly and never block, and it must copy what it keeps: the
	// entry's strings may share memory with the request.
	OnRequest func(LogEntry)

	// Metrics is where the edge registers its Prometheus collectors.
	// Nil: no metrics.
	Metrics prometheus.Registerer

	// Transport carries requests to upstreams. Nil: the edge's own
	// HTTP/1.1 forwarder (internal/edge/forward) for the requests it can
	// carry, [NewTransport] for the rest (upgrades, Expect, bodies of
	// unknown length, HTTPS upstreams, upstreams with a base path). An
	// [*UpstreamTransport] keeps the forwarder, under its egress policy;
	// any other RoundTripper carries every request itself.
	Transport http.RoundTripper

	// ClientIP decides the IP address of the client that made r: it is sent
	// upstream in X-Forwarded-For, logged, and used by the rate limiter.
	// Nil: [RemoteIP], the TCP peer, which is right as long as no trusted
	// proxy sits in front of the edge.
	ClientIP func(r *http.Request) netip.Addr

	// Cache bounds the output cache shared by all services (its MaxBytes,
	// 64 MiB by default). The zero value works.
	Cache cache.Options

	// ViaName is how the edge names itself in the Via header of the
	// requests it proxies, and how it recognizes a request it sent itself
	// (answered 508 Loop Detected). Up to 32 letters, digits, '-', '.'
	// and '_'; it must differ between edges that proxy to each other.
	// Empty: "rampart-" and a random token, new for every process.
	ViaName string

	// Limiter tunes each service's rate limiter. Its MaxClients bounds the
	// memory of each service's limiter; 0 means DefaultLimiterClients.
	Limiter ratelimit.Options
}

// DefaultLimiterClients is how many clients each service's rate limiter
// tracks at most: about 5 MiB at the most per service. A client holds its
// slot only while its quota is not full again (0.4 s after one request at
// 150/minute), so it takes over 600,000 new addresses a second to reach the
// bound; past it the limiter forgets the clients that used least of their
// quota (see internal/edge/ratelimit).
const DefaultLimiterClients = 250_000

// Edge routes requests by their Host header to the upstreams of the service
// that owns that host. It is safe for concurrent use; create it with [New].
type Edge struct {
	table atomic.Pointer[table]

	accessLog *slog.Logger
	onRequest func(LogEntry)
	errorLog  *log.Logger // for httputil.ReverseProxy
	transport http.RoundTripper
	pools     forwardPools // the forwarder's; none when Config.Transport is another RoundTripper
	clientIP  func(*http.Request) netip.Addr
	buffers   httputil.BufferPool
	via       via

	metrics *metrics        // nil: no metrics
	unknown *serviceMetrics // requests for hosts that have no route

	cache          *cache.Cache
	limiterOptions ratelimit.Options
	wrapLimiter    ratelimit.HandlerOptions // how compileRoute puts each limiter in its chain

	mu       sync.Mutex           // serializes SetRoutes; guards services
	services map[string]*svcState // by route key (see Route.ID)
}

// New returns an edge with an empty routing table: every request gets the
// 404 page until [Edge.SetRoutes] is called.
func New(cfg Config) (*Edge, error) {
	e := &Edge{
		accessLog: cfg.AccessLog,
		onRequest: cfg.OnRequest,
		transport: cfg.Transport,
		clientIP:  cfg.ClientIP,
		buffers:   bufferPool{},

		limiterOptions: cfg.Limiter,
		services:       make(map[string]*svcState),
	}
	v, err := newVia(cfg.ViaName)
	if err != nil {
		return nil, err
	}
	e.via = v
	errLog := cfg.ErrorLog
	if errLog == nil {
		errLog = slog.Default()
	}
	e.errorLog = slog.NewLogLogger(errLog.Handler(), slog.LevelWarn)
	cacheOpts := cfg.Cache
	if cacheOpts.ErrorLog == nil {
		cacheOpts.ErrorLog = errLog
	}
	e.cache = cache.New(cacheOpts)
	switch t := e.transport.(type) {
	case nil:
		e.transport = NewTransport()
		p := forward.NewPool(nil, nil)
		e.pools = forwardPools{p, p}
	case *UpstreamTransport:
		e.pools = t.pools
	}
	if e.clientIP == nil {
		e.clientIP = RemoteIP
	}
	e.wrapLimiter = ratelimit.HandlerOptions{ClientIP: e.clientIP, QuietUntilHalf: true, Observe: noteLimit}
	if e.limiterOptions.MaxClients == 0 {
		e.limiterOptions.MaxClients = DefaultLimiterClients
	}
	if cfg.Metrics != nil {
		m, err := newMetrics(cfg.Metrics)
		if err != nil {
			return nil, err
		}
		e.metrics = m
		e.unknown = m.forService(unknownService)
	}
	e.table.Store(&table{})
	return e, nil
}

// ServeHTTP routes r to its service's chain (where the rate limiter may
// answer 429), or answers with an error page when there is none (404), the
// service is stopped (503), the request has been here before (508: the
// service's upstream is the edge itself) or its upstream does not answer (502, 504). A
// request the client ends is logged 499, or 400 for a body that does not
// parse (see clientEnded).
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ids := requestID(r)
	w.Header()[headerRequestID] = ids
	id := ids[0]

	host := normalizeHost(r.Host)
	rt := e.table.Load().hosts[host]

	if rt != nil {
		rt.setHSTS(w, r)
	}

	rec := newRecorder(w)
	completed := false
	defer func() {
		if !completed {
			// A panic is on its way up: http.ErrAbortHandler from the
			// proxy when the response body could not be copied, because
			// the upstream broke it off or the client went away, or
			// from upstreamError when the client went away. Still log
			// the request; leave rec to the garbage collector.
			abort := "response aborted"
			if rec.clientEnded(r) {
				abort = ""
			}
			e.finish(rec, r, rt, host, id, start, abort)
		}
	}()

	switch {
	case rt == nil:
		writePage(rec, r, http.StatusNotFound, host, id)
	case r.Method == http.MethodConnect && !isWebSocketConnect(r):
		// Not a proxy for arbitrary destinations; and httputil would send
		// the CONNECT on to the upstream. A WebSocket over HTTP/2 is an
		// extended CONNECT to the service itself (see websocket.go).
		writePage(rec, r, http.StatusMethodNotAllowed, host, id)
	case rt.stopped:
		writePage(rec, r, http.StatusServiceUnavailable, host, id)
	case e.via.looped(r):
		// Before the limiter and the cache: a loop must end at the first
		// pass whatever they would say, and costs them nothing.
		rec.err = errLoop
		writePage(rec, r, http.StatusLoopDetected, host, id)
	default:
		rt.handler.ServeHTTP(rec, r)
	}

	completed = true
	if rec.clientErr != nil {
		// A handler that does not give up on a failed write (the cache
		// serving a hit, an error page) still did not reach the client.
		rec.clientEnded(r)
	}
	e.finish(rec, r, rt, host, id, start, "")
	rec.release()
}

// finish records the request in the metrics, the access log and the
// OnRequest hook.
func (e *Edge) finish(rec *recorder, r *http.Request, rt *route, host, id string, start time.Time, abort string) {
	d := time.Since(start)
	status := rec.statusCode()

	result := cacheResultOf(rec.Header())
	if rt != nil {
		rt.traffic.add(start, rec.limited, result)
	}
	if e.metrics != nil {
		sm := e.unknown
		if rt != nil {
			sm = rt.metrics
		}
		sm.observe(status, d)
		sm.limiterAndCache(rec.limited, result)
	}

	if e.accessLog == nil && e.onRequest == nil {
		return
	}
	if !rec.clientIP.IsValid() {
		rec.clientIP = e.clientIP(r)
	}
	if len(host) > maxLogHost {
		host = host[:maxLogHost]
	}
	ent := LogEntry{
		Time:      start,
		Host:      host,
		Method:    r.Method,
		Path:      r.URL.Path,
		Status:    status,
		Bytes:     rec.bytes,
		Duration:  d,
		ClientIP:  rec.clientIP,
		Upstream:  rec.upstream,
		RequestID: id,
		Cache:     result.String(),
		Limited:   rec.limited,
		Error:     abort,
	}
	if rt != nil {
		ent.Service, ent.ServiceID = rt.service, rt.key
	}
	if rec.err != nil {
		ent.Error = rec.err.Error()
	}
	e.emit(r.Context(), &ent)
}

// emit hands a log entry to the access log and the OnRequest hook.
func (e *Edge) emit(ctx context.Context, ent *LogEntry) {
	if e.accessLog != nil {
		e.logAccess(ctx, ent)
	}
	if e.onRequest != nil {
		e.onRequest(*ent)
	}
}

var _ http.Handler = (*Edge)(nil)

// Fresh reports whether r is a request the edge would answer from its
// output cache right now, without going upstream. It changes nothing; the
// fast lane in front of the edge's listeners answers such requests itself
// (see internal/edge/fastlane).
func (e *Edge) Fresh(r *http.Request) bool {
	rt := e.table.Load().hosts[normalizeHost(r.Host)]
	return rt != nil && !rt.stopped && cache.Fresh(rt.cached, r)
}

// Routed reports whether r is for a host the edge routes: the fast lane
// in front of the edge's listeners answers such requests itself, cache
// hits and misses alike (see internal/edge/fastlane), and leaves the rest
// (the dashboard's host, ACME challenges for unknown names) to net/http.
// It changes nothing.
func (e *Edge) Routed(r *http.Request) bool {
	return e.table.Load().hosts[normalizeHost(r.Host)] != nil
}
