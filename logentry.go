package rampart

import (
	"fmt"
	"time"
)

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

// Size is the response size the way people say it: 512B, 2.1kB, 3.4MB.
// `rampart logs` and the Logs tab print it alike.
func (e *LogEntry) Size() string {
	n := e.Bytes
	switch {
	case n < 1000:
		return fmt.Sprintf("%dB", n)
	case n < 1000_000:
		return fmt.Sprintf("%.1fkB", float64(n)/1e3)
	case n < 1000_000_000:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1fGB", float64(n)/1e9)
}

// Took is how long the request took, in two or three significant digits:
// 450µs, 2.1ms, 38ms, 1.2s.
func (e *LogEntry) Took() string {
	d := time.Duration(e.Duration)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
