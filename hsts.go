package rampart

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart/internal/limits"
)

// HSTS is a service's HTTP Strict Transport Security: while Enabled, the
// edge adds "Strict-Transport-Security: max-age=N[; includeSubDomains][;
// preload]" to every HTTPS response of the service (never to plain HTTP
// ones, where browsers ignore it), in place of any the upstream sent. While
// off, an upstream's own header passes through as it is. Off by default:
// a browser that has seen the header refuses plain HTTP to the host, and
// any certificate error becomes final, for MaxAge seconds.
type HSTS struct {
	Enabled bool `json:"enabled"`
	// MaxAge is how many seconds browsers remember to use HTTPS only:
	// 0 to 63072000 (2 years). 0 tells browsers to forget an earlier
	// header, which is also what an omitted max_age means: the API
	// replaces the whole setting, so a client turning HSTS on gives it
	// (new services hold the default, a year, ready for the CLI and the
	// dashboard, which send the whole setting).
	MaxAge int64 `json:"max_age"`
	// IncludeSubDomains extends the commitment to every subdomain of the
	// host.
	IncludeSubDomains bool `json:"include_subdomains"`
	// Preload asks to be in the browsers' built-in list; it needs MaxAge
	// of a year or more and IncludeSubDomains.
	Preload bool `json:"preload"`
}

// HSTS bounds, the ones the edge checks too (see internal/limits).
const (
	DefaultHSTSMaxAge    = limits.HSTSDefaultMaxAge
	MaxHSTSMaxAge        = limits.HSTSMaxMaxAge
	MinHSTSPreloadMaxAge = limits.HSTSPreloadMinMaxAge
)

// DefaultHSTS is what every new service gets: off, with a year's max-age
// ready for when it is turned on.
func DefaultHSTS() HSTS { return HSTS{MaxAge: DefaultHSTSMaxAge} }

// Validate checks the HSTS settings (even when off, so that turning them on
// again restores a valid configuration), reporting every problem at once.
func (h HSTS) Validate() error {
	var errs []error
	if h.MaxAge < 0 || h.MaxAge > MaxHSTSMaxAge {
		errs = append(errs, FieldError("hsts.max_age", Errorf(EINVALID, "hsts: max_age must be between 0 and %d seconds (2 years), got %d", MaxHSTSMaxAge, h.MaxAge)))
	}
	if h.Preload {
		var missing []string
		if h.MaxAge < MinHSTSPreloadMaxAge {
			missing = append(missing, fmt.Sprintf("a max_age of at least %d seconds (1 year), got %d", MinHSTSPreloadMaxAge, h.MaxAge))
		}
		if !h.IncludeSubDomains {
			missing = append(missing, "include_subdomains")
		}
		if len(missing) > 0 {
			errs = append(errs, FieldError("hsts.preload", Errorf(EINVALID, "hsts: preload requires %s: the browsers' preload list refuses anything less; turn preload off or give both", strings.Join(missing, " and "))))
		}
	}
	return errors.Join(errs...)
}

// Header is the Strict-Transport-Security value h stands for, e.g.
// "max-age=31536000; includeSubDomains"; "" when off.
func (h HSTS) Header() string {
	if !h.Enabled {
		return ""
	}
	v := "max-age=" + strconv.FormatInt(h.MaxAge, 10)
	if h.IncludeSubDomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// ParseHSTSMaxAge reads a max-age as people type it: seconds ("31536000"),
// a Go duration ("8760h") or a number of days, weeks or years ("365d",
// "52w", "1y"; a year is 365 days). It checks the bounds too.
func ParseHSTSMaxAge(s string) (int64, error) {
	s = strings.TrimSpace(s)
	bad := Errorf(EINVALID, "hsts: max-age %q is not a duration: give seconds (31536000) or a duration like 1y, 180d, 26w or 4380h", s)
	var secs int64
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		secs = n
	} else if unit, ok := map[byte]int64{'d': 86400, 'w': 7 * 86400, 'y': 365 * 86400}[lastByte(s)]; ok {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n > MaxHSTSMaxAge {
			return 0, bad
		}
		secs = n * unit
	} else if d, err := time.ParseDuration(s); err == nil {
		if d%time.Second != 0 {
			return 0, Errorf(EINVALID, "hsts: max-age %q is not a whole number of seconds", s)
		}
		secs = int64(d / time.Second)
	} else {
		return 0, bad
	}
	if secs < 0 || secs > MaxHSTSMaxAge {
		return 0, Errorf(EINVALID, "hsts: max-age must be between 0 and %d seconds (2 years), got %s", MaxHSTSMaxAge, s)
	}
	return secs, nil
}

func lastByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[len(s)-1]
}
