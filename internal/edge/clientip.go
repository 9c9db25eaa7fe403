package edge

import (
	"net/http"
	"net/netip"
)

// RemoteIP returns the IP address of r's TCP peer, with IPv4-mapped IPv6
// addresses unmapped. It is the default Config.ClientIP: right when clients
// connect to the edge directly, wrong behind a load balancer, where a
// ClientIP that trusts that balancer's X-Forwarded-For is needed instead.
// It returns the zero Addr when RemoteAddr is not an address (in tests, or
// on a Unix socket).
func RemoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}
