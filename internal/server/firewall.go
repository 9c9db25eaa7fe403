package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/firewall"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store"
)

// firewallOptions tells the service layer about the node: whether the
// rules are enforced, the edge's ports (the default rules open them, and
// the managed-TLS guard keeps the HTTP one open), and the admin port when
// the dashboard listens beyond loopback (the lock-out guard protects it).
func firewallOptions(cfg config.Config) app.FirewallOptions {
	o := app.FirewallOptions{Enforce: cfg.Firewall.Enforce, Render: dataplane.RenderFirewall}
	// A port the system picks at bind time (":0", tests) is no port a
	// rule could name: -1 tells the service layer there is none.
	none := func(p int) int {
		if p <= 0 {
			return -1
		}
		return p
	}
	p, _ := addrPort(cfg.HTTPAddr)
	o.HTTPPort, o.HTTPSPort = none(p), -1
	if cfg.HTTPSAddr != "" {
		p, _ = addrPort(cfg.HTTPSAddr)
		o.HTTPSPort = none(p)
	}
	if port, loopback := addrPort(cfg.AdminAddr); !loopback {
		o.AdminPort = port
	}
	o.MailPorts, o.MailSources = relayFirewall(cfg)
	return o
}

// relayFirewall is what the firewall must let through to the SMTP relay:
// its ports on addresses beyond loopback, from the allowed networks beyond
// loopback (loopback is always admitted).
func relayFirewall(cfg config.Config) (ports []int, sources []netip.Prefix) {
	if !cfg.RelayOn() {
		return nil, nil
	}
	addrs, _ := cfg.RelayListen()
	for _, a := range addrs {
		if port, loopback := addrPort(a); !loopback && port > 0 && !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	allowed, _, _ := cfg.RelayNetworks() // validated by config
	for _, p := range allowed {
		if !p.Addr().IsLoopback() {
			sources = append(sources, p)
		}
	}
	if len(ports) == 0 || len(sources) == 0 {
		return nil, nil
	}
	return ports, sources
}

// warnRelayFirewall says so when the firewall is enforced and no rule lets
// the relay's private networks reach its port: a node seeded before the
// relay was turned on keeps its rules, and the services' mail would be
// dropped before it reached the relay.
func (s *Server) warnRelayFirewall(ctx context.Context) {
	ports, sources := relayFirewall(s.cfg)
	if !s.cfg.Firewall.Enforce || len(ports) == 0 {
		return
	}
	rs, err := s.store.ListFirewallRules(ctx, rampart.LocalNode)
	if err != nil {
		return
	}
	for _, port := range ports {
		open := slices.ContainsFunc(rs, func(r *rampart.FirewallRule) bool {
			return r.Proto == "tcp" && r.PortFrom <= port && port <= r.PortTo
		})
		if !open {
			src := make([]string, len(sources))
			for i, p := range sources {
				src[i] = p.String()
			}
			s.log.Warn("firewall: no rule lets the services reach the SMTP relay; add one",
				"port", port, "command", fmt.Sprintf("rampart firewall add --proto tcp --port %d --source %s --comment 'SMTP relay'", port, strings.Join(src, ",")))
		}
	}
}

// addrPort returns the port of a listen address and whether it listens on
// loopback only. Port 0 (tests' ":0") opens nothing.
func addrPort(addr string) (port int, loopback bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	port, _ = strconv.Atoi(p)
	if host == "localhost" {
		return port, true
	}
	ip, err := netip.ParseAddr(host)
	return port, err == nil && ip.IsLoopback()
}

// newFirewallReconciler makes the reconciler of this node's firewall. It
// manages the network namespace serve runs in; with enforcement off it
// never opens netlink.
func newFirewallReconciler(cfg config.Config, st store.Store, a *app.App, log *slog.Logger) *agent.Firewall {
	r := &agent.Firewall{Store: st, Enforce: cfg.Firewall.Enforce, Commits: a.Firewall, Log: log.With("log", "firewall")}
	if r.Enforce {
		r.Enforcer = firewall.New(firewall.Options{})
	}
	return r
}

// startFirewall seeds the default rules (so the first enforcing apply
// never closes SSH) and says whether the firewall is enforced.
func (s *Server) startFirewall(ctx context.Context) error {
	if err := s.app.Firewall.Seed(ctx); err != nil {
		return fmt.Errorf("seeding the default firewall rules: %w", err)
	}
	if s.cfg.Firewall.Enforce {
		s.log.Info("firewall: enforced (firewall.enforce is on): rampart's nftables table inet " + firewall.TableName + " is applied now and kept in place; the first enforcing apply on a node must be confirmed within 60s (rampart firewall confirm)")
	} else {
		s.log.Info("firewall: not enforced (firewall.enforce is off): the rules are a plan, nothing on this host changes; rampart firewall show --nft prints what would be applied")
	}
	return nil
}
