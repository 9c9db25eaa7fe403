package rampart

import (
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/limits"
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

// Rate-limit bounds, the ones the edge's limiter checks too (see
// internal/limits).
const (
	// MinRateLimitRequests and MaxRateLimitRequests bound Requests; more
	// than a million per second is no limit.
	MinRateLimitRequests = limits.RateLimitMinRequests
	MaxRateLimitRequests = limits.RateLimitMaxRequests
	// MaxAllowEntries bounds the allow-list.
	MaxAllowEntries = limits.RateLimitMaxAllow
)

// Period returns Per as a duration.
func (r RateLimit) Period() time.Duration {
	if r.Per == PerSecond {
		return time.Second
	}
	return time.Minute
}

// Validate checks the settings, reporting every bad one, and normalizes the
// allow-list in place (bare IPs become /32 or /128 prefixes, networks are
// masked).
func (r *RateLimit) Validate() error {
	var errs []error
	if r.Requests < MinRateLimitRequests || r.Requests > MaxRateLimitRequests {
		errs = append(errs, FieldError("rate_limit.requests", Errorf(EINVALID, "rate limit: requests must be between %d and %d, got %d", MinRateLimitRequests, MaxRateLimitRequests, r.Requests)))
	}
	switch r.Per {
	case PerSecond, PerMinute:
	default:
		errs = append(errs, FieldError("rate_limit.per", Errorf(EINVALID, "rate limit: per must be %q or %q, got %q", PerSecond, PerMinute, r.Per)))
	}
	allow, err := ParseAllowList(r.Allow)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
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
	var errs []error
	seen := make(map[netip.Prefix]bool, len(entries))
	for _, e := range entries {
		p, err := parseAllowEntry(e)
		switch {
		case err != nil:
			errs = append(errs, err)
		case seen[p]:
			errs = append(errs, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %s is listed twice", p)))
		default:
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parseAllowEntry parses one allow-list entry into a masked prefix.
func parseAllowEntry(e string) (netip.Prefix, error) {
	e = strings.TrimSpace(e)
	if strings.Contains(e, "/") {
		p, err := netip.ParsePrefix(e)
		if err != nil {
			return p, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %q is not a network: use CIDR notation like 203.0.113.0/24 or 2001:db8::/48", e))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(e)
	if err != nil {
		return netip.Prefix{}, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %q is not an IP address or a network (e.g. 203.0.113.7 or 203.0.113.0/24)", e))
	}
	if a.Zone() != "" {
		return netip.Prefix{}, FieldError("rate_limit.allow", Errorf(EINVALID, "rate limit: allow-list entry %q has a zone: remove the %%zone part", e))
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
