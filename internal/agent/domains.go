package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/dnscheck"
	"github.com/rampart-dev/rampart/internal/store"
)

// CertManager is what the domains reconciler drives: a *certs.Manager.
type CertManager interface {
	SetDomains([]certs.Domain) error
	Status(name string) certs.Status
}

// DNSChecker is what the domains reconciler asks where names point: a
// *dnscheck.Checker.
type DNSChecker interface {
	Check(ctx context.Context, name string, t dnscheck.Target) dnscheck.Result
}

// Domains keeps the certificate manager's list equal to the custom domains
// in the store, and the stored state of each domain equal to what DNS and
// the certificate manager say. It is the only writer of domain states.
//
// Per TLS mode:
//   - managed: the name's DNS is checked (through Checker); while it does
//     not point at the service the domain is waiting_for_dns with the
//     checker's Reason, and the CA is never asked for it. Once it points
//     here the name goes to the certificate manager (issuing), and stays
//     there: a later DNS change does not take a working certificate away.
//     A name only the internal CA can certify (certs.IsInternalName) goes
//     to the manager at once, as ModeInternal.
//   - custom: goes to the manager at once with its certificate and key.
//   - off: never goes to the manager; the domain is active (HTTP only).
//
// The certificate manager's status then sets the state: active, issuing,
// or error with its readable error as the reason.
type Domains struct {
	Store   store.Store
	Certs   CertManager
	Checker DNSChecker
	// PlatformDomain and NodeIPs make each service's DNS target: a CNAME
	// to <service>.<platform domain>, or A/AAAA records to NodeIPs.
	PlatformDomain string
	NodeIPs        []netip.Addr
	// Recheck is how often the DNS of a domain that does not point here
	// yet is checked again. Default 30s.
	Recheck time.Duration
	Log     *slog.Logger

	kick chan struct{}
	once sync.Once

	mu      sync.Mutex
	pointed map[string]bool      // managed names handed to the manager because DNS pointed here
	checked map[string]time.Time // when a waiting name's DNS was last checked
	// domainsRev is the domains revision of the last pass, -1 before it:
	// only a change of the domains themselves re-checks every waiting
	// name at once. A service change (any tenant's) must not set off a
	// DNS query for every waiting domain of every tenant.
	domainsRev int64
}

func (r *Domains) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		r.pointed = map[string]bool{}
		r.checked = map[string]time.Time{}
		r.domainsRev = -1
	})
}

// Notify makes the loop sync soon; the certificate manager's OnStatus calls
// it.
func (r *Domains) Notify() {
	r.init()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Name implements Reconciler.
func (r *Domains) Name() string { return "domains" }

// Kinds implements Reconciler: the domains, and the services, whose
// platform host names get internal-CA certificates in the demo.
func (r *Domains) Kinds() []store.Kind { return []store.Kind{store.KindDomains, store.KindServices} }

// Wake implements Waker: the certificate manager's status changes.
func (r *Domains) Wake() <-chan struct{} {
	r.init()
	return r.kick
}

// ResyncEvery implements Resyncer: DNS checks fall due as time passes.
func (r *Domains) ResyncEvery() time.Duration { return min(r.recheck()/4, 5*time.Second) }

func (r *Domains) recheck() time.Duration {
	if r.Recheck <= 0 {
		return 30 * time.Second
	}
	return r.Recheck
}

// Target is what the named service's custom domains must point at.
func (r *Domains) Target(service string) dnscheck.Target {
	return dnscheck.Target{CNAME: (&rampart.Service{Name: service}).Hostname(r.PlatformDomain), IPs: r.NodeIPs}
}

// Check runs the DNS check of d now.
func (r *Domains) Check(ctx context.Context, d *rampart.Domain) dnscheck.Result {
	return r.Checker.Check(ctx, d.Name, r.Target(d.Service))
}

func (r *Domains) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Sync runs one pass in four steps: check the DNS of the names that are
// due (all of them when the domains changed), plan the certificate manager's list, apply it, and report each
// domain's state to the store. A name the manager refuses is in error with
// the manager's reason; the others go on.
func (r *Domains) Sync(ctx context.Context, t Trigger) error {
	r.init()
	list, err := r.Store.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return err
	}
	force := t.Changed
	if rev, ok := t.Revisions[store.KindDomains]; ok {
		force = rev != r.domainsRev
		r.domainsRev = rev
	}
	results := r.check(ctx, list, force)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	want, pointed, err := r.plan(ctx, list, results)
	if err != nil {
		return err
	}
	refused := certs.DomainErrors(r.Certs.SetDomains(want))
	for name, err := range refused {
		r.log().Error("the certificate manager refused a name; it is left out, every other name is served", "domain", name, "err", err)
	}
	return r.report(ctx, list, results, pointed, refused)
}

// check runs, in parallel, the DNS checks of managed public names that have
// not pointed here yet and are due, or all of them with force (each check
// is bounded by the checker's timeout), and forgets names that were
// removed, so that adding one again starts over.
func (r *Domains) check(ctx context.Context, list []*rampart.Domain, force bool) map[string]dnscheck.Result {
	now := time.Now()
	results := map[string]dnscheck.Result{}
	var (
		wg  sync.WaitGroup
		rmu sync.Mutex
		sem = make(chan struct{}, 8)
	)
	r.mu.Lock()
	live := map[string]bool{}
	for _, d := range list {
		live[d.Name] = true
		if d.TLSMode != rampart.TLSManaged || certs.IsInternalName(d.Name) || r.pointed[d.Name] {
			continue
		}
		// A name the manager already worked on before a restart pointed
		// here then: hand it over again without waiting for DNS.
		if d.State == rampart.DomainActive || d.State == rampart.DomainError || d.State == rampart.DomainIssuing {
			r.pointed[d.Name] = true
			continue
		}
		if !force && now.Sub(r.checked[d.Name]) < r.recheck() {
			continue
		}
		r.checked[d.Name] = now
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res := r.Check(ctx, d)
			rmu.Lock()
			results[d.Name] = res
			rmu.Unlock()
		})
	}
	for n := range r.pointed {
		if !live[n] {
			delete(r.pointed, n)
		}
	}
	for n := range r.checked {
		if !live[n] {
			delete(r.checked, n)
		}
	}
	r.mu.Unlock()
	wg.Wait()

	r.mu.Lock()
	for n, res := range results {
		if res.PointsHere {
			r.pointed[n] = true
		}
	}
	r.mu.Unlock()
	return results
}

// plan is the certificate manager's list, and the managed names whose DNS
// pointed here (a copy, for report).
func (r *Domains) plan(ctx context.Context, list []*rampart.Domain, results map[string]dnscheck.Result) ([]certs.Domain, map[string]bool, error) {
	want := []certs.Domain{}
	r.mu.Lock()
	pointed := make(map[string]bool, len(r.pointed))
	for k, v := range r.pointed {
		pointed[k] = v
	}
	r.mu.Unlock()
	for _, d := range list {
		switch {
		case d.TLSMode == rampart.TLSOff:
		case d.TLSMode == rampart.TLSCustom:
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeCustom, CertPEM: d.CertPEM, KeyPEM: d.KeyPEM})
		case certs.IsInternalName(d.Name):
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeInternal})
		case pointed[d.Name]:
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeManaged})
		}
	}
	// With a platform domain only the internal CA can certify (localhost
	// in the demo, .test), every service's own hostname gets an
	// internal-CA certificate too, so that the demo runs on HTTPS.
	if r.PlatformDomain != "" && certs.IsInternalName("x."+r.PlatformDomain) {
		svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
		if err != nil {
			return nil, nil, err
		}
		for _, s := range svcs {
			want = append(want, certs.Domain{Name: s.Hostname(r.PlatformDomain), Mode: certs.ModeInternal})
		}
	}
	return want, pointed, nil
}

// report writes each domain's state where it changed.
func (r *Domains) report(ctx context.Context, list []*rampart.Domain, results map[string]dnscheck.Result, pointed map[string]bool, refused map[string]error) error {
	var errs []error
	for _, d := range list {
		state, reason, known := d.State, d.Reason, true
		switch {
		case d.TLSMode == rampart.TLSOff:
			state, reason = rampart.DomainActive, ""
		case refused[d.Name] != nil:
			state, reason = rampart.DomainError, refused[d.Name].Error()
		case d.TLSMode == rampart.TLSManaged && !certs.IsInternalName(d.Name) && !pointed[d.Name]:
			res, ok := results[d.Name]
			if !ok {
				known = false // not checked in this pass: keep what is stored
				break
			}
			state, reason = rampart.DomainWaitingForDNS, res.Reason
			if reason == "" {
				reason = "DNS does not point here yet"
			}
		default:
			state, reason = certState(r.Certs.Status(d.Name), d)
		}
		if !known || state == d.State && reason == d.Reason {
			continue
		}
		if err := r.Store.UpdateDomainStatus(ctx, d.ID, state, reason); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
			errs = append(errs, err)
			continue
		}
		r.log().Info("domain state", "domain", d.Name, "service", d.Service, "state", state, "reason", reason)
	}
	if len(errs) > 0 {
		return fmt.Errorf("writing domain states: %w", errs[0])
	}
	return nil
}

// QuarantinedReason is the reason shown for an active domain whose stored
// certificate was found corrupt and replaced. The quarantine path is in the
// server's log, for the operator; the owner only needs to know it happened.
const QuarantinedReason = "The stored certificate was corrupt: rampart moved it to quarantine (the server log says where) and obtained a new one."

// certState turns the certificate manager's status into a domain state.
func certState(st certs.Status, d *rampart.Domain) (rampart.DomainState, string) {
	switch st.State {
	case certs.StateActive:
		if st.Quarantined {
			// Active again, but a person should know that the stored
			// files were bad (a full disk, a bad restore) and where the
			// evidence is.
			return rampart.DomainActive, QuarantinedReason
		}
		return rampart.DomainActive, ""
	case certs.StateError:
		reason := st.Error
		if reason == "" {
			reason = "the certificate could not be obtained"
		}
		if !st.NextAttempt.IsZero() {
			reason += fmt.Sprintf(" (next attempt at %s)", st.NextAttempt.UTC().Format("15:04 UTC"))
		}
		return rampart.DomainError, reason
	}
	switch {
	case d.TLSMode == rampart.TLSCustom:
		return rampart.DomainIssuing, "installing the uploaded certificate"
	case certs.IsInternalName(d.Name):
		return rampart.DomainIssuing, "issuing a certificate from the internal CA"
	}
	return rampart.DomainIssuing, "DNS points here: requesting a certificate"
}
