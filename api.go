package rampart

import "net/http"

// APIPrefix is where the REST API (internal/api) is mounted, and what its
// clients put before every path.
const APIPrefix = "/api/v1/"

// Error codes that only the API's HTTP layer produces: they describe a
// request it could not even hand to the service layer. Every other code in
// an error response is one of the E… codes.
const (
	CodeNotFound             = ENOTFOUND // unknown path, same code as an unknown thing
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRequestTooLarge      = "request_too_large"
)

// statuses is the one mapping between error codes and HTTP statuses. The
// API reads it forwards (StatusForCode); clients read it backwards
// (CodeForStatus) when a proxy in front of rampart answers without a JSON
// body.
var statuses = []struct {
	code   string
	status int
}{
	{EINVALID, http.StatusBadRequest},
	{EUNAUTHORIZED, http.StatusUnauthorized},
	{EFORBIDDEN, http.StatusForbidden},
	{ENOTFOUND, http.StatusNotFound},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed},
	// ECONFLICT stays the first 409 so that CodeForStatus(409) is "conflict".
	{ECONFLICT, http.StatusConflict},
	{ETERMPROTECTED, http.StatusConflict},
	{CodeRequestTooLarge, http.StatusRequestEntityTooLarge},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType},
	{ETOOMANY, http.StatusTooManyRequests},
	{EINTERNAL, http.StatusInternalServerError},
	{EUNAVAILABLE, http.StatusServiceUnavailable},
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
		return EINVALID
	}
	return EINTERNAL
}

// ErrorCodes lists every code an error answer of the API may carry.
func ErrorCodes() []string {
	codes := make([]string, len(statuses))
	for i, s := range statuses {
		codes[i] = s.code
	}
	return codes
}

// ErrorResponse is the body of every error answer of the API:
// {"error":{"code":"…","message":"…"}}.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what went wrong. Message is written for a person and
// usually says what to do next; clients print it verbatim.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fields has a message per input field at fault ("upstreams",
	// "rate_limit.allow"), every one found, for clients that show each next
	// to its field; Message lists them all as well. Omitted when the error
	// is about no particular field.
	Fields map[string]string `json:"fields,omitempty"`
}
