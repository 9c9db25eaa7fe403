package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// The Security tab's Firewall row. The firewall is the node's, which every
// account shares, so only admins see its rules (app.Firewall refuses
// members); a member's row says who manages it. Every change goes through
// app.Firewall, which validates the whole resulting ruleset and runs the
// guards before anything is written: a refused change is shown inline,
// with what was typed, and nothing is stored.
//
// The rows live on each service's Security tab, where the seed puts them,
// so the routes are under the service (/services/{name}/firewall/…): a
// failed change renders that tab again, and a member probing another
// owner's service gets the same 404 as everywhere else.
//
// A change may open a confirm window (it touches SSH or the admin port
// while the firewall is enforced, or the form asked for one): the tab then
// shows a banner with the time left and a Confirm button. The banner is a
// fragment that htmx polls (firewallPending) and app.js counts down between
// polls; once the reconciler has rolled the change back, the fragment says
// so.

// fwConfirmWithin is the confirm window a form asks for with its "undo by
// itself unless I confirm" box: the same as the server's own default.
const fwConfirmWithin = rampart.DefaultConfirmWithin

// rollbackShownFor is how long after a rollback the Firewall row still
// says that it happened.
const rollbackShownFor = 15 * time.Minute

// firewallView is the Firewall row of an admin's Security tab.
type firewallView struct {
	State     *rampart.FirewallState
	Rules     []firewallRuleView
	ToolPorts []rampart.FirewallToolPort
	Banner    firewallBanner
	Add       ruleForm
	// Open unfolds the row: after a failed change, or while editing.
	Open bool
	// Err is a refused change that is not the add or an edit form's (a
	// tool port toggle, an apply): shown at the top of the row.
	Err string
}

// firewallRuleView is one row of the rules table.
type firewallRuleView struct {
	*rampart.FirewallRule
	// Sources is "anywhere (IPv4, IPv6)" and the like when Anyone, else
	// "N networks" when there are more than SourceList shows.
	Sources      string
	SourceList   []string // the first few sources
	SourcesTitle string   // the full list, for the tooltip, when summarised
	Origin       string   // "default", "tool port", "added by …"
	Anyone       bool     // Sources are words, not addresses
	Mandatory    bool     // 22/tcp: restricted, never removed
	// Edit is the rule's edit form while it is being edited, nil otherwise.
	Edit *ruleForm
}

// ruleForm is the add form or a rule's edit form. Fields hold text as typed.
type ruleForm struct {
	Service, CSRF                  string
	ID                             int64 // 0: the add form
	Proto, Ports, Sources, Comment string
	ConfirmWindow                  bool // open a confirm window for this change
	Force                          bool
	// ShowForce offers the force box: after the guard that keeps the
	// requester's own address in SSH's or the dashboard's sources.
	ShowForce bool
	Err       string
}

// firewallBanner is the confirm window banner at the top of the tab, and
// the fragment that htmx polls.
type firewallBanner struct {
	Service string
	CSRF    string
	Pending *rampart.FirewallPending
	// Left is how long the window stays open, in whole seconds; 0 once
	// the deadline passed and the rollback is under way. LeftText is it
	// as the countdown shows it ("0:59").
	Left     int
	LeftText string
	// Rollback is the audit entry of a recent rollback, when it is the
	// last thing that happened to the firewall.
	Rollback *rampart.AuditEvent
	// Suspended: the first enforcing apply was not confirmed.
	Suspended bool
}

// firewallFor gathers the Firewall row of an admin's Security tab; nil for
// members, whose row says an admin manages it.
func (s *server) firewallFor(ctx context.Context, rc *reqCtx, svc *rampart.Service, editID int64, open bool) (*firewallView, error) {
	if !rc.user.IsAdmin() {
		return nil, nil
	}
	st, err := s.app.Firewall.Get(ctx, rc.actor)
	if err != nil {
		return nil, err
	}
	v := &firewallView{State: st, ToolPorts: st.ToolPorts, Add: ruleForm{Proto: "tcp"}, Open: open}
	tool := map[int64]bool{}
	for _, tp := range st.ToolPorts {
		if tp.Open {
			tool[tp.RuleID] = true
		}
	}
	for _, r := range st.Rules {
		rv := ruleView(r)
		switch {
		case r.CreatedBy == "system":
			rv.Origin = "default"
		case tool[r.ID] && r.PortFrom == r.PortTo:
			rv.Origin = "tool port"
		case r.CreatedBy != "":
			rv.Origin = "added by " + r.CreatedBy
		}
		if r.ID == editID {
			rv.Edit = &ruleForm{ID: r.ID, Proto: r.Proto, Ports: r.Ports(), Sources: strings.Join(r.Sources, "\n"), Comment: r.Comment}
			v.Open = true
		}
		v.Rules = append(v.Rules, rv)
	}
	if v.Banner, err = s.firewallBannerFor(ctx, rc, svc, st); err != nil {
		return nil, err
	}
	v.stamp(svc.Name, rc.sess.CSRFToken)
	return v, nil
}

// firewallBannerFor is the confirm window banner: the open window, or a
// rollback that happened lately and nothing since.
func (s *server) firewallBannerFor(ctx context.Context, rc *reqCtx, svc *rampart.Service, st *rampart.FirewallState) (firewallBanner, error) {
	b := firewallBanner{Service: svc.Name, CSRF: rc.sess.CSRFToken, Pending: st.Pending, Suspended: st.Suspended}
	if p := st.Pending; p != nil {
		if left := time.Until(p.Deadline); left > 0 {
			b.Left = int((left + time.Second - 1) / time.Second)
			b.LeftText = fmt.Sprintf("%d:%02d", b.Left/60, b.Left%60)
		}
		return b, nil
	}
	events, err := s.app.Audit.List(ctx, rc.actor, rampart.AuditFilter{Limit: 100})
	if err != nil {
		return b, err
	}
	for _, ev := range events {
		if !strings.HasPrefix(ev.Action, "firewall.") {
			continue
		}
		if ev.Action == "firewall.rollback" && time.Since(ev.At) < rollbackShownFor {
			b.Rollback = ev
		}
		break
	}
	return b, nil
}

func ruleView(r *rampart.FirewallRule) firewallRuleView {
	v := firewallRuleView{FirewallRule: r, Mandatory: r.Proto == "tcp" && r.PortFrom <= 22 && 22 <= r.PortTo}
	v.Sources, v.SourceList, v.SourcesTitle = sourcesWords(r.Sources)
	v.Anyone = len(r.Sources) == 0 || len(r.Sources) == 1 && (r.Sources[0] == "0.0.0.0/0" || r.Sources[0] == "::/0")
	return v
}

// stamp gives the row's forms what each needs to post: the service whose
// tab they are on, and the session's CSRF token.
func (v *firewallView) stamp(service, csrf string) {
	v.Add.Service, v.Add.CSRF = service, csrf
	for _, r := range v.Rules {
		if r.Edit != nil {
			r.Edit.Service, r.Edit.CSRF = service, csrf
		}
	}
}

// sourcesWords summarises a rule's sources for the table: words for
// "anyone", or the first few networks with a count of all, and the whole
// list (up to 50) for the tooltip when the summary leaves some out.
func sourcesWords(src []string) (words string, first []string, title string) {
	switch {
	case len(src) == 0:
		return "anywhere (IPv4, IPv6)", nil, ""
	case len(src) == 1 && src[0] == "0.0.0.0/0":
		return "any IPv4 address", nil, ""
	case len(src) == 1 && src[0] == "::/0":
		return "any IPv6 address", nil, ""
	case len(src) <= 3:
		return "", src, ""
	}
	title = strings.Join(src[:min(len(src), 50)], ", ")
	if len(src) > 50 {
		title += fmt.Sprintf(", and %d more", len(src)-50)
	}
	return fmt.Sprintf("%d networks", len(src)), src[:3], title
}

// ruleFormOf reads a posted add or edit form.
func ruleFormOf(r *http.Request) ruleForm {
	return ruleForm{
		Proto:         strings.TrimSpace(r.PostFormValue("proto")),
		Ports:         strings.TrimSpace(r.PostFormValue("ports")),
		Sources:       r.PostFormValue("sources"),
		Comment:       strings.TrimSpace(r.PostFormValue("comment")),
		ConfirmWindow: r.PostFormValue("confirm_window") != "",
		Force:         r.PostFormValue("force") != "",
	}
}

func (f ruleForm) change() rampart.FirewallChange {
	ch := rampart.FirewallChange{Force: f.Force}
	if f.ConfirmWindow {
		ch.ConfirmWithin = rampart.Duration(fwConfirmWithin)
	}
	return ch
}

// firewallService looks the service up first, so that a member probing
// someone else's service gets the usual 404 whatever the form holds, and
// then refuses members before anything else: the firewall is the node's.
func (s *server) firewallService(w http.ResponseWriter, r *http.Request, rc *reqCtx) (*rampart.Service, bool) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return nil, false
	}
	if !rc.user.IsAdmin() {
		s.fail(w, r, rc, rampart.Errorf(rampart.EFORBIDDEN, "only an admin can see or change the firewall: it guards the whole server, which every account shares"))
		return nil, false
	}
	return svc, true
}

func (s *server) addFirewallRule(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	f := ruleFormOf(r)
	res, err := s.app.Firewall.Add(r.Context(), rc.actor, rampart.FirewallRuleInput{
		Proto: f.Proto, Ports: f.Ports, Sources: splitList(f.Sources), Comment: f.Comment, FirewallChange: f.change(),
	})
	if err != nil {
		s.firewallRefused(w, r, rc, svc, err, func(v *firewallView) { v.Add = f.withError(err) })
		return
	}
	s.firewallChanged(w, r, rc, svc, "Rule added: "+ruleWords(res.Rule), res.Notes, res.Pending)
}

func (s *server) updateFirewallRule(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, rc, rampart.Errorf(rampart.ENOTFOUND, "firewall rule %q not found", r.PathValue("id")))
		return
	}
	f := ruleFormOf(r)
	f.ID = id
	src := splitList(f.Sources)
	res, err := s.app.Firewall.Update(r.Context(), rc.actor, id, rampart.FirewallRulePatch{
		Proto: &f.Proto, Ports: &f.Ports, Sources: &src, Comment: &f.Comment, FirewallChange: f.change(),
	})
	if err != nil {
		s.firewallRefused(w, r, rc, svc, err, func(v *firewallView) {
			for i := range v.Rules {
				if v.Rules[i].ID == id {
					ef := f.withError(err)
					v.Rules[i].Edit = &ef
				}
			}
		})
		return
	}
	s.firewallChanged(w, r, rc, svc, fmt.Sprintf("Rule %d saved: %s", id, ruleWords(res.Rule)), res.Notes, res.Pending)
}

// removeRulePage is the data of firewall_rule_remove.html, the removal
// confirmation for browsers without JavaScript; with it the same form
// opens in a modal.
type removeRulePage struct {
	base
	Service *rampart.Service
	Rule    firewallRuleView
	Err     string
	// ShowForce offers the force box: the removal would shut the
	// requester's own address out of the dashboard's port.
	ShowForce bool
}

func (s *server) removeFirewallRulePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	rule, err := s.firewallRule(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "firewall_rule_remove", removeRulePage{base: rc.base("Remove firewall rule", "services"), Service: svc, Rule: rule})
}

func (s *server) removeFirewallRule(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	rule, err := s.firewallRule(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	ch := rampart.FirewallChange{Force: r.PostFormValue("force") != ""}
	if r.PostFormValue("confirm_window") != "" {
		ch.ConfirmWithin = rampart.Duration(fwConfirmWithin)
	}
	p, err := s.app.Firewall.Remove(r.Context(), rc.actor, rule.ID, ch)
	if err != nil {
		code := rampart.ErrorCode(err)
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		status, _ := statusOf(code)
		msg := rampart.ErrorMessage(err)
		s.render(w, r, status, "firewall_rule_remove", removeRulePage{base: rc.base("Remove firewall rule", "services"), Service: svc, Rule: rule, Err: msg,
			ShowForce: ch.Force || strings.Contains(msg, "force")})
		return
	}
	s.firewallChanged(w, r, rc, svc, fmt.Sprintf("Rule %d removed: %s is closed to the sources it opened it to.", rule.ID, ruleName(rule.FirewallRule)), nil, p)
}

// firewallRule is the rule the URL names, as the table shows it.
func (s *server) firewallRule(r *http.Request, rc *reqCtx) (firewallRuleView, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	notFound := rampart.Errorf(rampart.ENOTFOUND, "firewall rule %q not found: it may have been removed already", r.PathValue("id"))
	if err != nil {
		return firewallRuleView{}, notFound
	}
	rules, err := s.app.Firewall.List(r.Context(), rc.actor)
	if err != nil {
		return firewallRuleView{}, err
	}
	for _, fr := range rules {
		if fr.ID == id {
			return ruleView(fr), nil
		}
	}
	return firewallRuleView{}, notFound
}

func (s *server) setFirewallToolPort(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil {
		port = -1
	}
	open := r.PostFormValue("open") == "on"
	res, err := s.app.Firewall.SetToolPort(r.Context(), rc.actor, port, rampart.FirewallToolPortInput{Open: open})
	if err != nil {
		s.firewallRefused(w, r, rc, svc, err, func(v *firewallView) { v.Err = rampart.ErrorMessage(err) })
		return
	}
	name := strconv.Itoa(port)
	if st, err := s.app.Firewall.Get(r.Context(), rc.actor); err == nil {
		for _, tp := range st.ToolPorts {
			if tp.Port == port {
				name = fmt.Sprintf("%s (%d/%s)", tp.Name, tp.Port, tp.Proto)
			}
		}
	}
	msg := name + " closed."
	if open {
		msg = name + " opened to anyone."
	}
	s.firewallChanged(w, r, rc, svc, msg, res.Notes, res.Pending)
}

func (s *server) confirmFirewall(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	if err := s.app.Firewall.Confirm(r.Context(), rc.actor); err != nil {
		if code := rampart.ErrorCode(err); code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED {
			s.fail(w, r, rc, err)
			return
		}
		s.setFlash(w, rc.sess, "error", rampart.ErrorMessage(err))
	} else {
		s.setFlash(w, rc.sess, "success", "Firewall change confirmed: the rules stay as they are.")
	}
	http.Redirect(w, r, firewallPath(svc.Name), http.StatusSeeOther)
}

// applyFirewall enforces again after a first enforcing apply that was not
// confirmed: through a confirm window, as the first one.
func (s *server) applyFirewall(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	if _, err := s.app.Firewall.Apply(r.Context(), rc.actor, rampart.FirewallApplyInput{}); err != nil {
		s.firewallRefused(w, r, rc, svc, err, func(v *firewallView) { v.Err = rampart.ErrorMessage(err) })
		return
	}
	s.setFlash(w, rc.sess, "success", "Applying the rules again: confirm within the time shown, or enforcement is suspended again.")
	http.Redirect(w, r, strings.TrimSuffix(firewallPath(svc.Name), "#firewall")+"#fw-banner", http.StatusSeeOther)
}

// firewallPending is the confirm window banner alone, which htmx polls
// while a window is open.
func (s *server) firewallPending(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, ok := s.firewallService(w, r, rc)
	if !ok {
		return
	}
	st, err := s.app.Firewall.Get(r.Context(), rc.actor)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	b, err := s.firewallBannerFor(r.Context(), rc, svc, st)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.renderFragment(w, r, http.StatusOK, "service", "firewall-banner", b)
}

// firewallChanged answers a change that went through: back to the tab,
// with what was done, how the input was normalised, and whether the change
// waits for a confirmation.
func (s *server) firewallChanged(w http.ResponseWriter, r *http.Request, rc *reqCtx, svc *rampart.Service, msg string, notes []string, p *rampart.FirewallPending) {
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	target := firewallPath(svc.Name)
	if p != nil {
		msg += " Confirm the change within the time shown, or the previous rules come back by themselves."
		// The banner with the countdown is at the top of the tab.
		target = strings.TrimSuffix(target, "#firewall") + "#fw-banner"
	} else if st, err := s.app.Firewall.Get(r.Context(), rc.actor); err == nil && !st.Enforce {
		msg += " Plan only: nothing on this server changes until firewall.enforce is on."
	}
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// firewallRefused answers a refused change: errors that are not about the
// request (an outage, a rule that is gone) as the usual error page, the
// rest inline on the tab, the row unfolded, what was typed kept.
func (s *server) firewallRefused(w http.ResponseWriter, r *http.Request, rc *reqCtx, svc *rampart.Service, err error, place func(*firewallView)) {
	code := rampart.ErrorCode(err)
	if code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED || code == rampart.EFORBIDDEN {
		s.fail(w, r, rc, err)
		return
	}
	d, perr := s.servicePageFor(r, rc, svc, "security")
	if perr != nil {
		s.fail(w, r, rc, perr)
		return
	}
	if d.Firewall != nil {
		d.Firewall.Open = true
		place(d.Firewall)
		d.Firewall.stamp(svc.Name, rc.sess.CSRFToken)
	}
	status, _ := statusOf(code)
	s.render(w, r, status, "service", d)
}

// withError is f after the app refused it with err.
func (f ruleForm) withError(err error) ruleForm {
	f.Err = rampart.ErrorMessage(err)
	f.ShowForce = f.Force || strings.Contains(f.Err, "force")
	return f
}

// firewallPath is the Security tab with the Firewall row unfolded, where a
// change lands: the person sees the rules it changed.
func firewallPath(service string) string {
	return servicePath(service, "security") + "&open=firewall#firewall"
}

// ruleName is "8000-8100/tcp".
func ruleName(r *rampart.FirewallRule) string { return r.Ports() + "/" + r.Proto }

// ruleWords is a rule as a flash message states it.
func ruleWords(r *rampart.FirewallRule) string {
	if r == nil {
		return ""
	}
	words, first, _ := sourcesWords(r.Sources)
	switch {
	case len(first) == 0:
		return ruleName(r) + " open to " + words
	case words == "":
		return ruleName(r) + " open to " + strings.Join(first, ", ")
	}
	return ruleName(r) + " open to " + words + " (" + strings.Join(first, ", ") + ", …)"
}
