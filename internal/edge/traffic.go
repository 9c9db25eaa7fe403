package edge

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// Traffic counts for the dashboard: per service, a ring of one-minute
// buckets covering the last half hour. Counting is a few atomic adds on the
// request path; nothing here allocates after the first request of a minute.
const (
	trafficBucketWidth = time.Minute
	trafficBuckets     = 30
)

// cacheResult is what the output cache did with a request, read from its
// X-Cache header.
type cacheResult uint8

const (
	cacheNone cacheResult = iota // not cached at all (off, or not routed)
	cacheHit
	cacheMiss
	cacheBypass
	cacheStale
)

var cacheResultNames = [...]string{cacheNone: "", cacheHit: "HIT", cacheMiss: "MISS", cacheBypass: "BYPASS", cacheStale: "STALE"}

// String is the X-Cache value, "" for cacheNone.
func (c cacheResult) String() string { return cacheResultNames[c] }

// cacheResultOf reads the X-Cache header the cache set, without
// canonicalizing the key or allocating.
func cacheResultOf(h http.Header) cacheResult {
	v := h["X-Cache"]
	if len(v) == 0 {
		return cacheNone
	}
	switch v[0] {
	case "HIT":
		return cacheHit
	case "MISS":
		return cacheMiss
	case "BYPASS":
		return cacheBypass
	case "STALE":
		return cacheStale
	}
	return cacheNone
}

// TrafficStats is what the edge saw of one service recently. It mirrors
// TrafficStats field for field; the edge keeps its own type because,
// as an enforcement point, it must not import the domain package (the
// server converts).
type TrafficStats struct {
	// Buckets are consecutive intervals of BucketWidth, oldest first, the
	// last one still filling.
	BucketWidth time.Duration
	Buckets     []TrafficCount
	// TopLimited are the clients (an IPv4 address, or an IPv6 /64) that
	// the rate limiter refused most in the recent past, most first.
	TopLimited []ClientCount
}

// TrafficCount counts one interval's requests by what the edge did.
type TrafficCount struct {
	Start    time.Time
	Requests int64 // all requests routed to the service
	Limited  int64 // answered 429 by the rate limiter
	Hits     int64 // answered from the cache (HIT or STALE)
	Misses   int64 // cacheable, fetched from the upstream
	Bypassed int64 // not cacheable (cookies, authorization, methods…)
}

// ClientCount is how many requests of one client were limited.
type ClientCount struct {
	Client  string
	Limited int64
}

type traffic struct {
	buckets [trafficBuckets]trafficBucket
}

type trafficBucket struct {
	minute                                    atomic.Int64 // unix minute this bucket counts
	requests, limited, hits, misses, bypassed atomic.Int64
}

// add counts one request that arrived at t. A bucket is reused for a new
// minute by whichever request first sees it stale; counts that race with
// that reset may be lost, which is fine for a chart.
func (tr *traffic) add(t time.Time, limited bool, res cacheResult) {
	m := t.Unix() / int64(trafficBucketWidth/time.Second)
	b := &tr.buckets[m%trafficBuckets]
	if old := b.minute.Load(); old != m && b.minute.CompareAndSwap(old, m) {
		b.requests.Store(0)
		b.limited.Store(0)
		b.hits.Store(0)
		b.misses.Store(0)
		b.bypassed.Store(0)
	}
	b.requests.Add(1)
	if limited {
		b.limited.Add(1)
	}
	switch res {
	case cacheHit, cacheStale:
		b.hits.Add(1)
	case cacheMiss:
		b.misses.Add(1)
	case cacheBypass:
		b.bypassed.Add(1)
	}
}

// snapshot returns the last trafficBuckets minutes up to now, oldest first.
func (tr *traffic) snapshot(now time.Time) []TrafficCount {
	width := int64(trafficBucketWidth / time.Second)
	cur := now.Unix() / width
	out := make([]TrafficCount, trafficBuckets)
	for i := range out {
		m := cur - int64(trafficBuckets-1-i)
		out[i].Start = time.Unix(m*width, 0).UTC()
		if tr == nil {
			continue
		}
		b := &tr.buckets[m%trafficBuckets]
		if b.minute.Load() != m {
			continue
		}
		out[i].Requests = b.requests.Load()
		out[i].Limited = b.limited.Load()
		out[i].Hits = b.hits.Load()
		out[i].Misses = b.misses.Load()
		out[i].Bypassed = b.bypassed.Load()
	}
	return out
}

// Stats returns what the edge saw of a service in the last half hour, and
// the clients its rate limiter refused most. id is the service's
// [Route.ID] (its name if its routes have none). A service without traffic
// gives zero counts.
func (e *Edge) Stats(id string) TrafficStats {
	var tr *traffic
	var lim *ratelimit.Limiter
	e.mu.Lock()
	if st := e.services[id]; st != nil {
		tr, lim = st.traffic, st.limiter
	}
	e.mu.Unlock()
	st := TrafficStats{BucketWidth: trafficBucketWidth, Buckets: tr.snapshot(time.Now())}
	if lim != nil {
		for _, c := range lim.Stats(10).Top {
			client := c.Network.String()
			if c.Network.IsSingleIP() {
				client = c.Network.Addr().String()
			}
			st.TopLimited = append(st.TopLimited, ClientCount{Client: client, Limited: int64(c.Limited)})
		}
	}
	return st
}

// PurgeCache drops every cached response of a service and says how many.
// id is the service's [Route.ID] (its name if its routes have none).
func (e *Edge) PurgeCache(id string) int { return e.cache.Purge(id) }
