package rampart

import (
	"context"
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
	Cache     string   `json:"cache,omitempty"`   // the output cache's X-Cache: HIT, MISS, BYPASS or STALE; REFRESH for a background refresh (no client)
	Limited   bool     `json:"limited,omitempty"` // refused with 429 by the rate limiter
	Error     string   `json:"error,omitempty"`   // why the upstream failed, or what the client did (499, 400)

	// Source is "" for a request the edge handled and "app" for a line
	// the service's own process wrote (services rampart runs: their
	// stdout and stderr are captured into the same log). An app line has
	// Time, Service, Stream and Message only.
	Source  string `json:"source,omitempty"`
	Stream  string `json:"stream,omitempty"` // stdout or stderr
	Message string `json:"message,omitempty"`

	// ServiceID is the ID of the service that answered; 0 when unknown.
	// A service's name can pass to a new service while requests of the
	// old one still run, so an entry is shown as a service's only when
	// the IDs agree. The service layer reads it; the API does not show it.
	ServiceID int64 `json:"-"`
}

// refreshNote is the reason of a background refresh that went well.
const refreshNote = "a background refresh of a stale copy (no client waited)"

// Reason says in a few words why the edge did not serve the request
// normally, or "" when it did: what a person reading the log wants next to
// a 429 or a 502. A background refresh that went well has a reason too,
// which is a note rather than a fault (see ReasonIsNote).
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
	case e.Cache == "REFRESH":
		return refreshNote
	}
	return ""
}

// ReasonIsNote reports whether Reason tells what happened rather than what
// went wrong, so that a display need not show it as a fault. A refresh
// that failed has its error as its reason, and that is a fault.
func (e *LogEntry) ReasonIsNote() bool { return e.Reason() == refreshNote }

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

// Log read bounds.
const (
	// DefaultLogTail is how many earlier entries a read starts with when
	// the caller does not say.
	DefaultLogTail = 50
	// MaxLogTail is the most entries one read returns from before the
	// call: all the edge keeps of a service.
	MaxLogTail = 1000
	// LogHeartbeat is how often a following stream that has nothing to
	// say says so, so that proxies and clients can tell a quiet stream
	// from a dead connection.
	LogHeartbeat = 15 * time.Second
)

// ErrLogsClosed ends the log streams of a server that shuts down.
var ErrLogsClosed = Errorf(ECONFLICT, "rampart is shutting down, so the log stream ends: run the command again once the server is back")

// LogQuery says which entries of the edge log to read.
type LogQuery struct {
	// Service reads one service's entries; "" reads every service the
	// caller may see.
	Service string
	// Tail is how many entries from before the call come first, 0 to
	// MaxLogTail.
	Tail int
	// Follow keeps the stream open for new entries.
	Follow bool
	// After, a cursor of an earlier stream of the same Service, replaces
	// Tail: the stream continues after what that one had read (the
	// dashboard's resume after a pause or a reconnect). A cursor that no
	// longer fits (another server process, a recreated service) is
	// ignored and Tail applies.
	After string
	// StillValid, if set, is asked every heartbeat whether the credential
	// that opened the stream still holds (the session was not logged out,
	// the token not revoked); an error ends the stream with its message.
	StillValid func(ctx context.Context) error
}

// LogEvent is one line of GET /logs, which answers newline-delimited JSON
// (application/x-ndjson): one object per line, flushed as it happens.
// Between them, while following, an empty line every LogHeartbeat shows
// that the connection is alive; JSON readers skip it as whitespace.
type LogEvent struct {
	// Type is LogEventEntry, LogEventDropped or LogEventEnd.
	Type string `json:"type"`
	// Entry is the request, for "entry".
	Entry *LogEntry `json:"entry,omitempty"`
	// Dropped counts the entries lost here because the client read too
	// slowly, for "dropped".
	Dropped int `json:"dropped,omitempty"`
	// Message says what happened, for "dropped" and "end".
	Message string `json:"message,omitempty"`
}

// Types of LogEvent.
const (
	LogEventEntry   = "entry"
	LogEventDropped = "dropped"
	// LogEventEnd is the last line when the server ends a stream that
	// follows: it is shutting down, the service was deleted, the token was
	// revoked.
	LogEventEnd = "end"
)

// LogScope says which services' entries a log read covers.
type LogScope struct {
	All      bool     // every service, and unknown hosts (service "")
	Services []string // otherwise: these
}

// LogSource is the edge's memory of recent requests, as the service layer
// reads it. The process that runs the edge has one (internal/edge/logtail,
// adapted by internal/server/logsource).
type LogSource interface {
	// Snapshot returns a read of the entries there are, that takes no
	// place among the followers.
	Snapshot(LogScope) LogSubscription
	// Subscribe returns a read that follows new entries. It fails with
	// ErrLogsClosed after the source closed, and with an ETOOMANY *Error
	// when too many followers are open.
	Subscribe(LogScope) (LogSubscription, error)
}

// LogSubscription is one read of a LogSource. Its methods other than
// Ready and Done are for one goroutine.
type LogSubscription interface {
	// Backlog returns up to n entries from before the read began.
	Backlog(n int) []LogEntry
	// Resume continues after the position cursor names (see Cursor) and
	// reports whether it could.
	Resume(cursor string) bool
	// Cursor names the position after what was read.
	Cursor() string
	// SetScope changes the services followed.
	SetScope(LogScope)
	// Read returns up to max new entries in the order they finished, and
	// how many were lost because the read was too slow.
	Read(max int) (entries []LogEntry, dropped int)
	// Ready delivers a value when Read has something new.
	Ready() <-chan struct{}
	// Done is closed when the source closed.
	Done() <-chan struct{}
	Close()
}
