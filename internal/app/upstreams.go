package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/egress"
)

// Resolver looks up the addresses of a host name; *net.Resolver is one.
// Tests pass their own to point names wherever they need.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// UpstreamLookupTimeout bounds the lookup of an upstream's host name when
// a service is saved. A name that does not answer in time (or at all) is
// accepted: the edge checks the address again whenever it connects.
const UpstreamLookupTimeout = 3 * time.Second

// upstreamProblem is an address of one of a service's upstreams that the
// egress policy refuses.
type upstreamProblem struct {
	upstream string // the URL as given
	name     string // its host name; "" for an IP literal
	refusal  *egress.Refusal
}

// describe says what is wrong in the words of the person who typed the
// upstream: `upstream "http://db.lan:80": db.lan resolves to 127.0.0.1,
// a loopback address`.
func (p upstreamProblem) describe() string {
	r := p.refusal
	subject := r.Addr.Addr().String()
	if r.Own {
		subject = r.Addr.String()
	}
	if p.name != "" {
		return fmt.Sprintf("upstream %q: %s resolves to %s, which is %s", p.upstream, p.name, subject, r.Reason)
	}
	return fmt.Sprintf("upstream %q: %s is %s", p.upstream, subject, r.Reason)
}

// upstreamProblems checks every address of ups against the policy as if
// the service had no override: IP literals as they are, host names as
// they resolve now. Upstreams that do not parse are left to Validate.
func (c *core) upstreamProblems(ctx context.Context, ups []string) []upstreamProblem {
	var out []upstreamProblem
	for _, raw := range ups {
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() == "" {
			continue
		}
		port := uint16(80)
		if u.Scheme == "https" {
			port = 443
		}
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				continue
			}
			port = uint16(n)
		}
		host, name := u.Hostname(), ""
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{a}
		} else {
			name = host
			lctx, cancel := context.WithTimeout(ctx, UpstreamLookupTimeout)
			addrs, _ = c.opts.Resolver.LookupNetIP(lctx, "ip", host)
			cancel()
		}
		for _, a := range addrs {
			var r *egress.Refusal
			if errors.As(c.opts.Upstreams.Check(netip.AddrPortFrom(a, port), false), &r) {
				out = append(out, upstreamProblem{upstream: raw, name: name, refusal: r})
				break // one reason per upstream is enough to act on
			}
		}
	}
	return out
}

// applyUpstreamPolicy decides svc's upstreams against problems (from
// upstreamProblems, for svc.Upstreams) and svc.AllowPrivateUpstreams.
// rampart's own listeners are refused whatever the override. Other
// problems need the override; when it is off and the caller is an admin
// who did not say (explicit false), it is turned on, and the returned
// note says why for the audit log. Members get an error that says whom
// to ask.
func applyUpstreamPolicy(actor Actor, svc *rampart.Service, problems []upstreamProblem, explicit bool) (note string, err error) {
	var errs []error
	var lifted []upstreamProblem
	for _, p := range problems {
		switch {
		case p.refusal.Own:
			errs = append(errs, rampart.FieldError("upstreams", rampart.Errorf(rampart.EINVALID,
				"%s: point the service at your application's own address", p.describe())))
		case !svc.AllowPrivateUpstreams:
			lifted = append(lifted, p)
		}
	}
	if len(errs) > 0 || len(lifted) == 0 {
		return "", errors.Join(errs...)
	}
	if actor.isAdmin() && !explicit {
		svc.AllowPrivateUpstreams = true
		return "allow_private_upstreams=true (automatic: " + lifted[0].describe() + ")", nil
	}
	for _, p := range lifted {
		var msg string
		switch {
		case actor.isAdmin():
			msg = "%s: set allow_private_upstreams to allow it for this service, or point it elsewhere"
		case p.refusal.Outside:
			msg = "%s: point it at an address there, or ask an admin to allow it for this service (allow_private_upstreams)"
		default:
			msg = "%s, which only an admin can allow: point it at another address, or ask an admin to allow it for this service (allow_private_upstreams)"
		}
		errs = append(errs, rampart.FieldError("upstreams", rampart.Errorf(rampart.EINVALID, msg, p.describe())))
	}
	return "", errors.Join(errs...)
}

// errPrivateUpstreamsAdminOnly answers a member who tries to turn the
// override on.
func errPrivateUpstreamsAdminOnly() error {
	return rampart.FieldError("allow_private_upstreams", rampart.Errorf(rampart.EFORBIDDEN,
		"only an admin can set allow_private_upstreams: ask an admin to allow private upstreams for this service"))
}

// defaultResolver is the system's, for Options.Resolver.
var defaultResolver Resolver = net.DefaultResolver
