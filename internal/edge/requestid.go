package edge

import (
	"math/rand/v2"
	"net/http"
)

// headerRequestID carries the request ID to the upstream and back to the
// client, and is quoted on error pages so a visitor can cite it.
const headerRequestID = "X-Request-Id"

// maxRequestIDLen bounds an incoming request ID we are willing to reuse.
const maxRequestIDLen = 64

// requestID returns r's request ID as a header value: the incoming
// X-Request-Id when a proxy in front (or the client) sent a sane one,
// otherwise a new one, which it also stores in r's header so the upstream
// receives it. The slice has capacity 1, so the caller can put it into the
// response header too: an Add to either header copies it.
func requestID(r *http.Request) []string {
	if v := r.Header[headerRequestID]; len(v) == 1 && saneRequestID(v[0]) {
		return v[:1:1]
	}
	v := []string{newRequestID()}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header[headerRequestID] = v
	return v
}

// saneRequestID accepts IDs that are short and safe to put into log lines,
// headers and HTML without escaping: letters, digits, '-', '_' and '.'.
func saneRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 hex digits. math/rand/v2's global source is
// seeded from the OS and cheap to call from many goroutines; request IDs
// need to be unique, not secret.
func newRequestID() string {
	const hex = "0123456789abcdef"
	var b [16]byte
	n := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = hex[n&0xf]
		n >>= 4
	}
	return string(b[:])
}
