package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/firewall/rules"
	"github.com/rampart-dev/rampart/internal/store"
)

// FirewallOptions tell the firewall service about the node it guards.
type FirewallOptions struct {
	// Enforce is the operator's firewall.enforce: on, the reconciler
	// applies the rules to the host's nftables and changes that touch SSH
	// or the admin port open a confirm window by themselves. Off, the
	// rules are a plan: stored, validated and shown, never applied.
	Enforce bool
	// HTTPPort and HTTPSPort are the edge's ports (from http_addr and
	// https_addr), which the default ruleset opens; HTTPPort is also the
	// port the managed-TLS guard keeps open, since HTTP-01 challenges
	// arrive there. 0: the defaults, 80 and 443; -1: no such listener (or
	// one on a port picked at bind time), which no rule opens.
	HTTPPort, HTTPSPort int
	// AdminPort is the dashboard's and API's port when the admin listener
	// is reachable from other machines; 0 when it listens on loopback only
	// (the firewall always admits loopback).
	AdminPort int
	// MailPorts are the SMTP relay's ports on addresses other than
	// loopback, and MailSources the networks mail.allowed_networks lets
	// in beyond loopback (the Docker bridge's, by default); the default
	// ruleset opens those ports to those networks only. Empty: no relay,
	// or one on loopback only.
	MailPorts   []int
	MailSources []netip.Prefix
	// Render prints a ruleset in nft syntax (firewall.Render, passed by
	// serve, so that this package never links nftables); nil: Plan says
	// this process cannot.
	Render func([]rules.Rule) (string, error)
}

// Firewall is the node's host firewall: its rules, the known tool ports,
// commit-confirm, and the plan. The firewall belongs to the node, which
// all tenants share, so only admins (and the operator) may read or change
// it; members are refused with EFORBIDDEN.
//
// Every change is validated as a whole ruleset by internal/firewall/rules
// and checked by the guards below before anything is written; a refused
// change writes nothing. The firewall reconciler (internal/agent) applies
// what is stored.
//
// Commit-confirm: a change may open a confirm window (FirewallChange.
// ConfirmWithin, and by itself when the firewall is enforced and the change
// touches SSH or the admin port). The window keeps the ruleset from before
// it opened; unless Confirm comes before the deadline, RollbackExpired
// (called by the reconciler at the deadline, and at start) puts it back.
// Changes made while a window is open join it: the rollback undoes them
// all.
type Firewall struct{ *core }

// sshPort is the mandatory rule's port; rules.KnownPorts marks it so.
const sshPort = 22

func (f *Firewall) fwOpts() FirewallOptions {
	o := f.opts.Firewall
	if o.HTTPPort == 0 {
		o.HTTPPort = 80
	}
	if o.HTTPSPort == 0 {
		o.HTTPSPort = 443
	}
	return o
}

// DefaultRules is the ruleset a node starts with: SSH, the edge's HTTP
// and HTTPS ports (those of http_addr and https_addr, so that the edge
// stays reachable when it listens elsewhere than 80 and 443), and the
// admin port when the dashboard listens beyond loopback; each open to
// anyone. The SMTP relay's port is open to the private networks the relay
// admits, never to anyone. The tool ports stay closed.
func (f *Firewall) DefaultRules() []rules.Rule {
	o := f.fwOpts()
	var out []rules.Rule
	add := func(port int, comment string) {
		if port <= 0 || port > 65535 {
			return
		}
		for _, r := range out {
			if r.Proto == rules.TCP && int(r.PortFrom) == port {
				return
			}
		}
		out = append(out, rules.Rule{Proto: rules.TCP, PortFrom: uint16(port), PortTo: uint16(port), Comment: comment})
	}
	add(sshPort, "SSH")
	add(o.HTTPPort, "HTTP")
	add(o.HTTPSPort, "HTTPS")
	add(o.AdminPort, "Dashboard and API")
	if len(o.MailSources) > 0 {
		for _, port := range o.MailPorts {
			if port <= 0 || port > 65535 || slices.ContainsFunc(out, func(r rules.Rule) bool { return r.Proto == rules.TCP && int(r.PortFrom) == port }) {
				continue
			}
			src, _ := rules.NormalizeSources(o.MailSources)
			out = append(out, rules.Rule{Proto: rules.TCP, PortFrom: uint16(port), PortTo: uint16(port), Sources: src, Comment: "SMTP relay (private network)"})
		}
	}
	return out
}

// Seed writes the default ruleset for the node when it has no rules yet.
// SSH cannot be removed, so a node without rules has never been seeded.
// serve calls it at start; every read and change calls it too.
func (f *Firewall) Seed(ctx context.Context) error {
	return f.store.InTx(ctx, func(st store.Store) error {
		_, err := f.seed(ctx, st)
		return err
	})
}

func (f *Firewall) seed(ctx context.Context, st store.Store) ([]*rampart.FirewallRule, error) {
	cur, err := st.ListFirewallRules(ctx, rampart.LocalNode)
	if err != nil || len(cur) > 0 {
		return cur, err
	}
	for _, r := range f.DefaultRules() {
		fr := fromRule(r)
		fr.CreatedBy = "system"
		if err := st.CreateFirewallRule(ctx, fr); err != nil {
			return nil, err
		}
	}
	if err := st.AddAudit(ctx, &rampart.AuditEvent{At: f.now().UTC(), Actor: "system", Action: "firewall.seed",
		Detail: "default rules: " + describe(f.DefaultRules())}); err != nil {
		return nil, err
	}
	return st.ListFirewallRules(ctx, rampart.LocalNode)
}

// Get returns the node's firewall: rules, tool ports, the open confirm
// window, the reconciler's status and the plan (nft text; empty with a
// note in Status.Message when this process cannot render).
func (f *Firewall) Get(ctx context.Context, actor Actor) (*rampart.FirewallState, error) {
	if err := f.requireFirewall(actor); err != nil {
		return nil, err
	}
	// A read takes no write lock (the dashboard polls it for the confirm
	// countdown); only a node never seeded is seeded first.
	cur, err := f.store.ListFirewallRules(ctx, rampart.LocalNode)
	if err == nil && len(cur) == 0 {
		cur, err = f.rules(ctx)
	}
	if err != nil {
		return nil, err
	}
	node, err := f.store.FirewallNode(ctx, rampart.LocalNode)
	if err != nil {
		return nil, err
	}
	s := &rampart.FirewallState{
		Node: rampart.LocalNode, Enforce: f.fwOpts().Enforce, Rules: cur, ToolPorts: toolPorts(cur),
		Pending: node.Pending, Suspended: node.Suspended, Status: node.Status,
	}
	if s.Pending != nil {
		s.Pending.Previous = nil // the snapshot is for the rollback, not for the reader
	}
	if plan, err := f.render(cur); err == nil {
		s.Plan = plan
	}
	return s, nil
}

// List returns the node's rules by protocol and port.
func (f *Firewall) List(ctx context.Context, actor Actor) ([]*rampart.FirewallRule, error) {
	s, err := f.Get(ctx, actor)
	if err != nil {
		return nil, err
	}
	return s.Rules, nil
}

// Plan returns the exact nftables ruleset the stored rules compile to, in
// nft syntax, without netlink: what `rampart firewall show --nft` prints.
func (f *Firewall) Plan(ctx context.Context, actor Actor) (string, error) {
	s, err := f.Get(ctx, actor)
	if err != nil {
		return "", err
	}
	return f.render(s.Rules)
}

func (f *Firewall) render(cur []*rampart.FirewallRule) (string, error) {
	if f.opts.Firewall.Render == nil {
		return "", rampart.Errorf(rampart.EINVALID, "this rampart process cannot render the nftables ruleset: ask the server that runs `rampart serve`")
	}
	rs, err := toRules(cur)
	if err != nil {
		return "", err
	}
	return f.opts.Firewall.Render(rs)
}

// Add adds a rule. notes say how the input was normalised.
func (f *Firewall) Add(ctx context.Context, actor Actor, in rampart.FirewallRuleInput) (*rampart.FirewallRuleResult, error) {
	r, notes, err := parseRule(in.Proto, in.Ports, in.Sources, in.Comment)
	if err != nil {
		return nil, err
	}
	fr := fromRule(r)
	fr.CreatedBy = actor.name()
	res := &rampart.FirewallRuleResult{Rule: fr, Notes: notes}
	res.Pending, err = f.change(ctx, actor, in.FirewallChange, "firewall.rule.add", nil, fr, func(st store.Store) error {
		return st.CreateFirewallRule(ctx, fr)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Update changes the fields of rule id that patch sets.
func (f *Firewall) Update(ctx context.Context, actor Actor, id int64, patch rampart.FirewallRulePatch) (*rampart.FirewallRuleResult, error) {
	if err := f.requireFirewall(actor); err != nil {
		return nil, err
	}
	old, err := f.ruleByID(ctx, id)
	if err != nil {
		return nil, err
	}
	proto, ports, sources, comment := old.Proto, old.Ports(), old.Sources, old.Comment
	if patch.Proto != nil {
		proto = *patch.Proto
	}
	if patch.Ports != nil {
		ports = *patch.Ports
	}
	if patch.Sources != nil {
		sources = *patch.Sources
	}
	if patch.Comment != nil {
		comment = *patch.Comment
	}
	r, notes, err := parseRule(proto, ports, sources, comment)
	if err != nil {
		return nil, err
	}
	next := fromRule(r)
	next.ID, next.Node, next.CreatedBy, next.CreatedAt = old.ID, old.Node, old.CreatedBy, old.CreatedAt
	res := &rampart.FirewallRuleResult{Rule: next, Notes: notes}
	res.Pending, err = f.change(ctx, actor, patch.FirewallChange, "firewall.rule.update", old, next, func(st store.Store) error {
		return st.UpdateFirewallRule(ctx, next)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Remove deletes rule id.
func (f *Firewall) Remove(ctx context.Context, actor Actor, id int64, ch rampart.FirewallChange) (*rampart.FirewallPending, error) {
	if err := f.requireFirewall(actor); err != nil {
		return nil, err
	}
	old, err := f.ruleByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.change(ctx, actor, ch, "firewall.rule.remove", old, nil, func(st store.Store) error {
		return st.DeleteFirewallRule(ctx, id)
	})
}

// SetToolPort opens (a rule open to anyone) or closes (removes that rule)
// one of the known optional tool ports, by number.
func (f *Firewall) SetToolPort(ctx context.Context, actor Actor, port int, in rampart.FirewallToolPortInput) (*rampart.FirewallRuleResult, error) {
	if err := f.requireFirewall(actor); err != nil {
		return nil, err
	}
	k, ok := toolPort(port)
	if !ok {
		var names []string
		for _, k := range rules.KnownPorts {
			if !k.Open {
				names = append(names, fmt.Sprintf("%d/%s", k.Port, k.Proto))
			}
		}
		return nil, rampart.Errorf(rampart.ENOTFOUND, "%d is not a known tool port: the tool ports are %s; add a rule for other ports", port, strings.Join(names, ", "))
	}
	cur, err := f.rules(ctx)
	if err != nil {
		return nil, err
	}
	var covering *rampart.FirewallRule
	for _, r := range cur {
		if r.Proto == string(k.Proto) && r.PortFrom <= int(k.Port) && int(k.Port) <= r.PortTo {
			covering = r
		}
	}
	switch {
	case in.Open && covering != nil:
		return &rampart.FirewallRuleResult{Rule: covering}, nil
	case in.Open:
		return f.Add(ctx, actor, rampart.FirewallRuleInput{Proto: string(k.Proto), Ports: fmt.Sprint(k.Port), Comment: k.Name, FirewallChange: in.FirewallChange})
	case covering == nil:
		return &rampart.FirewallRuleResult{}, nil
	case covering.PortFrom != covering.PortTo:
		return nil, rampart.Errorf(rampart.ECONFLICT, "%s is opened by rule %d (%s/%s), which opens more ports: edit or remove that rule instead", k.Name, covering.ID, covering.Ports(), covering.Proto)
	}
	p, err := f.Remove(ctx, actor, covering.ID, in.FirewallChange)
	if err != nil {
		return nil, err
	}
	return &rampart.FirewallRuleResult{Pending: p}, nil
}

// Apply re-applies the stored ruleset now and, with ConfirmWithin, opens a
// confirm window first: the changes made until Confirm are undone together
// unless confirmed in time. After a first enforcing apply that was not
// confirmed (the firewall is suspended), Apply enforces again, through a
// confirm window of DefaultConfirmWithin unless ConfirmWithin says another.
func (f *Firewall) Apply(ctx context.Context, actor Actor, in rampart.FirewallApplyInput) (*rampart.FirewallState, error) {
	if err := f.requireFirewall(actor); err != nil {
		return nil, err
	}
	within, err := confirmWithin(in.ConfirmWithin)
	if err != nil {
		return nil, err
	}
	err = f.store.InTx(ctx, func(st store.Store) error {
		cur, err := f.seed(ctx, st)
		if err != nil {
			return err
		}
		node, err := st.FirewallNode(ctx, rampart.LocalNode)
		if err != nil {
			return err
		}
		detail := "re-applied the stored ruleset"
		switch {
		case node.Suspended:
			if within == 0 {
				within = rampart.DefaultConfirmWithin
			}
			detail = "enforcing again after an unconfirmed first apply"
			if err := f.openWindow(ctx, st, actor, node, cur, within, detail, true); err != nil {
				return err
			}
		case within > 0:
			if err := f.openWindow(ctx, st, actor, node, cur, within, "apply --confirm-within", false); err != nil {
				return err
			}
		}
		if within > 0 {
			detail += fmt.Sprintf("; confirm within %s", within)
		}
		if err := st.SetFirewallSuspended(ctx, rampart.LocalNode, false); err != nil {
			return err
		}
		return f.audit(ctx, st, actor, "firewall.apply", nil, detail)
	})
	if err != nil {
		return nil, err
	}
	return f.Get(ctx, actor)
}

// Confirm closes the open confirm window: the ruleset stays.
func (f *Firewall) Confirm(ctx context.Context, actor Actor) error {
	if err := f.requireFirewall(actor); err != nil {
		return err
	}
	return f.store.InTx(ctx, func(st store.Store) error {
		node, err := st.FirewallNode(ctx, rampart.LocalNode)
		if err != nil {
			return err
		}
		if node.Pending == nil {
			return rampart.Errorf(rampart.ENOTFOUND, "no confirm window is open: there is nothing to confirm")
		}
		if !f.now().Before(node.Pending.Deadline) {
			return rampart.Errorf(rampart.ECONFLICT, "too late: the confirm window closed at %s and the previous ruleset is being restored; make the change again and confirm it in time",
				node.Pending.Deadline.UTC().Format(time.RFC3339))
		}
		if err := st.SetFirewallPending(ctx, rampart.LocalNode, nil); err != nil {
			return err
		}
		return f.audit(ctx, st, actor, "firewall.confirm", nil, "confirmed: "+node.Pending.Reason)
	})
}

// RollbackExpired restores the ruleset of a confirm window whose deadline
// has passed, and reports whether it did. The firewall reconciler calls it
// at the deadline and at start, so a window outlives a restart of rampart.
// It acts as the system: nobody is asked.
func (f *Firewall) RollbackExpired(ctx context.Context) (bool, error) {
	done := false
	err := f.store.InTx(ctx, func(st store.Store) error {
		node, err := st.FirewallNode(ctx, rampart.LocalNode)
		if err != nil {
			return err
		}
		p := node.Pending
		if p == nil || f.now().Before(p.Deadline) {
			return nil
		}
		if p.Unenforced {
			// The first enforcing apply was not confirmed: the table goes
			// away, the rules stay as a plan.
			if err := st.SetFirewallSuspended(ctx, rampart.LocalNode, true); err != nil {
				return err
			}
		} else if err := st.ReplaceFirewallRules(ctx, rampart.LocalNode, p.Previous); err != nil {
			return err
		}
		if err := st.SetFirewallPending(ctx, rampart.LocalNode, nil); err != nil {
			return err
		}
		done = true
		what := "restored " + describeStored(p.Previous)
		if p.Unenforced {
			what = "enforcement suspended; run `rampart firewall apply` to enforce again"
		}
		return st.AddAudit(ctx, &rampart.AuditEvent{At: f.now().UTC(), Actor: "system", Action: "firewall.rollback",
			Detail: fmt.Sprintf("rolled back: not confirmed within %s (%s, by %s): %s", p.Deadline.Sub(p.Since).Round(time.Second), p.Reason, p.By, what)})
	})
	return done, err
}

// BeginFirstEnforcement opens a confirm window before the first enforcing
// apply on this node: unless confirmed, enforcement is suspended again.
// The reconciler calls it; it does nothing once the node has been
// enforced, or while a window is open.
func (f *Firewall) BeginFirstEnforcement(ctx context.Context) error {
	return f.store.InTx(ctx, func(st store.Store) error {
		cur, err := f.seed(ctx, st)
		if err != nil {
			return err
		}
		node, err := st.FirewallNode(ctx, rampart.LocalNode)
		if err != nil || node.Status.EverEnforced || node.Pending != nil || node.Suspended {
			return err
		}
		system := Actor{}
		return f.openWindow(ctx, st, system, node, cur, rampart.DefaultConfirmWithin, "first enforcing apply on this node", true)
	})
}

// requireFirewall: the firewall is the node's, shared by every tenant.
func (f *Firewall) requireFirewall(actor Actor) error {
	if err := actor.check(); err != nil {
		return err
	}
	if !actor.isAdmin() {
		return rampart.Errorf(rampart.EFORBIDDEN, "only an admin can see or change the firewall: it guards the whole server, which every account shares")
	}
	return nil
}

func (f *Firewall) rules(ctx context.Context) ([]*rampart.FirewallRule, error) {
	var cur []*rampart.FirewallRule
	err := f.store.InTx(ctx, func(st store.Store) error {
		var err error
		cur, err = f.seed(ctx, st)
		return err
	})
	return cur, err
}

func (f *Firewall) ruleByID(ctx context.Context, id int64) (*rampart.FirewallRule, error) {
	r, err := f.store.FirewallRuleByID(ctx, id)
	if err == nil && r.Node != rampart.LocalNode {
		err = rampart.Errorf(rampart.ENOTFOUND, "firewall rule %d not found", id)
	}
	return r, err
}

// change runs one change of one rule (old → next; nil for add or remove)
// in a transaction: it validates the whole resulting ruleset, runs the
// guards, writes, opens a confirm window when needed, and audits. Nothing
// is written when any step refuses.
func (f *Firewall) change(ctx context.Context, actor Actor, ch rampart.FirewallChange, action string, old, next *rampart.FirewallRule, write func(store.Store) error) (*rampart.FirewallPending, error) {
	if err := f.requireFirewall(actor); err != nil {
		return nil, err
	}
	within, err := confirmWithin(ch.ConfirmWithin)
	if err != nil {
		return nil, err
	}
	var pending *rampart.FirewallPending
	err = f.store.InTx(ctx, func(st store.Store) error {
		cur, err := f.seed(ctx, st)
		if err != nil {
			return err
		}
		after := make([]*rampart.FirewallRule, 0, len(cur)+1)
		for _, r := range cur {
			if old == nil || r.ID != old.ID {
				after = append(after, r)
			}
		}
		if next != nil {
			after = append(after, next)
		}
		if err := f.guard(ctx, st, actor, ch.Force, cur, after); err != nil {
			return err
		}
		if err := write(st); err != nil {
			return err
		}
		node, err := st.FirewallNode(ctx, rampart.LocalNode)
		if err != nil {
			return err
		}
		critical := f.touchesCritical(old) || f.touchesCritical(next)
		if within == 0 && critical && f.fwOpts().Enforce {
			within = rampart.DefaultConfirmWithin
		}
		detail := describeChange(old, next)
		if within > 0 {
			why := detail
			if critical {
				why += " (touches SSH or the admin port)"
			}
			if err := f.openWindow(ctx, st, actor, node, cur, within, why, false); err != nil {
				return err
			}
			detail += fmt.Sprintf("; confirm within %s", within)
		}
		if node, err = st.FirewallNode(ctx, rampart.LocalNode); err != nil {
			return err
		}
		pending = node.Pending
		return f.audit(ctx, st, actor, action, nil, detail)
	})
	if err != nil {
		return nil, err
	}
	if pending != nil {
		pending.Previous = nil
	}
	return pending, nil
}

// openWindow opens a confirm window that restores prev, or, when one is
// open already, keeps its snapshot (the last ruleset known to work) and
// moves its deadline out if this one ends later.
func (f *Firewall) openWindow(ctx context.Context, st store.Store, actor Actor, node *rampart.FirewallNode, prev []*rampart.FirewallRule, within time.Duration, reason string, unenforced bool) error {
	now := f.now().UTC()
	p := node.Pending
	if p == nil {
		by := actor.name()
		if actor.User == nil && !actor.Operator {
			by = "system"
		}
		p = &rampart.FirewallPending{Since: now, Deadline: now.Add(within), By: by, Reason: reason, Previous: prev, Unenforced: unenforced}
		if p.Previous == nil {
			p.Previous = []*rampart.FirewallRule{}
		}
	} else {
		if d := now.Add(within); d.After(p.Deadline) {
			p.Deadline = d
		}
		p.Reason += "; " + reason
	}
	return st.SetFirewallPending(ctx, rampart.LocalNode, p)
}

// touchesCritical reports whether r opens SSH or the admin port: a change
// of such a rule can lock the owner out.
func (f *Firewall) touchesCritical(r *rampart.FirewallRule) bool {
	if r == nil || r.Proto != "tcp" {
		return false
	}
	covers := func(p int) bool { return p > 0 && r.PortFrom <= p && p <= r.PortTo }
	return covers(sshPort) || covers(f.fwOpts().AdminPort)
}

// guard runs the checks that the rule parser cannot: the whole ruleset's
// validity (duplicates, overlaps), SSH kept, port 80 kept open while a
// domain renews its certificate over it, and no lock-out of the caller
// from SSH or the admin port without force.
func (f *Firewall) guard(ctx context.Context, st store.Store, actor Actor, force bool, before, after []*rampart.FirewallRule) error {
	rs, err := toRules(after)
	if err != nil {
		return err
	}
	if err := rules.Validate(rs); err != nil {
		return invalidRule(err)
	}
	if covering(after, "tcp", sshPort) == nil {
		return rampart.Errorf(rampart.ECONFLICT, "22/tcp (SSH) cannot be removed: it is how the server is administered; restrict its sources instead")
	}
	o := f.fwOpts()
	if openToAll(before, o.HTTPPort) && !openToAll(after, o.HTTPPort) {
		domains, err := st.ListDomains(ctx, store.DomainFilter{})
		if err != nil {
			return err
		}
		for _, d := range domains {
			if d.TLSMode == rampart.TLSManaged {
				return rampart.Errorf(rampart.ECONFLICT, "%d/tcp must stay open to everyone while any domain uses managed TLS (%s does): its certificate renews over HTTP, from the CA's addresses, and would stop renewing; switch such domains to TLS mode custom or off first", o.HTTPPort, d.Name)
			}
		}
	}
	ip, err := netip.ParseAddr(actor.IP)
	if err != nil || ip.Unmap().IsLoopback() || force {
		// The operator at the shell and loopback clients are never cut
		// off (the ruleset always admits loopback).
		return nil
	}
	for _, port := range []int{sshPort, o.AdminPort} {
		if port <= 0 {
			continue
		}
		if admits(before, port, ip) && !admits(after, port, ip) {
			name := "SSH (22/tcp)"
			if port != sshPort {
				name = fmt.Sprintf("the dashboard and API (%d/tcp)", port)
			}
			return rampart.Errorf(rampart.ECONFLICT, "this change shuts your address %s out of %s: add it to the sources, or pass force (--force) if you reach the server another way; the change is then applied through a confirm window", ip.Unmap(), name)
		}
	}
	return nil
}

func covering(rs []*rampart.FirewallRule, proto string, port int) *rampart.FirewallRule {
	for _, r := range rs {
		if r.Proto == proto && r.PortFrom <= port && port <= r.PortTo {
			return r
		}
	}
	return nil
}

func openToAll(rs []*rampart.FirewallRule, port int) bool {
	r := covering(rs, "tcp", port)
	return r != nil && len(r.Sources) == 0
}

func admits(rs []*rampart.FirewallRule, port int, ip netip.Addr) bool {
	r := covering(rs, "tcp", port)
	if r == nil {
		return false
	}
	rr, err := toRule(r)
	return err == nil && rr.Admits(ip)
}

func confirmWithin(d rampart.Duration) (time.Duration, error) {
	w := time.Duration(d)
	if w != 0 && (w < time.Second || w > rampart.MaxConfirmWithin) {
		return 0, rampart.FieldError("confirm_within", rampart.Errorf(rampart.EINVALID, "confirm_within %s is out of range: use 1s to %s", w, rampart.MaxConfirmWithin))
	}
	return w, nil
}

func toolPort(port int) (rules.Known, bool) {
	for _, k := range rules.KnownPorts {
		if !k.Open && int(k.Port) == port {
			return k, true
		}
	}
	return rules.Known{}, false
}

func toolPorts(cur []*rampart.FirewallRule) []rampart.FirewallToolPort {
	var out []rampart.FirewallToolPort
	for _, k := range rules.KnownPorts {
		if k.Open {
			continue
		}
		tp := rampart.FirewallToolPort{Name: k.Name, Proto: string(k.Proto), Port: int(k.Port), Purpose: k.Purpose}
		if r := covering(cur, string(k.Proto), int(k.Port)); r != nil {
			tp.Open, tp.RuleID = true, r.ID
		}
		out = append(out, tp)
	}
	return out
}

func parseRule(proto, ports string, sources []string, comment string) (rules.Rule, []string, error) {
	r, notes, err := rules.ParseRule(proto, ports, strings.Join(sources, ","), comment)
	if err != nil {
		return rules.Rule{}, nil, invalidRule(err)
	}
	return r, notes, nil
}

func invalidRule(err error) error {
	if errors.Is(err, rules.ErrInvalid) {
		msg := strings.TrimPrefix(err.Error(), rules.ErrInvalid.Error()+": ")
		msg = strings.Replace(msg, rules.ErrInvalid.Error()+": ", "", 1)
		return rampart.Errorf(rampart.EINVALID, "%s", msg)
	}
	return err
}

func fromRule(r rules.Rule) *rampart.FirewallRule {
	src := make([]string, len(r.Sources))
	for i, p := range r.Sources {
		src[i] = p.String()
	}
	return &rampart.FirewallRule{Node: rampart.LocalNode, Proto: string(r.Proto), PortFrom: int(r.PortFrom), PortTo: int(r.PortTo), Sources: src, Comment: r.Comment}
}

func toRule(fr *rampart.FirewallRule) (rules.Rule, error) {
	if fr.PortFrom < 0 || fr.PortFrom > 65535 || fr.PortTo < 0 || fr.PortTo > 65535 {
		return rules.Rule{}, rampart.Errorf(rampart.EINVALID, "rule %d: ports %d-%d are out of range", fr.ID, fr.PortFrom, fr.PortTo)
	}
	r := rules.Rule{Proto: rules.Proto(fr.Proto), PortFrom: uint16(fr.PortFrom), PortTo: uint16(fr.PortTo), Comment: fr.Comment}
	for _, s := range fr.Sources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return rules.Rule{}, rampart.Errorf(rampart.EINVALID, "rule %d: source %q is not a network", fr.ID, s)
		}
		r.Sources = append(r.Sources, p)
	}
	return r, nil
}

func toRules(frs []*rampart.FirewallRule) ([]rules.Rule, error) {
	out := make([]rules.Rule, 0, len(frs))
	for _, fr := range frs {
		r, err := toRule(fr)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b rules.Rule) int {
		if c := strings.Compare(string(a.Proto), string(b.Proto)); c != 0 {
			return c
		}
		return int(a.PortFrom) - int(b.PortFrom)
	})
	return out, nil
}

func describe(rs []rules.Rule) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

func describeStored(frs []*rampart.FirewallRule) string {
	rs, err := toRules(frs)
	if err != nil {
		return fmt.Sprintf("%d rules", len(frs))
	}
	return describe(rs)
}

func describeChange(old, next *rampart.FirewallRule) string {
	s := func(r *rampart.FirewallRule) string {
		rr, err := toRule(r)
		if err != nil {
			return r.Ports() + "/" + r.Proto
		}
		if len(rr.Sources) > 5 {
			return fmt.Sprintf("%s from %d sources", rr.Name(), len(rr.Sources))
		}
		return rr.String()
	}
	switch {
	case old == nil:
		return "added " + s(next)
	case next == nil:
		return fmt.Sprintf("removed rule %d: %s", old.ID, s(old))
	}
	return fmt.Sprintf("rule %d: %s → %s", old.ID, s(old), s(next))
}
