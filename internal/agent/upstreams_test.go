package agent

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// TestRoutesHoldForbiddenUpstreams: a service saved before the egress policy
// was what it is now (an upgrade, a narrowed allowed_networks) and pointing
// at an address the policy refuses is left out with its status saying why,
// while the others are served; an admin's override, or a host name (checked
// at dial time), keeps the route; rampart's own listener is refused even
// with the override.
func TestRoutesHoldForbiddenUpstreams(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := &rampart.User{Email: "m@example.com", Role: rampart.RoleMember}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	// Written to the store directly: the service layer would refuse them
	// today, which is the point.
	for _, s := range []*rampart.Service{
		{Name: "old", Upstreams: []string{"http://10.0.0.5:8080", "http://127.0.0.1:9000"}},
		{Name: "meta", Upstreams: []string{"http://169.254.169.254"}},
		{Name: "allowed", Upstreams: []string{"http://127.0.0.1:9000"}, AllowPrivateUpstreams: true},
		{Name: "admin", Upstreams: []string{"http://127.0.0.1:7070/"}, AllowPrivateUpstreams: true},
		{Name: "named", Upstreams: []string{"http://app.internal:8080"}},
		{Name: "fine", Upstreams: []string{"https://[2001:db8::1]"}},
	} {
		s.OwnerID, s.State = u.ID, rampart.StateActive
		if err := db.CreateService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	policy := egress.New(nil)
	policy.Protect("admin_addr", netip.MustParseAddrPort("127.0.0.1:7070"))
	tbl := &fakeTable{}
	r := &Routes{Store: db, Edge: tbl, PlatformDomain: "apps.test", Upstreams: policy}
	if err := (&Loop{Store: db}).SyncOnce(ctx, r); err != nil {
		t.Fatal(err)
	}
	hosts := tbl.hosts()
	for name, want := range map[string]string{
		"old":     "127.0.0.1:9000",
		"meta":    "169.254.169.254:80",
		"admin":   "own listener",
		"allowed": "",
		"named":   "",
		"fine":    "",
	} {
		s, err := db.ServiceByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Status.Condition(rampart.ConditionRouting)
		if c == nil {
			t.Fatalf("%s: no routing condition", name)
		}
		_, routed := hosts[name+".apps.test"]
		switch {
		case want == "" && (!c.OK || !routed):
			t.Errorf("%s: routed=%v, condition %+v; want it served", name, routed, c)
		case want != "" && (c.OK || routed || !strings.Contains(c.Message, want)):
			t.Errorf("%s: routed=%v, condition %+v; want it left out, saying %q", name, routed, c, want)
		case want != "":
			t.Logf("%s: %s", name, c.Message)
		}
	}
}
