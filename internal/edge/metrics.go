package edge

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// unknownService is the service label of requests for hosts without a
// route. It cannot clash with a service name, which is a DNS label. The raw
// Host is never a label: anyone could create series with it.
const unknownService = "_unknown"

type metrics struct {
	requests       *prometheus.CounterVec   // service, code
	duration       *prometheus.HistogramVec // service
	upstreamErrors *prometheus.CounterVec   // service
	limited        *prometheus.CounterVec   // service
	cacheResults   *prometheus.CounterVec   // service, result
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_edge_requests_total",
			Help: "HTTP requests answered by the edge, by service and status code.",
		}, []string{"service", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_edge_request_duration_seconds",
			Help:    "Time from request arrival to the end of the response, by service. Upgraded (WebSocket) connections are not included.",
			Buckets: prometheus.DefBuckets,
		}, []string{"service"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_edge_upstream_errors_total",
			Help: "Requests whose upstream could not be reached or did not answer in time, by service. Requests the client ended (code 499) are not upstream errors.",
		}, []string{"service"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_edge_ratelimited_total",
			Help: "Requests refused with 429 by the per-IP rate limiter, by service.",
		}, []string{"service"}),
		cacheResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_edge_cache_requests_total",
			Help: "Requests seen by the output cache, by service and result (hit, miss, bypass, stale).",
		}, []string{"service", "result"}),
	}
	var err error
	m.requests, err = register(reg, m.requests)
	if err != nil {
		return nil, err
	}
	m.duration, err = register(reg, m.duration)
	if err != nil {
		return nil, err
	}
	m.upstreamErrors, err = register(reg, m.upstreamErrors)
	if err != nil {
		return nil, err
	}
	m.limited, err = register(reg, m.limited)
	if err != nil {
		return nil, err
	}
	m.cacheResults, err = register(reg, m.cacheResults)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector that an earlier edge
// registered under the same name, so that two edges (an HTTP and an HTTPS
// one, say) can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// forget deletes the series of a service that no longer exists. Series
// are labelled with the name, which people read; a new service of the same
// name starts new ones from zero, which Prometheus sees as a counter reset
// (rate and increase handle it) rather than one service's counts going on
// into another's.
func (m *metrics) forget(service string) {
	l := prometheus.Labels{"service": service}
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.upstreamErrors.DeletePartialMatch(l)
	m.limited.DeletePartialMatch(l)
	m.cacheResults.DeletePartialMatch(l)
}

// serviceMetrics are one service's metric children, resolved once when the
// service is first installed so that a request costs atomic adds, not label
// hashing and map lookups.
type serviceMetrics struct {
	service string
	// gone is set when the service's series are deleted; its requests
	// still in flight then create no series again, which would otherwise
	// count an old service's requests for a new one of the same name.
	gone           atomic.Bool
	requests       *prometheus.CounterVec
	duration       prometheus.Observer
	upstreamErrors prometheus.Counter
	limited        prometheus.Counter
	cacheResults   [cacheStale + 1]prometheus.Counter // by cacheResult; cacheNone unused
	// byCode holds the request counter of each common status code,
	// resolved on first use so that a service only shows series for codes
	// it has answered with.
	byCode [len(commonCodes)]atomic.Pointer[prometheus.Counter]
}

func (m *metrics) forService(service string) *serviceMetrics {
	return &serviceMetrics{
		service:        service,
		requests:       m.requests,
		duration:       m.duration.WithLabelValues(service),
		upstreamErrors: m.upstreamErrors.WithLabelValues(service),
		limited:        m.limited.WithLabelValues(service),
		cacheResults: [...]prometheus.Counter{
			cacheHit:    m.cacheResults.WithLabelValues(service, "hit"),
			cacheMiss:   m.cacheResults.WithLabelValues(service, "miss"),
			cacheBypass: m.cacheResults.WithLabelValues(service, "bypass"),
			cacheStale:  m.cacheResults.WithLabelValues(service, "stale"),
		},
	}
}

// limiterAndCache counts what the rate limiter and the cache did.
func (sm *serviceMetrics) limiterAndCache(limited bool, res cacheResult) {
	if limited {
		sm.limited.Inc()
	}
	if res != cacheNone {
		sm.cacheResults[res].Inc()
	}
}

// commonCodes are the status codes with a counter slot per service; rarer
// codes take the slower labelled lookup.
var commonCodes = [...]int{
	101, 200, 201, 204, 206, 301, 302, 304, 307, 308,
	400, 401, 403, 404, 405, 408, 413, 429, 499,
	500, 502, 503, 504,
}

// codeSlot maps a status code to its index in commonCodes, or -1.
var codeSlot = func() (s [600]int8) {
	for i := range s {
		s[i] = -1
	}
	for i, c := range commonCodes {
		s[c] = int8(i)
	}
	return s
}()

func (sm *serviceMetrics) observe(status int, d time.Duration) {
	if sm.gone.Load() {
		return
	}
	sm.counter(status).Inc()
	if status != statusSwitchingProtocols {
		sm.duration.Observe(d.Seconds())
	}
}

const statusSwitchingProtocols = 101

func (sm *serviceMetrics) counter(status int) prometheus.Counter {
	if status < 0 || status >= len(codeSlot) || codeSlot[status] < 0 {
		return sm.requests.WithLabelValues(sm.service, strconv.Itoa(status))
	}
	slot := &sm.byCode[codeSlot[status]]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := sm.requests.WithLabelValues(sm.service, strconv.Itoa(status))
	slot.Store(&c)
	return c
}
