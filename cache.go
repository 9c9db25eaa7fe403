package rampart

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart/internal/limits"
)

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

// Cache bounds, the ones the edge's cache checks too (see internal/limits).
const (
	MinCacheTTL          = limits.CacheMinTTL
	MaxCacheTTL          = limits.CacheMaxTTL
	MaxCacheStaleIfError = limits.CacheMaxStaleIfError
)

// Validate checks the cache settings, reporting both when both are bad.
func (c Cache) Validate() error {
	var errs []error
	if ttl := time.Duration(c.TTL); ttl < MinCacheTTL || ttl > MaxCacheTTL {
		errs = append(errs, FieldError("cache.ttl", Errorf(EINVALID, "cache: ttl must be between %s and %s, got %s", MinCacheTTL, MaxCacheTTL, ttl)))
	}
	if s := time.Duration(c.StaleIfError); s < 0 || s > MaxCacheStaleIfError {
		errs = append(errs, FieldError("cache.stale_if_error", Errorf(EINVALID, "cache: stale_if_error must be between 0s and %s, got %s", MaxCacheStaleIfError, s)))
	}
	return errors.Join(errs...)
}
