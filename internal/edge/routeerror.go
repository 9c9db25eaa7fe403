package edge

import (
	"errors"
	"fmt"
)

// RouteError is why [Edge.SetRoutes] left one route out of the routing
// table. Every other route was installed: one service's mistake never takes
// the others down.
type RouteError struct {
	// Service names the route's service; "" for a route without a name.
	Service string
	// Err is what is wrong with the route and how to fix it.
	Err error
}

func (e *RouteError) Error() string {
	if e.Service == "" {
		return "edge: a route was not installed: " + e.Err.Error()
	}
	return fmt.Sprintf("edge: the route of service %q was not installed: %v", e.Service, e.Err)
}

func (e *RouteError) Unwrap() error { return e.Err }

// RouteErrors sorts an error returned by [Edge.SetRoutes] by service, so
// that a caller can record each service's status: the map holds each
// refused service's *RouteError, or the join of several when the service
// had more than one route refused. It returns nil for a nil err; errors
// that contain no RouteError give an empty map.
func RouteErrors(err error) map[string]error {
	if err == nil {
		return nil
	}
	m := make(map[string]error)
	collectRouteErrors(err, m)
	return m
}

func collectRouteErrors(err error, m map[string]error) {
	switch e := err.(type) {
	case *RouteError:
		if prev, ok := m[e.Service]; ok {
			m[e.Service] = errors.Join(prev, e)
		} else {
			m[e.Service] = e
		}
	case interface{ Unwrap() []error }:
		for _, err := range e.Unwrap() {
			collectRouteErrors(err, m)
		}
	case interface{ Unwrap() error }:
		if err := e.Unwrap(); err != nil {
			collectRouteErrors(err, m)
		}
	}
}
