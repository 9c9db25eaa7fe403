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
	// Changes wakes the loop right after a change made in this process.
	Changes <-chan struct{}
	// Poll is how often the store's services version is checked (domain
	// additions and removals move it). Default 2s.
	Poll time.Duration
	// Recheck is how often the DNS of a domain that does not point here
	// yet is checked again. Default 30s.
	Recheck time.Duration
	Log     *slog.Logger

	kick chan struct{}
	once sync.Once

	mu      sync.Mutex
	pointed map[string]bool      // managed names handed to the manager because DNS pointed here
	checked map[string]time.Time // when a waiting name's DNS was last checked
}

func (r *Domains) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		r.pointed = map[string]bool{}
		r.checked = map[string]time.Time{}
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

// Sync runs one pass: DNS checks that are due (all of them with force),
// the manager's list, and the stored states.
func (r *Domains) Sync(ctx context.Context, force bool) error {
	r.init()
	list, err := r.Store.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return err
	}
	now := time.Now()
	recheck := r.Recheck
	if recheck <= 0 {
		recheck = 30 * time.Second
	}

	// DNS checks of managed public names that have not pointed here yet,
	// in parallel (each check is bounded by the checker's timeout).
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
		if !force && now.Sub(r.checked[d.Name]) < recheck {
			continue
		}
		r.checked[d.Name] = now
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res := r.Check(ctx, d)
			rmu.Lock()
			results[d.Name] = res
			rmu.Unlock()
		}()
	}
	// Forget names that were removed, so that adding one again starts over.
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
	if ctx.Err() != nil {
		return ctx.Err()
	}

	r.mu.Lock()
	for n, res := range results {
		if res.PointsHere {
			r.pointed[n] = true
		}
	}
	var want []certs.Domain
	for _, d := range list {
		switch {
		case d.TLSMode == rampart.TLSOff:
		case d.TLSMode == rampart.TLSCustom:
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeCustom, CertPEM: d.CertPEM, KeyPEM: d.KeyPEM})
		case certs.IsInternalName(d.Name):
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeInternal})
		case r.pointed[d.Name]:
			want = append(want, certs.Domain{Name: d.Name, Mode: certs.ModeManaged})
		}
	}
	pointed := maps(r.pointed)
	r.mu.Unlock()
	// With a platform domain only the internal CA can certify (localhost
	// in the demo, .test), every service's own hostname gets an
	// internal-CA certificate too, so that the demo runs on HTTPS.
	if r.PlatformDomain != "" && certs.IsInternalName("x."+r.PlatformDomain) {
		svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
		if err != nil {
			return err
		}
		for _, s := range svcs {
			want = append(want, certs.Domain{Name: s.Hostname(r.PlatformDomain), Mode: certs.ModeInternal})
		}
	}
	if want == nil {
		want = []certs.Domain{}
	}
	if err := r.Certs.SetDomains(want); err != nil {
		// SetDomains refuses the whole list for one bad entry; the store
		// holds validated names, so this is a bug worth a loud line.
		r.log().Error("handing the domain list to the certificate manager", "err", err)
	}

	var errs []error
	for _, d := range list {
		state, reason, known := d.State, d.Reason, true
		switch {
		case d.TLSMode == rampart.TLSOff:
			state, reason = rampart.DomainActive, ""
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

func maps(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
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

// Run syncs at start, then on change notices, certificate status changes,
// services version moves and every Recheck. It returns when ctx ends.
func (r *Domains) Run(ctx context.Context) error {
	r.init()
	poll := r.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var seen int64 = -1
	sync := func(force bool) {
		if err := r.Sync(ctx, force); err != nil && ctx.Err() == nil {
			r.log().Error("syncing custom domains; will retry", "err", err)
		}
	}
	sync(true)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.Changes:
			sync(false)
		case <-r.kick:
			sync(false)
		case <-tick.C:
			v, err := r.Store.ServicesVersion(ctx)
			sync(err == nil && v != seen && seen != -1)
			seen = v
		}
	}
}
