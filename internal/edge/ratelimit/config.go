package ratelimit

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/limits"
)

// Defaults and limits of a Config.
const (
	DefaultRequests = 150         // requests per DefaultPeriod
	DefaultPeriod   = time.Minute // the period of DefaultRequests

	// The bounds are the service layer's (package limits), so that
	// nothing it accepts is refused here.
	MaxRequests = limits.RateLimitMaxRequests // the most requests per period a Config may allow
	MaxAllow    = limits.RateLimitMaxAllow    // the most allow-list entries a Config may have
)

// Config is one limiter's policy. The zero value is the default: 150
// requests per minute per client, no allow-list.
type Config struct {
	// Requests is how many requests one client (an IPv4 address or an IPv6
	// /64) may send per Period, and also how many it may send at once.
	// 0 means DefaultRequests.
	Requests int

	// Period is time.Second or time.Minute. 0 means time.Minute.
	Period time.Duration

	// Allow lists the networks whose clients are never limited, such as
	// an office network or a monitoring service. IPv4 clients match IPv4
	// prefixes (and IPv4-mapped ones such as ::ffff:10.0.0.0/104); IPv6
	// clients match IPv6 prefixes by their full address.
	Allow []netip.Prefix

	// Disabled turns the limiter off: every request is allowed and no
	// client is tracked.
	Disabled bool
}

// Default returns the default policy, spelled out.
func Default() Config {
	return Config{Requests: DefaultRequests, Period: DefaultPeriod}
}

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	if c.Requests == 0 {
		c.Requests = DefaultRequests
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	return c
}

// Validate reports every problem with c, or nil. A disabled Config is
// checked too, so that turning it back on cannot fail.
func (c Config) Validate() error {
	var errs []error
	if c.Requests < 0 || c.Requests > MaxRequests {
		errs = append(errs, fmt.Errorf("ratelimit: requests must be 1..%d (got %d): give how many requests one client may send per period, e.g. %d", MaxRequests, c.Requests, DefaultRequests))
	}
	if c.Period != 0 && c.Period != time.Second && c.Period != time.Minute {
		errs = append(errs, fmt.Errorf("ratelimit: period must be 1s or 1m (got %v): the limit counts requests per second or per minute", c.Period))
	}
	if len(c.Allow) > MaxAllow {
		errs = append(errs, fmt.Errorf("ratelimit: the allow-list has %d entries, at most %d are allowed: merge neighbouring networks into wider prefixes", len(c.Allow), MaxAllow))
	} else {
		for i, p := range c.Allow {
			if err := checkPrefix(p); err != nil {
				errs = append(errs, fmt.Errorf("ratelimit: allow-list entry %d: %w", i+1, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkPrefix rejects prefixes that are invalid or that have host bits set:
// "10.0.0.1/8" is more likely a typo for 10.0.0.1/32 than a wish to allow
// all of 10.0.0.0/8.
func checkPrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return errors.New("not a valid network: give one like 192.0.2.0/24 or 2001:db8::/48")
	}
	if m := p.Masked(); m != p {
		one := netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
		return fmt.Errorf("%s has bits set after the first %d: write %s for the network, or %s for the one address", p, p.Bits(), m, one)
	}
	return nil
}

// String describes c for logs and the CLI, e.g. "150/minute",
// "10/second, 2 networks allowed" or "off".
func (c Config) String() string {
	if c.Disabled {
		return "off"
	}
	c = c.withDefaults()
	var b strings.Builder
	b.WriteString(strconv.Itoa(c.Requests))
	b.WriteByte('/')
	switch c.Period {
	case time.Second:
		b.WriteString("second")
	case time.Minute:
		b.WriteString("minute")
	default:
		b.WriteString(c.Period.String())
	}
	switch n := len(c.Allow); n {
	case 0:
	case 1:
		b.WriteString(", 1 network allowed")
	default:
		fmt.Fprintf(&b, ", %d networks allowed", n)
	}
	return b.String()
}

// ParseRate parses a rate as people write it: "150/minute", "150/min",
// "150/m", "10/second", "10/sec", "10/s", or with "per" instead of the
// slash ("150 per minute"). Case and spaces around the parts are ignored.
func ParseRate(s string) (requests int, period time.Duration, err error) {
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		n, unit, ok = strings.Cut(strings.ToLower(s), " per ")
	}
	if !ok {
		return 0, 0, fmt.Errorf("ratelimit: rate %q: write it as requests/period, e.g. 150/minute or 10/second", s)
	}
	n, unit = strings.TrimSpace(n), strings.ToLower(strings.TrimSpace(unit))
	switch unit {
	case "s", "sec", "second":
		period = time.Second
	case "m", "min", "minute":
		period = time.Minute
	default:
		return 0, 0, fmt.Errorf("ratelimit: rate %q: the period must be second or minute", s)
	}
	requests, err = strconv.Atoi(n)
	if err != nil || requests < 1 || requests > MaxRequests {
		return 0, 0, fmt.Errorf("ratelimit: rate %q: the number of requests must be a whole number from 1 to %d", s, MaxRequests)
	}
	return requests, period, nil
}

// ParsePrefix parses one allow-list entry: a network in CIDR notation
// ("192.0.2.0/24", "2001:db8::/48") or a single address ("192.0.2.7",
// which means 192.0.2.7/32). It rejects zones and host bits after the
// prefix length, as Validate does.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("ratelimit: %q is not a network: give one like 192.0.2.0/24 or 2001:db8::/48", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("ratelimit: %q is not an IP address or network: give one like 192.0.2.7 or 192.0.2.0/24", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err := checkPrefix(p); err != nil {
		return netip.Prefix{}, fmt.Errorf("ratelimit: %w", err)
	}
	return p, nil
}
