package rampart

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// RateLimit is a service's per-client-IP request limit at the edge. The
// zero value is "off"; DefaultRateLimit is what every new service gets.
type RateLimit struct {
	Enabled  bool   `json:"enabled"`
	Requests int    `json:"requests"` // allowed per Per, and the burst a new client may send at once
	Per      string `json:"per"`      // "second" or "minute"
	// Allow lists client networks that are never limited (CIDRs; a bare
	// IP means just that address).
	Allow []string `json:"allow"`
}

// Rate-limit periods.
const (
	PerSecond = "second"
	PerMinute = "minute"
)

// DefaultRateLimit: 150 requests per minute per IP, as every managed service
// gets by default.
func DefaultRateLimit() RateLimit {
	return RateLimit{Enabled: true, Requests: 150, Per: PerMinute, Allow: []string{}}
}

// MaxRateLimitRequests bounds Requests; more than this per second is no limit.
const MaxRateLimitRequests = 1_000_000

// MaxAllowEntries bounds the allow-list, which is checked on every request.
const MaxAllowEntries = 256

// Period returns Per as a duration.
func (r RateLimit) Period() time.Duration {
	if r.Per == PerSecond {
		return time.Second
	}
	return time.Minute
}

// Validate checks the settings and normalizes the allow-list in place
// (bare IPs become /32 or /128 prefixes, networks are masked).
func (r *RateLimit) Validate() error {
	if r.Requests < 1 || r.Requests > MaxRateLimitRequests {
		return FieldError("rate_limit.requests", Errorf(EINVALID, "rate limit: requests must be between 1 and %d, got %d", MaxRateLimitRequests, r.Requests))
	}
	switch r.Per {
	case PerSecond, PerMinute:
	default:
		return FieldError("rate_limit.per", Errorf(EINVALID, "rate limit: per must be %q or %q, got %q", PerSecond, PerMinute, r.Per))
	}
	allow, err := ParseAllowList(r.Allow)
	if err != nil {
		return err
	}
	r.Allow = make([]string, len(allow))
	for i, p := range allow {
		r.Allow[i] = p.String()
	}
	return nil
}

// ParseAllowList parses CIDRs and bare IPs into masked prefixes.
func ParseAllowList(entries []string) ([]netip.Prefix, error) {
	if len(entries) > MaxAllowEntries {
		return nil, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: the allow-list has %d entries; at most %d are allowed (use wider networks)", len(entries), MaxAllowEntries))
	}
	out := make([]netip.Prefix, 0, len(entries))
	seen := make(map[netip.Prefix]bool, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		var p netip.Prefix
		if strings.Contains(e, "/") {
			var err error
			if p, err = netip.ParsePrefix(e); err != nil {
				return nil, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %q is not a network: use CIDR notation like 203.0.113.0/24 or 2001:db8::/48", e))
			}
		} else {
			a, err := netip.ParseAddr(e)
			if err != nil {
				return nil, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %q is not an IP address or a network (e.g. 203.0.113.7 or 203.0.113.0/24)", e))
			}
			if a.Zone() != "" {
				return nil, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %q has a zone: remove the %%zone part", e))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		if seen[p] {
			return nil, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %s is listed twice", p))
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// Duration is a time.Duration that reads and writes JSON as Go duration
// text ("3s", "1m30s"), which people can type.
type Duration time.Duration

// MarshalJSON writes d as "3s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "3s" (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if json.Unmarshal(b, &secs) != nil {
			return fmt.Errorf("a duration is text like \"3s\" or \"1m\"")
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: use text like \"3s\" or \"1m\"", s)
	}
	*d = Duration(v)
	return nil
}

// Cache is a service's output cache at the edge. The zero value is "off";
// DefaultCache is what every new service gets.
type Cache struct {
	Enabled bool     `json:"enabled"`
	TTL     Duration `json:"ttl"` // how long a GET/HEAD response is served from the cache
	// StaleIfError is how long past its TTL a cached copy may still be
	// served while the upstream errors or is down.
	StaleIfError Duration `json:"stale_if_error"`
}

// DefaultCache: GET responses cached for 3 seconds, stale copies served for
// up to a minute while the upstream is failing.
func DefaultCache() Cache {
	return Cache{Enabled: true, TTL: Duration(3 * time.Second), StaleIfError: Duration(time.Minute)}
}

// Cache bounds.
const (
	MinCacheTTL          = time.Second
	MaxCacheTTL          = time.Hour
	MaxCacheStaleIfError = 24 * time.Hour
)

// Validate checks the cache settings.
func (c Cache) Validate() error {
	if ttl := time.Duration(c.TTL); ttl < MinCacheTTL || ttl > MaxCacheTTL {
		return FieldError("cache.ttl", Errorf(EINVALID, "cache: ttl must be between %s and %s, got %s", MinCacheTTL, MaxCacheTTL, ttl))
	}
	if s := time.Duration(c.StaleIfError); s < 0 || s > MaxCacheStaleIfError {
		return FieldError("cache.stale_if_error", Errorf(EINVALID, "cache: stale_if_error must be between 0s and %s, got %s", MaxCacheStaleIfError, s))
	}
	return nil
}
