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
