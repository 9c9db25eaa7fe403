package rampart

import (
	"testing"
	"time"
)

func TestLogEntryUnits(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1.0kB", 2100: "2.1kB", 3_400_000: "3.4MB", 5_000_000_000: "5.0GB"} {
		if got := (&LogEntry{Bytes: n}).Size(); got != want {
			t.Errorf("Size of %d bytes = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{450 * time.Microsecond: "450µs", 2100 * time.Microsecond: "2.1ms", 38 * time.Millisecond: "38ms", 1200 * time.Millisecond: "1.2s"} {
		if got := (&LogEntry{Duration: Duration(d)}).Took(); got != want {
			t.Errorf("Took of %s = %q, want %q", d, got, want)
		}
	}
}

// TestLogEntryReasonIsNote: only a background refresh that went well has
// a reason that is not a fault; one that failed shows its error.
func TestLogEntryReasonIsNote(t *testing.T) {
	for _, c := range []struct {
		name string
		e    LogEntry
		note bool
	}{
		{"refresh", LogEntry{Service: "blog", Status: 200, Upstream: "http://127.0.0.1:8080", Cache: "REFRESH"}, true},
		{"refresh that failed", LogEntry{Service: "blog", Status: 502, Upstream: "http://127.0.0.1:8080", Cache: "REFRESH", Error: "connection refused"}, false},
		{"rate-limited", LogEntry{Service: "blog", Status: 429, Limited: true}, false},
		{"upstream error", LogEntry{Service: "blog", Status: 502, Error: "connection refused"}, false},
		{"plain hit", LogEntry{Service: "blog", Status: 200, Cache: "HIT"}, false},
	} {
		if got := c.e.ReasonIsNote(); got != c.note {
			t.Errorf("%s (reason %q): ReasonIsNote = %v, want %v", c.name, c.e.Reason(), got, c.note)
		}
	}
}
