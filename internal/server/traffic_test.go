package server

import (
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
)

// TestTrafficStatsTopWindow: the dashboard learns how far back the edge's
// limiter counts its most-limited clients, to label the table with it.
func TestTrafficStatsTopWindow(t *testing.T) {
	stats := func(id string) edge.TrafficStats {
		if id != "42" {
			t.Errorf("the edge was asked for service %q, want its route ID 42", id)
		}
		return edge.TrafficStats{BucketWidth: time.Minute, TopLimited: []edge.ClientCount{{Client: "203.0.113.9", Limited: 13}}}
	}
	for opts, want := range map[time.Duration]time.Duration{0: ratelimit.DefaultStatsWindow, 2 * time.Minute: 2 * time.Minute} {
		st := trafficStats(stats, ratelimit.Options{StatsWindow: opts})(42)
		if st.TopLimitedWindow != want || len(st.TopLimited) != 1 || st.TopLimited[0].Limited != 13 {
			t.Errorf("StatsWindow %v: got %+v, want a window of %v", opts, st, want)
		}
	}
}
