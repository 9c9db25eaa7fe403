package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rampart-dev/rampart"
)

// The Logs tab: the service's recent requests, rendered on the server so
// that the tab works without JavaScript, then kept live by app.js, which
// reads /services/{name}/logs/stream with EventSource (server-sent events)
// and builds each new row with textContent: hosts and paths are whatever a
// visitor sent, so they are never parsed as HTML. The stream continues
// after the rendered rows by their cursor, and after a pause or a
// reconnect by the last event's id, so that no row comes twice.

const (
	// logsPageTail is how many rows the tab renders; the stream adds to
	// them, and app.js keeps at most logsPageKeep.
	logsPageTail = 100
	logsPageKeep = 500
	// sseRetry is how long a browser waits before reconnecting a stream
	// that broke off (a restart of rampart, a network change).
	sseRetry = 3 * time.Second
	// sseWriteTimeout bounds one write: a browser that reads nothing for
	// that long is gone, and its stream must not hold a place for ever.
	// It also lifts the admin server's WriteTimeout, if one is ever set.
	sseWriteTimeout = time.Minute
)

// logsView is the data of the Logs tab; nil when no edge runs in this
// process.
type logsView struct {
	Rows   []logRow // newest first
	Cursor string   // where the stream goes on from
	Stream string   // the stream's URL
	Keep   int
}

// logRow is one request as the tab shows it. The stream sends the same
// struct as JSON, so that live rows look exactly like rendered ones.
type logRow struct {
	Time   string `json:"time"` // 15:04:05, UTC
	At     string `json:"at"`   // RFC 3339, for <time> and its title
	Status int    `json:"status"`
	Kind   string `json:"kind"` // ok, redirect, client, limited, server or info: the status colour
	Method string `json:"method"`
	Path   string `json:"path"`
	// Host is the host asked for when it is not the service's platform
	// hostname (a custom domain); "" otherwise.
	Host   string `json:"host"`
	Size   string `json:"size"`
	Took   string `json:"took"`
	Client string `json:"client"`
	Cache  string `json:"cache"`
	Reason string `json:"reason"` // why it went wrong, if it did
	Note   bool   `json:"note"`   // Reason is a note, not a fault: shown muted
}

func logRowOf(e *rampart.LogEntry, hostname string) logRow {
	r := logRow{
		Time:   e.Time.UTC().Format(time.TimeOnly),
		At:     e.Time.UTC().Format(time.RFC3339),
		Status: e.Status,
		Kind:   statusKind(e.Status),
		Method: e.Method,
		Path:   e.Path,
		Size:   e.Size(),
		Took:   e.Took(),
		Client: e.ClientIP,
		Cache:  e.Cache,
		Reason: e.Reason(),
		Note:   e.ReasonIsNote(),
	}
	if e.Host != hostname {
		r.Host = e.Host
	}
	if r.Client == "" {
		// No client IP: a background refresh, which the edge made and no
		// client asked for. The reason under the path says so; an empty
		// cell would look lost.
		r.Client = "—"
	}
	return r
}

// statusKind is the colour class of a status.
func statusKind(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "limited"
	case status >= 500:
		return "server"
	case status >= 400:
		return "client"
	case status >= 300:
		return "redirect"
	case status >= 200:
		return "ok"
	}
	return "info"
}

// logsViewFor reads the rows the tab renders.
func (s *server) logsViewFor(ctx context.Context, rc *reqCtx, svc *rampart.Service) (*logsView, error) {
	if !s.app.Logs.Available() {
		return nil, nil
	}
	st, err := s.app.Logs.Open(ctx, rc.actor, rampart.LogQuery{Service: svc.Name, Tail: logsPageTail})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	b, err := st.Next(ctx)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	v := &logsView{Cursor: st.Cursor(), Stream: servicePath(svc.Name, "") + "/logs/stream", Keep: logsPageKeep}
	hostname := svc.Hostname(s.cfg.PlatformDomain)
	for i := len(b.Entries) - 1; i >= 0; i-- {
		v.Rows = append(v.Rows, logRowOf(&b.Entries[i], hostname))
	}
	return v, nil
}

// logStream serves a service's log as server-sent events: "entry" events
// (a logRow, with the cursor after it as the event id), "dropped" (rows
// lost because the browser fell behind or was paused), "end" (the stream
// may not go on: the message says why), and a comment line as heartbeat.
// It answers plain-text errors before the stream starts, which EventSource
// reports as a failure.
func (s *server) logStream(w http.ResponseWriter, r *http.Request) {
	rc, err := s.session(r)
	switch {
	case err != nil:
		s.log.Error("dashboard log stream: reading the session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case rc == nil:
		http.Error(w, "your session has ended: log in again", http.StatusUnauthorized)
		return
	}
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		status, _ := statusOf(rampart.ErrorCode(err))
		http.Error(w, rampart.ErrorMessage(err), status)
		return
	}
	after := r.Header.Get("Last-Event-ID") // set by the browser when it reconnects
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	cookie, _ := r.Cookie(s.cookie(sessionCookie))
	st, openErr := s.app.Logs.Open(r.Context(), rc.actor, rampart.LogQuery{
		Service: svc.Name, Tail: logsPageTail, Follow: true, After: after,
		StillValid: func(ctx context.Context) error {
			_, _, err := s.app.Accounts.CheckSession(ctx, cookie.Value)
			return err
		},
	})
	if openErr == nil {
		defer st.Close()
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx in front: pass each event on at once
	ctl := http.NewResponseController(w)
	var buf bytes.Buffer
	send := func() bool {
		_ = ctl.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		return err == nil && ctl.Flush() == nil
	}
	event := func(name, id string, data any) {
		b, _ := json.Marshal(data) // JSON has no raw newlines: one data line
		if id != "" {
			fmt.Fprintf(&buf, "id: %s\n", id)
		}
		fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", name, b)
	}
	fmt.Fprintf(&buf, "retry: %d\n\n", sseRetry.Milliseconds())
	if openErr != nil {
		// The browser would retry a failed request for ever; an event
		// tells the person why instead, and ends the stream. A server
		// that shuts down is the exception: the browser should come back.
		if !errors.Is(openErr, rampart.ErrLogsClosed) {
			event("end", "", map[string]string{"message": s.streamEndMessage(r, openErr)})
		}
		send()
		return
	}
	if !send() {
		return
	}
	hostname := svc.Hostname(s.cfg.PlatformDomain)
	for {
		b, err := st.Next(r.Context())
		switch {
		case err == nil && len(b.Entries) == 0 && b.Dropped == 0:
			buf.WriteString(": keepalive\n\n")
		case err == nil:
			cursor := st.Cursor()
			if b.Dropped > 0 {
				event("dropped", "", map[string]int{"dropped": b.Dropped})
			}
			for i := range b.Entries {
				id := ""
				if i == len(b.Entries)-1 {
					id = cursor // the browser resumes after the last row it got
				}
				event("entry", id, logRowOf(&b.Entries[i], hostname))
			}
		case r.Context().Err() != nil, errors.Is(err, rampart.ErrLogsClosed):
			return // the browser reconnects to the next server
		default:
			event("end", "", map[string]string{"message": s.streamEndMessage(r, err)})
			send()
			return
		}
		if !send() {
			return
		}
	}
}

// streamEndMessage is what the tab shows when its stream ends for err.
func (s *server) streamEndMessage(r *http.Request, err error) string {
	if rampart.ErrorCode(err) == rampart.EINTERNAL {
		s.log.Error("dashboard log stream failed", "path", r.URL.Path, "err", err)
		return "The live log stopped because of an error on the server; its log has the details. Reload the page to try again."
	}
	return rampart.ErrorMessage(err)
}
