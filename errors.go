package rampart

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps to exactly one HTTP status in internal/api, and the
// code string itself is what API clients see in {"error":{"code":…}}.
const (
	EINVALID       = "invalid"               // the input breaks a rule; the message names it
	ENOTFOUND      = "not_found"             // no such thing, or not visible to the caller
	ECONFLICT      = "conflict"              // clashes with existing state (duplicate name)
	ETERMPROTECTED = "termination_protected" // the service's termination protection is on; the message says to turn it off first
	EUNAUTHORIZED  = "unauthorized"          // no valid credentials
	EFORBIDDEN     = "forbidden"             // valid credentials, not allowed
	ETOOMANY       = "too_many_requests"
	EUNAVAILABLE   = "unavailable" // a dependency (the mail server, the secret key) is missing or down; the message says which
	EINTERNAL      = "internal"    // a bug or an outage; details go to the log, not the caller
)

// Error is an error meant for the person at the other end: Message says what
// went wrong and, where it can, what to do about it.
type Error struct {
	Code    string
	Message string
	// Field names the input at fault ("name", "rate_limit.requests"), when
	// one is, so that a form can show the message next to it.
	Field string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the messages of the *Errors in err, joined by "; ":
// one, or every field's when validation joined several (errors.Join). Other
// errors may carry file paths or SQL, so callers get a generic message and
// the details stay in the server's log.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	errs := rampartErrors(err)
	if len(errs) == 0 {
		return "internal error: the server could not complete the request (see its log)"
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Message
	}
	return strings.Join(msgs, "; ")
}

// FieldMessages returns the message for each input field err is about, so
// that a form can show every field's problem at once, not just the first.
// Several errors about one field are joined by "; "; errors about no field
// are under "". It is nil when err holds no *Error.
func FieldMessages(err error) map[string]string {
	var out map[string]string
	for _, e := range rampartErrors(err) {
		if out == nil {
			out = map[string]string{}
		}
		if m, ok := out[e.Field]; ok {
			out[e.Field] = m + "; " + e.Message
		} else {
			out[e.Field] = e.Message
		}
	}
	return out
}

// rampartErrors returns the *Errors in err's tree, in order: err itself, or
// the first one down each branch of what it wraps.
func rampartErrors(err error) []*Error {
	switch x := err.(type) {
	case nil:
		return nil
	case *Error:
		return []*Error{x}
	case interface{ Unwrap() []error }:
		var out []*Error
		for _, e := range x.Unwrap() {
			out = append(out, rampartErrors(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return rampartErrors(x.Unwrap())
	}
	return nil
}

// FieldError marks e as being about the input field and returns it.
func FieldError(field string, e *Error) *Error {
	e.Field = field
	return e
}

// ErrorField returns the Field of the first *Error in err's chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
