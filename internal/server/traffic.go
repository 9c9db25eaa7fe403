package server

import (
	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
)

// trafficStats adapts the edge's Stats to what the dashboard wants. The edge
// has its own types because enforcement packages must not import the domain
// package; the copy happens only when someone opens a service's Security tab.
func trafficStats(stats func(service string) edge.TrafficStats) func(service string) rampart.TrafficStats {
	return func(service string) rampart.TrafficStats {
		return toTrafficStats(stats(service))
	}
}

// toTrafficStats converts rather than copies field by field, so that a
// field added to one side only stops the build instead of going missing.
func toTrafficStats(st edge.TrafficStats) rampart.TrafficStats {
	out := rampart.TrafficStats{
		BucketWidth: st.BucketWidth,
		Buckets:     make([]rampart.TrafficCount, len(st.Buckets)),
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
