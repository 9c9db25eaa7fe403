package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/firewall"
	"github.com/rampart-dev/rampart/internal/firewall/rules"
	"github.com/rampart-dev/rampart/internal/store"
)

// FirewallEnforcer is what the firewall reconciler drives: a
// *firewall.Firewall, for the host's network namespace in serve and for a
// namespace of their own in tests.
type FirewallEnforcer interface {
	Apply(ctx context.Context, rs firewall.Ruleset) error
	Check(ctx context.Context) error
	Remove(ctx context.Context) error
}

// FirewallCommits is the service layer's commit-confirm (app.Firewall):
// rolling back is a change of desired state, audited, so the reconciler
// asks the service layer rather than writing rules itself.
type FirewallCommits interface {
	RollbackExpired(ctx context.Context) (bool, error)
	BeginFirstEnforcement(ctx context.Context) error
}

// DefaultFirewallResync is how often the firewall reconciler checks the
// live table for drift when nothing else wakes it.
const DefaultFirewallResync = 30 * time.Second

// Firewall keeps the node's nftables table equal to the rules in the
// store, and the node's firewall status equal to what happened.
//
// With Enforce off it never touches the host: it only reports that the
// rules are a plan. With it on, a pass applies the whole ruleset in one
// atomic batch when the rules changed (and once at start, since a
// restarted rampart cannot know what the table holds); otherwise it checks
// the live table and repairs drift (someone deleted or edited it), with a
// log line and an audit entry. A confirm window's deadline wakes it
// (Waker): it asks Commits to roll back, then applies the restored rules.
// Because the window is in the store, a rampart restarted after the
// deadline rolls back on its first pass. The first enforcing apply on a
// node opens a window too (Commits.BeginFirstEnforcement): unless
// confirmed, enforcement is suspended and the table removed.
type Firewall struct {
	Store    store.Store
	Enforce  bool
	Enforcer FirewallEnforcer // required when Enforce is on
	Commits  FirewallCommits
	// Resync is how often drift is checked; default DefaultFirewallResync.
	Resync time.Duration
	Log    *slog.Logger
	Now    func() time.Time

	once  sync.Once
	kick  chan struct{}
	mu    sync.Mutex
	timer *time.Timer
	// applied: this process has applied the ruleset at least once; until
	// then a pass applies whatever changed.
	applied bool
}

// Name implements Reconciler.
func (r *Firewall) Name() string { return "firewall" }

// Kinds implements Reconciler.
func (r *Firewall) Kinds() []store.Kind { return []store.Kind{store.KindFirewall} }

// Wake implements Waker: a confirm window's deadline.
func (r *Firewall) Wake() <-chan struct{} {
	r.init()
	return r.kick
}

// ResyncEvery implements Resyncer: the drift check. Plan mode has nothing
// to check, but a pass also notices a deadline missed by a stopped timer.
func (r *Firewall) ResyncEvery() time.Duration {
	if r.Resync > 0 {
		return r.Resync
	}
	return DefaultFirewallResync
}

func (r *Firewall) init() { r.once.Do(func() { r.kick = make(chan struct{}, 1) }) }

func (r *Firewall) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Firewall) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// arm wakes the reconciler at deadline (a little after, so that the
// rollback's "not before the deadline" holds on every clock).
func (r *Firewall) arm(deadline time.Time) {
	r.init()
	r.mu.Lock()
	defer r.mu.Unlock()
	d := deadline.Sub(r.now()) + 10*time.Millisecond
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timer = time.AfterFunc(max(d, 0), func() {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	})
}

// Sync implements Reconciler.
func (r *Firewall) Sync(ctx context.Context, t Trigger) error {
	node, err := r.Store.FirewallNode(ctx, rampart.LocalNode)
	if err != nil {
		return err
	}
	if p := node.Pending; p != nil && !r.now().Before(p.Deadline) && r.Commits != nil {
		done, err := r.Commits.RollbackExpired(ctx)
		if err != nil {
			return fmt.Errorf("rolling back an unconfirmed firewall change: %w", err)
		}
		if done {
			r.log().Warn("a firewall change was not confirmed in time: the previous ruleset is restored", "reason", p.Reason, "deadline", p.Deadline)
			t.Changed = true
		}
		if node, err = r.Store.FirewallNode(ctx, rampart.LocalNode); err != nil {
			return err
		}
	}
	if !r.Enforce {
		return r.report(ctx, node.Status, rampart.FirewallStatus{EverEnforced: node.Status.EverEnforced,
			Message: "firewall.enforce is off: the rules are a plan, nothing is applied to this host; set firewall.enforce: true and restart rampart to enforce them"})
	}
	if r.Enforcer == nil {
		return errors.New("firewall: enforcement is on but this reconciler has no enforcer (a bug in the wiring)")
	}
	if node.Suspended {
		if err := r.Enforcer.Remove(ctx); err != nil {
			return r.fail(ctx, node.Status, fmt.Errorf("removing the firewall table: %w", err))
		}
		r.applied = false
		return r.report(ctx, node.Status, rampart.FirewallStatus{EverEnforced: node.Status.EverEnforced,
			Message: "suspended: the first enforcing apply was not confirmed in time, so nothing is enforced; run `rampart firewall apply` and confirm"})
	}
	if !node.Status.EverEnforced && node.Pending == nil && r.Commits != nil {
		if err := r.Commits.BeginFirstEnforcement(ctx); err != nil {
			return fmt.Errorf("opening the first enforcing apply's confirm window: %w", err)
		}
		if node, err = r.Store.FirewallNode(ctx, rampart.LocalNode); err != nil {
			return err
		}
	}
	if p := node.Pending; p != nil {
		r.arm(p.Deadline)
	}
	stored, err := r.Store.ListFirewallRules(ctx, rampart.LocalNode)
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		// The service layer seeds the defaults; an empty list would
		// close SSH, so it is never applied.
		return r.fail(ctx, node.Status, errors.New("no firewall rules are stored for this node, not even 22/tcp: refusing to apply a ruleset that would close SSH; restart rampart to seed the defaults"))
	}
	rs, err := Ruleset(stored)
	if err != nil {
		return r.fail(ctx, node.Status, err)
	}
	need := t.Changed || !r.applied
	if !need {
		switch err := r.Enforcer.Check(ctx); {
		case errors.Is(err, firewall.ErrDrift):
			r.log().Warn("the firewall table was changed or deleted by someone else: applying rampart's ruleset again", "drift", err)
			if aerr := r.Store.AddAudit(ctx, &rampart.AuditEvent{At: r.now().UTC(), Actor: "system", Action: "firewall.drift_repaired", Detail: err.Error()}); aerr != nil {
				r.log().Error("recording the firewall repair in the audit log", "err", aerr)
			}
			need = true
		case err != nil:
			return r.fail(ctx, node.Status, fmt.Errorf("checking the firewall table: %w", err))
		}
	}
	if !need {
		return nil
	}
	if err := r.Enforcer.Apply(ctx, rs); err != nil {
		return r.fail(ctx, node.Status, fmt.Errorf("applying the firewall: %w", err))
	}
	r.applied = true
	at := r.now().UTC()
	msg := ""
	if node.Pending != nil {
		msg = fmt.Sprintf("applied; confirm before %s or the previous ruleset comes back", node.Pending.Deadline.UTC().Format(time.RFC3339))
	}
	r.log().Info("firewall applied", "rules", len(rs.Rules), "revision", t.Revisions[store.KindFirewall])
	return r.report(ctx, node.Status, rampart.FirewallStatus{Enforced: true, EverEnforced: true,
		AppliedRevision: t.Revisions[store.KindFirewall], AppliedAt: &at, Message: msg})
}

// fail records err as the status, keeping what was applied before (a
// failed batch leaves the old table whole), and returns it for the loop's
// backoff.
func (r *Firewall) fail(ctx context.Context, old rampart.FirewallStatus, err error) error {
	st := old
	st.Error = err.Error()
	st.UpdatedAt = nil
	if werr := r.report(ctx, old, st); werr != nil {
		r.log().Error("recording the firewall status", "err", werr)
	}
	return err
}

// report writes st unless it says what old says already.
func (r *Firewall) report(ctx context.Context, old, st rampart.FirewallStatus) error {
	if old.Enforced == st.Enforced && old.EverEnforced == st.EverEnforced && old.AppliedRevision == st.AppliedRevision &&
		old.Error == st.Error && old.Message == st.Message && st.AppliedAt == nil {
		return nil
	}
	at := r.now().UTC()
	st.UpdatedAt = &at
	return r.Store.SetFirewallStatus(ctx, rampart.LocalNode, st)
}

// Ruleset turns stored rules into what the firewall package applies.
func Ruleset(stored []*rampart.FirewallRule) (firewall.Ruleset, error) {
	var rs firewall.Ruleset
	for _, fr := range stored {
		if fr.PortFrom < 1 || fr.PortTo > 65535 || fr.PortTo < fr.PortFrom {
			return rs, fmt.Errorf("stored firewall rule %d has ports %d-%d: fix or remove it", fr.ID, fr.PortFrom, fr.PortTo)
		}
		r := rules.Rule{Proto: rules.Proto(fr.Proto), PortFrom: uint16(fr.PortFrom), PortTo: uint16(fr.PortTo), Comment: fr.Comment}
		for _, s := range fr.Sources {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return rs, fmt.Errorf("stored firewall rule %d has source %q, which is not a network: fix or remove it", fr.ID, s)
			}
			r.Sources = append(r.Sources, p)
		}
		rs.Rules = append(rs.Rules, r)
	}
	if err := rs.Validate(); err != nil {
		return rs, fmt.Errorf("the stored firewall rules do not validate (changed behind the service layer?): %w", err)
	}
	return rs, nil
}

// Interface guards.
var (
	_ Reconciler = (*Firewall)(nil)
	_ Waker      = (*Firewall)(nil)
	_ Resyncer   = (*Firewall)(nil)
)
