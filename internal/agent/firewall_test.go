package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/firewall"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// needNetNS skips the test, or fails it when CI=true, unless the machine
// can make network namespaces and run nft in them. Nothing here touches
// the host's own namespace.
func needNetNS(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, c := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, "the "+c+" command (apt-get install iproute2 nftables)")
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "the firewall reconciler test needs " + strings.Join(missing, " and ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run it")
	}
	t.Skip(msg)
}

// testNS makes a network namespace for the test and returns its name and a
// file descriptor for the firewall.
func testNS(t *testing.T) (string, int) {
	t.Helper()
	name := fmt.Sprintf("rfwr-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return name, int(f.Fd())
}

func nftIn(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v in %s: %v\n%s", args, ns, err, out)
	}
	return string(out)
}

type fwClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fwClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fwClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func firewallFixture(t *testing.T, enforce bool) (store.Store, *app.App, *fwClock) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &fwClock{t: time.Now()}
	a := app.New(db, app.Options{Now: clock.now, Firewall: app.FirewallOptions{Enforce: enforce, Render: dataplane.RenderFirewall}})
	if err := a.Firewall.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, a, clock
}

func syncFirewall(t *testing.T, r *Firewall, st store.Store, changed bool) {
	t.Helper()
	rev, err := st.Revision(context.Background(), store.KindFirewall)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Sync(context.Background(), Trigger{Changed: changed, Revisions: map[store.Kind]int64{store.KindFirewall: rev}}); err != nil {
		t.Fatalf("sync: %v", err)
	}
}

func lastAudit(t *testing.T, st store.Store) *rampart.AuditEvent {
	t.Helper()
	evs, err := st.ListAudit(context.Background(), rampart.AuditFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit: %v %v", evs, err)
	}
	return evs[0]
}

// TestFirewallReconcilerEnforces drives the reconciler against nftables
// in a network namespace of its own: first apply behind a confirm window,
// drift repair, and a rollback at a window's deadline.
func TestFirewallReconcilerEnforces(t *testing.T) {
	needNetNS(t)
	ns, fd := testNS(t)
	st, a, clock := firewallFixture(t, true)
	ctx := context.Background()
	r := &Firewall{Store: st, Enforce: true, Enforcer: firewall.New(firewall.Options{NetNS: fd}), Commits: a.Firewall, Now: clock.now}

	// The first enforcing apply opens a window by itself.
	syncFirewall(t, r, st, true)
	table := nftIn(t, ns, "list", "table", "inet", "rampart")
	if !strings.Contains(table, "policy drop") {
		t.Fatalf("after the first apply the table is:\n%s", table)
	}
	node, _ := st.FirewallNode(ctx, rampart.LocalNode)
	if node.Pending == nil || !node.Pending.Unenforced || !node.Status.Enforced || !node.Status.EverEnforced || node.Status.AppliedAt == nil {
		t.Fatalf("after the first apply: %+v %+v", node.Pending, node.Status)
	}
	if err := a.Firewall.Confirm(ctx, app.OperatorActor()); err != nil {
		t.Fatal(err)
	}

	// Drift: someone deletes the table; the resync puts it back and says so.
	nftIn(t, ns, "delete", "table", "inet", "rampart")
	syncFirewall(t, r, st, false)
	if got := nftIn(t, ns, "list", "table", "inet", "rampart"); got != table {
		t.Errorf("after the repair the table is:\n%s\nwant\n%s", got, table)
	}
	if ev := lastAudit(t, st); ev.Action != "firewall.drift_repaired" || !strings.Contains(ev.Detail, "gone") {
		t.Errorf("drift audit: %+v", ev)
	}
	// Drift: someone adds a rule to it.
	nftIn(t, ns, "add", "rule", "inet", "rampart", "input", "tcp", "dport", "9999", "accept")
	syncFirewall(t, r, st, false)
	if got := nftIn(t, ns, "list", "table", "inet", "rampart"); got != table {
		t.Errorf("after repairing an added rule the table is:\n%s", got)
	}
	// Nothing changed: a resync leaves it alone.
	syncFirewall(t, r, st, false)
	if ev := lastAudit(t, st); ev.Action != "firewall.drift_repaired" || !strings.Contains(ev.Detail, "changed") {
		t.Errorf("second drift audit: %+v", ev)
	}

	// A change behind a 1s window is applied, then rolled back at the
	// deadline, which wakes the reconciler.
	if _, err := a.Firewall.Add(ctx, app.OperatorActor(), rampart.FirewallRuleInput{Proto: "tcp", Ports: "9000", FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	syncFirewall(t, r, st, true)
	if got := nftIn(t, ns, "list", "table", "inet", "rampart"); !strings.Contains(got, "9000") {
		t.Fatalf("the change is not applied:\n%s", got)
	}
	select {
	case <-r.Wake():
	case <-time.After(3 * time.Second):
		t.Fatal("the reconciler was not woken at the deadline")
	}
	clock.add(time.Second)
	syncFirewall(t, r, st, false)
	if got := nftIn(t, ns, "list", "table", "inet", "rampart"); got != table {
		t.Errorf("after the rollback the table is:\n%s\nwant\n%s", got, table)
	}
	if ev := lastAudit(t, st); ev.Action != "firewall.rollback" || !strings.Contains(ev.Detail, "rolled back: not confirmed within 1s") {
		t.Errorf("rollback audit: %+v", ev)
	}
}

// TestFirewallReconcilerUnconfirmedFirstApply: the first enforcing apply,
// not confirmed, takes the table away again and suspends enforcement.
func TestFirewallReconcilerUnconfirmedFirstApply(t *testing.T) {
	needNetNS(t)
	ns, fd := testNS(t)
	st, a, clock := firewallFixture(t, true)
	ctx := context.Background()
	r := &Firewall{Store: st, Enforce: true, Enforcer: firewall.New(firewall.Options{NetNS: fd}), Commits: a.Firewall, Now: clock.now}
	syncFirewall(t, r, st, true)
	clock.add(rampart.DefaultConfirmWithin)
	syncFirewall(t, r, st, false)
	syncFirewall(t, r, st, true) // the pass the suspension's revision wakes
	if got := nftIn(t, ns, "list", "tables"); strings.Contains(got, "rampart") {
		t.Errorf("after an unconfirmed first apply the tables are:\n%s", got)
	}
	node, _ := st.FirewallNode(ctx, rampart.LocalNode)
	if !node.Suspended || node.Status.Enforced || !strings.Contains(node.Status.Message, "suspended") {
		t.Errorf("node: %+v", node)
	}
	// apply enforces again, behind a new window.
	if _, err := a.Firewall.Apply(ctx, app.OperatorActor(), rampart.FirewallApplyInput{}); err != nil {
		t.Fatal(err)
	}
	syncFirewall(t, r, st, true)
	if got := nftIn(t, ns, "list", "tables"); !strings.Contains(got, "rampart") {
		t.Errorf("apply did not enforce again: %s", got)
	}
}

// TestFirewallReconcilerPlanMode: enforcement off touches nothing and says
// so in the status.
func TestFirewallReconcilerPlanMode(t *testing.T) {
	st, a, clock := firewallFixture(t, false)
	r := &Firewall{Store: st, Commits: a.Firewall, Now: clock.now}
	syncFirewall(t, r, st, true)
	node, _ := st.FirewallNode(context.Background(), rampart.LocalNode)
	if node.Status.Enforced || node.Pending != nil || !strings.Contains(node.Status.Message, "plan") {
		t.Errorf("plan mode: %+v", node)
	}
}
