package cache

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"zero is the default", Config{}, ""},
		{"default", Default(), ""},
		{"disabled", Config{Disabled: true}, ""},
		{"ttl too short", Config{TTL: 500 * time.Millisecond}, "TTL 500ms is out of range"},
		{"ttl too long", Config{TTL: 2 * time.Hour}, "TTL 2h0m0s is out of range"},
		{"ttl bounds", Config{TTL: time.Hour}, ""},
		{"stale off", Config{StaleIfError: -1}, ""},
		{"stale bounds", Config{StaleIfError: 24 * time.Hour}, ""},
		{"stale too long", Config{StaleIfError: 25 * time.Hour}, "stale-if-error 25h0m0s is too long"},
		{"object negative", Config{MaxObjectBytes: -1}, "maximum object size -1 bytes"},
		{"object too big", Config{MaxObjectBytes: 65 << 20}, "is out of range"},
		{"all wrong", Config{TTL: time.Millisecond, StaleIfError: 48 * time.Hour, MaxObjectBytes: -5}, "TTL 1ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if err := (Config{TTL: time.Millisecond, StaleIfError: 48 * time.Hour, MaxObjectBytes: -5}).Validate(); strings.Count(err.Error(), "cache:") != 3 {
		t.Errorf("want all three problems reported, got %v", err)
	}
}

func TestConfigResolve(t *testing.T) {
	tests := []struct {
		cfg      Config
		maxBytes int64
		want     settings
	}{
		{Config{}, DefaultMaxBytes, settings{DefaultTTL, DefaultStaleIfError, DefaultMaxObjectBytes}},
		{Config{TTL: 10 * time.Second, StaleIfError: -1, MaxObjectBytes: 5}, DefaultMaxBytes, settings{10 * time.Second, 0, 5}},
		{Config{TTL: 5 * time.Hour, StaleIfError: 48 * time.Hour, MaxObjectBytes: 1 << 40}, 1 << 40, settings{MaxTTL, MaxStaleIfError, MaxMaxObjectBytes}},
		{Config{}, 1 << 20, settings{DefaultTTL, DefaultStaleIfError, 1 << 18}}, // a quarter of the cache
	}
	for _, tt := range tests {
		if got := tt.cfg.resolve(tt.maxBytes, tt.maxBytes/4); got != tt.want {
			t.Errorf("%+v.resolve(%d) = %+v, want %+v", tt.cfg, tt.maxBytes, got, tt.want)
		}
	}
}

func TestJudge(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	set := settings{ttl: 3 * time.Second, stale: 30 * time.Second, maxObject: 100}
	tests := []struct {
		name    string
		status  int
		hdr     []string
		why     string
		ttl     time.Duration
		staleOK bool
		vary    []string
	}{
		{"plain 200", 200, nil, "", 3 * time.Second, true, nil},
		{"404", 404, nil, "", 3 * time.Second, true, nil},
		{"301", 301, nil, "", 3 * time.Second, true, nil},
		{"302", 302, nil, whyStatus, 0, false, nil},
		{"206", 206, nil, whyStatus, 0, false, nil},
		{"500", 500, nil, whyStatus, 0, false, nil},
		{"set-cookie", 200, []string{"Set-Cookie", "a=b"}, whySetCookie, 0, false, nil},
		{"private", 200, []string{"Cache-Control", "private"}, whyCacheControl, 0, false, nil},
		{"private with field", 200, []string{"Cache-Control", `private="X-User"`}, whyCacheControl, 0, false, nil},
		{"no-store", 200, []string{"Cache-Control", "public, no-store"}, whyCacheControl, 0, false, nil},
		{"no-cache upper", 200, []string{"Cache-Control", "NO-CACHE"}, whyCacheControl, 0, false, nil},
		{"no-cache fields", 200, []string{"Cache-Control", `no-cache="Set-Cookie, X-A"`}, whyCacheControl, 0, false, nil},
		{"second line", 200, []string{"Cache-Control", "public", "Cache-Control", "no-store"}, whyCacheControl, 0, false, nil},
		{"max-age 0", 200, []string{"Cache-Control", "max-age=0"}, whyCacheControl, 0, false, nil},
		{"max-age garbage", 200, []string{"Cache-Control", "max-age=soon"}, whyCacheControl, 0, false, nil},
		{"max-age empty", 200, []string{"Cache-Control", "max-age"}, whyCacheControl, 0, false, nil},
		{"max-age shortens", 200, []string{"Cache-Control", "max-age=1"}, "", time.Second, true, nil},
		{"max-age never lengthens", 200, []string{"Cache-Control", "public, max-age=600"}, "", 3 * time.Second, true, nil},
		{"duplicate max-age keeps least", 200, []string{"Cache-Control", "max-age=600, max-age=2"}, "", 2 * time.Second, true, nil},
		// RFC 9111 §5.2.2.10: s-maxage implies proxy-revalidate, so no stale copy.
		{"s-maxage wins", 200, []string{"Cache-Control", "max-age=600, s-maxage=1"}, "", time.Second, false, nil},
		{"§5.2.2.10 s-maxage forbids stale", 200, []string{"Cache-Control", "s-maxage=600"}, "", 3 * time.Second, false, nil},
		{"§5.2.2.2 must-revalidate forbids stale", 200, []string{"Cache-Control", "must-revalidate"}, "", 3 * time.Second, false, nil},
		{"§5.2.2.8 proxy-revalidate forbids stale", 200, []string{"Cache-Control", "max-age=2, PROXY-REVALIDATE"}, "", 2 * time.Second, false, nil},
		{"§4.2.3 age counts against expires", 200, []string{"Expires", now.Add(60 * time.Second).Format(http.TimeFormat), "Date", date, "Age", "58"}, "", 2 * time.Second, true, nil},
		{"§4.2.3 age uses up expires", 200, []string{"Expires", now.Add(60 * time.Second).Format(http.TimeFormat), "Date", date, "Age", "60"}, whyExpires, 0, false, nil},
		{"§4.2.3 age counts against expires without date", 200, []string{"Expires", now.Add(60 * time.Second).Format(http.TimeFormat), "Age", "59"}, "", time.Second, true, nil},
		{"§4.2.3 age counts against s-maxage", 200, []string{"Cache-Control", "s-maxage=12, max-age=100", "Age", "10"}, "", 2 * time.Second, false, nil},
		{"§5.6.7 expires rfc850", 200, []string{"Expires", now.Add(2 * time.Second).Format(rfc850Date), "Date", date}, "", 2 * time.Second, true, nil},
		{"§5.6.7 expires asctime", 200, []string{"Expires", now.Add(2 * time.Second).Format(asctime), "Date", date}, "", 2 * time.Second, true, nil},
		{"§5.6.7 date asctime", 200, []string{"Expires", now.Add(2 * time.Second).Format(http.TimeFormat), "Date", now.Format(asctime)}, "", 2 * time.Second, true, nil},
		{"§5.3 expires rfc850 not GMT", 200, []string{"Expires", "Friday, 02-Jan-26 03:04:07 PST", "Date", date}, whyExpires, 0, false, nil},
		{"§5.3 expires numeric zone", 200, []string{"Expires", "Fri, 02 Jan 2026 03:04:07 +0000", "Date", date}, whyExpires, 0, false, nil},
		{"§5.3 expires UTC", 200, []string{"Expires", "Fri, 02 Jan 2026 03:04:07 UTC", "Date", date}, whyExpires, 0, false, nil},
		{"§5.3 expires unix time", 200, []string{"Expires", "1767323047"}, whyExpires, 0, false, nil},
		{"§5.3 expires -1", 200, []string{"Expires", "-1"}, whyExpires, 0, false, nil},
		{"§5.3 two expires", 200, []string{"Expires", now.Add(2 * time.Second).Format(http.TimeFormat), "Expires", now.Add(2 * time.Second).Format(http.TimeFormat)}, whyExpires, 0, false, nil},
		{"RFC 9213 cdn max-age wins", 200, []string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "max-age=2"}, "", 2 * time.Second, true, nil},
		{"RFC 9213 cdn over cc no-cache", 200, []string{"Cache-Control", "no-cache, max-age=0", "CDN-Cache-Control", "max-age=2"}, "", 2 * time.Second, true, nil},
		{"RFC 9213 cdn over cc must-revalidate", 200, []string{"Cache-Control", "s-maxage=60, must-revalidate", "CDN-Cache-Control", "max-age=2"}, "", 2 * time.Second, true, nil},
		{"RFC 9213 cdn over expires", 200, []string{"Expires", "0", "CDN-Cache-Control", "max-age=2"}, "", 2 * time.Second, true, nil},
		{"RFC 9213 cdn over pragma", 200, []string{"Pragma", "no-cache", "CDN-Cache-Control", "max-age=2"}, "", 2 * time.Second, true, nil},
		{"RFC 9213 cdn without lifetime: service TTL", 200, []string{"Cache-Control", "max-age=1", "CDN-Cache-Control", "public"}, "", 3 * time.Second, true, nil},
		{"RFC 9213 cdn no-store", 200, []string{"Cache-Control", "max-age=60", "CDN-Cache-Control", "no-store"}, whyCacheControl, 0, false, nil},
		{"RFC 9213 cdn max-age 0", 200, []string{"CDN-Cache-Control", "max-age=0"}, whyCacheControl, 0, false, nil},
		{"RFC 9213 cdn invalid", 200, []string{"CDN-Cache-Control", "max-age=soon"}, whyCacheControl, 0, false, nil},
		{"RFC 9213 cdn must-revalidate", 200, []string{"CDN-Cache-Control", "max-age=2, must-revalidate"}, "", 2 * time.Second, false, nil},
		{"RFC 9213 cdn s-maxage", 200, []string{"CDN-Cache-Control", "s-maxage=2"}, "", 2 * time.Second, false, nil},
		{"RFC 9213 cdn age", 200, []string{"CDN-Cache-Control", "max-age=12", "Age", "10"}, "", 2 * time.Second, true, nil},
		{"RFC 9213 empty cdn ignored", 200, []string{"Cache-Control", "max-age=1", "CDN-Cache-Control", " "}, "", time.Second, true, nil},
		{"RFC 9213 cc no-store still counts", 200, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"}, whyCacheControl, 0, false, nil},
		{"RFC 9213 cc private still counts", 200, []string{"Cache-Control", "private, max-age=60", "CDN-Cache-Control", "max-age=60"}, whyCacheControl, 0, false, nil},
		{"s-maxage 0", 200, []string{"Cache-Control", "max-age=60, s-maxage=0"}, whyCacheControl, 0, false, nil},
		{"age used up", 200, []string{"Cache-Control", "max-age=10", "Age", "10"}, whyCacheControl, 0, false, nil},
		{"age counts", 200, []string{"Cache-Control", "max-age=12", "Age", "10"}, "", 2 * time.Second, true, nil},
		{"must-revalidate", 200, []string{"Cache-Control", "max-age=60, must-revalidate"}, "", 3 * time.Second, false, nil},
		{"proxy-revalidate", 200, []string{"Cache-Control", "proxy-revalidate"}, "", 3 * time.Second, false, nil},
		{"pragma", 200, []string{"Pragma", "no-cache"}, whyCacheControl, 0, false, nil},
		{"pragma with cache-control", 200, []string{"Pragma", "no-cache", "Cache-Control", "max-age=60"}, "", 3 * time.Second, true, nil},
		{"expires past", 200, []string{"Expires", "Thu, 19 Nov 1981 08:52:00 GMT", "Date", date}, whyExpires, 0, false, nil},
		{"expires invalid", 200, []string{"Expires", "0"}, whyExpires, 0, false, nil},
		{"expires soon", 200, []string{"Expires", now.Add(time.Second).Format(http.TimeFormat), "Date", date}, "", time.Second, true, nil},
		{"expires far", 200, []string{"Expires", now.Add(time.Hour).Format(http.TimeFormat)}, "", 3 * time.Second, true, nil},
		{"max-age beats expires", 200, []string{"Expires", "0", "Cache-Control", "max-age=60"}, "", 3 * time.Second, true, nil},
		{"vary star", 200, []string{"Vary", "Accept-Encoding, *"}, whyVary, 0, false, nil},
		{"vary bad name", 200, []string{"Vary", "Accept Encoding"}, whyVary, 0, false, nil},
		{"vary", 200, []string{"Vary", "accept-language,  Accept-Encoding", "Vary", "Accept-Encoding"}, "", 3 * time.Second, true, []string{"Accept-Encoding", "Accept-Language"}},
		{"vary too many", 200, []string{"Vary", "A,B,C,D,E,F,G,H,I"}, whyVary, 0, false, nil},
		{"too big", 200, []string{"Content-Length", "101"}, whyTooBig, 0, false, nil},
		{"just fits", 200, []string{"Content-Length", "100"}, "", 3 * time.Second, true, nil},
		{"event stream", 200, []string{"Content-Type", "Text/Event-Stream; charset=utf-8"}, whyStream, 0, false, nil},
		{"trailer", 200, []string{"Trailer", "X-Checksum"}, whyStream, 0, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for i := 0; i < len(tt.hdr); i += 2 {
				h.Add(tt.hdr[i], tt.hdr[i+1])
			}
			v := judge(tt.status, h, now, &set)
			if v.why != tt.why {
				t.Fatalf("why = %q, want %q", v.why, tt.why)
			}
			if tt.why != "" {
				return
			}
			if v.ttl != tt.ttl || v.staleOK != tt.staleOK || !slices.Equal(v.vary, tt.vary) {
				t.Fatalf("ttl %v staleOK %v vary %q; want %v %v %q", v.ttl, v.staleOK, v.vary, tt.ttl, tt.staleOK, tt.vary)
			}
		})
	}
}

// TestJudgeStaleIfErrorDirective: RFC 5861 §4, the response's own
// stale-if-error=N. It lengthens the service's window, never shortens it,
// is capped as the setting is, and grants nothing where serving stale is
// forbidden (must-revalidate, s-maxage) or turned off by the operator.
func TestJudgeStaleIfErrorDirective(t *testing.T) {
	on := settings{ttl: 3 * time.Second, stale: 30 * time.Second, maxObject: 100}
	off := settings{ttl: 3 * time.Second, maxObject: 100}
	tests := []struct {
		name string
		set  *settings
		cc   string
		sie  time.Duration
		swr  time.Duration
	}{
		{"§4 lengthens", &on, "max-age=1, stale-if-error=600", 600 * time.Second, 0},
		{"§4 shorter than the setting", &on, "stale-if-error=5", 5 * time.Second, 0}, // the window is max(30 s, 5 s)
		{"§4 capped", &on, "stale-if-error=99999999", MaxStaleIfError, 0},
		{"§4 smallest of two", &on, "stale-if-error=600, stale-if-error=60", 60 * time.Second, 0},
		{"§4 bad value", &on, "stale-if-error=soon", 0, 0},
		{"§4 bare", &on, "stale-if-error", 0, 0},
		{"§4 service off wins", &off, "stale-if-error=600", 0, 0},
		{"§4 must-revalidate forbids", &on, "must-revalidate, stale-if-error=600", 0, 0},
		{"§4 s-maxage forbids", &on, "s-maxage=2, stale-if-error=600", 0, 0},
		{"§3 swr capped by the response's window", &on, "stale-while-revalidate=300, stale-if-error=120", 120 * time.Second, 120 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(200, http.Header{"Cache-Control": {tt.cc}}, time.Now(), tt.set)
			if v.why != "" || v.sie != tt.sie || v.swr != tt.swr {
				t.Fatalf("judge(%q) = why %q sie %v swr %v; want sie %v swr %v", tt.cc, v.why, v.sie, v.swr, tt.sie, tt.swr)
			}
		})
	}
	// RFC 9213: from CDN-Cache-Control when that one decides.
	v := judge(200, http.Header{"Cache-Control": {"stale-if-error=5"}, "Cdn-Cache-Control": {"max-age=2, stale-if-error=90"}}, time.Now(), &on)
	if v.sie != 90*time.Second {
		t.Fatalf("CDN-Cache-Control's stale-if-error: %v, want 90s", v.sie)
	}
}

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		in   string
		want cacheControl
	}{
		{"", cacheControl{maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}},
		{"public, max-age=60", cacheControl{maxAge: 60, sMaxAge: -1, swr: -1, sie: -1}},
		{` max-age = 60 ,s-maxage=5`, cacheControl{maxAge: 60, sMaxAge: 5, swr: -1, sie: -1}},
		{`max-age="60"`, cacheControl{maxAge: 60, sMaxAge: -1, swr: -1, sie: -1}},
		{`no-cache="a, b", max-age=5`, cacheControl{noCache: true, maxAge: 5, sMaxAge: -1, swr: -1, sie: -1}},
		{`community="UCI, no-store", max-age=5`, cacheControl{maxAge: 5, sMaxAge: -1, swr: -1, sie: -1}},
		{`x="unterminated, no-store`, cacheControl{maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}},
		{`x="esc\"aped, no-store", private`, cacheControl{private: true, maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}},
		{"max-age=-1", cacheControl{maxAge: -1, sMaxAge: -1, swr: -1, invalid: true, sie: -1}},
		{"max-age=99999999999999999999", cacheControl{maxAge: maxSeconds, sMaxAge: -1, swr: -1, sie: -1}},
		{",,,No-Store,,", cacheControl{noStore: true, maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}},
		{"must-revalidate", cacheControl{mustRevalidate: true, maxAge: -1, sMaxAge: -1, swr: -1, sie: -1}},
		{"max-age=1, stale-while-revalidate=30", cacheControl{maxAge: 1, sMaxAge: -1, swr: 30, sie: -1}},
		{"Stale-While-Revalidate=30, stale-while-revalidate=10", cacheControl{maxAge: -1, sMaxAge: -1, swr: 10, sie: -1}},
		{"stale-while-revalidate", cacheControl{maxAge: -1, sMaxAge: -1, swr: 0, sie: -1}},
		{"stale-while-revalidate=x, max-age=5", cacheControl{maxAge: 5, sMaxAge: -1, swr: 0, sie: -1}},
		{"max-age=1, stale-if-error=600", cacheControl{maxAge: 1, sMaxAge: -1, swr: -1, sie: 600}},
		{"Stale-If-Error=600, stale-if-error=60, stale-while-revalidate=5", cacheControl{maxAge: -1, sMaxAge: -1, swr: 5, sie: 60}},
		{"stale-if-error", cacheControl{maxAge: -1, sMaxAge: -1, swr: -1, sie: 0}},
		{"stale-if-error=-5, max-age=5", cacheControl{maxAge: 5, sMaxAge: -1, swr: -1, sie: 0}},
	}
	for _, tt := range tests {
		if got := parseCacheControl([]string{tt.in}); got != tt.want {
			t.Errorf("parseCacheControl(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseVary(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{""}, nil, true},
		{[]string{"accept-encoding"}, []string{"Accept-Encoding"}, true},
		{[]string{"Accept-Language, Accept-Encoding,accept-encoding"}, []string{"Accept-Encoding", "Accept-Language"}, true},
		{[]string{"Origin", "Accept"}, []string{"Accept", "Origin"}, true},
		{[]string{"*"}, nil, false},
		{[]string{"Origin", " * "}, nil, false},
		{[]string{"Accept\x00"}, nil, false},
	}
	for _, tt := range tests {
		got, ok := parseVary(tt.in)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("parseVary(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzCacheControl checks that any header value parses without panicking,
// and that the directives that forbid storing are never lost after other
// content, however malformed.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{"", "max-age=60", `no-cache="a,b", private`, `x="\"`, "s-maxage=0,,=,", "max-age=1=2", "\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl([]string{s})
		if cc.maxAge < -1 || cc.sMaxAge < -1 || cc.maxAge > maxSeconds || cc.sMaxAge > maxSeconds || cc.swr < -1 || cc.swr > maxSeconds || cc.sie < -1 || cc.sie > maxSeconds {
			t.Fatalf("ages out of range: %+v", cc)
		}
		// A no-store as its own header line always counts.
		if cc2 := parseCacheControl([]string{s, "no-store"}); !cc2.noStore {
			t.Fatalf("no-store after %q was lost", s)
		}
		// An unquoted value cannot hide a directive that follows a comma
		// when the value has no quote.
		if !strings.ContainsRune(s, '"') {
			if cc3 := parseCacheControl([]string{s + ", private"}); !cc3.private {
				t.Fatalf("private after %q was lost", s)
			}
		}
	})
}

// FuzzVary checks that parsing never panics, and that what it accepts is
// canonical, sorted, unique, bounded and free of "*".
func FuzzVary(f *testing.F) {
	for _, s := range []string{"", "Accept-Encoding", "a, b ,a", "*", "x,*", ",,,", "Ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		names, ok := parseVary([]string{s})
		if !ok {
			if names != nil {
				t.Fatalf("rejected %q but returned %q", s, names)
			}
			return
		}
		if len(names) > maxVary || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("parseVary(%q) = %q", s, names)
		}
		for _, n := range names {
			if n == "*" || !isToken(n) || n != http.CanonicalHeaderKey(n) {
				t.Fatalf("parseVary(%q) returned name %q", s, n)
			}
		}
	})
}

// FuzzJudge checks that no combination of response headers panics, and
// that a storable verdict never outlives the configured TTL (nor its
// stale-while-revalidate window the longer of TTL and stale-if-error).
func FuzzJudge(f *testing.F) {
	f.Add(200, "max-age=5", "Accept-Encoding", "", "3", "10")
	f.Add(404, "", "", "Thu, 01 Jan 2099 00:00:00 GMT", "", "")
	f.Add(200, "s-maxage=1, must-revalidate", "*", "0", "x", "-1")
	f.Add(200, "max-age=1, stale-while-revalidate=99999999999", "", "", "", "")
	f.Fuzz(func(t *testing.T, status int, cc, vary, expires, age, length string) {
		h := http.Header{}
		for k, v := range map[string]string{"Cache-Control": cc, "Vary": vary, "Expires": expires, "Age": age, "Content-Length": length} {
			if v != "" {
				h.Set(k, v)
			}
		}
		set := settings{ttl: 3 * time.Second, stale: time.Second, maxObject: 1000}
		v := judge(status, h, time.Now(), &set)
		if v.why != "" {
			return
		}
		if v.ttl <= 0 || v.ttl > set.ttl || v.age < 0 || v.length > set.maxObject || v.swr < 0 || v.swr > max(set.ttl, set.stale, v.sie) || v.sie < 0 || v.sie > MaxStaleIfError || v.sie > 0 && !v.staleOK {
			t.Fatalf("judge(%d, %v) = %+v", status, h, v)
		}
	})
}
