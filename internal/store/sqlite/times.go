package sqlite

import (
	"math"
	"time"

	"github.com/rampart-dev/rampart"
)

// The range of time.Time an int64 of nanoseconds can hold: 1677-09-21 to
// 2262-04-11.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos converts t to the stored form, unix nanoseconds, which keeps every
// digit of a time.Time and compares as a plain integer. The time zone and
// the monotonic clock reading are dropped: times come back in UTC.
func nanos(field string, t time.Time) (int64, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return 0, rampart.Errorf(rampart.EINVALID, "%s %s is outside the range rampart can store (years 1678 to 2261)", field, t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// nanosPtr is nanos for optional times; nil is stored as NULL.
func nanosPtr(field string, t *time.Time) (*int64, error) {
	if t == nil {
		return nil, nil
	}
	n, err := nanos(field, *t)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// fromNullNanos is the inverse of nanosPtr.
func fromNullNanos(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := fromNanos(*n)
	return &t
}

// now is the time the store stamps rows with: UTC, without the monotonic
// reading, so the value set on a struct equals the one read back later.
func now() time.Time { return time.Now().UTC() }
