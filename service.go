package rampart

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ServiceState is where a service is in its life.
type ServiceState string

const (
	// StateActive: routed by the edge.
	StateActive ServiceState = "active"
	// StateStopped: known, not routed (the edge answers 503); a service
	// rampart runs is stopped too.
	StateStopped ServiceState = "stopped"
	// StateDeleted: deleted and waiting out its grace period
	// (Service.PurgeAfter): not routed, not running, its data only in its
	// final backup. The owner can restore it until the purge; its name
	// and domains stay reserved for them until then.
	StateDeleted ServiceState = "deleted"
)

// RetiredName is the name of a service that was purged while it had
// custom domains. Their owners may leave DNS pointing at the name's
// platform hostname, and a CNAME there proves a domain for whichever
// service has the name: so only the account that last owned it gets it
// back (or an admin, who decides for someone else knowingly).
type RetiredName struct {
	Name      string    `json:"name"`
	OwnerID   int64     `json:"owner_id"`
	Domains   []string  `json:"domains"` // the purged service's custom domains
	RetiredAt time.Time `json:"retired_at"`
}

// Service is a web application that rampart fronts. It is reached at
// <Name>.<platform domain> and proxied to one of its Upstreams.
type Service struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	OwnerID   int64        `json:"owner_id"`
	Owner     string       `json:"owner"` // the owner's email, filled in by the store on reads
	Upstreams []string     `json:"upstreams"`
	State     ServiceState `json:"state"`
	RateLimit RateLimit    `json:"rate_limit"`
	Cache     Cache        `json:"cache"`
	// HSTS is the Strict-Transport-Security header the edge sends on the
	// service's HTTPS responses; off by default.
	HSTS HSTS `json:"hsts"`
	// Env is the environment the service's process gets (the Env tab of
	// the dashboard's Update config). Never nil on reads.
	Env Env `json:"env"`
	// AllowPrivateUpstreams lets the service's upstreams be where the
	// operator's upstreams.allowed_networks do not reach: loopback,
	// link-local, cloud metadata addresses and the like, e.g. an
	// application on the same host. Only an admin can turn it on.
	// rampart's own listeners stay out of reach even so.
	AllowPrivateUpstreams bool `json:"allow_private_upstreams"`
	// TerminationProtection, while on, makes the service layer refuse the
	// actions that could lose the service or its data (ProtectedActions).
	// Off by default; the owner or an admin turns it on and off.
	TerminationProtection bool `json:"termination_protection"`
	// Runtime is who runs the application: elsewhere (proxy, the
	// default), rampart's exec supervisor or docker compose.
	Runtime Runtime `json:"runtime"`
	// Generation moves when someone restarts the service ("reboot") or
	// resets it: desired state that asks for a new process with nothing
	// else changed.
	Generation int64 `json:"generation"`
	// DeletedAt and PurgeAfter are set while State is StateDeleted.
	DeletedAt  *time.Time `json:"deleted_at,omitempty"`
	PurgeAfter *time.Time `json:"purge_after,omitempty"`
	// Run is what the runtime last observed of a service rampart runs
	// (observed state, like Status); nil for proxy services and before
	// the runtime's first report.
	Run *RunState `json:"run,omitempty"`
	// Status is what the reconcilers did with the service (read-only:
	// the store fills it in on reads, reconcilers write it).
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Hostname is the service's platform hostname: the CNAME target its users
// point their own domains at.
func (s *Service) Hostname(platformDomain string) string {
	return s.Name + "." + platformDomain
}

// Validate checks every field a caller can set and reports every field's
// problem at once (errors.Join; see FieldMessages), so that a form with two
// mistakes does not take two round trips.
func (s *Service) Validate() error {
	var state error
	switch s.State {
	case StateActive, StateStopped, StateDeleted:
	default:
		state = FieldError("state", Errorf(EINVALID, "state %q is unknown: use %q or %q", s.State, StateActive, StateStopped))
	}
	// Settings are checked even when off, so turning them on again
	// restores a valid configuration.
	return errors.Join(
		ValidateServiceName(s.Name),
		ValidateUpstreams(s.Upstreams),
		state,
		s.RateLimit.Validate(),
		s.Cache.Validate(),
		s.HSTS.Validate(),
		s.Env.Validate(),
		s.Runtime.Validate(),
	)
}

// MaxServiceNameLength is the longest DNS label.
const MaxServiceNameLength = 63

// ValidateServiceName checks that name can be used as the first label of the
// service's platform hostname: a lower-case DNS label (RFC 1123).
func ValidateServiceName(name string) error {
	switch {
	case name == "":
		return FieldError("name", Errorf(EINVALID, "service name is required"))
	case len(name) > MaxServiceNameLength:
		return FieldError("name", Errorf(EINVALID, "service name %q is %d characters long: a DNS label has at most %d", name, len(name), MaxServiceNameLength))
	case name[0] == '-' || name[len(name)-1] == '-':
		return FieldError("name", Errorf(EINVALID, "service name %q must not start or end with a hyphen", name))
	case len(name) >= 4 && name[2:4] == "--":
		// "xn--" and friends are reserved for IDNA; a name like that would
		// display as a different word in browsers.
		return FieldError("name", Errorf(EINVALID, "service name %q must not have hyphens in the 3rd and 4th position (reserved for internationalized names)", name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		case 'A' <= c && c <= 'Z':
			if s := suggestServiceName(name); s != "" {
				return FieldError("name", Errorf(EINVALID, "service name %q has upper-case letters: use %q", name, s))
			}
			return FieldError("name", Errorf(EINVALID, "service name %q has upper-case letters: use only a-z, 0-9 and '-'", name))
		default:
			r, _ := utf8.DecodeRuneInString(name[i:])
			if s := suggestServiceName(name); s != "" {
				return FieldError("name", Errorf(EINVALID, "service name %q has the character %q: use only a-z, 0-9 and '-', e.g. %q", name, string(r), s))
			}
			return FieldError("name", Errorf(EINVALID, "service name %q has the character %q: use only a-z, 0-9 and '-'", name, string(r)))
		}
	}
	return nil
}

// suggestServiceName turns a name people typed ("My Blog!") into one that
// passes ValidateServiceName ("my-blog"), or returns "" when there is none:
// quoting a name that breaks another rule back as the thing to type would
// only send the person round again.
func suggestServiceName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "-") {
			b.WriteByte('-')
		}
	}
	s := b.String()
	if len(s) > MaxServiceNameLength {
		s = s[:MaxServiceNameLength]
	}
	s = strings.Trim(s, "-")
	if s == name || ValidateServiceName(s) != nil {
		return ""
	}
	return s
}

// MaxUpstreams bounds how many upstream addresses one service may list.
const MaxUpstreams = 8

// ValidateUpstreams checks a service's list of upstream URLs.
func ValidateUpstreams(ups []string) error {
	if len(ups) == 0 {
		return FieldError("upstreams", Errorf(EINVALID, "at least one upstream URL is required, e.g. http://127.0.0.1:8080"))
	}
	if len(ups) > MaxUpstreams {
		return FieldError("upstreams", Errorf(EINVALID, "%d upstreams given: at most %d are allowed", len(ups), MaxUpstreams))
	}
	var errs []error
	seen := make(map[string]bool, len(ups))
	for _, u := range ups {
		if err := ValidateUpstream(u); err != nil {
			errs = append(errs, err)
		} else if seen[u] {
			errs = append(errs, FieldError("upstreams", Errorf(EINVALID, "upstream %q is listed twice", u)))
		}
		seen[u] = true
	}
	return errors.Join(errs...)
}

// ValidateUpstream checks one upstream URL: http or https, a host, an
// optional port and base path, nothing else.
func ValidateUpstream(raw string) error {
	if raw == "" {
		return FieldError("upstreams", Errorf(EINVALID, "upstream URL is empty: give one like http://127.0.0.1:8080"))
	}
	if len(raw) > 2048 {
		return FieldError("upstreams", Errorf(EINVALID, "upstream URL is longer than 2048 characters"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q is not a valid URL: give one like http://127.0.0.1:8080", raw))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q must start with http:// or https://", raw))
	case u.Opaque != "" || u.Host == "":
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q has no host: give one like http://127.0.0.1:8080", raw))
	case u.User != nil:
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q must not contain credentials", raw))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q must not have a query or fragment", raw))
	}
	host := u.Hostname()
	if host == "" {
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q has no host: give one like http://127.0.0.1:8080", raw))
	}
	if net.ParseIP(host) == nil && !validHostname(host) {
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q: %q is neither an IP address nor a valid host name", raw, host))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return FieldError("upstreams", Errorf(EINVALID, "upstream %q: port %q is not between 1 and 65535", raw, p))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return FieldError("upstreams", Errorf(EINVALID, "upstream %q has an empty port", raw))
	}
	return nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ServiceInput is what a caller gives to create a service: the body of
// POST /api/v1/services.
type ServiceInput struct {
	Name      string   `json:"name"`
	Upstreams []string `json:"upstreams"`
	// Owner is the owner's email. Only admins may set it; empty means the
	// caller (or, for the operator, the first admin).
	Owner string `json:"owner,omitempty"`
	// Env is the service's environment; empty: none.
	Env Env `json:"env,omitempty"`
	// AllowPrivateUpstreams is Service.AllowPrivateUpstreams; only admins
	// may set it to true. Nil: off, except that an admin who points the
	// service at an address only it allows gets it turned on (and
	// audited); false says "refuse such an upstream instead".
	AllowPrivateUpstreams *bool `json:"allow_private_upstreams,omitempty"`
	// Runtime, if set, has rampart run the application (admins only);
	// nil: proxy. With a runtime other than proxy, Upstreams may be
	// empty: the edge then proxies to the runtime's port.
	Runtime *Runtime `json:"runtime,omitempty"`
}

// ServiceUpdate changes the service Name; nil fields stay as they are.
// RateLimit, Cache and HSTS replace the whole setting; Env is a merge patch (a
// name with a value sets it, a name with null removes it, other names
// stay). It is the body of PATCH /api/v1/services/{name}, which carries
// the name in its path.
type ServiceUpdate struct {
	Name      string        `json:"-"`
	Upstreams []string      `json:"upstreams,omitempty"`
	State     *ServiceState `json:"state,omitempty"`
	RateLimit *RateLimit    `json:"rate_limit,omitempty"`
	Cache     *Cache        `json:"cache,omitempty"`
	HSTS      *HSTS         `json:"hsts,omitempty"`
	Env       EnvPatch      `json:"env,omitempty"`
	// AllowPrivateUpstreams sets Service.AllowPrivateUpstreams; only
	// admins may set it to true. See ServiceInput.
	AllowPrivateUpstreams *bool `json:"allow_private_upstreams,omitempty"`
	// Runtime replaces the whole runtime (admins only). Its Version is
	// kept unless given: a version change is its own, protected, action.
	Runtime *Runtime `json:"runtime,omitempty"`
}

// TransferInput is the body of POST /api/v1/services/{name}/transfer:
// the account (email) that is to own the service (admins only).
type TransferInput struct {
	Owner string `json:"owner"`
}

// ServiceView is a service as the API shows it: the stored fields plus the
// platform hostname, which depends on configuration and so is not stored.
type ServiceView struct {
	Service
	// Hostname is <name>.<platform domain>: the CNAME target for the
	// service's own domains.
	Hostname string `json:"hostname"`
	// URL is where the service answers now, at its hostname on the edge's
	// HTTP listener (see ServiceURL).
	URL string `json:"url"`
}

// ServiceURL is the address a service answers at: its platform hostname
// over plain HTTP, with the edge's HTTP port unless that is 80 (0 means
// 80). HTTP because that always works: the edge serves platform hostnames
// on its HTTP listener without a redirect, and over HTTPS they have a
// certificate only from the internal CA, which browsers trust only once
// it is installed.
func ServiceURL(hostname string, httpPort int) string {
	if httpPort == 0 || httpPort == 80 {
		return "http://" + hostname
	}
	return "http://" + hostname + ":" + strconv.Itoa(httpPort)
}

// ServiceList is the answer to GET /services. The list is wrapped in an
// object so that fields (paging, say) can be added without breaking clients.
type ServiceList struct {
	Services []ServiceView `json:"services"`
}

// TerminationProtectionInput is the body of
// PUT /api/v1/services/{name}/termination-protection. Enabled is a
// pointer so that a body without it is refused rather than read as off.
type TerminationProtectionInput struct {
	Enabled *bool `json:"enabled"`
}

// PurgeResult answers a cache purge.
type PurgeResult struct {
	Purged int `json:"purged"` // cached responses dropped
}
