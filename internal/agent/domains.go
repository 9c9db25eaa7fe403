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
// A domain is routed and certified only once DNS has proven that it belongs
// to its service (rampart.DomainStatus.VerifiedAt, which the routes
// reconciler reads): a CNAME (chain) to the service's platform hostname, or
// A/AAAA records to the node's IPs. With two or more accounts on the node
// the addresses prove nothing about which tenant the name belongs to, so
// they must come with the TXT record _rampart-challenge.<domain> holding
// the service's token; with a single account there is nobody to take a name
// from, and the addresses alone prove it. A name only the internal CA can
// certify (certs.IsInternalName, e.g. under .test) has no public DNS: on a
// single-account node it is proven at once, otherwise through the
// configured resolvers like any other name.
//
// Until proven, a domain is waiting_for_dns, whatever its TLS mode, with
// the checker's reason (which names the record to add), and its DNS is
// checked again every Recheck. Once proven it stays proven while it is on
// the service: a later DNS failure does not un-route a live site, and the
// proof ends only with the domain (whoever adds the name next proves it
// anew, with their own token).
//
// Per TLS mode, once proven:
//   - managed: the name goes to the certificate manager; a name only the
//     internal CA can certify goes as ModeInternal.
//   - custom: goes to the manager with its certificate and key.
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
	// Own are the names the node serves itself (admin.domain): each gets a
	// certificate like a custom domain, with no DNS proof asked (the
	// operator configured it).
	Own []certs.Domain
	// Recheck is how often the DNS of a domain that is not proven yet is
	// checked again. Default 30s.
	Recheck time.Duration
	Log     *slog.Logger

	kick chan struct{}
	once sync.Once

	mu      sync.Mutex
	checked map[string]time.Time // when an unproven name's DNS was last checked
	// domainsRev is the domains revision of the last pass, -1 before it:
	// only a change of the domains themselves re-checks every waiting
	// name at once. A service change (any tenant's) must not set off a
	// DNS query for every waiting domain of every tenant.
	domainsRev int64
}

func (r *Domains) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
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

// Target is what d must point at to be proven: with shared set (two or
// more accounts) A/AAAA records count only with d's challenge token.
func (r *Domains) Target(d *rampart.Domain, shared bool) dnscheck.Target {
	t := dnscheck.Target{CNAME: (&rampart.Service{Name: d.Service}).Hostname(r.PlatformDomain), IPs: r.NodeIPs}
	if shared {
		t.Token = d.Challenge.Value
	}
	return t
}

// Shared reports whether more than one account exists, so that an address
// record alone cannot prove whose a name is. When the store cannot say, the
// node counts as shared: the stricter proof is the safe one.
func (r *Domains) Shared(ctx context.Context) bool {
	n, err := r.Store.CountUsers(ctx)
	return err != nil || n >= 2
}

// Check runs the DNS check of d now: whether DNS proves d belongs to its
// service, and if not, which record to add. It records nothing itself, but
// when the answer proves an unproven name (a person asks after adding the
// record) the reconciler checks it again at once instead of at its next
// recheck, and records the proof then.
func (r *Domains) Check(ctx context.Context, d *rampart.Domain) dnscheck.Result {
	res := r.Checker.Check(ctx, d.Name, r.Target(d, r.Shared(ctx)))
	if res.PointsHere && !d.Verified() {
		r.init()
		r.mu.Lock()
		delete(r.checked, d.Name)
		r.mu.Unlock()
		r.Notify()
	}
	return res
}

func (r *Domains) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Sync runs one pass in four steps: prove the names that are due (all
// unproven ones when the domains changed), plan the certificate manager's
// list, apply it, and report each domain's state to the store. A name the
// manager refuses is in error with the manager's reason; the others go on.
func (r *Domains) Sync(ctx context.Context, t Trigger) error {
	r.init()
	list, err := r.Store.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return err
	}
	if list, err = r.liveDomains(ctx, list); err != nil {
		return err
	}
	force := t.Changed
	if rev, ok := t.Revisions[store.KindDomains]; ok {
		force = rev != r.domainsRev
		r.domainsRev = rev
	}
	results := r.prove(ctx, list, force)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	want, err := r.plan(ctx, list)
	if err != nil {
		return err
	}
	refused := certs.DomainErrors(r.Certs.SetDomains(want))
	for name, err := range refused {
		r.log().Error("the certificate manager refused a name; it is left out, every other name is served", "domain", name, "err", err)
	}
	return r.report(ctx, list, results, refused)
}

// liveDomains leaves out the domains of deleted services: during the grace
// period their names stay reserved for the owner, but they are neither
// checked nor given certificates.
func (r *Domains) liveDomains(ctx context.Context, list []*rampart.Domain) ([]*rampart.Domain, error) {
	svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return nil, err
	}
	deleted := map[int64]bool{}
	for _, s := range svcs {
		if s.State == rampart.StateDeleted {
			deleted[s.ID] = true
		}
	}
	if len(deleted) == 0 {
		return list, nil
	}
	out := list[:0:0]
	for _, d := range list {
		if !deleted[d.ServiceID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// prove runs, in parallel, the DNS checks of the unproven names that are
// due, or of all of them with force (each check is bounded by the
// checker's timeout), records the names found proven (setting VerifiedAt
// in list too), and forgets names that were removed, so that adding one
// again starts over.
func (r *Domains) prove(ctx context.Context, list []*rampart.Domain, force bool) map[string]dnscheck.Result {
	now := time.Now()
	shared := r.Shared(ctx)
	results := map[string]dnscheck.Result{}
	var (
		wg  sync.WaitGroup
		rmu sync.Mutex
		sem = make(chan struct{}, 8)
	)
	var proven []*rampart.Domain
	r.mu.Lock()
	live := map[string]bool{}
	for _, d := range list {
		live[d.Name] = true
		if d.Verified() {
			continue
		}
		if certs.IsInternalName(d.Name) && !shared {
			// No public DNS to ask, and no other account to take it from.
			rmu.Lock()
			proven = append(proven, d)
			rmu.Unlock()
			continue
		}
		if !force && now.Sub(r.checked[d.Name]) < r.recheck() {
			continue
		}
		r.checked[d.Name] = now
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res := r.Checker.Check(ctx, d.Name, r.Target(d, shared))
			rmu.Lock()
			results[d.Name] = res
			if res.PointsHere {
				proven = append(proven, d)
			}
			rmu.Unlock()
		})
	}
	for n := range r.checked {
		if !live[n] {
			delete(r.checked, n)
		}
	}
	r.mu.Unlock()
	wg.Wait()

	for _, d := range proven {
		at := time.Now().UTC()
		if err := r.Store.VerifyDomain(ctx, d.ID, at); err != nil {
			if rampart.ErrorCode(err) != rampart.ENOTFOUND {
				r.log().Error("recording a domain's proof failed; it is checked again on the next pass", "domain", d.Name, "err", err)
				r.mu.Lock()
				delete(r.checked, d.Name)
				r.mu.Unlock()
			}
			continue
		}
		d.VerifiedAt = &at
		r.log().Info("domain proven: DNS shows it belongs to its service", "domain", d.Name, "service", d.Service)
	}
	return results
}

// plan is the certificate manager's list: the proven names of TLS modes
// managed and custom, and in the demo the platform hostnames.
func (r *Domains) plan(ctx context.Context, list []*rampart.Domain) ([]certs.Domain, error) {
	want := append([]certs.Domain{}, r.Own...)
	for _, d := range list {
		switch {
		case !d.Verified(), d.TLSMode == rampart.TLSOff:
		case d.TLSMode == rampart.TLSCustom:
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeCustom, CertPEM: d.CertPEM, KeyPEM: d.KeyPEM})
		case certs.IsInternalName(d.Name):
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeInternal})
		default:
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeManaged})
		}
	}
	// With a platform domain only the internal CA can certify (localhost
	// in the demo, .test), every service's own hostname gets an
	// internal-CA certificate too, so that the demo runs on HTTPS.
	if r.PlatformDomain != "" && certs.IsInternalName("x."+r.PlatformDomain) {
		svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
		if err != nil {
			return nil, err
		}
		for _, s := range svcs {
			if s.State != rampart.StateDeleted {
				want = append(want, certs.Domain{Name: s.Hostname(r.PlatformDomain), Mode: certs.ModeInternal})
			}
		}
	}
	return want, nil
}

// report writes each domain's state where it changed.
func (r *Domains) report(ctx context.Context, list []*rampart.Domain, results map[string]dnscheck.Result, refused map[string]error) error {
	var errs []error
	for _, d := range list {
		state, reason, known := d.State, d.Reason, true
		switch {
		case !d.Verified():
			res, ok := results[d.Name]
			if !ok {
				known = false // not checked in this pass: keep what is stored
				break
			}
			state, reason = rampart.DomainWaitingForDNS, res.Reason
			if reason == "" {
				reason = "DNS does not prove yet that the name belongs to this service"
			}
		case d.TLSMode == rampart.TLSOff:
			state, reason = rampart.DomainActive, ""
		case refused[d.Name] != nil:
			state, reason = rampart.DomainError, refused[d.Name].Error()
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
	return rampart.DomainIssuing, "DNS proves the name is this service's: requesting a certificate"
}
