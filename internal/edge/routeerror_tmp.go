package edge

import "errors"

// RouteError: placeholder of the edge branch's type, removed at merge.
type RouteError struct {
	Service string
	Err     error
}

func (e *RouteError) Error() string { return e.Err.Error() }
func (e *RouteError) Unwrap() error { return e.Err }

// RouteErrors: placeholder, removed at merge.
func RouteErrors(err error) map[string]error {
	if err == nil {
		return nil
	}
	out := map[string]error{}
	var walk func(error)
	walk = func(e error) {
		var re *RouteError
		if errors.As(e, &re) {
			out[re.Service] = re
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}
