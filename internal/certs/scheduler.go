package certs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"time"

	"github.com/caddyserver/certmagic"
)

// The scheduler: one goroutine that starts a job for every domain whose
// time has come (d.next), at most maxJobs at once. A job loads, obtains or
// renews one certificate with a single certmagic call and reports back;
// the scheduler then sets the domain's next check: when its renewal window
// opens after a success, after the backoff after a failure.
//
// certmagic's own ManageAsync/maintenance would do the same with retries
// hidden inside it (a minute at least, then growing for 30 days). Driving
// single attempts ourselves keeps the outcome of each one visible in
// Status, and cancellable when a domain is removed or reset.

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) loop() {
	defer m.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		m.mu.Lock()
		at := m.dispatchLocked(time.Now())
		m.timerAt = at
		m.mu.Unlock()
		t.Reset(time.Until(at))
		select {
		case <-m.ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
		}
	}
}

// dispatchLocked starts the jobs that are due and returns when the next
// one will be.
func (m *Manager) dispatchLocked(now time.Time) time.Time {
	next := now.Add(time.Hour)
	if m.paused > 0 || m.closed {
		return next
	}
	for _, d := range m.domains {
		if d.running || d.next.IsZero() {
			continue
		}
		if d.next.After(now) {
			if d.next.Before(next) {
				next = d.next
			}
			continue
		}
		sem := m.semLocal
		if d.mode == ModeManaged {
			sem = m.sem
		}
		select {
		case sem <- struct{}{}:
			m.startLocked(d, sem)
		default:
			// Every slot is busy; a finishing job pokes the loop.
		}
	}
	return next
}

func (m *Manager) startLocked(d *domain, sem chan struct{}) {
	ctx, cancel := context.WithCancel(m.ctx)
	d.running, d.cancel, d.done = true, cancel, make(chan struct{})
	if d.served.Load() == nil && d.mode != ModeCustom {
		d.expect()
	}
	attempts := d.failures
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		out := m.work(ctx, d, attempts)
		<-sem
		m.finish(d, out)
	}()
}

// outcome is what one job reports.
type outcome struct {
	did        string // "loaded", "obtained", "renewed", "checked"
	cert       *certmagic.Certificate
	err        error // nil: success
	retry      bool  // after err: try again after the backoff
	warn       string
	quarantine string
	next       time.Time // after success: next check; zero: none
	took       time.Duration
}

func (m *Manager) work(ctx context.Context, d *domain, attempts int) (out outcome) {
	start := time.Now()
	defer func() { out.took = time.Since(start) }()
	if d.mode == ModeCustom {
		return m.workCustom(ctx, d)
	}
	cm := d.cm
	out.retry = true
	cur, ok := m.lookupServed(d)
	if !ok {
		q, err := m.inspect(ctx, d)
		out.quarantine = q
		if err != nil {
			out.err = err
			return out
		}
		c, err := d.load.CacheManagedCertificate(ctx, d.name)
		switch {
		case err == nil:
			cur, ok = c, true
			m.setServed(d, c)
			out.did = "loaded"
		case errors.Is(err, fs.ErrNotExist):
		default:
			out.err = fmt.Errorf("loading the stored certificate: %w", err)
			return out
		}
	}
	if !ok {
		m.setIssuing(d)
		if err := cm.ObtainCertSync(withAttempts(ctx, attempts), d.name); err != nil {
			out.err = err
			return out
		}
		c, err := d.load.CacheManagedCertificate(ctx, d.name)
		if err != nil {
			out.err = fmt.Errorf("loading the certificate just obtained: %w", err)
			return out
		}
		m.setServed(d, c)
		out.did, out.cert, out.next = "obtained", &c, m.nextCheck(c)
		return out
	}
	out.cert = &cur
	if !cur.NeedsRenewal(cm) {
		if out.did == "" {
			out.did = "checked"
		}
		out.next = m.nextCheck(cur)
		return out
	}
	if err := cm.RenewCertSync(withAttempts(ctx, attempts), d.name, false); err != nil {
		out.err = err
		return out
	}
	c, err := d.load.CacheManagedCertificate(ctx, d.name)
	if err != nil {
		out.err = fmt.Errorf("loading the renewed certificate: %w", err)
		return out
	}
	if c.Hash() != cur.Hash() {
		m.setServed(d, c)
		m.cache.Remove([]string{cur.Hash()})
	}
	out.did, out.cert, out.next = "renewed", &c, m.nextCheck(c)
	return out
}

// withAttempts tells certmagic how many attempts failed before this one.
// With Let's Encrypt production it then validates against staging first,
// so that repeated failures do not use up production's failed-validation
// limit.
func withAttempts(ctx context.Context, n int) context.Context {
	if n == 0 {
		return ctx
	}
	return context.WithValue(ctx, certmagic.AttemptsCtxKey, &n)
}

// customWarnBefore is how long before expiry an uploaded certificate's
// status starts warning.
const customWarnBefore = 14 * 24 * time.Hour

func (m *Manager) workCustom(ctx context.Context, d *domain) outcome {
	if d.customErr != nil {
		// Nothing to retry: a new upload replaces the domain.
		return outcome{err: d.customErr}
	}
	c, ok := m.lookupServed(d)
	if !ok {
		// In certmagic's cache the certificate gets OCSP staples like any
		// other (if it names a responder).
		hash, err := d.load.CacheUnmanagedTLSCertificate(ctx, *d.custom, []string{customTag})
		if err != nil {
			return outcome{err: fmt.Errorf("loading the uploaded certificate: %w", err), retry: true}
		}
		d.served.Store(&served{hash: hash, leaf: d.custom.Leaf})
		if c, ok = m.lookupServed(d); !ok {
			c = certmagic.Certificate{Certificate: *d.custom}
		}
	}
	out := outcome{did: "loaded", cert: &c}
	leaf := d.custom.Leaf
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		out.err = fmt.Errorf("the uploaded certificate for %s expired on %s; upload a renewed certificate", d.name, leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		out.err = fmt.Errorf("the uploaded certificate for %s is not valid before %s; check the clock or upload another certificate", d.name, leaf.NotBefore.UTC().Format(time.RFC3339))
		out.next, out.retry = leaf.NotBefore, false
	case now.After(leaf.NotAfter.Add(-customWarnBefore)):
		out.warn = fmt.Sprintf("the uploaded certificate expires on %s; upload a renewed certificate before then", leaf.NotAfter.UTC().Format(time.DateOnly))
		out.next = leaf.NotAfter
	default:
		out.next = leaf.NotAfter.Add(-customWarnBefore)
	}
	return out
}

// nextCheck is when c is next looked at: when its renewal window opens,
// or after CheckInterval if that is sooner.
func (m *Manager) nextCheck(c certmagic.Certificate) time.Time {
	now := time.Now()
	next := now.Add(m.cfg.CheckInterval)
	if c.Leaf == nil {
		return next
	}
	life := c.Leaf.NotAfter.Sub(c.Leaf.NotBefore)
	renewAt := c.Leaf.NotAfter.Add(-time.Duration(float64(life) * m.cfg.RenewalWindowRatio))
	// certmagic also renews anything with less than five check intervals
	// left.
	if t := c.Leaf.NotAfter.Add(-5 * m.cfg.CheckInterval); t.Before(renewAt) {
		renewAt = t
	}
	if renewAt.Before(next) {
		next = renewAt
	}
	if soon := now.Add(time.Second); next.Before(soon) {
		next = soon
	}
	return next
}

func (m *Manager) backoff(failures int) time.Duration {
	b := m.cfg.RetryBackoff
	w := b[min(failures, len(b)-1)]
	if w >= time.Minute {
		w += rand.N(w / 10)
	}
	return w
}

func (m *Manager) setServed(d *domain, c certmagic.Certificate) {
	d.served.Store(&served{hash: c.Hash(), leaf: c.Leaf})
}

func (m *Manager) setIssuing(d *domain) {
	m.mu.Lock()
	if d.retired {
		m.mu.Unlock()
		return
	}
	d.st.State = StateIssuing
	d.st.NextAttempt = time.Time{}
	d.st.Updated = time.Now()
	m.mu.Unlock()
	m.notify(d.name)
}

func (m *Manager) finish(d *domain, out outcome) {
	m.mu.Lock()
	d.running = false
	d.cancel()
	d.cancel = nil
	close(d.done)
	d.settle()
	if d.retired || m.closed {
		// The domain was removed, changed or reset while the job ran; what
		// the job cached must not linger in memory.
		if out.cert != nil && d.retired && !m.hashInUseLocked(out.cert.Hash()) {
			m.cache.Remove([]string{out.cert.Hash()})
		}
		m.mu.Unlock()
		m.poke()
		return
	}
	now := time.Now()
	before := d.st
	st := &d.st
	if out.quarantine != "" {
		st.Quarantined, st.QuarantinePath = true, out.quarantine
	}
	valid := false
	if out.cert != nil && out.cert.Leaf != nil {
		leaf := out.cert.Leaf
		st.Issuer, st.NotBefore, st.NotAfter = issuerName(leaf), leaf.NotBefore, leaf.NotAfter
		valid = now.Before(leaf.NotAfter)
	}
	log := m.log.With("domain", d.name, "mode", string(d.mode))
	switch {
	case out.err == nil:
		d.failures = 0
		d.next = out.next
		st.State, st.Error, st.NextAttempt = StateActive, out.warn, time.Time{}
		switch out.did {
		case "obtained", "renewed":
			log.Info("certificate "+out.did, "issuer", st.Issuer, "not_after", st.NotAfter, "took", out.took.Round(time.Millisecond))
		case "loaded":
			log.Debug("certificate loaded", "issuer", st.Issuer, "not_after", st.NotAfter)
		}
		if out.warn != "" {
			log.Warn(out.warn)
		}
	case errors.Is(out.err, context.Canceled):
		// Interrupted by Reset (which reschedules the domain) or Close.
		d.next = now
	default:
		text := explain(out.err, d.name, m.cfg.ACME.Directory)
		if out.retry {
			wait := m.backoff(d.failures)
			d.failures++
			d.next = now.Add(wait)
			st.NextAttempt = d.next
			text += "; next attempt in " + roundWait(wait)
		} else {
			d.next = out.next
			st.NextAttempt = time.Time{}
		}
		st.Error = text
		if valid {
			st.State = StateActive
			log.Warn("renewing the certificate failed; still serving the current one", "error", text, "not_after", st.NotAfter)
		} else {
			st.State = StateError
			log.Error("no certificate", "error", text)
		}
	}
	changed := *st != before
	if changed {
		st.Updated = now
	}
	m.mu.Unlock()
	m.poke()
	if changed {
		m.notify(d.name)
	}
}

// hashInUseLocked reports whether a listed domain serves the certificate
// with hash h. m.mu is held.
func (m *Manager) hashInUseLocked(h string) bool {
	for _, d := range m.domains {
		if s := d.served.Load(); s != nil && !d.retired && s.hash == h {
			return true
		}
	}
	return false
}

func roundWait(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
