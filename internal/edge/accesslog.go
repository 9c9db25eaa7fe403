package edge

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// LogEntry describes one request that went through the edge. It is what
// the access log writes and what Config.OnRequest receives.
type LogEntry struct {
	Time    time.Time // when the request arrived
	Service string    // "" when no route matched the host
	// ServiceID is the Route.ID of the service that answered: a reader
	// that shows a service's entries to its owner checks it, because the
	// name may have passed to another service while the request ran.
	ServiceID string
	Host      string // normalized: lower case, no port, at most 253 bytes
	Method    string
	Path      string // URL path only: query strings often carry tokens
	Status    int    // 499: the client went away before the whole answer reached it
	Bytes     int64  // response body bytes sent to the client
	Duration  time.Duration
	ClientIP  netip.Addr
	Upstream  string // the upstream URL chosen; "" when none was
	RequestID string
	Cache     string // the output cache's X-Cache: HIT, MISS, BYPASS or STALE; CacheRefresh for a background refresh; "" when it had no say
	Limited   bool   // answered 429 by the service's rate limiter
	Error     string // why the upstream failed, or what the client did (499, 400), for the operator; "" if nothing went wrong

	// Source is "" for a request the edge handled, SourceApp for a line
	// the service's own process wrote (its runtime captures stdout and
	// stderr into the same log, so that both read side by side); such an
	// entry has only Time, Service, ServiceID, Stream and Message.
	Source  string
	Stream  string // "stdout" or "stderr"
	Message string // the line, without its newline
}

// SourceApp marks a log entry written by the service's own process.
const SourceApp = "app"

// maxLogHost bounds the Host of an unknown site in a log entry; a routed
// host is at most 253 characters anyway.
const maxLogHost = 253

// logAccess writes ent as one structured line. LogAttrs with typed
// attributes avoids boxing each value into an interface.
func (e *Edge) logAccess(ctx context.Context, ent *LogEntry) {
	level := slog.LevelInfo
	if ent.Status >= 500 {
		level = slog.LevelWarn
	}
	if !e.accessLog.Enabled(ctx, level) {
		return
	}
	var ip string
	if ent.ClientIP.IsValid() {
		ip = ent.ClientIP.String()
	}
	// The attributes live in an array on the stack; the optional ones go
	// last and only when set.
	var buf [13]slog.Attr
	attrs := append(buf[:0],
		slog.String("service", ent.Service),
		slog.String("host", ent.Host),
		slog.String("method", ent.Method),
		slog.String("path", ent.Path),
		slog.Int("status", ent.Status),
		slog.Int64("bytes", ent.Bytes),
		slog.Duration("duration", ent.Duration),
		slog.String("client_ip", ip),
		slog.String("upstream", ent.Upstream),
		slog.String("request_id", ent.RequestID),
	)
	if ent.Cache != "" {
		attrs = append(attrs, slog.String("cache", ent.Cache))
	}
	if ent.Limited {
		attrs = append(attrs, slog.Bool("limited", true))
	}
	if ent.Error != "" {
		attrs = append(attrs, slog.String("error", ent.Error))
	}
	e.accessLog.LogAttrs(ctx, level, "request", attrs...)
}
