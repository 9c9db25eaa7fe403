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

// Error codes that only the HTTP layer produces: they describe a request the
// API could not even hand to the service layer. Every other code in an
// error response is one of rampart's (rampart.EINVALID …).
const (
	CodeNotFound             = rampart.ENOTFOUND // unknown path, same code as an unknown thing
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRequestTooLarge      = "request_too_large"
)

// statuses is the one mapping between error codes and HTTP statuses. The
// client reads it backwards (CodeForStatus) when a proxy in front of rampart
// answers without a JSON body.
var statuses = []struct {
	code   string
	status int
}{
	{rampart.EINVALID, http.StatusBadRequest},
	{rampart.EUNAUTHORIZED, http.StatusUnauthorized},
	{rampart.EFORBIDDEN, http.StatusForbidden},
	{rampart.ENOTFOUND, http.StatusNotFound},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed},
	{rampart.ECONFLICT, http.StatusConflict},
	{CodeRequestTooLarge, http.StatusRequestEntityTooLarge},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType},
	{rampart.ETOOMANY, http.StatusTooManyRequests},
	{rampart.EINTERNAL, http.StatusInternalServerError},
}

// StatusForCode returns the HTTP status for an error code; unknown codes
// are bugs and answer 500.
func StatusForCode(code string) int {
	for _, s := range statuses {
		if s.code == code {
			return s.status
		}
	}
	return http.StatusInternalServerError
}

// CodeForStatus returns the error code for an HTTP status: EINVALID for
// other 4xx statuses and EINTERNAL for everything else.
func CodeForStatus(status int) string {
	for _, s := range statuses {
		if s.status == status {
			return s.code
		}
	}
	if status >= 400 && status < 500 {
		return rampart.EINVALID
	}
	return rampart.EINTERNAL
}

// ErrorResponse is the body of every error answer:
// {"error":{"code":"…","message":"…"}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong. Message is written for a person and
// usually says what to do next; clients print it verbatim.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

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
	var body ErrorBody
	var he *httpError
	if errors.As(err, &he) {
		status, body = he.status, ErrorBody{Code: he.code, Message: he.msg}
	} else {
		body.Code = rampart.ErrorCode(err)
		status = StatusForCode(body.Code)
		body.Message = rampart.ErrorMessage(err)
	}
	if status >= 500 {
		id := newRequestID()
		s.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
		body = ErrorBody{
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
	writeJSON(w, status, ErrorResponse{Error: body})
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
