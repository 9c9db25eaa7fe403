// Package server assembles `rampart serve`: it opens the store, builds the
// service layer, the edge, the REST API and the dashboard, starts the
// reconcilers and background jobs, and serves the listeners until its
// context ends, then shuts down gracefully. cmd/rampart only parses flags
// and calls it; the integration tests start it the same way.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/api"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/connguard"
	"github.com/rampart-dev/rampart/internal/dnscheck"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/fastlane"
	"github.com/rampart-dev/rampart/internal/edge/h2lane"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/edge/realip"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/lifecycle"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/rawsock"
	"github.com/rampart-dev/rampart/internal/runtime"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store"
	_ "github.com/rampart-dev/rampart/internal/store/sqlite" // the default store
	"github.com/rampart-dev/rampart/internal/web"
)

// ShutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM before connections are closed.
const ShutdownTimeout = 30 * time.Second

// Server is a running rampart node. Create it with New, then Run it.
type Server struct {
	cfg   config.Config
	log   *slog.Logger
	store store.Store
	app   *app.App
	edge  *edge.Edge
	logs  *logtail.Log // the edge's recent requests, for `rampart logs` and the Logs tab

	adminLn, httpLn, httpsLn, debugLn net.Listener
	// https and debug are nil unless https_addr and debug_addr are set.
	admin, http, https, debug *http.Server
	httpLane, httpsLane       *fastlane.Lane
	h2                        *h2lane.Server // the https listener's HTTP/2 connections

	certs   *certs.Manager
	routes  *agent.Routes
	domains *agent.Domains
	// firewall keeps the node's nftables table equal to its rules.
	firewall *agent.Firewall
	// lifecycle keeps services' data: backups, delete, restore, purge.
	lifecycle    *lifecycle.Manager
	backupsWhere string
	// mail is the SMTP relay; nil unless mail.domain is set.
	mail *mailRelay
	// supervisor runs the services rampart runs (exec, compose).
	supervisor *runtime.Supervisor
	// reconcilers are run by loop, each on its own; a new one is one
	// more entry in the list New makes.
	loop        *agent.Loop
	reconcilers []agent.Reconciler
	ready       atomic.Bool
	closers     []func() error
	// shutdownTimeout is ShutdownTimeout; tests shorten it.
	shutdownTimeout time.Duration
}

// New opens the data directory and binds the listeners, so that a port in
// use is reported before anything else starts. log may be nil.
func New(cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, shutdownTimeout: ShutdownTimeout}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()

	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", cfg.Data, err)
	}
	db, err := store.Open(context.Background(), store.DefaultDSN(cfg.Data))
	if err != nil {
		return nil, err
	}
	s.store = db
	s.closers = append(s.closers, db.Close)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	trusted, _ := realip.ParseTrusted(cfg.TrustedProxies) // validated above
	clientIP, err := realip.New(trusted)
	if err != nil {
		return nil, err
	}
	s.logs = logtail.New(logtail.Options{})
	// Where services may be pointed: checked by the service layer when a
	// service is saved and by the edge's dialer at every connection.
	// rampart's own listeners are added once they are bound.
	upstreamNets, _ := cfg.UpstreamNetworks() // validated above
	upstreams := egress.New(upstreamNets)
	ecfg := edge.Config{Metrics: reg, ErrorLog: log, ClientIP: clientIP.ClientIP, OnRequest: s.logs.Publish,
		Transport: edge.NewUpstreamTransport(upstreams, nil)}
	if cfg.Log.AccessLog {
		ecfg.AccessLog = log.With("log", "access")
	}
	if cfg.Node.Name != "" {
		if err := edge.CheckViaName(cfg.Node.Name); err != nil {
			return nil, fmt.Errorf("node.name: %w", err)
		}
		ecfg.ViaName = cfg.Node.Name
	}
	if s.edge, err = edge.New(ecfg); err != nil {
		return nil, err
	}
	nodeIPs := cfg.Node.PublicIPs
	if len(nodeIPs) == 0 {
		nodeIPs = DetectIPs()
	}
	s.domains = &agent.Domains{
		Store:          db,
		Checker:        &dnscheck.Checker{Resolvers: cfg.DNS.Resolvers},
		PlatformDomain: cfg.Platform.Domain,
		NodeIPs:        parseIPs(nodeIPs),
		Log:            log.With("log", "domains"),
	}
	upstreams.AddLocal(s.domains.NodeIPs...)
	secrets, err := SecretKey(cfg)
	if err != nil {
		return nil, err
	}
	mail, err := NewMailer(cfg, log)
	if err != nil {
		return nil, err
	}
	if cfg.Admin.Domain != "" {
		mode := certs.ModeManaged
		if certs.IsInternalName(cfg.Admin.Domain) {
			mode = certs.ModeInternal
		}
		s.domains.Own = []certs.Domain{{Name: cfg.Admin.Domain, Mode: mode}}
	}
	// The SMTP relay binds its listeners now, with the others, and serves
	// once the certificate manager exists (STARTTLS). With it on, the
	// platform's own mail goes through its queue.
	if cfg.RelayOn() {
		if s.mail, err = newMailRelay(cfg, db, s.domains.NodeIPs, reg, log); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.mail.close)
		if d, ok := s.mail.certDomain(); ok {
			s.domains.Own = append(s.domains.Own, d)
		}
		mail = queueMailer{m: s.mail, conf: mailer.Config{From: platformFrom(cfg)}}
	}
	backups, backupsWhere, err := newBackupStore(cfg)
	if err != nil {
		return nil, err
	}
	s.lifecycle = &lifecycle.Manager{Store: db, Backups: backups, Root: servicesDir(cfg), Log: log.With("log", "lifecycle"),
		Interval: cfg.Backups.Interval, Keep: cfg.Backups.Keep, Failpoint: failpointFromEnv(log)}
	s.backupsWhere = backupsWhere
	var runtimes *agent.Runtimes
	var closeCompose func() error
	s.supervisor, runtimes, closeCompose = newRuntimes(db, s.lifecycle, s.logs, log)
	s.closers = append(s.closers, closeCompose)
	s.app = app.New(db, app.Options{Logger: log, Mailer: mail, Secrets: secrets, Lifecycle: s.lifecycle, DeleteGrace: cfg.Services.DeleteGrace, Issuer: cfg.Admin.Domain, AdminDomain: cfg.Admin.Domain, PublicURL: publicURL(cfg),
		PlatformDomain: cfg.Platform.Domain, Quotas: cfg.LimitsQuotas(), Upstreams: upstreams,
		Cache: edgeCache{s.edge}, DNS: s.domains, Logs: dataplane.Logs(s.logs), CheckKeyPair: dataplane.CheckKeyPair,
		Firewall: firewallOptions(cfg),
		// The certificate manager is made below, once the listeners it
		// answers challenges on are bound.
		Certificates: app.ResetFunc(func(ctx context.Context, name string) (string, error) { return s.certs.Reset(ctx, name) }),
		SSHKeys:      app.SSHKeyOptions{Manage: cfg.SSH.ManageAuthorizedKeys, User: cfg.SSH.User},
		MailDomain:   cfg.Mail.Domain, MailRelay: s.mailRelay(), MailPerHourDefault: cfg.Mail.PerHour, MailViolationsToSuspend: cfg.Mail.ViolationsToSuspend})
	s.routes = &agent.Routes{Store: db, Edge: edgeRoutes{s.edge, s.logs}, PlatformDomain: cfg.Platform.Domain, Upstreams: upstreams, Log: log}
	s.loop = &agent.Loop{Store: db, Metrics: reg, Log: log}
	routesPass := func(ctx context.Context) error { return s.loop.SyncOnce(ctx, s.routes) }
	runtimes.BeforeStop, runtimes.DownChanged = routesPass, routesPass
	s.lifecycle.Runner = supervisorRunner{sup: s.supervisor, beforeKill: routesPass, log: log.With("log", "lifecycle")}
	s.firewall = newFirewallReconciler(cfg, db, s.app, log)
	s.reconcilers = []agent.Reconciler{s.routes, s.domains, s.firewall, runtimes}
	// Every listener is guarded against slow and greedy clients.
	edgeGuard, adminGuard, err := newGuards(cfg, clientIP.Trusted, reg, log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, edgeGuard.Close, adminGuard.Close)
	// SSH keys: the reconciler does nothing unless the operator turned
	// ssh.manage_authorized_keys on.
	s.reconcilers = append(s.reconcilers, &agent.AuthorizedKeys{Store: db, Manage: cfg.SSH.ManageAuthorizedKeys, User: cfg.SSH.User,
		Log: log.With("log", "authorized_keys")})
	// The listeners are bound before the handlers are made: the services'
	// URLs carry the edge's port, which ":0" picks only now.
	if s.adminLn, err = listen("admin_addr", cfg.AdminAddr, adminGuard); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.adminLn.Close)
	if s.httpLn, err = listen("http_addr", cfg.HTTPAddr, edgeGuard); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.httpLn.Close)

	if cfg.HTTPSAddr != "" {
		if s.httpsLn, err = listen("https_addr", cfg.HTTPSAddr, edgeGuard); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.httpsLn.Close)
	}
	edgePort := s.httpLn.Addr().(*net.TCPAddr).Port
	// The dashboard and API may sit behind the same proxies as the edge:
	// audit entries and login throttling use the same client IP.
	adminIP := func(r *http.Request) string { return clientIP.ClientIP(r).String() }
	apiHandler := api.New(s.app, api.Options{Logger: log, PlatformDomain: cfg.Platform.Domain, ClientIP: adminIP, EdgeHTTPPort: edgePort})
	webHandler, err := web.New(s.app, web.Config{PlatformDomain: cfg.Platform.Domain, NodeIPs: nodeIPs, Logger: log, ClientIP: adminIP, Stats: trafficStats(s.edge.Stats, ecfg.Limiter),
		EdgeHTTPPort: edgePort, ACMEDirectory: cfg.ACME.Directory, FirstAdminCommand: FirstAdminCommand(cfg.Data), DeleteGrace: cfg.Services.DeleteGrace, MailViolationsToSuspend: cfg.Mail.ViolationsToSuspend})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", apiHandler)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /ca.pem", s.caPEM)
	mux.Handle("/", webHandler)
	// The dashboard and API over HTTPS at admin.domain, on the edge's
	// HTTPS listener: Secure (__Host-) cookies and HSTS. /metrics stays on
	// the plain admin listener, which is meant for loopback.
	var adminTLS http.Handler
	if cfg.Admin.Domain != "" {
		secureWeb, err := web.New(s.app, web.Config{PlatformDomain: cfg.Platform.Domain, NodeIPs: nodeIPs, Logger: log, ClientIP: adminIP, Stats: trafficStats(s.edge.Stats, ecfg.Limiter),
			EdgeHTTPPort: edgePort, ACMEDirectory: cfg.ACME.Directory, FirstAdminCommand: FirstAdminCommand(cfg.Data), SecureCookies: true, DeleteGrace: cfg.Services.DeleteGrace, MailViolationsToSuspend: cfg.Mail.ViolationsToSuspend})
		if err != nil {
			return nil, err
		}
		tls := http.NewServeMux()
		tls.Handle("/api/v1/", apiHandler)
		tls.HandleFunc("GET /ca.pem", s.caPEM)
		tls.Handle("/", secureWeb)
		adminTLS = tls
	}

	if s.certs, err = newCertManager(cfg, log, s.httpLn, s.httpsLn, s.domains.Notify); err != nil {
		return nil, err
	}
	s.closers = append(s.closers, s.certs.Close)
	s.domains.Certs = s.certs
	if s.mail != nil {
		if err := s.mail.start(context.Background(), s.app, s.certs); err != nil {
			return nil, err
		}
		s.reconcilers = append(s.reconcilers, mailAccounts{s.mail})
	}

	// No WriteTimeout: it would cut off the log streams (the API's and the
	// dashboard's), which set a deadline per write instead; the guard's
	// listener makes every write move.
	s.admin = &http.Server{Handler: connguard.BodyRate(mux, cfg.Limits.TransferWindow, cfg.Limits.TransferMinBytes),
		ReadHeaderTimeout: cfg.Limits.HeaderTimeout, IdleTimeout: edge.IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	// Shutdown waits for requests to finish, and a log stream never does
	// by itself: end the streams first (each says why to its reader).
	s.admin.RegisterOnShutdown(s.logs.Close)
	// Port 80 answers ACME HTTP-01 challenges and redirects custom domains
	// that have a certificate to HTTPS; everything else goes to the edge.
	s.http = edge.NewServer(cfg.HTTPAddr, platformOnHTTP(cfg.Platform.Domain, s.edge, s.certs.HTTPHandler(s.edge)), log, slowClients(cfg))
	// The edge's plain requests are answered on the fast lane, without
	// net/http's per-request machinery; the handler chain is the same.
	s.httpLane = fastlane.Install(s.http, s.edge.Routed)
	if s.httpsLn != nil {
		s.https = edge.NewServer(cfg.HTTPSAddr, adminOnHTTPS(cfg.Admin.Domain, adminTLS, s.edge), log, slowClients(cfg))
		s.https.TLSConfig = s.certs.TLSConfig() // offers h2, http/1.1 and acme-tls/1
		s.httpsLane = fastlane.Install(s.https, s.edge.Routed)
		// HTTP/2 connections are served by h2lane rather than net/http:
		// cache hits inline on the connection's goroutine, the rest
		// through the same handler (which includes the body-rate guard).
		s.h2 = &h2lane.Server{Handler: s.https.Handler, Eligible: s.edge.Fresh, HTTPServer: s.https, ExtendedConnect: true,
			ReadHeaderTimeout: s.https.ReadHeaderTimeout, IdleTimeout: s.https.IdleTimeout,
			MaxHeaderListSize: edge.MaxHeaderBytes, ErrorLog: s.https.ErrorLog}
		// net/http's Shutdown starts the GOAWAYs; Run waits for them
		// below, as net/http's does for its own connections.
		s.https.RegisterOnShutdown(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
			defer cancel()
			_ = s.h2.Shutdown(ctx)
		})
	}
	for name, lane := range map[string]*fastlane.Lane{"http": s.httpLane, "https": s.httpsLane} {
		if lane == nil {
			continue
		}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "rampart_edge_fastlane_requests_total",
			Help:        fastlaneHelp,
			ConstLabels: prometheus.Labels{"listener": name},
		}, func() float64 { return float64(lane.Answered()) }))
	}
	if s.h2 != nil {
		// HTTP/2 cache hits answered inline, counted in the same metric
		// under their own listener label.
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "rampart_edge_fastlane_requests_total",
			Help:        fastlaneHelp,
			ConstLabels: prometheus.Labels{"listener": "https-h2"},
		}, func() float64 { return float64(s.h2.Answered()) }))
	}
	if cfg.DebugAddr != "" {
		if s.debugLn, err = listen("debug_addr", cfg.DebugAddr, adminGuard); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.debugLn.Close)
		dmux := http.NewServeMux()
		dmux.HandleFunc("/debug/pprof/", pprof.Index)
		dmux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		dmux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dmux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		dmux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		s.debug = &http.Server{Handler: connguard.BodyRate(dmux, cfg.Limits.TransferWindow, cfg.Limits.TransferMinBytes),
			ReadHeaderTimeout: cfg.Limits.HeaderTimeout, IdleTimeout: edge.IdleTimeout}
	}
	// The dashboard, the API, /metrics and the profiles are never reachable
	// through the edge, whoever configured the service. The edge's own
	// listeners are left to loop detection (Via, 508).
	for _, l := range []struct {
		key string
		ln  net.Listener
	}{{"admin_addr", s.adminLn}, {"debug_addr", s.debugLn}} {
		if l.ln != nil {
			upstreams.Protect(l.key, l.ln.Addr().(*net.TCPAddr).AddrPort())
		}
	}
	ok = true
	return s, nil
}

// fastlaneHelp describes rampart_edge_fastlane_requests_total, whose
// listeners count different things: one help text for all of them.
const fastlaneHelp = "Requests answered without net/http's per-request work: on HTTP/1.1 (listener http, https) every request the fast lane took, cache hits and misses; on HTTP/2 (listener https-h2) the cache hits answered on the connection's own goroutine."

// listen binds addr; the connections it accepts go through g, and read and
// write without the scheduler's system-call hand-off (package rawsock).
func listen(key, addr string, g *connguard.Guard) (net.Listener, error) {
	lc := listenConfig()
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot listen on %s: %w (is another program using the port? ports below 1024 need root or CAP_NET_BIND_SERVICE)", key, addr, err)
	}
	return g.Listener(rawsock.Listener(ln)), nil
}

// App returns the service layer, for the demo set-up and tests.
func (s *Server) App() *app.App { return s.app }

// AdminAddr is the address the dashboard and API listen on.
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

// HTTPAddr is the address of the edge's HTTP listener.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// HTTPSAddr is the address of the edge's HTTPS listener, "" without one.
func (s *Server) HTTPSAddr() string {
	if s.httpsLn == nil {
		return ""
	}
	return s.httpsLn.Addr().String()
}

// Certs is the certificate manager: its internal CA's root is what a
// browser trusts for names under .localhost and .test (the demo).
func (s *Server) Certs() *certs.Manager { return s.certs }

// caPEM serves the internal CA's root, so that a browser (or curl
// --cacert) can trust the certificates of internal names.
func (s *Server) caPEM(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="rampart-internal-root.pem"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(s.certs.InternalRootPEM())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "starting\n")
		return
	}
	io.WriteString(w, "ok\n")
}

// Run serves until ctx ends, then stops accepting connections, lets
// in-flight requests finish (up to ShutdownTimeout) and closes the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	// The first routing table is in place before the edge takes requests,
	// so a restart never answers 404 for services that exist.
	if err := s.loop.SyncOnce(ctx, s.routes); err != nil {
		return fmt.Errorf("building the first routing table: %w", err)
	}
	if err := s.startFirewall(ctx); err != nil {
		return err
	}
	s.warnRelayFirewall(ctx)
	bg, stopBG := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.loop.RunAll(bg, s.reconcilers) })
	wg.Go(func() { s.pruneSessions(bg) })
	wg.Go(func() { s.lifecycle.Run(bg, time.Minute) })
	if s.mail != nil {
		wg.Go(func() { s.mail.run(bg) })
	}

	errc := make(chan error, 3)
	serve := func(name string, srv *http.Server, ln net.Listener) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s listener: %w", name, err)
		}
	}
	go serve("admin", s.admin, s.adminLn)
	go serve("edge http", s.http, s.httpLane.Listener(s.httpLn))
	if s.https != nil {
		go func() {
			// The lane does the handshakes: it must know the protocol
			// before net/http sees the connection.
			if err := s.https.Serve(s.httpsLane.TLSListenerH2(s.httpsLn, s.https.TLSConfig, s.h2.ServeConn)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("edge https listener: %w", err)
			}
		}()
	}
	if s.debug != nil {
		go serve("debug", s.debug, s.debugLn)
		defer s.debug.Close()
	}
	s.ready.Store(true)
	s.log.Info("rampart is serving", "admin", "http://"+s.AdminAddr(), "edge_http", s.HTTPAddr(), "edge_https", s.HTTPSAddr(), "platform_domain", s.cfg.Platform.Domain, "data", s.cfg.Data)
	if s.cfg.SSH.ManageAuthorizedKeys {
		s.log.Info("SSH keys are managed: rampart writes them into the managed block of authorized_keys", "user", s.cfg.SSH.User)
	} else {
		s.log.Info("SSH keys are not enforced: they are stored and shown, no authorized_keys is written; set ssh.manage_authorized_keys: true to enforce them", "user", s.cfg.SSH.User)
	}
	if ap, err := netip.ParseAddrPort(s.AdminAddr()); err == nil && !ap.Addr().IsLoopback() {
		s.log.Warn("the plain-HTTP admin listener is reachable from other machines: passwords, codes and session cookies cross the network unencrypted; set admin_addr to 127.0.0.1:7070 and admin.domain to serve the dashboard over HTTPS", "admin_addr", s.AdminAddr())
	} else if s.cfg.Admin.Domain != "" {
		s.log.Info("the dashboard and API are served over HTTPS at admin.domain; the plain admin listener is on loopback only", "url", "https://"+s.cfg.Admin.Domain+httpsPortSuffix(s.HTTPSAddr()), "admin_addr", s.AdminAddr())
	} else {
		s.log.Info("the dashboard is on the plain admin listener, loopback only; set admin.domain to serve it over HTTPS to other machines", "admin_addr", s.AdminAddr())
	}
	if s.mail != nil {
		s.log.Info("platform mail goes through the SMTP relay's queue", "from", platformFrom(s.cfg), "delivery", s.mail.deliveryMode())
	} else if s.cfg.Mail.SMTP.Host == "" {
		s.log.Warn("no mail server: login codes and account notices are written to this log, not emailed; set mail.smtp.host and mail.from before others log in")
	} else {
		s.log.Info("platform mail goes through SMTP", "server", s.cfg.Mail.SMTP.Host, "from", s.cfg.Mail.From)
	}
	if n, err := s.store.CountUsers(ctx); err == nil && n == 0 {
		// Nobody can log in yet, and nothing else says how to begin.
		s.log.Warn("no account exists yet: create the first admin with `" + FirstAdminCommand(s.cfg.Data) + "`")
	}

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: finishing in-flight requests", "timeout", s.shutdownTimeout)
	case err = <-errc:
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer cancel()
	// Each listener shuts down on its own goroutine; each writes only its
	// own slot, so that several failing at once do not race.
	servers := []*http.Server{s.http, s.https, s.admin}
	errs := make([]error, len(servers))
	var h2err error
	var swg sync.WaitGroup
	for i, srv := range servers {
		if srv == nil {
			continue
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			errs[i] = srv.Shutdown(sctx)
		}()
	}
	if s.h2 != nil {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if err := s.h2.Shutdown(sctx); err != nil {
				h2err = err
			}
		}()
	}
	swg.Wait()
	errs = append(errs, h2err)
	stopBG()
	wg.Wait()
	// The processes rampart runs stop with it (gracefully); compose
	// projects stay with Docker and are found again at the next start.
	if cerr := s.supervisor.Close(sctx); cerr != nil {
		s.log.Warn("stopping the services rampart runs", "err", cerr)
	}
	if shutdownErr := errors.Join(errs...); err == nil && shutdownErr != nil {
		err = fmt.Errorf("graceful shutdown: %w", shutdownErr)
	}
	s.log.Info("rampart stopped")
	return err
}

// edgeRoutes hands each new routing table to the edge and lets the log
// tail forget the services that are gone.
type edgeRoutes struct {
	edge *edge.Edge
	logs *logtail.Log
}

func (t edgeRoutes) SetRoutes(routes []edge.Route) error {
	// The edge installs every valid route even when it refuses some, and a
	// refused service still exists: its log stays either way.
	err := t.edge.SetRoutes(routes)
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.Service
	}
	t.logs.Retain(names)
	return err
}

func (s *Server) pruneSessions(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.app.Accounts.PruneSessions(ctx); err != nil {
				s.log.Warn("pruning expired sessions", "err", err)
			} else if n > 0 {
				s.log.Debug("pruned expired sessions", "count", n)
			}
			if n, err := s.app.Accounts.PruneChallenges(ctx); err != nil {
				s.log.Warn("pruning expired login challenges", "err", err)
			} else if n > 0 {
				s.log.Debug("pruned expired login challenges", "count", n)
			}
			if n, err := s.app.Accounts.PruneLinks(ctx); err != nil {
				s.log.Warn("pruning expired account links", "err", err)
			} else if n > 0 {
				s.log.Debug("pruned expired account links", "count", n)
			}
		}
	}
}

// publicURL is the dashboard's address on admin.domain, which emailed
// invitation and reset links point to; "" without admin.domain (the plain
// admin listener is for loopback, no address to mail anyone).
func publicURL(cfg config.Config) string {
	if cfg.Admin.Domain == "" {
		return ""
	}
	if port, _ := addrPort(cfg.HTTPSAddr); port != 0 && port != 443 {
		return fmt.Sprintf("https://%s:%d", cfg.Admin.Domain, port)
	}
	return "https://" + cfg.Admin.Domain
}

func (s *Server) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		_ = s.closers[i]()
	}
	s.closers = nil
}

// FirstAdminCommand is the command that creates the first admin account
// of the server whose data directory is dir.
func FirstAdminCommand(dir string) string {
	return "rampart user create --data " + dir + " --email you@example.com --admin"
}

// DetectIPs returns this machine's global unicast addresses, the best guess
// of the A-record targets when node.public_ips is not configured.
func DetectIPs() []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var ips []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() {
			ips = append(ips, n.IP.String())
		}
	}
	return ips
}

// httpsPortSuffix is ":port" for a URL on the HTTPS listener, "" on 443.
func httpsPortSuffix(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "443" {
		return ""
	}
	return ":" + port
}
