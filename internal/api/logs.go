package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// logParams are the query parameters GET /logs accepts.
var logParams = []string{"service", "tail", "follow"}

// logWriteTimeout bounds one write to a log stream. A client that reads
// nothing for that long (a dead peer whose TCP connection lingers) loses
// the stream, so that it does not hold a subscription for ever. It also
// lifts the admin server's WriteTimeout, if one is ever set, which would
// otherwise cut every stream off.
const logWriteTimeout = time.Minute

func parseLogQuery(r *http.Request) (rampart.LogQuery, error) {
	q := rampart.LogQuery{Tail: rampart.DefaultLogTail}
	v := r.URL.Query()
	if err := checkQuery(v, logParams); err != nil {
		return q, err
	}
	if name := v.Get("service"); name != "" {
		if err := rampart.ValidateServiceName(name); err != nil {
			return q, err
		}
		q.Service = name
	}
	if t, ok := v["tail"]; ok {
		n, err := strconv.Atoi(t[0])
		if err != nil || n < 0 || n > rampart.MaxLogTail {
			return q, invalid("tail=%q is not a number of entries from 0 to %d: e.g. tail=%d", t[0], rampart.MaxLogTail, rampart.DefaultLogTail)
		}
		q.Tail = n
	}
	if f, ok := v["follow"]; ok {
		b, err := strconv.ParseBool(f[0])
		if err != nil {
			return q, invalid("follow=%q is not a boolean: use follow=true or follow=false", f[0])
		}
		q.Follow = b
	}
	return q, nil
}

func (s *server) logs(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	q, err := parseLogQuery(r)
	if err != nil {
		return err
	}
	// The token was good when the stream opened; a revoked one ends it at
	// the next heartbeat.
	token := bearerToken(r)
	q.StillValid = func(ctx context.Context) error {
		_, err := s.app.Accounts.Authenticate(ctx, token)
		return err
	}
	st, err := s.app.Logs.Open(r.Context(), actor, q)
	if err != nil {
		return err
	}
	defer st.Close()

	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("X-Accel-Buffering", "no") // nginx in front: pass each line on at once
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(logWriteTimeout))
	w.WriteHeader(http.StatusOK)
	// The status goes out now: a client waiting for a quiet service's
	// first entry knows that the stream is open.
	if err := rc.Flush(); err != nil {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for {
		b, err := st.Next(r.Context())
		buf.Reset()
		switch {
		case err == nil && len(b.Entries) == 0 && b.Dropped == 0:
			buf.WriteByte('\n') // heartbeat
		case err == nil:
			if b.Dropped > 0 {
				_ = enc.Encode(rampart.LogEvent{Type: rampart.LogEventDropped, Dropped: b.Dropped, Message: app.DroppedMessage(b.Dropped)})
			}
			for i := range b.Entries {
				_ = enc.Encode(rampart.LogEvent{Type: rampart.LogEventEntry, Entry: &b.Entries[i]})
			}
		case errors.Is(err, io.EOF) || r.Context().Err() != nil:
			return nil
		default:
			_ = enc.Encode(rampart.LogEvent{Type: rampart.LogEventEnd, Message: s.endMessage(r, err)})
		}
		_ = rc.SetWriteDeadline(time.Now().Add(logWriteTimeout))
		if _, werr := w.Write(buf.Bytes()); werr != nil {
			return nil
		}
		if rc.Flush() != nil || err != nil {
			return nil
		}
	}
}

// endMessage is what a stream's last line says about err. Internal errors
// are logged with an id and not shown, as in writeError.
func (s *server) endMessage(r *http.Request, err error) string {
	if rampart.ErrorCode(err) != rampart.EINTERNAL {
		return rampart.ErrorMessage(err)
	}
	id := newRequestID()
	s.log.Error("api log stream failed", "path", r.URL.Path, "request_id", id, "err", err)
	return "internal error: the log stream ends; the server's log has the details under request_id=" + id
}
