package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

func TestLogLines(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 49, 5, 0, time.UTC)
	tests := []struct {
		e    rampart.LogEntry
		want string
	}{
		{rampart.LogEntry{Time: at, Service: "blog", Method: "GET", Path: "/cart", Status: 200, Bytes: 2100,
			Duration: rampart.Duration(3 * time.Millisecond), ClientIP: "203.0.113.9", Cache: "MISS"},
			"2026-12-02T03:49:05Z  blog  GET     /cart                     200   2.1kB   3.0ms  203.0.113.9      MISS"},
		{rampart.LogEntry{Time: at, Service: "blog", Method: "GET", Path: "/", Status: 429, Bytes: 120,
			Duration: rampart.Duration(40 * time.Microsecond), ClientIP: "198.51.100.23", Limited: true},
			"2026-12-02T03:49:05Z  blog  GET     /                         429    120B    40µs  198.51.100.23    -       rate-limited"},
		{rampart.LogEntry{Time: at, Service: "blog", Method: "POST", Path: "/api/orders", Status: 502, Bytes: 1500,
			Duration: rampart.Duration(1200 * time.Millisecond), ClientIP: "2001:db8::1", Upstream: "http://127.0.0.1:3000",
			Error: "dial tcp 127.0.0.1:3000: connect: connection refused"},
			"2026-12-02T03:49:05Z  blog  POST    /api/orders               502   1.5kB    1.2s  2001:db8::1      -       dial tcp 127.0.0.1:3000: connect: connection refused"},
		{rampart.LogEntry{Time: at, Host: "scanner.example", Method: "GET", Path: "/.env", Status: 404, Bytes: 900,
			Duration: rampart.Duration(80 * time.Microsecond), ClientIP: "192.0.2.77"},
			"2026-12-02T03:49:05Z  -     GET     /.env                     404    900B    80µs  192.0.2.77       -       no service has the host scanner.example"},
	}
	var p linePrinter
	var b strings.Builder
	for _, tt := range tests {
		b.Reset()
		p.print(&b, &tt.e)
		if got := strings.TrimSuffix(b.String(), "\n"); got != tt.want {
			t.Errorf("line\n got %q\nwant %q", got, tt.want)
		}
	}
}
