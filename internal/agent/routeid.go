package agent

import "strconv"

// RouteID is the edge's name for the service with the store ID id: its
// [edge.Route.ID], under which the edge keeps the service's cache, limiter
// and traffic counts. Whoever asks the edge about a service (a cache
// purge, the dashboard's traffic chart) names it the same way.
func RouteID(id int64) string { return strconv.FormatInt(id, 10) }
