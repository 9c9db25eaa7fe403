package edge

import (
	"net/http"
	"time"

	"github.com/rampart-dev/rampart/internal/edge/cache"
)

// CacheRefresh is the Cache field of a background refresh's log entry
// (stale-while-revalidate): a request of the edge's own, which no client
// waits for, made after a client was answered from the stale copy.
const CacheRefresh = "REFRESH"

// backgroundRefresh is the output cache's hook around rt's background
// refreshes. A refresh gets a request ID of its own, which the upstream
// sees in X-Request-Id instead of the ID of the client request that
// started it, and a log line: marked CacheRefresh, without a client
// address, with the status the upstream answered. It is not counted in
// the service's traffic or metrics, which count clients' requests.
func (e *Edge) backgroundRefresh(rt *route) cache.Background {
	return func(w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter) int) {
		start := time.Now()
		id := newRequestID()
		r.Header[headerRequestID] = []string{id}
		rec := newRecorder(w)
		status, completed := 0, false
		defer func() {
			// On a panic (the upstream broke the body off) the line is
			// still written; rec is left to the garbage collector.
			e.logRefresh(rec, r, rt, start, id, status, completed)
			if completed {
				rec.release()
			}
		}()
		status = serve(rec)
		completed = true
	}
}

// logRefresh writes the log entry of a background refresh.
func (e *Edge) logRefresh(rec *recorder, r *http.Request, rt *route, start time.Time, id string, status int, completed bool) {
	if e.accessLog == nil && e.onRequest == nil {
		return
	}
	host := normalizeHost(r.Host)
	if len(host) > maxLogHost {
		host = host[:maxLogHost]
	}
	ent := LogEntry{
		Time:      start,
		Service:   rt.service,
		ServiceID: rt.key,
		Host:      host,
		Method:    r.Method,
		Path:      r.URL.Path,
		Status:    status,
		Bytes:     rec.bytes,
		Duration:  time.Since(start),
		Upstream:  rec.upstream,
		RequestID: id,
		Cache:     CacheRefresh,
	}
	if !completed {
		ent.Error = "response aborted"
	}
	if rec.err != nil {
		ent.Error = rec.err.Error()
	}
	if ent.Status == 0 {
		// serve did not return (the upstream broke the body off): what
		// was written, or no answer at all.
		ent.Status = rec.status
		if ent.Status == 0 {
			ent.Status = http.StatusBadGateway
		}
	}
	e.emit(r.Context(), &ent)
}
