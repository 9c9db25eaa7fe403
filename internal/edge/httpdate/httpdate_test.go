package httpdate

import (
	"net/http"
	"testing"
	"time"
)

func TestNow(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	a := Now()
	b := Now()
	after := time.Now()
	ta, err := http.ParseTime(a)
	if err != nil {
		t.Fatalf("Now() = %q: %v", a, err)
	}
	tb, err := http.ParseTime(b)
	if err != nil {
		t.Fatalf("Now() = %q: %v", b, err)
	}
	if ta.Before(before) || tb.After(after) {
		t.Errorf("Now() = %v, %v; want between %v and %v", ta, tb, before, after)
	}
	// Calls a moment apart give the same second, or the next one if the
	// second turned between them.
	if d := tb.Sub(ta); d != 0 && d != time.Second {
		t.Errorf("Now() = %q then %q", a, b)
	}
}
