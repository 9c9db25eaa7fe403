package certs

import "errors"

// DomainError: placeholder of the certscli branch's type, removed at merge.
type DomainError struct {
	Name string
	Err  error
}

func (e *DomainError) Error() string { return e.Err.Error() }
func (e *DomainError) Unwrap() error { return e.Err }

// DomainErrors: placeholder, removed at merge.
func DomainErrors(err error) map[string]error {
	if err == nil {
		return nil
	}
	out := map[string]error{}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, x := range j.Unwrap() {
			var de *DomainError
			if errors.As(x, &de) {
				out[de.Name] = de
			}
		}
	}
	return out
}
