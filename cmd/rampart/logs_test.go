package main

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

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
		{rampart.LogEntry{Time: at, Service: "blog", Method: "GET", Path: "/news", Status: 200, Bytes: 2100,
			Duration: rampart.Duration(4 * time.Millisecond), Upstream: "http://127.0.0.1:3000", Cache: "REFRESH"},
			"2026-12-02T03:49:05Z  blog  GET     /news                     200   2.1kB   4.0ms  -                REFRESH  a background refresh of a stale copy (no client waited)"},
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

// A request's path, method and host reach the terminal escaped: an ESC in
// a path (sent as %1b) must not move the cursor or retitle the window.
func TestLogLinesEscapeControls(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 49, 5, 0, time.UTC)
	e := rampart.LogEntry{Time: at, Service: "blog", Method: "GET", Path: "/\x1b]0;pwned\x07\x1b[2J\xff\u009b", Status: 404,
		Duration: rampart.Duration(time.Millisecond), ClientIP: "192.0.2.1"}
	var b strings.Builder
	var p linePrinter
	p.print(&b, &e)
	got := b.String()
	for _, c := range []string{"\x1b", "\x07", "\xff", "\u009b"} {
		if strings.Contains(got, c) {
			t.Fatalf("%q reached the terminal: %q", c, got)
		}
	}
	if !strings.Contains(got, `/\x1b]0;pwned\x07\x1b[2J\xff\u009b`) {
		t.Errorf("the escaped path is not shown: %q", got)
	}
	unknown := rampart.LogEntry{Time: at, Host: "evil\x1b[31m.example", Method: "GET", Path: "/", Status: 404, ClientIP: "192.0.2.1"}
	b.Reset()
	p.print(&b, &unknown)
	if strings.Contains(b.String(), "\x1b") {
		t.Errorf("a control character in the host reached the terminal: %q", b.String())
	}
}

func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"/", "/caf\u00e9", "\x1b[2J", "\xff\xfe", "\u009b31m", "\u2028", "\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("printable(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) {
				t.Fatalf("printable(%q) = %q keeps the control %U", s, out, r)
			}
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) && out != s {
			t.Fatalf("printable changed a clean string: %q → %q", s, out)
		}
	})
}
