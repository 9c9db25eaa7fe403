package rampart

import "time"

// TrafficStats is what the edge saw for one service recently: the data
// behind the dashboard's Security charts. It is observed, not stored.
type TrafficStats struct {
	// Buckets are consecutive intervals of BucketWidth, oldest first, the
	// last one still filling.
	BucketWidth time.Duration  `json:"bucket_width"`
	Buckets     []TrafficCount `json:"buckets"`
	// TopLimited are the client keys (an IPv4 address, or an IPv6 /64)
	// limited most often in the recent past, most first. The rate limiter
	// counts them, not the buckets: over about TopLimitedWindow, as
	// estimates that may run high near the bottom of the list, so they need
	// not add up to the buckets'.
	TopLimited []ClientCount `json:"top_limited"`
	// TopLimitedWindow is how far back TopLimited looks; 0 when unknown.
	TopLimitedWindow time.Duration `json:"top_limited_window"`
}

// TrafficCount counts one interval's requests by what the edge did.
type TrafficCount struct {
	Start    time.Time `json:"start"`
	Requests int64     `json:"requests"` // all requests routed to the service
	Limited  int64     `json:"limited"`  // answered 429 by the rate limiter
	Hits     int64     `json:"hits"`     // answered from the cache (HIT or STALE)
	Misses   int64     `json:"misses"`   // cacheable, fetched from the upstream
	Bypassed int64     `json:"bypassed"` // not cacheable (cookies, authorization, methods…)
}

// ClientCount is how many requests of one client were limited.
type ClientCount struct {
	Client  string `json:"client"`
	Limited int64  `json:"limited"`
}

// HitRatio is hits / (hits + misses), or -1 when nothing was cacheable.
func (c TrafficCount) HitRatio() float64 {
	if c.Hits+c.Misses == 0 {
		return -1
	}
	return float64(c.Hits) / float64(c.Hits+c.Misses)
}
