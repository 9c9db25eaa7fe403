// Package httpdate gives the Date field's value (RFC 9110 §6.6.1) of the
// current second, formatted once a second rather than once a response:
// both hand-written response writers of the edge (the HTTP/1.1 fast lane
// and the HTTP/2 lane) send it on every answer.
package httpdate

import (
	"net/http"
	"sync/atomic"
	"time"
)

type second struct {
	unix int64
	s    string
}

var current atomic.Pointer[second]

// Now is the current time in the Date field's format, e.g. "Sun, 06 Dec
// 2026 09:28:56 GMT".
func Now() string {
	now := time.Now()
	if d := current.Load(); d != nil && d.unix == now.Unix() {
		return d.s
	}
	d := &second{unix: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	current.Store(d)
	return d.s
}
