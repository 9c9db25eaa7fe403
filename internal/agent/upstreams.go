package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/egress"
)

// holdForbidden leaves out of routes every route with an upstream at an IP
// address the egress policy refuses, and returns one *edge.RouteError per
// route left out, so the service's status says which address and why.
//
// The service layer refuses such upstreams when a service is saved, and the
// edge's transport refuses them again at every dial; what is left is a
// service saved before the policy was what it is now: an upgrade from a
// release without the policy, or an operator who narrowed
// upstreams.allowed_networks. Without this its requests would fail with 502
// one by one while its status said "Applied". Host names are left to the
// dial-time check: resolving them here would make the routing table depend
// on DNS answers.
func holdForbidden(p *egress.Policy, routes []edge.Route) ([]edge.Route, []error) {
	if p == nil {
		return routes, nil
	}
	kept := routes[:0:0]
	var held []error
	for _, rt := range routes {
		if err := forbiddenUpstream(p, rt); err != nil {
			held = append(held, &edge.RouteError{Service: rt.Service, Err: err})
			continue
		}
		kept = append(kept, rt)
	}
	return kept, held
}

// forbiddenUpstream returns why the first of rt's upstreams that names a
// refused IP address may not be dialed, or nil.
func forbiddenUpstream(p *egress.Policy, rt edge.Route) error {
	for _, raw := range rt.Upstreams {
		u, err := url.Parse(raw)
		if err != nil {
			continue // the edge refuses it with its own reason
		}
		a, err := netip.ParseAddr(u.Hostname())
		if err != nil {
			continue // a host name: checked at dial time
		}
		port := 80
		if u.Scheme == "https" {
			port = 443
		}
		if ps := u.Port(); ps != "" {
			if port, err = strconv.Atoi(ps); err != nil || port < 1 || port > 65535 {
				continue
			}
		}
		err = p.Check(netip.AddrPortFrom(a.WithZone(""), uint16(port)), rt.AllowPrivate)
		var r *egress.Refusal
		if errors.As(err, &r) {
			hint := "an admin can allow it for this service (rampart service update " + rt.Service + " --allow-private-upstreams)"
			if r.Own {
				hint = "point the service at its app instead"
			}
			return fmt.Errorf("upstream %s is not allowed: it is %s; %s", net.JoinHostPort(a.String(), strconv.Itoa(port)), r.Reason, hint)
		}
	}
	return nil
}
