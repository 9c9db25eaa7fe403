package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// PolicyName names the limiter's policy in the RateLimit-Policy and
// RateLimit fields.
const PolicyName = "ip"

// Canonical header keys, so that writing them skips canonicalization.
const (
	hdrPolicy     = "Ratelimit-Policy"
	hdrRateLimit  = "Ratelimit"
	hdrRetryAfter = "Retry-After"
)

// Decision is the limiter's answer for one request.
type Decision struct {
	// Allowed reports whether the request may go on. When it is false,
	// answer with Reject.
	Allowed bool

	// Limit is how many requests a client may send per Window: the q and
	// w of RateLimit-Policy. Limit is 0 when the request was not subject
	// to the limiter (turned off, allow-listed, or no client address);
	// then all other fields are zero too and WriteHeaders writes nothing.
	Limit  int
	Window time.Duration

	// Remaining is how many more requests the client may send right now.
	Remaining int

	// RetryAfter is how long until the client may send its next request:
	// zero while Remaining > 0. After a refusal a request sent RetryAfter
	// later is allowed (unless the client sends others in between).
	RetryAfter time.Duration

	// Reset is how long until the client's whole quota is back, if it
	// sends nothing more.
	Reset time.Duration

	rate *rate // for the precomputed RateLimit-Policy value; may be nil
}

// WriteHeaders sets the RateLimit-Policy and RateLimit fields on h, and
// Retry-After when the request was refused. It writes nothing for a
// Decision with Limit 0. See the package documentation for the syntax and
// meaning of the fields.
func (d Decision) WriteHeaders(h http.Header) {
	if d.Limit <= 0 {
		return
	}
	if d.rate != nil {
		h[hdrPolicy] = d.rate.policyHdr
	} else {
		h[hdrPolicy] = []string{policyValue(d.Limit, d.Window)}
	}
	t := d.Reset
	if d.Remaining <= 0 {
		t = d.RetryAfter
	}
	var buf [48]byte
	b := append(buf[:0], `"`+PolicyName+`";r=`...)
	b = strconv.AppendInt(b, int64(max(d.Remaining, 0)), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(t), 10)
	h[hdrRateLimit] = []string{string(b)}
	if !d.Allowed {
		h[hdrRetryAfter] = seconds(ceilSeconds(d.RetryAfter))
	}
}

func policyValue(limit int, window time.Duration) string {
	return `"` + PolicyName + `";q=` + strconv.Itoa(limit) + ";w=" + strconv.FormatInt(ceilSeconds(window), 10)
}

// RetryAfterSeconds is the Retry-After value for d: RetryAfter in whole
// seconds, rounded up so that waiting that long always succeeds.
func (d Decision) RetryAfterSeconds() int64 { return ceilSeconds(d.RetryAfter) }

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d-1)/time.Second) + 1
}

// secondValues holds header values "0" to "60", which cover every wait at
// rates per second or per minute, so that refusals allocate nothing for
// Retry-After. The slices are shared and never modified.
var secondValues = func() [61][]string {
	var v [61][]string
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

func seconds(n int64) []string {
	if n >= 0 && n < int64(len(secondValues)) {
		return secondValues[n]
	}
	return []string{strconv.FormatInt(n, 10)}
}
