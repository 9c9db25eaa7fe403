package app

import (
	"context"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// SSL is the certificates rampart holds for services' domains, as far as
// people act on them: the seed's "Reset SSL_DATA folder".
type SSL struct{ *core }

// CertificateResetter moves the certificate storage of name (all of it
// for "") aside and has the certificates obtained anew; it returns where
// the files went. The certificate manager, in serve.
type CertificateResetter interface {
	Reset(ctx context.Context, name string) (movedTo string, err error)
}

// ResetFunc is a CertificateResetter made of a function.
type ResetFunc func(ctx context.Context, name string) (movedTo string, err error)

// Reset calls f.
func (f ResetFunc) Reset(ctx context.Context, name string) (string, error) { return f(ctx, name) }

// Reset is the seed's "Reset SSL_DATA folder": certificate
// storage that went bad is moved aside (kept, not deleted) and
// certificates are obtained anew. With no domain it resets everything
// (admins only: every service's certificates and the ACME account go);
// with a domain it resets that name only, for the owner of its service or
// an admin. The domain may be a custom domain or, where the internal CA
// certifies them (the demo), a service's platform hostname. Uploaded
// certificates (TLS mode custom) and domains with TLS off have nothing to
// reset and are refused with what to do instead.
func (s *SSL) Reset(ctx context.Context, actor Actor, in rampart.SSLResetInput) (*rampart.SSLReset, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	if s.opts.Certificates == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "this rampart process manages no certificates: run the command against the server that runs `rampart serve`")
	}
	domain := strings.TrimSpace(in.Domain)
	if domain == "" {
		return s.resetAll(ctx, actor)
	}
	name, err := rampart.NormalizeDomain(domain, "")
	if err != nil {
		return nil, rampart.FieldError("domain", rampart.Errorf(rampart.EINVALID, "%s", rampart.ErrorMessage(err)))
	}
	var svc *rampart.Service
	d, err := s.store.DomainByName(ctx, name)
	switch {
	case err == nil:
		if svc, err = s.liveService(ctx, s.store, actor, d.Service); err != nil {
			return nil, notOnYourLists(name)
		}
		switch d.TLSMode {
		case rampart.TLSCustom:
			return nil, rampart.Errorf(rampart.EINVALID, "%s uses an uploaded certificate (TLS mode custom), which a reset would not replace: upload a new one with `rampart domain update %s %s --tls custom --cert FILE --key FILE`", name, d.Service, name)
		case rampart.TLSOff:
			return nil, rampart.Errorf(rampart.EINVALID, "%s has TLS off: rampart holds no certificate for it (turn TLS on with `rampart domain update %s %s --tls managed`)", name, d.Service, name)
		}
	case rampart.ErrorCode(err) == rampart.ENOTFOUND:
		if svc = s.platformService(ctx, actor, name); svc == nil {
			return nil, notOnYourLists(name)
		}
	default:
		return nil, err
	}
	moved, err := s.opts.Certificates.Reset(ctx, name)
	if err != nil {
		return nil, err
	}
	out := &rampart.SSLReset{Domain: name, Reissuing: []string{name}}
	if actor.isAdmin() {
		out.MovedTo = moved
	}
	err = s.store.InTx(ctx, func(st store.Store) error {
		return s.audit(ctx, st, actor, "ssl.reset", svc, "domain="+name+movedDetail(moved))
	})
	return out, err
}

func (s *SSL) resetAll(ctx context.Context, actor Actor) (*rampart.SSLReset, error) {
	if !actor.isAdmin() {
		return nil, rampart.Errorf(rampart.EFORBIDDEN, "resetting all certificates affects every service: only an admin can do it; reset one of yours with --domain NAME")
	}
	list, err := s.store.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return nil, err
	}
	moved, err := s.opts.Certificates.Reset(ctx, "")
	if err != nil {
		return nil, err
	}
	out := &rampart.SSLReset{MovedTo: moved, Reissuing: []string{}}
	for _, d := range list {
		if d.TLSMode == rampart.TLSManaged {
			out.Reissuing = append(out.Reissuing, d.Name)
		}
	}
	err = s.store.InTx(ctx, func(st store.Store) error {
		return s.audit(ctx, st, actor, "ssl.reset", nil, "all"+movedDetail(moved))
	})
	return out, err
}

// platformService returns the service whose platform hostname is name, if
// the caller may see it and the internal CA certifies it (only then does
// rampart hold a certificate for a platform hostname).
func (s *SSL) platformService(ctx context.Context, actor Actor, name string) *rampart.Service {
	if s.opts.PlatformDomain == "" || !rampart.IsInternalName(name) {
		return nil
	}
	label, ok := strings.CutSuffix(name, "."+strings.ToLower(s.opts.PlatformDomain))
	if !ok || strings.Contains(label, ".") {
		return nil
	}
	svc, err := s.visibleService(ctx, s.store, actor, label)
	if err != nil {
		return nil
	}
	return svc
}

func notOnYourLists(name string) error {
	return rampart.FieldError("domain", rampart.Errorf(rampart.ENOTFOUND, "%s is not a domain of any service you can see: see `rampart domain list SERVICE`", name))
}

func movedDetail(moved string) string {
	if moved == "" {
		return " moved=nothing"
	}
	return " moved_to=" + moved
}
