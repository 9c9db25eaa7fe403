package server

import (
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// edgeCache is the edge as the service layer's CachePurger: the service
// layer names a service by its store ID, the edge by the route ID the
// routes reconciler gave it (agent.RouteID).
type edgeCache struct{ edge *edge.Edge }

func (c edgeCache) PurgeCache(serviceID int64) int {
	return c.edge.PurgeCache(agent.RouteID(serviceID))
}

// trafficStats adapts the edge's Stats to what the dashboard wants. The edge
// has its own types because enforcement packages must not import the domain
// package; the copy happens only when someone opens a service's Security tab.
// limiter is the edge's rate-limiter options, whose StatsWindow says how
// far back the most-limited clients are counted: the dashboard labels the
// table with it, since it is not the buckets' half hour.
// The edge is asked by route ID, like edgeCache.
func trafficStats(stats func(id string) edge.TrafficStats, limiter ratelimit.Options) func(serviceID int64) rampart.TrafficStats {
	window := limiter.StatsWindow
	if window == 0 {
		window = ratelimit.DefaultStatsWindow
	}
	return func(serviceID int64) rampart.TrafficStats {
		return toTrafficStats(stats(agent.RouteID(serviceID)), window)
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
