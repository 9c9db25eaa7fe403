package app

import (
	"context"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Domains are the custom domains of services (each service's allow list of
// hostnames) and their TLS modes.
type Domains struct{ *core }

// DNSChecker runs the DNS check of a domain now (through the configured
// resolvers, against the domain's service): the domains reconciler, in
// serve.
type DNSChecker interface {
	Check(ctx context.Context, d *rampart.Domain) rampart.DNSCheck
}

// DNSCheckFunc is a DNSChecker made of a function.
type DNSCheckFunc func(ctx context.Context, d *rampart.Domain) rampart.DNSCheck

// Check calls f.
func (f DNSCheckFunc) Check(ctx context.Context, d *rampart.Domain) rampart.DNSCheck {
	return f(ctx, d)
}

// initialState is where a domain starts when added, or when its TLS mode
// changes. Every new domain waits for DNS, whatever its mode: the domains
// reconciler routes and certifies a name only once DNS proves it belongs
// to the service (see agent.Domains), and writes the reason, with the
// record to add, on its first pass. A proven domain whose mode changes
// keeps its proof and starts the new mode's way:
//
//   - managed: issuing, until the certificate manager reports the
//     certificate (active) or the CA's refusal (error). A name only the
//     internal CA can certify (under .localhost, .test, …; see
//     rampart.IsInternalName) is issued by that CA.
//   - custom: issuing, until the certificate manager reports the uploaded
//     certificate served (active) or broken (error).
//   - off: active at once: the name is routed over HTTP and no certificate
//     is ever requested.
func initialState(name string, mode rampart.TLSMode, verified bool) (rampart.DomainState, string) {
	switch {
	case !verified:
		return rampart.DomainWaitingForDNS, "checking DNS: the name is routed once DNS proves it belongs to this service"
	case mode == rampart.TLSOff:
		return rampart.DomainActive, ""
	case mode == rampart.TLSCustom:
		return rampart.DomainIssuing, "installing the uploaded certificate"
	case rampart.IsInternalName(name):
		return rampart.DomainIssuing, "issuing a certificate from the internal CA"
	}
	return rampart.DomainIssuing, "requesting a certificate"
}

// checkUpload checks the certificate and key that come with a TLS mode:
// both, and a pair that fits name, for custom; none for the other modes.
func (c *core) checkUpload(name string, mode rampart.TLSMode, certPEM, keyPEM []byte) error {
	hasPEM := len(certPEM) > 0 || len(keyPEM) > 0
	switch {
	case mode == rampart.TLSCustom:
		if len(certPEM) == 0 || len(keyPEM) == 0 {
			return rampart.FieldError("cert_pem", rampart.Errorf(rampart.EINVALID, "TLS mode custom needs both a certificate and its private key (PEM): upload both, or use TLS mode managed"))
		}
		if c.opts.CheckKeyPair == nil {
			return rampart.FieldError("cert_pem", rampart.Errorf(rampart.EINVALID, "this rampart process cannot check uploaded certificates: upload it to the server that runs `rampart serve`"))
		}
		if err := c.opts.CheckKeyPair(name, certPEM, keyPEM); err != nil {
			return rampart.FieldError("cert_pem", rampart.Errorf(rampart.EINVALID, "%s", err.Error()))
		}
	case hasPEM:
		return rampart.FieldError("tls_mode", rampart.Errorf(rampart.EINVALID, "a certificate and key are only used with TLS mode custom: set the mode to custom, or leave them out"))
	}
	return nil
}

// Add adds in.Name (as typed: Unicode, upper case and a trailing dot are
// fine) to the allow list of the service in.Service. TLS mode "" means
// managed; CertPEM and KeyPEM are the upload of mode custom and must be
// empty otherwise.
func (ds *Domains) Add(ctx context.Context, actor Actor, in rampart.DomainInput) (*rampart.Domain, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	mode, certPEM, keyPEM := in.TLSMode, []byte(in.CertPEM), []byte(in.KeyPEM)
	name, err := rampart.NormalizeDomain(in.Name, ds.opts.PlatformDomain)
	if err != nil {
		return nil, err
	}
	if ds.opts.AdminDomain != "" && name == ds.opts.AdminDomain {
		return nil, rampart.FieldError("name", rampart.Errorf(rampart.EINVALID, "%s is the dashboard's own address (admin.domain): a service cannot use it", name))
	}
	if mode == "" {
		mode = rampart.TLSManaged
	}
	if err := rampart.ValidateTLSMode(mode); err != nil {
		return nil, err
	}
	if err := ds.checkUpload(name, mode, certPEM, keyPEM); err != nil {
		return nil, err
	}
	d := &rampart.Domain{Name: name, TLSMode: mode, Display: rampart.DisplayDomain(name)}
	d.State, d.Reason = initialState(name, mode, false)
	if mode == rampart.TLSCustom {
		d.CertPEM, d.KeyPEM = certPEM, keyPEM
	}
	err = ds.store.InTx(ctx, func(st store.Store) error {
		svc, err := ds.liveService(ctx, st, actor, in.Service)
		if err != nil {
			return err
		}
		d.ServiceID = svc.ID
		if err := d.Validate(ds.opts.PlatformDomain); err != nil {
			return err
		}
		// A name that is taken says so before a full quota does: that is
		// the answer that helps (it may be on this very service already).
		if _, err := st.DomainByName(ctx, name); err == nil {
			return domainConflict(ctx, st, actor, svc, name)
		}
		if err := ds.checkDomainQuota(ctx, st, actor, svc); err != nil {
			return err
		}
		if err := st.CreateDomain(ctx, d); err != nil {
			if rampart.ErrorCode(err) == rampart.ECONFLICT {
				return domainConflict(ctx, st, actor, svc, name)
			}
			return err
		}
		return ds.audit(ctx, st, actor, "domain.add", svc, "domain="+name+" tls="+string(mode))
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// domainConflict explains that name is taken. The other service is named
// only to someone who may see it.
func domainConflict(ctx context.Context, st store.Store, actor Actor, svc *rampart.Service, name string) error {
	other, err := st.DomainByName(ctx, name)
	if err != nil {
		return rampart.Errorf(rampart.ECONFLICT, "%s is already used by another service: remove it there first", name)
	}
	if other.ServiceID == svc.ID {
		return rampart.Errorf(rampart.ECONFLICT, "%s is already on the list of %s", name, svc.Name)
	}
	if actor.isAdmin() {
		return rampart.Errorf(rampart.ECONFLICT, "%s is already used by service %s: remove it there first", name, other.Service)
	}
	if o, err := st.ServiceByID(ctx, other.ServiceID); err == nil && o.OwnerID == actor.User.ID {
		return rampart.Errorf(rampart.ECONFLICT, "%s is already used by your service %s: remove it there first", name, o.Name)
	}
	return rampart.Errorf(rampart.ECONFLICT, "%s is already used by another service: if it is yours, ask an admin to move it", name)
}

// List returns the domains of the named service.
func (ds *Domains) List(ctx context.Context, actor Actor, service string) ([]*rampart.Domain, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := ds.visibleService(ctx, ds.store, actor, service)
	if err != nil {
		return nil, err
	}
	return ds.store.ListDomains(ctx, store.DomainFilter{ServiceID: svc.ID})
}

// Get returns one domain of a service.
func (ds *Domains) Get(ctx context.Context, actor Actor, ref rampart.DomainRef) (*rampart.Domain, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := ds.visibleService(ctx, ds.store, actor, ref.Service)
	if err != nil {
		return nil, err
	}
	return domainOf(ctx, ds.store, svc, ref.Name)
}

func domainOf(ctx context.Context, st store.Store, svc *rampart.Service, input string) (*rampart.Domain, error) {
	name, err := rampart.NormalizeDomain(input, "")
	if err != nil {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "domain %q is not on the list of %s", strings.TrimSpace(input), svc.Name)
	}
	d, err := st.DomainByName(ctx, name)
	if err != nil || d.ServiceID != svc.ID {
		if err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
			return nil, err
		}
		return nil, rampart.Errorf(rampart.ENOTFOUND, "domain %s is not on the list of %s: see `rampart domain list %s`", name, svc.Name, svc.Name)
	}
	return d, nil
}

// Update changes the TLS mode of one of the named service's domains,
// or, in mode custom, replaces its uploaded certificate and key (a renewed
// origin certificate, say). The domain starts over from the new mode's
// initial state, as if it had just been added; the certificate manager
// gets the new mode on the reconciler's next pass, and a working
// certificate of the old mode keeps being served until the new one is
// ready.
func (ds *Domains) Update(ctx context.Context, actor Actor, up rampart.DomainUpdate) (*rampart.Domain, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	mode, certPEM, keyPEM := up.TLSMode, []byte(up.CertPEM), []byte(up.KeyPEM)
	if err := rampart.ValidateTLSMode(mode); err != nil {
		return nil, err
	}
	var d *rampart.Domain
	err := ds.store.InTx(ctx, func(st store.Store) error {
		svc, err := ds.liveService(ctx, st, actor, up.Service)
		if err != nil {
			return err
		}
		if d, err = domainOf(ctx, st, svc, up.Name); err != nil {
			return err
		}
		if err := ds.checkUpload(d.Name, mode, certPEM, keyPEM); err != nil {
			return err
		}
		if mode == d.TLSMode && mode != rampart.TLSCustom {
			return rampart.Errorf(rampart.EINVALID, "%s already has TLS mode %s: nothing to change", d.Name, mode)
		}
		detail := "domain=" + d.Name + " tls=" + string(d.TLSMode) + "→" + string(mode)
		if mode == rampart.TLSCustom && d.TLSMode == rampart.TLSCustom {
			detail = "domain=" + d.Name + " tls=custom certificate replaced"
		}
		d.TLSMode, d.CertPEM, d.KeyPEM = mode, nil, nil
		if mode == rampart.TLSCustom {
			d.CertPEM, d.KeyPEM = certPEM, keyPEM
		}
		d.State, d.Reason = initialState(d.Name, mode, d.Verified())
		if err := st.UpdateDomainTLS(ctx, d); err != nil {
			return err
		}
		return ds.audit(ctx, st, actor, "domain.update", svc, detail)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Remove takes a domain off its service's list: the edge stops routing it
// and no certificate is requested for it any more.
func (ds *Domains) Remove(ctx context.Context, actor Actor, ref rampart.DomainRef) error {
	if err := actor.check(); err != nil {
		return err
	}
	err := ds.store.InTx(ctx, func(st store.Store) error {
		svc, err := ds.liveService(ctx, st, actor, ref.Service)
		if err != nil {
			return err
		}
		d, err := domainOf(ctx, st, svc, ref.Name)
		if err != nil {
			return err
		}
		if err := st.DeleteDomain(ctx, d.ID); err != nil {
			return err
		}
		return ds.audit(ctx, st, actor, "domain.remove", svc, "domain="+d.Name)
	})
	if err != nil {
		return err
	}
	return nil
}

// Check runs the DNS check of one domain now, through Options.DNS, and
// returns what each resolver sees and whether DNS proves the name is the
// service's. It changes nothing: the domains reconciler writes states and
// records the proof.
func (ds *Domains) Check(ctx context.Context, actor Actor, ref rampart.DomainRef) (*rampart.Domain, rampart.DNSCheck, error) {
	d, err := ds.Get(ctx, actor, ref)
	if err != nil {
		return nil, rampart.DNSCheck{}, err
	}
	if ds.opts.DNS == nil {
		return nil, rampart.DNSCheck{}, rampart.Errorf(rampart.EINVALID, "this rampart process has no DNS checker: ask the server that runs `rampart serve`")
	}
	return d, ds.opts.DNS.Check(ctx, d), nil
}
