package server

import (
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/connguard"
	"github.com/rampart-dev/rampart/internal/edge"
)

// newGuards makes the connection guards of the edge's listeners and of the
// admin side (the dashboard and API, and the debug listener), with caps
// that the process's file descriptor limit can carry: the edge's are
// reached before the descriptors run out, and the admin side has its own,
// so that a flood on the edge leaves the dashboard and the API reachable.
//
// Trusted proxies carry many clients on their connections: the per-client
// cap does not apply to them (the rate limiter still sees each client).
func newGuards(cfg config.Config, trusted func(netip.Addr) bool, reg prometheus.Registerer, log *slog.Logger) (edgeGuard, adminGuard *connguard.Guard, err error) {
	nofile, err := connguard.NoFile()
	if err != nil {
		return nil, nil, err
	}
	l := cfg.Limits
	plan, err := connguard.Budget(nofile, l.ConnectionsPerClient, l.ConnectionsTotal)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range []*connguard.Limits{&plan.Edge, &plan.Admin} {
		p.Window, p.MinBytes, p.Exempt = l.TransferWindow, l.TransferMinBytes, trusted
	}
	edgeGuard = connguard.New("edge", plan.Edge, log)
	adminGuard = connguard.New("admin", plan.Admin, log)
	log.Info("connection limits", "file_descriptors", nofile,
		"edge_total", plan.Edge.Total, "edge_per_client", plan.Edge.PerClient,
		"admin_total", plan.Admin.Total, "admin_per_client", plan.Admin.PerClient,
		"header_timeout", l.HeaderTimeout, "transfer_min_bytes", l.TransferMinBytes, "transfer_window", l.TransferWindow)
	for name, g := range map[string]*connguard.Guard{"edge": edgeGuard, "admin": adminGuard} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "rampart_connections_open",
			Help:        "Client connections open on the listeners (edge: HTTP and HTTPS; admin: dashboard, API and debug).",
			ConstLabels: prometheus.Labels{"listener": name},
		}, func() float64 { return float64(g.Open()) }))
		for _, reason := range []string{connguard.ReasonPerClient, connguard.ReasonTotal, connguard.ReasonNoFiles} {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "rampart_connections_refused_total",
				Help:        "Connections closed at accept: per_client (limits.connections_per_client), total (limits.connections_total), no_descriptors (the process ran out of file descriptors).",
				ConstLabels: prometheus.Labels{"listener": name, "reason": reason},
			}, func() float64 { return float64(g.Refused(reason)) }))
		}
	}
	return edgeGuard, adminGuard, nil
}

// slowClients is the edge's share of the limits.* settings.
func slowClients(cfg config.Config) edge.SlowClients {
	return edge.SlowClients{HeaderTimeout: cfg.Limits.HeaderTimeout, TransferWindow: cfg.Limits.TransferWindow, TransferMinBytes: cfg.Limits.TransferMinBytes}
}
