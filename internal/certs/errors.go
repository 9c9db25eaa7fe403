package certs

import (
	"errors"
	"fmt"
)

// DomainError is why SetDomains refused one entry of its list. The other
// entries are applied regardless, so a caller that keeps per-domain state
// (the agent writing each domain's status) can mark exactly this one.
type DomainError struct {
	// Name is the entry's name, normalized (lower-case, punycode) when
	// that succeeded, else as given, so that it matches what the caller
	// stores.
	Name string
	Err  error
}

func (e *DomainError) Error() string {
	return fmt.Sprintf("domain %q: %v", e.Name, e.Err)
}

func (e *DomainError) Unwrap() error { return e.Err }

var errDuplicate = errors.New("listed twice; keep one entry per name")

// DomainErrors takes SetDomains' error apart by domain name; the values
// are the DomainErrors' Err, since the key already names the domain. It
// returns nil for nil, and an empty map for an error that names no domain
// (a closed manager). Several refusals for one name are joined.
func DomainErrors(err error) map[string]error {
	if err == nil {
		return nil
	}
	out := map[string]error{}
	collect(err, out)
	return out
}

// collect walks err's tree itself rather than using errors.As, which stops
// at the first match and would see only one domain of a joined error.
func collect(err error, out map[string]error) {
	var de *DomainError
	switch e := err.(type) {
	case *DomainError:
		de = e
	case interface{ Unwrap() []error }:
		for _, c := range e.Unwrap() {
			collect(c, out)
		}
		return
	case interface{ Unwrap() error }:
		if c := e.Unwrap(); c != nil {
			collect(c, out)
		}
		return
	default:
		return
	}
	if prev, ok := out[de.Name]; ok {
		out[de.Name] = errors.Join(prev, de.Err)
		return
	}
	out[de.Name] = de.Err
}
