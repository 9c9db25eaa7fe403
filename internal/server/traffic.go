package server

import (
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// trafficStats adapts the edge's Stats to what the dashboard wants. The edge
// has its own types because enforcement packages must not import the domain
// package; the copy happens only when someone opens a service's Security tab.
// limiter is the edge's rate-limiter options, whose StatsWindow says how
// far back the most-limited clients are counted: the dashboard labels the
// table with it, since it is not the buckets' half hour.
func trafficStats(stats func(service string) edge.TrafficStats, limiter ratelimit.Options) func(service string) rampart.TrafficStats {
	window := limiter.StatsWindow
	if window == 0 {
		window = ratelimit.DefaultStatsWindow
	}
	return func(service string) rampart.TrafficStats {
		return toTrafficStats(stats(service), window)
	}
}

// toTrafficStats converts rather than copies field by field, so that a
// field added to one side only stops the build instead of going missing.
func toTrafficStats(st edge.TrafficStats, topWindow time.Duration) rampart.TrafficStats {
	out := rampart.TrafficStats{
		BucketWidth:      st.BucketWidth,
		Buckets:          make([]rampart.TrafficCount, len(st.Buckets)),
		TopLimitedWindow: topWindow,
	}
	for i, b := range st.Buckets {
		out.Buckets[i] = rampart.TrafficCount(b)
	}
	if st.TopLimited != nil {
		out.TopLimited = make([]rampart.ClientCount, len(st.TopLimited))
		for i, c := range st.TopLimited {
			out.TopLimited[i] = rampart.ClientCount(c)
		}
	}
	return out
}
