package client

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

func TestFirewall(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	_, err := s.client(t, s.alice).Firewall(ctx)
	wantAPIError(t, err, rampart.EFORBIDDEN, "only an admin")

	c := s.client(t, s.admin)
	st, err := c.Firewall(ctx)
	if err != nil || len(st.Rules) != 3 {
		t.Fatalf("Firewall = %+v, %v", st, err)
	}
	res, err := c.AddFirewallRule(ctx, rampart.FirewallRuleInput{Proto: "udp", Ports: "5000-5010", Sources: []string{"2001:db8::1"}, Comment: "game"})
	if err != nil || res.Rule.Sources[0] != "2001:db8::1/128" {
		t.Fatalf("AddFirewallRule = %+v, %v", res, err)
	}
	_, err = c.AddFirewallRule(ctx, rampart.FirewallRuleInput{Proto: "udp", Ports: "5005"})
	wantAPIError(t, err, rampart.EINVALID, "overlap")
	comment := "games"
	if res, err = c.UpdateFirewallRule(ctx, res.Rule.ID, rampart.FirewallRulePatch{Comment: &comment, FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(time.Minute)}}); err != nil || res.Rule.Comment != "games" || res.Pending == nil {
		t.Fatalf("UpdateFirewallRule = %+v, %v", res, err)
	}
	if err := c.ConfirmFirewall(ctx); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, c.ConfirmFirewall(ctx), rampart.ENOTFOUND, "nothing to confirm")
	if _, err := c.SetFirewallToolPort(ctx, 18445, rampart.FirewallToolPortInput{Open: true}); err != nil {
		t.Fatal(err)
	}
	rules, err := c.ListFirewallRules(ctx)
	if err != nil || len(rules) != 5 {
		t.Fatalf("ListFirewallRules = %+v, %v", rules, err)
	}
	if _, err := c.RemoveFirewallRule(ctx, res.Rule.ID, rampart.FirewallChange{ConfirmWithin: rampart.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if st, err := c.ApplyFirewall(ctx, rampart.FirewallApplyInput{}); err != nil || st.Pending == nil {
		t.Fatalf("ApplyFirewall = %+v, %v (the window of the removal stays open)", st, err)
	}
	_, err = c.RemoveFirewallRule(ctx, rules[0].ID, rampart.FirewallChange{Force: true})
	wantAPIError(t, err, rampart.ECONFLICT, "cannot be removed")
}
