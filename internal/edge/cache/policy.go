package cache

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cacheableStatus lists the statuses that are stored: those RFC 9111 lets a
// cache store without explicit freshness (heuristically cacheable), minus
// 206 (a part, not the response), 405, 414 and 501 (answers about the
// request rather than the resource). 5xx answers are never stored: they
// are what stale-if-error stands in for.
func cacheableStatus(code int) bool {
	switch code {
	case http.StatusOK, http.StatusNonAuthoritativeInfo, http.StatusNoContent,
		http.StatusMultipleChoices, http.StatusMovedPermanently, http.StatusPermanentRedirect,
		http.StatusNotFound, http.StatusGone:
		return true
	}
	return false
}

// Reasons a response is not stored. They show in tests and in nothing
// else; the response itself is passed through unchanged.
const (
	whyStatus       = "status"
	whySetCookie    = "set-cookie"
	whyCacheControl = "cache-control"
	whyExpires      = "expires"
	whyVary         = "vary"
	whyTooBig       = "too-big"
	whyStream       = "stream"
)

// verdict is what the response headers say about storing a response.
type verdict struct {
	why     string        // "" when the response may be stored
	ttl     time.Duration // how long it is fresh; ≤ the configured TTL
	staleOK bool          // false: must-revalidate forbids serving it stale
	swr     time.Duration // stale-while-revalidate (RFC 5861), capped; 0: none
	sie     time.Duration // the response's own stale-if-error (RFC 5861 §4), capped; 0: none
	vary    []string      // canonical header names the response varies on
	age     int64         // the Age it arrived with, in seconds
	length  int64         // its Content-Length, -1 when unknown
}

// judge decides whether a final response with this status and header can
// be stored under settings s at time now.
func judge(status int, h http.Header, now time.Time, s *settings) verdict {
	v := verdict{ttl: s.ttl, staleOK: s.stale > 0, length: -1}
	if cl, ok := h["Content-Length"]; ok && len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			v.length = n
		}
	}
	switch {
	case !cacheableStatus(status):
		v.why = whyStatus
		return v
	case len(h["Set-Cookie"]) > 0:
		v.why = whySetCookie
		return v
	case len(h["Trailer"]) > 0 || isEventStream(h.Get("Content-Type")):
		// Trailers arrive after the body and event streams never end:
		// neither fits a stored, complete response.
		v.why = whyStream
		return v
	case v.length > s.maxObject:
		v.why = whyTooBig
		return v
	}

	v.age = max(parseSeconds(h.Get("Age")), 0)
	cc, targeted := responseDirectives(h)
	switch {
	case cc.noStore || cc.noCache || cc.private || cc.invalid:
		v.why = whyCacheControl
		return v
	case cc.sMaxAge >= 0 || cc.maxAge >= 0:
		life := cc.sMaxAge
		if life < 0 {
			life = cc.maxAge
		}
		left := life - v.age
		if left <= 0 {
			v.why = whyCacheControl
			return v
		}
		if left < int64(v.ttl/time.Second) {
			v.ttl = time.Duration(left) * time.Second
		}
	case targeted:
		// RFC 9213 §2.2: with CDN-Cache-Control, neither Cache-Control's
		// lifetimes nor Expires nor Pragma count; without a lifetime in
		// it, the service's TTL applies.
	case len(h["Cache-Control"]) == 0 && hasToken(h["Pragma"], "no-cache"):
		// HTTP/1.0 origins: what Cache-Control: no-cache says today.
		v.why = whyCacheControl
		return v
	default:
		if exp, ok := h["Expires"]; ok {
			left, valid := expiresIn(exp, h.Get("Date"), now)
			// RFC 9111 §4.2.3: the Age it arrived with counts against
			// the lifetime Expires gives, as it does against max-age.
			left -= time.Duration(v.age) * time.Second
			if !valid || left <= 0 {
				v.why = whyExpires
				return v
			}
			v.ttl = min(v.ttl, left)
		}
	}
	if cc.mustRevalidate || cc.sMaxAge >= 0 {
		// RFC 9111 §5.2.2.2, §5.2.2.8: must-revalidate and
		// proxy-revalidate forbid serving the response stale, and
		// §5.2.2.10: s-maxage implies proxy-revalidate for a shared
		// cache. Stale-if-error is serving stale too.
		v.staleOK = false
	} else {
		if cc.sie > 0 && v.staleOK {
			// RFC 5861 §4: the response itself may be served stale
			// on errors for this long. The service's window stays
			// the least, and a service that turned stale copies off
			// (staleOK false from the start) keeps them off: the
			// operator decides whether they are served at all.
			// Capped as the setting is.
			v.sie = min(time.Duration(cc.sie)*time.Second, MaxStaleIfError)
		}
		if cc.swr > 0 {
			// RFC 5861 §3: the response may be served stale for this
			// long while one request refreshes it in the background.
			// Capped like the rest of a micro-cache's lifetimes: at
			// the longest of the TTL and the stale-if-error windows,
			// for which an expired entry is kept anyway.
			v.swr = min(time.Duration(cc.swr)*time.Second, max(s.ttl, s.stale, v.sie))
		}
	}

	if vh, ok := h["Vary"]; ok {
		names, ok := parseVary(vh)
		if !ok {
			v.why = whyVary
			return v
		}
		v.vary = names
	}
	return v
}

// expiresIn is how long an Expires header leaves a response fresh,
// measured from the response's Date (or now, without one). An invalid
// Expires, such as "0", means already expired (RFC 9111 §5.3).
func expiresIn(exp []string, date string, now time.Time) (time.Duration, bool) {
	if len(exp) != 1 {
		return 0, false
	}
	t, ok := parseHTTPDate(exp[0])
	if !ok {
		return 0, false
	}
	base := now
	if d, ok := parseHTTPDate(date); ok {
		base = d
	}
	return t.Sub(base), true
}

// Date forms of RFC 9110 §5.6.7: IMF-fixdate, the obsolete RFC 850 form and
// asctime. All three are in GMT.
const (
	imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT"
	rfc850Date = "Monday, 02-Jan-06 15:04:05 GMT"
	asctime    = "Mon Jan _2 15:04:05 2006"
)

// parseHTTPDate parses an HTTP-date in one of its three forms and nothing
// else. Unlike http.ParseTime it refuses an RFC 850 date in a zone other
// than GMT (time.Parse takes any abbreviation for "MST").
func parseHTTPDate(s string) (time.Time, bool) {
	for _, layout := range [...]string{imfFixdate, rfc850Date, asctime} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// responseDirectives returns the directives that decide a response's
// freshness, and whether they came from CDN-Cache-Control (RFC 9213):
// when present it replaces Cache-Control for this cache. Cache-Control's
// no-store and private still count, whatever CDN-Cache-Control says: they
// are how an application keeps one visitor's page from another, and a
// targeted field written for a CDN is no reason to drop that.
func responseDirectives(h http.Header) (cacheControl, bool) {
	cdn := h["Cdn-Cache-Control"]
	if strings.Trim(strings.Join(cdn, ""), " \t,") == "" {
		return parseCacheControl(h["Cache-Control"]), false
	}
	cc := parseCacheControl(cdn)
	outer := parseCacheControl(h["Cache-Control"])
	cc.noStore = cc.noStore || outer.noStore
	cc.private = cc.private || outer.private
	return cc, true
}

// cacheControl holds the Cache-Control directives of a response that
// matter to a shared cache.
type cacheControl struct {
	noStore, noCache, private, mustRevalidate bool
	maxAge, sMaxAge                           int64 // -1: absent
	swr                                       int64 // stale-while-revalidate; -1: absent
	sie                                       int64 // stale-if-error; -1: absent
	invalid                                   bool  // an age that is not delta-seconds
}

// parseCacheControl reads Cache-Control header lines. It errs on the side
// of not caching: no-cache and private count with or without field names,
// a malformed or repeated max-age keeps the smallest value or makes the
// response uncacheable, and unknown directives are ignored.
func parseCacheControl(lines []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}
	for _, line := range lines {
		for line != "" {
			var name, arg string
			var hasArg bool
			name, arg, hasArg, line = nextDirective(line)
			switch {
			case strings.EqualFold(name, "no-store"):
				cc.noStore = true
			case strings.EqualFold(name, "no-cache"):
				cc.noCache = true
			case strings.EqualFold(name, "private"):
				cc.private = true
			case strings.EqualFold(name, "must-revalidate"), strings.EqualFold(name, "proxy-revalidate"):
				cc.mustRevalidate = true
			case strings.EqualFold(name, "max-age"):
				cc.maxAge = minAge(cc.maxAge, arg, hasArg, &cc.invalid)
			case strings.EqualFold(name, "s-maxage"):
				cc.sMaxAge = minAge(cc.sMaxAge, arg, hasArg, &cc.invalid)
			case strings.EqualFold(name, "stale-while-revalidate"):
				cc.swr = staleAge(cc.swr, arg, hasArg)
			case strings.EqualFold(name, "stale-if-error"):
				cc.sie = staleAge(cc.sie, arg, hasArg)
			}
		}
	}
	return cc
}

// staleAge reads a stale-while-revalidate or stale-if-error value. A bad
// one only loses the permission to serve stale (0); the response is no
// less cacheable for it. Of several, the smallest counts.
func staleAge(cur int64, arg string, hasArg bool) int64 {
	var bad bool
	if n := minAge(cur, arg, hasArg, &bad); !bad {
		return n
	}
	return 0
}

func minAge(cur int64, arg string, hasArg bool, invalid *bool) int64 {
	n := parseSeconds(arg)
	if !hasArg || n < 0 {
		*invalid = true
		return cur
	}
	if cur >= 0 && cur < n {
		return cur
	}
	return n
}

// maxSeconds caps delta-seconds, as RFC 9111 §1.2.2 allows (2^31).
const maxSeconds = 1 << 31

// parseSeconds parses delta-seconds (digits only). It returns -1 for
// anything else and caps huge values.
func parseSeconds(s string) int64 {
	if s == "" {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		if n < maxSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxSeconds)
}

// nextDirective splits the first directive off a Cache-Control line:
// `name`, `name=token` or `name="quoted, string"`. It returns the rest of
// the line after the directive's comma.
func nextDirective(s string) (name, arg string, hasArg bool, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' && s[i] != ' ' && s[i] != '\t' {
		i++
	}
	name, s = s[:i], strings.TrimLeft(s[i:], " \t")
	if strings.HasPrefix(s, "=") {
		hasArg = true
		s = strings.TrimLeft(s[1:], " \t")
		if strings.HasPrefix(s, `"`) {
			arg, s = quoted(s)
		} else {
			j := 0
			for j < len(s) && s[j] != ',' && s[j] != ' ' && s[j] != '\t' {
				j++
			}
			arg, s = s[:j], s[j:]
		}
	}
	// Skip whatever is left of this directive.
	if j := strings.IndexByte(s, ','); j >= 0 {
		return name, arg, hasArg, s[j+1:]
	}
	return name, arg, hasArg, ""
}

// quoted reads a quoted-string at the start of s (which begins with '"')
// and returns its content, backslash escapes kept, and what follows it. An
// unterminated string runs to the end of s.
func quoted(s string) (string, string) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[1:i], s[i+1:]
		}
	}
	return s[1:], ""
}

// maxVary bounds the headers a response may vary on; more would make each
// URL a crowd of rarely reused variants.
const maxVary = 8

// parseVary returns the canonical, sorted, de-duplicated header names of
// Vary header lines. ok is false for Vary: *, for a name that is not a
// valid token, and for more than maxVary names: such responses are not
// stored.
func parseVary(lines []string) (names []string, ok bool) {
	for _, line := range lines {
		for f := range strings.SplitSeq(line, ",") {
			f = strings.Trim(f, " \t")
			if f == "" {
				continue
			}
			if f == "*" || !isToken(f) {
				return nil, false
			}
			names = append(names, textproto.CanonicalMIMEHeaderKey(f))
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > maxVary {
		return nil, false
	}
	return slices.Clip(names), true
}

// isToken reports whether s is an RFC 9110 token (a header field name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return s != ""
}

// isEventStream reports whether a Content-Type is server-sent events.
func isEventStream(ct string) bool {
	const es = "text/event-stream"
	return len(ct) >= len(es) && strings.EqualFold(ct[:len(es)], es)
}

// hasToken reports whether a comma-separated header has the token tok,
// ignoring case.
func hasToken(lines []string, tok string) bool {
	for _, line := range lines {
		for f := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.Trim(f, " \t"), tok) {
				return true
			}
		}
	}
	return false
}
