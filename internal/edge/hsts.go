package edge

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rampart-dev/rampart/internal/limits"
)

// headerHSTS is the Strict-Transport-Security header, in canonical form.
const headerHSTS = "Strict-Transport-Security"

// HSTS is a route's HTTP Strict Transport Security: the edge adds
// "Strict-Transport-Security: max-age=MaxAge[; includeSubDomains][; preload]"
// to every response it sends the route's clients over HTTPS — proxied,
// from the cache (in the fast lane too), error pages and 429s alike — and
// never over plain HTTP, where browsers must ignore it (RFC 6797 §8.1).
// The upstream's own header is dropped: the service's setting wins. A
// route without HSTS passes the upstream's header through untouched.
type HSTS struct {
	// MaxAge is in seconds, 0 to limits.HSTSMaxMaxAge; 0 tells browsers
	// to forget the host's HSTS.
	MaxAge            int64
	IncludeSubDomains bool
	Preload           bool
}

// Validate checks h against the bounds the service layer uses.
func (h *HSTS) Validate() error {
	if h.MaxAge < 0 || h.MaxAge > limits.HSTSMaxMaxAge {
		return fmt.Errorf("hsts: max-age must be between 0 and %d seconds, got %d", limits.HSTSMaxMaxAge, h.MaxAge)
	}
	if h.Preload && (h.MaxAge < limits.HSTSPreloadMinMaxAge || !h.IncludeSubDomains) {
		return errors.New("hsts: preload requires a max-age of at least a year and includeSubDomains")
	}
	return nil
}

// value is the header's value, built once per routing table; cap == len,
// so that a writer appending to it gets a copy.
func (h *HSTS) value() []string {
	v := "max-age=" + strconv.FormatInt(h.MaxAge, 10)
	if h.IncludeSubDomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return []string{v}
}

// setHSTS puts the route's header on a response to r, before any handler
// of the chain runs, so that every answer carries it: the proxy adds the
// upstream's header values to it (and drops the upstream's own HSTS, see
// dropUpstreamHSTS), a cache hit sets its stored fields, never this one.
func (rt *route) setHSTS(w http.ResponseWriter, r *http.Request) {
	if rt.hsts != nil && r.TLS != nil {
		w.Header()[headerHSTS] = rt.hsts
	}
}

// dropUpstreamHSTS is the ModifyResponse of a route with HSTS: the edge's
// header is already on the response, and the proxy would add the
// upstream's next to it. Dropped before the output cache sees the response,
// so that it never stores one either.
func dropUpstreamHSTS(res *http.Response) error {
	delete(res.Header, headerHSTS)
	return modifyResponse(res)
}
