package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

func testFirewallRules(t *testing.T, s store.Store) {
	ctx := t.Context()
	if rs, err := s.ListFirewallRules(ctx, rampart.LocalNode); err != nil || rs == nil || len(rs) != 0 {
		t.Fatalf("empty node: %v, %v; want an empty, non-nil list", rs, err)
	}
	v0, _ := s.Revision(ctx, store.KindFirewall)
	web := &rampart.FirewallRule{Node: rampart.LocalNode, Proto: "tcp", PortFrom: 443, PortTo: 443, Comment: "HTTPS", CreatedBy: "ada@example.com"}
	ssh := &rampart.FirewallRule{Node: rampart.LocalNode, Proto: "tcp", PortFrom: 22, PortTo: 22, Sources: []string{"192.0.2.0/24", "2001:db8::/32"}}
	other := &rampart.FirewallRule{Node: "elsewhere", Proto: "udp", PortFrom: 4000, PortTo: 4100}
	for _, r := range []*rampart.FirewallRule{web, ssh, other} {
		if err := s.CreateFirewallRule(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.ID == 0 || r.CreatedAt.IsZero() {
			t.Errorf("CreateFirewallRule did not set ID and times: %+v", r)
		}
	}
	v1, _ := s.Revision(ctx, store.KindFirewall)
	if v1 == v0 {
		t.Error("CreateFirewallRule did not move the firewall revision")
	}
	rs, err := s.ListFirewallRules(ctx, rampart.LocalNode)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != ssh.ID || rs[1].ID != web.ID {
		t.Fatalf("ListFirewallRules: %+v, want 22 then 443 of node local only", rs)
	}
	if !slices.Equal(rs[0].Sources, ssh.Sources) || rs[1].Sources == nil || len(rs[1].Sources) != 0 || rs[1].Comment != "HTTPS" || rs[1].CreatedBy != "ada@example.com" {
		t.Errorf("round trip: %+v %+v", rs[0], rs[1])
	}
	web.PortFrom, web.PortTo, web.Sources = 8000, 8100, []string{"203.0.113.7/32"}
	if err := s.UpdateFirewallRule(ctx, web); err != nil {
		t.Fatal(err)
	}
	got, err := s.FirewallRuleByID(ctx, web.ID)
	if err != nil || got.PortTo != 8100 || !slices.Equal(got.Sources, web.Sources) {
		t.Errorf("after update: %+v, %v", got, err)
	}
	snapshot, _ := s.ListFirewallRules(ctx, rampart.LocalNode)
	if err := s.DeleteFirewallRule(ctx, web.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFirewallRule(ctx, web.ID); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("deleting twice: %v, want ENOTFOUND", err)
	}
	if _, err := s.FirewallRuleByID(ctx, web.ID); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("reading a deleted rule: %v, want ENOTFOUND", err)
	}
	web.ID = 0
	if err := s.UpdateFirewallRule(ctx, &rampart.FirewallRule{ID: 9999, Proto: "tcp", PortFrom: 1, PortTo: 1}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("updating a missing rule: %v, want ENOTFOUND", err)
	}
	// A rollback brings the snapshot back whole, with its IDs.
	v2, _ := s.Revision(ctx, store.KindFirewall)
	if err := s.ReplaceFirewallRules(ctx, rampart.LocalNode, snapshot); err != nil {
		t.Fatal(err)
	}
	if v3, _ := s.Revision(ctx, store.KindFirewall); v3 == v2 {
		t.Error("ReplaceFirewallRules did not move the firewall revision")
	}
	back, _ := s.ListFirewallRules(ctx, rampart.LocalNode)
	if len(back) != len(snapshot) {
		t.Fatalf("after replace: %d rules, want %d", len(back), len(snapshot))
	}
	for i := range back {
		if back[i].ID != snapshot[i].ID || back[i].PortFrom != snapshot[i].PortFrom || !slices.Equal(back[i].Sources, snapshot[i].Sources) {
			t.Errorf("rule %d after replace: %+v, want %+v", i, back[i], snapshot[i])
		}
	}
	if rs, _ := s.ListFirewallRules(ctx, "elsewhere"); len(rs) != 1 {
		t.Errorf("replacing one node's rules touched another's: %+v", rs)
	}
}

func testFirewallNode(t *testing.T, s store.Store) {
	ctx := t.Context()
	n, err := s.FirewallNode(ctx, rampart.LocalNode)
	if err != nil || n.Pending != nil || n.Suspended || n.Status.Enforced {
		t.Fatalf("new node: %+v, %v; want the zero value", n, err)
	}
	v0, _ := s.Revision(ctx, store.KindFirewall)
	deadline := time.Now().Add(time.Minute).UTC().Truncate(time.Microsecond)
	p := &rampart.FirewallPending{Deadline: deadline, By: "ada@example.com", Reason: "22/tcp changed",
		Previous: []*rampart.FirewallRule{{ID: 1, Node: rampart.LocalNode, Proto: "tcp", PortFrom: 22, PortTo: 22, Sources: []string{}}}}
	if err := s.SetFirewallPending(ctx, rampart.LocalNode, p); err != nil {
		t.Fatal(err)
	}
	v1, _ := s.Revision(ctx, store.KindFirewall)
	if v1 == v0 {
		t.Error("opening a confirm window did not move the firewall revision: the reconciler would not set its timer")
	}
	n, _ = s.FirewallNode(ctx, rampart.LocalNode)
	if n.Pending == nil || !n.Pending.Deadline.Equal(deadline) || len(n.Pending.Previous) != 1 || n.Pending.Previous[0].PortFrom != 22 {
		t.Errorf("pending round trip: %+v", n.Pending)
	}
	if err := s.SetFirewallStatus(ctx, rampart.LocalNode, rampart.FirewallStatus{Enforced: true, AppliedRevision: v1, Error: "x"}); err != nil {
		t.Fatal(err)
	}
	if v2, _ := s.Revision(ctx, store.KindFirewall); v2 != v1 {
		t.Error("SetFirewallStatus moved the firewall revision: status is not desired state")
	}
	if err := s.SetFirewallSuspended(ctx, rampart.LocalNode, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFirewallPending(ctx, rampart.LocalNode, nil); err != nil {
		t.Fatal(err)
	}
	n, _ = s.FirewallNode(ctx, rampart.LocalNode)
	if n.Pending != nil || !n.Suspended || !n.Status.Enforced || n.Status.AppliedRevision != v1 || n.Status.Error != "x" {
		t.Errorf("after closing the window: %+v", n)
	}
	v3, _ := s.Revision(ctx, store.KindFirewall)
	if err := s.SetFirewallSuspended(ctx, rampart.LocalNode, true); err != nil {
		t.Fatal(err)
	}
	if v4, _ := s.Revision(ctx, store.KindFirewall); v4 == v3 {
		t.Error("SetFirewallSuspended with the same value did not move the revision: apply would not re-apply")
	}
}
