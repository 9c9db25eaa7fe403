package rampart

import "time"

// LogEntry is one request the edge handled, as `rampart logs` and the
// dashboard's Logs tab show it. Like TrafficStats it is observed, not
// stored: the edge keeps the most recent entries of each service in memory
// (internal/edge/logtail), and they are gone when rampart restarts.
type LogEntry struct {
	Time    time.Time `json:"time"`    // when the request arrived
	Service string    `json:"service"` // "" when no service has the host
	Host    string    `json:"host"`    // lower case, without the port
	Method  string    `json:"method"`
	// Path is the URL path without the query string, which often carries
	// tokens. Paths longer than 1 KiB are cut and end in "…".
	Path      string   `json:"path"`
	Status    int      `json:"status"` // 499: the client went away before the answer
	Bytes     int64    `json:"bytes"`  // response body bytes sent to the client
	Duration  Duration `json:"duration"`
	ClientIP  string   `json:"client_ip"`
	Upstream  string   `json:"upstream,omitempty"` // the upstream chosen, if any
	RequestID string   `json:"request_id"`
	Cache     string   `json:"cache,omitempty"`   // the output cache's X-Cache: HIT, MISS, BYPASS or STALE
	Limited   bool     `json:"limited,omitempty"` // refused with 429 by the rate limiter
	Error     string   `json:"error,omitempty"`   // why the upstream failed
}

// Reason says in a few words why the edge did not serve the request
// normally, or "" when it did: what a person reading the log wants next to
// a 429 or a 502.
func (e *LogEntry) Reason() string {
	switch {
	case e.Limited:
		return "rate-limited"
	case e.Status == 499:
		return "the client went away before the answer"
	case e.Error != "":
		return e.Error
	case e.Service == "":
		return "no service has this host"
	case e.Status == 503 && e.Upstream == "":
		return "the service is stopped"
	}
	return ""
}
