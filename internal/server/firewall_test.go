package server

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/config"
)

// TestFirewallWiring: serve's service layer knows the node's ports and can
// render the plan, and plan mode (the default) gives the reconciler no
// enforcer, so nothing can reach the host's nftables.
func TestFirewallWiring(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.AdminAddr, cfg.HTTPAddr, cfg.HTTPSAddr = "0.0.0.0:7443", "127.0.0.1:0", "127.0.0.1:0"
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	if srv.firewall.Enforce || srv.firewall.Enforcer != nil {
		t.Fatal("firewall.enforce is off by default, yet the reconciler can enforce")
	}
	ctx := context.Background()
	if err := srv.startFirewall(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := srv.App().Firewall.Get(ctx, app.OperatorActor())
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, r := range st.Rules {
		ports = append(ports, r.PortFrom)
	}
	// Port 0 listeners (tests) open nothing; the public admin port does.
	if len(ports) != 2 || ports[0] != 22 || ports[1] != 7443 {
		t.Errorf("seeded ports %v, want 22 and the public admin port 7443", ports)
	}
	if !strings.Contains(st.Plan, "table inet rampart") {
		t.Errorf("no plan: %q", st.Plan)
	}

	o := firewallOptions(config.Default())
	if o.HTTPPort != 80 || o.HTTPSPort != 443 || o.AdminPort != 0 {
		t.Errorf("default config: %+v, want 80, 443 and no admin port (loopback)", o)
	}
}
