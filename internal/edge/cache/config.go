package cache

import (
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart/internal/limits"
)

// Defaults and bounds of [Config] and [Options].
const (
	DefaultTTL            = 3 * time.Second
	DefaultStaleIfError   = 30 * time.Second
	DefaultMaxObjectBytes = 1 << 20  // 1 MiB
	DefaultMaxBytes       = 64 << 20 // 64 MiB
	DefaultLockTimeout    = 5 * time.Second

	// The bounds are the service layer's (package limits), so that
	// nothing it accepts is refused here.
	MinTTL            = limits.CacheMinTTL
	MaxTTL            = limits.CacheMaxTTL
	MaxStaleIfError   = limits.CacheMaxStaleIfError
	MaxMaxObjectBytes = limits.CacheMaxObjectBytes
)

// Config is one service's cache configuration. The zero value is the
// default: on, 3 s TTL, stale copies served for 30 s after an upstream
// failure, responses up to 1 MiB.
type Config struct {
	// Disabled turns the cache off: requests go straight to the upstream,
	// without an X-Cache header.
	Disabled bool `json:"disabled,omitempty"`

	// TTL is how long a response is served from the cache. The response's
	// own CDN-Cache-Control or Cache-Control max-age or s-maxage, or its
	// Expires, can shorten it for that response, never lengthen it. 0:
	// [DefaultTTL]. Valid: 1s to 1h.
	TTL time.Duration `json:"ttl,omitempty"`

	// StaleIfError is how long after its TTL a response may still be
	// served, marked X-Cache: STALE, when the upstream answers the refresh
	// with a 5xx or cannot be reached. 0: [DefaultStaleIfError]; negative:
	// never serve stale. Valid: up to 24h.
	StaleIfError time.Duration `json:"stale_if_error,omitempty"`

	// MaxObjectBytes is the largest response body that is stored; larger
	// responses are passed through whole but not cached. 0:
	// [DefaultMaxObjectBytes]. Valid: 1 byte to 64 MiB. The cache also
	// never stores a body larger than a quarter of its total memory, nor
	// one larger than a service's share of it (Options.MaxServiceBytes).
	MaxObjectBytes int64 `json:"max_object_bytes,omitempty"`
}

// Default returns the default configuration, with every field spelled out.
func Default() Config {
	return Config{TTL: DefaultTTL, StaleIfError: DefaultStaleIfError, MaxObjectBytes: DefaultMaxObjectBytes}
}

// Validate reports every field that is out of bounds, with what to do
// about it. Zero fields are valid: they mean the default.
func (c Config) Validate() error {
	var errs []error
	if c.TTL != 0 && (c.TTL < MinTTL || c.TTL > MaxTTL) {
		errs = append(errs, fmt.Errorf("cache: TTL %v is out of range: give a TTL from %v to %v, or disable the cache", c.TTL, MinTTL, MaxTTL))
	}
	if c.StaleIfError > MaxStaleIfError {
		errs = append(errs, fmt.Errorf("cache: stale-if-error %v is too long: give at most %v, or a negative value to never serve stale copies", c.StaleIfError, MaxStaleIfError))
	}
	if c.MaxObjectBytes < 0 || c.MaxObjectBytes > MaxMaxObjectBytes {
		errs = append(errs, fmt.Errorf("cache: maximum object size %d bytes is out of range: give 1 to %d bytes (0 for the default of %d)", c.MaxObjectBytes, MaxMaxObjectBytes, DefaultMaxObjectBytes))
	}
	return errors.Join(errs...)
}

// settings is a Config resolved against the defaults and the cache's
// memory bound; it is what a handler works with.
type settings struct {
	ttl       time.Duration
	stale     time.Duration // 0: never serve stale
	maxObject int64
}

// resolve turns c into settings. It never fails: out-of-range values (a
// caller that skipped Validate) are clamped.
func (c Config) resolve(maxBytes, shareBytes int64) settings {
	s := settings{ttl: c.TTL, stale: c.StaleIfError, maxObject: c.MaxObjectBytes}
	switch {
	case s.ttl <= 0:
		s.ttl = DefaultTTL
	case s.ttl > MaxTTL:
		s.ttl = MaxTTL
	}
	switch {
	case s.stale == 0:
		s.stale = DefaultStaleIfError
	case s.stale < 0:
		s.stale = 0
	case s.stale > MaxStaleIfError:
		s.stale = MaxStaleIfError
	}
	switch {
	case s.maxObject <= 0:
		s.maxObject = DefaultMaxObjectBytes
	case s.maxObject > MaxMaxObjectBytes:
		s.maxObject = MaxMaxObjectBytes
	}
	// One object must not be able to flush most of the cache.
	s.maxObject = min(s.maxObject, maxBytes/4, shareBytes)
	return s
}
