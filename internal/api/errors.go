package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/rampart-dev/rampart"
)

// httpError is an error about the HTTP request itself (its method, media
// type or size), which has a status that rampart's codes do not cover.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return rampart.Errorf(rampart.EINVALID, format, args...)
}

// writeError answers err as JSON. Internal errors never reach the client:
// it gets a generic message with an id under which the details are logged.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var body rampart.ErrorBody
	var he *httpError
	if errors.As(err, &he) {
		status, body = he.status, rampart.ErrorBody{Code: he.code, Message: he.msg}
	} else {
		body.Code = rampart.ErrorCode(err)
		status = rampart.StatusForCode(body.Code)
		body.Message = rampart.ErrorMessage(err)
		body.Fields = rampart.FieldMessages(err)
		// Messages about no field are in Message already.
		delete(body.Fields, "")
		if len(body.Fields) == 0 {
			body.Fields = nil
		}
	}
	if status >= 500 && body.Code != rampart.EUNAVAILABLE {
		id := newRequestID()
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
		body = rampart.ErrorBody{
			Code:    rampart.EINTERNAL,
			Message: fmt.Sprintf("internal error: the server could not complete the request; its log has the details under request_id=%s", id),
		}
		status = http.StatusInternalServerError
	} else {
		s.log.Debug("api request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rampart"`)
	}
	writeJSON(w, status, rampart.ErrorResponse{Error: body})
}

// writeJSON answers v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unmarshalable type) gets here.
		slog.Error("api: encoding response", "err", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"internal","message":"internal error: could not encode the response"}}` + "\n"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func newRequestID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
