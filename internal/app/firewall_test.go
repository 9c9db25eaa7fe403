package app

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/firewall"
	"github.com/rampart-dev/rampart/internal/firewall/rules"
)

func render(rs []rules.Rule) (string, error) { return firewall.Render(firewall.Ruleset{Rules: rs}) }

func newFirewallFixture(t *testing.T, enforce bool) *fixture {
	t.Helper()
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, Options{Upstreams: egress.New(nets), Firewall: FirewallOptions{Enforce: enforce, AdminPort: 7443, Render: render}})
}

// snapshot is everything a refused change must leave as it was.
type fwSnapshot struct {
	rules   []*rampart.FirewallRule
	node    *rampart.FirewallNode
	audits  int
	planTxt string
}

func (f *fixture) fwSnapshot(t *testing.T) fwSnapshot {
	t.Helper()
	ctx := context.Background()
	plan, err := f.app.Firewall.Plan(ctx, OperatorActor()) // seeds
	if err != nil {
		t.Fatal(err)
	}
	rs, err := f.st.ListFirewallRules(ctx, rampart.LocalNode)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.st.FirewallNode(ctx, rampart.LocalNode)
	if err != nil {
		t.Fatal(err)
	}
	return fwSnapshot{rs, n, f.auditCount(t), plan}
}

func TestFirewallDefaultsAndToolPorts(t *testing.T) {
	f := newFirewallFixture(t, false)
	ctx := context.Background()
	admin := UserActor(f.admin, "198.51.100.7")
	s, err := f.app.Firewall.Get(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Rules {
		got = append(got, r.Ports()+"/"+r.Proto)
	}
	if want := []string{"22/tcp", "80/tcp", "443/tcp", "7443/tcp"}; !reflect.DeepEqual(got, want) {
		t.Errorf("default rules %v, want %v", got, want)
	}
	if len(s.ToolPorts) != 6 {
		t.Fatalf("tool ports: %+v, want the six known ones", s.ToolPorts)
	}
	for _, tp := range s.ToolPorts {
		if tp.Open || tp.Purpose == "" {
			t.Errorf("tool port %+v: want closed, with its purpose", tp)
		}
	}
	if !strings.Contains(s.Plan, "table inet rampart") || s.Enforce {
		t.Errorf("plan mode state: enforce=%v plan=%q", s.Enforce, s.Plan)
	}
	// A second read does not seed again.
	if s2, _ := f.app.Firewall.Get(ctx, admin); len(s2.Rules) != 4 {
		t.Errorf("second read: %d rules", len(s2.Rules))
	}
	res, err := f.app.Firewall.SetToolPort(ctx, admin, 4242, rampart.FirewallToolPortInput{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rule == nil || res.Rule.Proto != "udp" || res.Rule.PortFrom != 4242 {
		t.Errorf("opened tool port: %+v", res.Rule)
	}
	s, _ = f.app.Firewall.Get(ctx, admin)
	if !s.ToolPorts[0].Open || s.ToolPorts[0].RuleID != res.Rule.ID || !strings.Contains(s.Plan, "4242") {
		t.Errorf("after opening 4242/udp: %+v", s.ToolPorts[0])
	}
	if _, err := f.app.Firewall.SetToolPort(ctx, admin, 4242, rampart.FirewallToolPortInput{Open: false}); err != nil {
		t.Fatal(err)
	}
	if s, _ = f.app.Firewall.Get(ctx, admin); s.ToolPorts[0].Open {
		t.Error("4242/udp still open after closing it")
	}
	if _, err := f.app.Firewall.SetToolPort(ctx, admin, 8080, rampart.FirewallToolPortInput{Open: true}); rampart.ErrorCode(err) != rampart.ENOTFOUND || !strings.Contains(err.Error(), "18344/tcp") {
		t.Errorf("unknown tool port: %v", err)
	}
	if ev := f.lastAudit(t); ev.Action != "firewall.rule.remove" {
		t.Errorf("last audit %+v", ev)
	}
}

func TestFirewallMembersRefused(t *testing.T) {
	f := newFirewallFixture(t, false)
	ctx := context.Background()
	member := UserActor(f.member, "198.51.100.7")
	before := f.fwSnapshot(t)
	for name, call := range map[string]func() error{
		"get":  func() error { _, err := f.app.Firewall.Get(ctx, member); return err },
		"plan": func() error { _, err := f.app.Firewall.Plan(ctx, member); return err },
		"add": func() error {
			_, err := f.app.Firewall.Add(ctx, member, rampart.FirewallRuleInput{Proto: "tcp", Ports: "8000"})
			return err
		},
		"update": func() error {
			_, err := f.app.Firewall.Update(ctx, member, before.rules[0].ID, rampart.FirewallRulePatch{})
			return err
		},
		"remove": func() error {
			_, err := f.app.Firewall.Remove(ctx, member, before.rules[1].ID, rampart.FirewallChange{})
			return err
		},
		"tool": func() error {
			_, err := f.app.Firewall.SetToolPort(ctx, member, 4242, rampart.FirewallToolPortInput{Open: true})
			return err
		},
		"apply":   func() error { _, err := f.app.Firewall.Apply(ctx, member, rampart.FirewallApplyInput{}); return err },
		"confirm": func() error { return f.app.Firewall.Confirm(ctx, member) },
	} {
		err := call()
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "only an admin") {
			t.Errorf("member %s: %v, want EFORBIDDEN", name, err)
		}
	}
	if _, err := f.app.Firewall.Get(ctx, Actor{}); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("nobody: %v", err)
	}
	if after := f.fwSnapshot(t); !reflect.DeepEqual(before, after) {
		t.Errorf("refused calls changed something:\n%+v\n%+v", before, after)
	}
}

func TestFirewallGuards(t *testing.T) {
	f := newFirewallFixture(t, false)
	ctx := context.Background()
	admin := UserActor(f.admin, "198.51.100.7")
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:3000"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Domains.Add(ctx, admin, rampart.DomainInput{Service: "shop", Name: "shop.example"}); err != nil {
		t.Fatal(err)
	}
	st, err := f.app.Firewall.Get(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	byPort := map[int]*rampart.FirewallRule{}
	for _, r := range st.Rules {
		byPort[r.PortFrom] = r
	}
	str := func(s string) *string { return &s }
	srcs := func(s ...string) *[]string { return &s }
	if _, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "8000-8100", Sources: []string{"203.0.113.0/24"}}); err != nil {
		t.Fatal(err)
	}
	before := f.fwSnapshot(t)
	for _, tc := range []struct {
		name string
		call func() error
		code string
		want string
	}{
		{"close 80 with a managed domain", func() error {
			_, err := f.app.Firewall.Remove(ctx, admin, byPort[80].ID, rampart.FirewallChange{})
			return err
		}, rampart.ECONFLICT, "shop.example"},
		{"restrict 80 with a managed domain", func() error {
			_, err := f.app.Firewall.Update(ctx, admin, byPort[80].ID, rampart.FirewallRulePatch{Sources: srcs("203.0.113.0/24")})
			return err
		}, rampart.ECONFLICT, "managed TLS"},
		{"move 80 with a managed domain, even with force", func() error {
			_, err := f.app.Firewall.Update(ctx, admin, byPort[80].ID, rampart.FirewallRulePatch{Ports: str("81"), FirewallChange: rampart.FirewallChange{Force: true}})
			return err
		}, rampart.ECONFLICT, "shop.example"},
		{"remove 22", func() error {
			_, err := f.app.Firewall.Remove(ctx, admin, byPort[22].ID, rampart.FirewallChange{Force: true})
			return err
		}, rampart.ECONFLICT, "cannot be removed"},
		{"move 22 away", func() error {
			_, err := f.app.Firewall.Update(ctx, admin, byPort[22].ID, rampart.FirewallRulePatch{Ports: str("2222"), FirewallChange: rampart.FirewallChange{Force: true}})
			return err
		}, rampart.ECONFLICT, "22/tcp (SSH) cannot be removed"},
		{"restrict 22 without the client's address", func() error {
			_, err := f.app.Firewall.Update(ctx, admin, byPort[22].ID, rampart.FirewallRulePatch{Sources: srcs("192.0.2.0/24")})
			return err
		}, rampart.ECONFLICT, "198.51.100.7"},
		{"restrict the admin port without the client's address", func() error {
			_, err := f.app.Firewall.Update(ctx, admin, byPort[7443].ID, rampart.FirewallRulePatch{Sources: srcs("::/0")})
			return err
		}, rampart.ECONFLICT, "dashboard"},
		{"remove the admin port", func() error {
			_, err := f.app.Firewall.Remove(ctx, admin, byPort[7443].ID, rampart.FirewallChange{})
			return err
		}, rampart.ECONFLICT, "--force"},
		{"duplicate", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "443"})
			return err
		}, rampart.EINVALID, "both open 443/tcp"},
		{"overlap", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "8050-9000"})
			return err
		}, rampart.EINVALID, "overlap"},
		{"reversed range", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "9000-8000"})
			return err
		}, rampart.EINVALID, "reversed"},
		{"port 0", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "udp", Ports: "0"})
			return err
		}, rampart.EINVALID, "port 0"},
		{"port 65536", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "udp", Ports: "65536"})
			return err
		}, rampart.EINVALID, "65535"},
		{"bad CIDR", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "9000", Sources: []string{"10.0.0.0/33"}})
			return err
		}, rampart.EINVALID, "10.0.0.0/33"},
		{"unknown protocol", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "sctp", Ports: "9000"})
			return err
		}, rampart.EINVALID, "sctp"},
		{"confirm window out of range", func() error {
			_, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "9000", FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(2 * time.Hour)}})
			return err
		}, rampart.EINVALID, "confirm_within"},
		{"missing rule", func() error {
			_, err := f.app.Firewall.Remove(ctx, admin, 9999, rampart.FirewallChange{})
			return err
		}, rampart.ENOTFOUND, "9999"},
		{"nothing to confirm", func() error { return f.app.Firewall.Confirm(ctx, admin) }, rampart.ENOTFOUND, "nothing to confirm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if rampart.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%s), want %s mentioning %q", err, rampart.ErrorCode(err), tc.code, tc.want)
			}
			if strings.Contains(err.Error(), "invalid firewall rule:") {
				t.Errorf("message keeps the package's prefix: %v", err)
			}
			if after := f.fwSnapshot(t); !reflect.DeepEqual(before, after) {
				t.Errorf("refused change changed something:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}

	// With force, 22 can be restricted away from the client's address,
	// and host bits are cleared with a note.
	res, err := f.app.Firewall.Update(ctx, admin, byPort[22].ID, rampart.FirewallRulePatch{Sources: srcs("192.0.2.7/24"), FirewallChange: rampart.FirewallChange{Force: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rule.Sources, []string{"192.0.2.0/24"}) || len(res.Notes) == 0 {
		t.Errorf("forced restriction: %+v notes %v", res.Rule, res.Notes)
	}
	// Including the client's address needs no force.
	if _, err := f.app.Firewall.Update(ctx, admin, byPort[22].ID, rampart.FirewallRulePatch{Sources: srcs("192.0.2.0/24", "198.51.100.0/24")}); err != nil {
		t.Errorf("restricting 22 to sources with the client's address: %v", err)
	}
	// Without managed domains, port 80 may close.
	if err := f.app.Domains.Remove(ctx, admin, rampart.DomainRef{Service: "shop", Name: "shop.example"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Firewall.Remove(ctx, admin, byPort[80].ID, rampart.FirewallChange{}); err != nil {
		t.Errorf("closing 80 without managed domains: %v", err)
	}
}

func TestFirewallCommitConfirm(t *testing.T) {
	f := newFirewallFixture(t, true)
	ctx := context.Background()
	admin := UserActor(f.admin, "198.51.100.7")
	st, err := f.app.Firewall.Get(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	orig := st.Rules
	var ssh *rampart.FirewallRule
	for _, r := range orig {
		if r.PortFrom == 22 {
			ssh = r
		}
	}
	// A change of an unrelated port opens no window.
	add, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "9000"})
	if err != nil || add.Pending != nil {
		t.Fatalf("add 9000: %+v, %v", add, err)
	}
	orig, _ = f.st.ListFirewallRules(ctx, rampart.LocalNode)
	// A change of 22 does, by itself, for DefaultConfirmWithin.
	srcs := []string{"198.51.100.0/24"}
	res, err := f.app.Firewall.Update(ctx, admin, ssh.ID, rampart.FirewallRulePatch{Sources: &srcs})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending == nil || res.Pending.Deadline.Sub(f.clock.now()) != rampart.DefaultConfirmWithin {
		t.Fatalf("changing 22/tcp opened %+v, want a 60s window", res.Pending)
	}
	// A later change joins the window: both are undone together.
	if _, err := f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "udp", Ports: "5000"}); err != nil {
		t.Fatal(err)
	}
	if done, err := f.app.Firewall.RollbackExpired(ctx); err != nil || done {
		t.Fatalf("rollback before the deadline: %v %v", done, err)
	}
	f.clock.add(rampart.DefaultConfirmWithin)
	if err := f.app.Firewall.Confirm(ctx, admin); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("confirm at the deadline: %v, want ECONFLICT (too late)", err)
	}
	done, err := f.app.Firewall.RollbackExpired(ctx)
	if err != nil || !done {
		t.Fatalf("rollback at the deadline: %v %v", done, err)
	}
	back, _ := f.st.ListFirewallRules(ctx, rampart.LocalNode)
	if !reflect.DeepEqual(back, orig) {
		t.Errorf("after rollback:\n%+v\nwant\n%+v", back, orig)
	}
	ev := f.lastAudit(t)
	if ev.Action != "firewall.rollback" || !strings.Contains(ev.Detail, "rolled back: not confirmed within 1m0s") || ev.Actor != "system" {
		t.Errorf("rollback audit: %+v", ev)
	}
	if n, _ := f.st.FirewallNode(ctx, rampart.LocalNode); n.Pending != nil {
		t.Error("window still open after the rollback")
	}

	// An explicit window on any change, confirmed in time, stays.
	res, err = f.app.Firewall.Add(ctx, admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "9100", FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(3 * time.Second)}})
	if err != nil || res.Pending == nil {
		t.Fatalf("add with confirm_within: %+v %v", res, err)
	}
	f.clock.add(2 * time.Second)
	if err := f.app.Firewall.Confirm(ctx, admin); err != nil {
		t.Fatal(err)
	}
	f.clock.add(time.Hour)
	if done, _ := f.app.Firewall.RollbackExpired(ctx); done {
		t.Error("a confirmed change was rolled back")
	}
	if s, _ := f.app.Firewall.Get(ctx, admin); len(s.Rules) != len(orig)+1 || s.Pending != nil {
		t.Errorf("after confirm: %d rules, pending %+v", len(s.Rules), s.Pending)
	}
}

func TestFirewallFirstEnforcement(t *testing.T) {
	f := newFirewallFixture(t, true)
	ctx := context.Background()
	admin := UserActor(f.admin, "198.51.100.7")
	if err := f.app.Firewall.BeginFirstEnforcement(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := f.st.FirewallNode(ctx, rampart.LocalNode)
	if n.Pending == nil || !n.Pending.Unenforced {
		t.Fatalf("first enforcement: %+v", n.Pending)
	}
	f.clock.add(rampart.DefaultConfirmWithin + time.Second)
	if done, err := f.app.Firewall.RollbackExpired(ctx); !done || err != nil {
		t.Fatalf("rollback: %v %v", done, err)
	}
	if n, _ = f.st.FirewallNode(ctx, rampart.LocalNode); !n.Suspended {
		t.Fatal("an unconfirmed first apply did not suspend enforcement")
	}
	// While suspended no new first-enforcement window opens by itself.
	if err := f.app.Firewall.BeginFirstEnforcement(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ = f.st.FirewallNode(ctx, rampart.LocalNode); n.Pending != nil {
		t.Error("a suspended node opened a window by itself")
	}
	s, err := f.app.Firewall.Apply(ctx, admin, rampart.FirewallApplyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Suspended || s.Pending == nil || s.Pending.Deadline.Sub(f.clock.now()) != rampart.DefaultConfirmWithin {
		t.Errorf("apply after suspension: %+v", s)
	}
	if err := f.app.Firewall.Confirm(ctx, admin); err != nil {
		t.Fatal(err)
	}
}

// TestFirewallDefaultsOpenTheRelayToItsNetworksOnly: with the SMTP relay on
// the Docker bridge, the default ruleset opens its port to the bridge's
// network, not to anyone.
func TestFirewallDefaultsOpenTheRelayToItsNetworksOnly(t *testing.T) {
	f := newFixtureWith(t, Options{Firewall: FirewallOptions{Render: render,
		MailPorts: []int{587, 22}, MailSources: []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}}})
	s, err := f.app.Firewall.Get(context.Background(), UserActor(f.admin, "198.51.100.7"))
	if err != nil {
		t.Fatal(err)
	}
	var mail *rampart.FirewallRule
	for _, r := range s.Rules {
		if r.PortFrom == 587 {
			mail = r
		}
	}
	if len(s.Rules) != 4 || mail == nil || mail.Proto != "tcp" || !reflect.DeepEqual(mail.Sources, []string{"172.17.0.0/16"}) {
		t.Fatalf("rules %+v; want SSH, HTTP, HTTPS and 587/tcp from 172.17.0.0/16 (the relay's 22 is SSH's rule already)", s.Rules)
	}
	if !strings.Contains(s.Plan, "172.17.0.0/16") {
		t.Errorf("plan lacks the relay's network:\n%s", s.Plan)
	}
	// Without networks beyond loopback, nothing is opened for the relay.
	g := newFixtureWith(t, Options{Firewall: FirewallOptions{Render: render, MailPorts: []int{587}}})
	if s, _ := g.app.Firewall.Get(context.Background(), UserActor(g.admin, "198.51.100.7")); len(s.Rules) != 3 {
		t.Errorf("relay on loopback only: %d rules, want 3", len(s.Rules))
	}
}
