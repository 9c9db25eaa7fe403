// Package web is rampart's dashboard: server-rendered HTML pages for the
// people whose services rampart fronts. It is a thin skin over internal/app —
// every read and every change goes through the service layer with an
// app.Actor, so permission checks and the audit log are the same as for the
// REST API and the CLI.
//
// The pages work without JavaScript. htmx (vendored, see static/README.md)
// only makes tab switches feel instant and keeps the Overview's run state
// live (a small fragment polled every few seconds while rampart runs the
// service), and static/app.js adds copy buttons and the confirmation
// modals (delete, power off, reinstall, restore, cache purge, firewall
// rules, SSH keys, a new SMTP password), counts down the firewall's confirm window, and keeps the Logs
// tab live with server-sent events (handlers_logs.go); it also runs the
// passkey ceremonies between the browser and handlers_passkeys.go, and
// hides the Runtime form's fields that the chosen kind does not use. The
// Security tab's options unfold with <details> and its charts are SVG
// drawn on the server (chart.go). The Content-Security-Policy allows no inline script, no inline
// style and no eval, so an injected string can at worst be text.
//
// Request forgery is stopped twice: every POST must carry the session's CSRF
// token (or, on the login form, a double-submit cookie), and
// http.CrossOriginProtection rejects cross-site POSTs that browsers label
// with Sec-Fetch-Site or Origin. See csrf.go.
package web

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// Config is what the dashboard needs to know about where it runs.
type Config struct {
	// PlatformDomain is the parent of every service's platform hostname
	// (<name>.<PlatformDomain>), which the Overview shows as the CNAME target.
	PlatformDomain string
	// NodeIPs are the public addresses of the node, shown as A/AAAA-record targets.
	NodeIPs []string
	// SecureCookies marks cookies Secure and sends HSTS; set it when the
	// dashboard is served over HTTPS.
	SecureCookies bool
	// Logger receives internal errors; nil means slog.Default().
	Logger *slog.Logger
	// ClientIP returns the client address recorded in the audit log. The
	// default is the host of r.RemoteAddr; behind a trusted proxy the caller
	// passes one that reads the forwarded address.
	ClientIP func(*http.Request) string
	// Stats returns what the edge saw of a service recently, for the
	// Security tab's charts. It is observed state that only the process
	// running the edge has, so it is a function rather than something in
	// the store; nil (no edge here) makes the tab say there is no traffic
	// data instead of drawing empty charts that look like "no traffic".
	// The service is named by its ID: the edge keeps a service's counts
	// under it, so that a new service of an old name starts from zero.
	Stats func(serviceID int64) rampart.TrafficStats
	// EdgeHTTPPort is the port of the edge's HTTP listener, which a
	// service's URL carries unless it is 80. Zero means 80.
	EdgeHTTPPort int
	// ACMEDirectory is the ACME CA that certifies custom domains other
	// than internal names, named on the Security tab. Empty means Let's
	// Encrypt, the server's default.
	ACMEDirectory string
	// FirstAdminCommand is what the login page shows while no account
	// exists: the command that creates the first one. Empty shows
	// nothing.
	FirstAdminCommand string
	// DeleteGrace is how long a deleted service can be restored, as the
	// service layer was configured (app.Options.DeleteGrace): the delete
	// confirmation says until when. Zero means rampart.DefaultDeleteGrace.
	DeleteGrace time.Duration
	// MailViolationsToSuspend is how many bulk-mail violations within 24
	// hours suspend a service's mail, as the service layer was configured
	// (app.Options.MailViolationsToSuspend): the SMTP service row states
	// the rule. Zero means app.DefaultMailViolationsToSuspend.
	MailViolationsToSuspend int
}

// server holds what every handler needs.
type server struct {
	app    *app.App
	cfg    Config
	log    *slog.Logger
	pages  *pages
	assets *assets
}

// New returns the dashboard handler, to be mounted at "/" of the admin
// listener. It does not serve /api/, /healthz or /metrics: the caller's mux
// routes those to their own handlers first.
func New(a *app.App, cfg Config) (http.Handler, error) {
	if a == nil {
		return nil, errors.New("web: nil app")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteHost
	}
	if cfg.DeleteGrace <= 0 {
		cfg.DeleteGrace = rampart.DefaultDeleteGrace
	}
	if cfg.MailViolationsToSuspend <= 0 {
		cfg.MailViolationsToSuspend = app.DefaultMailViolationsToSuspend
	}
	cfg.PlatformDomain = strings.TrimSuffix(strings.TrimSpace(cfg.PlatformDomain), ".")
	if cfg.PlatformDomain == "" {
		return nil, errors.New("web: Config.PlatformDomain is required: it is the parent domain of every service's hostname")
	}
	as, err := loadAssets()
	if err != nil {
		return nil, err
	}
	s := &server{app: a, cfg: cfg, log: cfg.Logger, assets: as}
	if s.pages, err = parsePages(as); err != nil {
		return nil, err
	}
	return s.routes(), nil
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/{version}/{file}", http.HandlerFunc(s.assets.serve))

	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginSubmit)
	mux.HandleFunc("GET /login/verify", s.verifyPage)
	mux.HandleFunc("POST /login/verify", s.verifySubmit)
	mux.Handle("POST /logout", s.post(s.logout))
	// The emailed links of invitations and password resets.
	mux.HandleFunc("GET /invite/{secret}", s.linkPage)
	mux.HandleFunc("POST /invite/{secret}", s.linkSubmit)
	mux.HandleFunc("GET /reset/{secret}", s.linkPage)
	mux.HandleFunc("POST /reset/{secret}", s.linkSubmit)

	mux.Handle("GET /{$}", s.get(s.listServices))
	// The form lives at /new, not /services/new, because "new" is a valid
	// service name and /services/new must stay that service's page.
	mux.Handle("GET /new", s.get(s.newServicePage))
	mux.Handle("POST /new", s.post(s.createService))
	mux.Handle("GET /services/{name}", s.get(s.showService))
	mux.Handle("GET /services/{name}/delete", s.get(s.deleteServicePage))
	mux.Handle("POST /services/{name}/delete", s.post(s.deleteService))
	mux.Handle("POST /services/{name}/termination-protection", s.post(s.setTerminationProtection))
	// The Overview's Actions (handlers_lifecycle.go); the destructive ones
	// have a confirmation page for browsers without JavaScript.
	for _, a := range lifecycleActions {
		mux.Handle("POST /services/{name}/"+a.ID, s.post(s.runAction(a.ID)))
		if a.Confirm {
			mux.Handle("GET /services/{name}/"+a.ID, s.get(s.actionConfirmPage(a.ID)))
		}
	}
	mux.Handle("POST /services/{name}/version", s.post(s.setVersion))
	mux.Handle("GET /services/{name}/run-state", s.get(s.runState))
	mux.Handle("GET /services/{name}/mail/live", s.get(s.mailLive))
	mux.Handle("POST /services/{name}/restore", s.post(s.restoreService))
	mux.Handle("POST /services/{name}/transfer", s.post(s.transferService))
	// The Backups tab (handlers_backups.go).
	mux.Handle("POST /services/{name}/backups", s.post(s.createBackup))
	mux.Handle("GET /services/{name}/backups/{id}/download", s.get(s.downloadBackup))
	mux.Handle("GET /services/{name}/backups/{id}/restore", s.get(s.restoreBackupPage))
	mux.Handle("POST /services/{name}/backups/{id}/restore", s.post(s.restoreBackup))
	mux.Handle("POST /services/{name}/ratelimit", s.post(s.saveRateLimit))
	mux.Handle("POST /services/{name}/cache", s.post(s.saveCache))
	mux.Handle("POST /services/{name}/hsts", s.post(s.saveHSTS))
	mux.Handle("GET /services/{name}/cache/purge", s.get(s.purgeCachePage))
	mux.Handle("POST /services/{name}/cache/purge", s.post(s.purgeCache))
	mux.Handle("GET /services/{name}/domains", s.get(s.showDomains))
	mux.Handle("POST /services/{name}/domains", s.post(s.addDomain))
	mux.Handle("GET /services/{name}/domains/{domain}/remove", s.get(s.removeDomainPage))
	mux.Handle("POST /services/{name}/domains/{domain}/remove", s.post(s.removeDomain))
	mux.Handle("GET /services/{name}/domains/{domain}/dns", s.get(s.domainDNS))
	mux.Handle("GET /services/{name}/domains/{domain}/status", s.get(s.domainStatus))
	mux.Handle("POST /services/{name}/domains/{domain}/tls", s.post(s.updateDomainTLS))
	mux.Handle("GET /services/{name}/config", s.get(s.showConfig))
	mux.Handle("POST /services/{name}/config/env", s.post(s.saveEnv))
	mux.Handle("POST /services/{name}/config/upstreams", s.post(s.saveUpstreams))
	mux.Handle("POST /services/{name}/config/runtime", s.post(s.saveRuntime))
	mux.HandleFunc("GET /services/{name}/logs/stream", s.logStream)
	// The node's firewall and SSH keys, shown on each service's Security
	// tab to admins (handlers_firewall.go, handlers_sshkeys.go).
	mux.Handle("POST /services/{name}/firewall/rules", s.post(s.addFirewallRule))
	mux.Handle("POST /services/{name}/firewall/rules/{id}", s.post(s.updateFirewallRule))
	mux.Handle("GET /services/{name}/firewall/rules/{id}/remove", s.get(s.removeFirewallRulePage))
	mux.Handle("POST /services/{name}/firewall/rules/{id}/remove", s.post(s.removeFirewallRule))
	mux.Handle("POST /services/{name}/firewall/tool-ports/{port}", s.post(s.setFirewallToolPort))
	mux.Handle("POST /services/{name}/firewall/confirm", s.post(s.confirmFirewall))
	mux.Handle("POST /services/{name}/firewall/apply", s.post(s.applyFirewall))
	mux.Handle("GET /services/{name}/firewall/pending", s.get(s.firewallPending))
	mux.Handle("POST /services/{name}/ssh-keys", s.post(s.addSSHKey))
	mux.Handle("GET /services/{name}/ssh-keys/{id}/remove", s.get(s.removeSSHKeyPage))
	mux.Handle("POST /services/{name}/ssh-keys/{id}/remove", s.post(s.removeSSHKey))
	// The Security tab's SMTP service row (handlers_mail.go).
	mux.Handle("POST /services/{name}/mail/credentials", s.post(s.mailCredentials))
	mux.Handle("GET /services/{name}/mail/credentials", s.get(s.mailCredentialsGet))
	mux.Handle("GET /services/{name}/mail/rotate", s.get(s.mailRotatePage))
	mux.Handle("POST /services/{name}/mail/quota", s.post(s.mailQuota))
	mux.Handle("POST /services/{name}/mail/suspend", s.post(s.mailSuspend))
	mux.Handle("POST /services/{name}/mail/resume", s.post(s.mailResume))
	mux.Handle("GET /services/{name}/mail/dns", s.get(s.mailDNS))
	mux.Handle("GET /audit", s.get(s.auditPage))
	mux.Handle("GET /account/password", s.get(s.passwordPage))
	mux.Handle("POST /account/password", s.post(s.changePassword))
	mux.Handle("POST /account/password/code", s.post(s.passwordCode))
	mux.Handle("GET /account/tokens", s.get(s.tokensPage))
	mux.Handle("POST /account/tokens", s.post(s.createToken))
	mux.Handle("POST /account/tokens/{id}/revoke", s.post(s.revokeToken))
	mux.Handle("GET /people", s.get(s.peoplePage))
	mux.Handle("POST /people/invite", s.post(s.invitePerson))
	mux.Handle("GET /people/{email}/delete", s.get(s.deletePersonPage))
	mux.Handle("POST /people/{email}/delete", s.post(s.deletePerson))
	mux.Handle("POST /people/{email}/{action}", s.post(s.personDo))
	mux.Handle("GET /account", s.get(s.accountRedirect))
	mux.Handle("GET /account/security", s.get(s.accountSecurity))
	mux.Handle("POST /account/security/sessions", s.post(s.signOutOthers))
	mux.Handle("GET /account/security/recovery-codes", s.get(s.recoveryConfirm))
	mux.Handle("POST /account/security/recovery-codes", s.post(s.regenerateCodes))
	mux.Handle("GET /account/security/mfa", s.get(s.mfaConfigure))
	mux.Handle("POST /account/security/mfa/app", s.post(s.enableApp))
	mux.Handle("POST /account/security/mfa/email", s.post(s.useEmail))
	mux.Handle("POST /account/security/mfa/code", s.post(s.sendConfirmCode))
	mux.Handle("GET /account/security/mfa/disable", s.get(s.disablePage))
	mux.Handle("POST /account/security/mfa/disable", s.post(s.disableMFA))
	// Passkeys (handlers_passkeys.go): JSON options, then a form post.
	mux.Handle("POST /account/passkeys/options", s.post(s.passkeyOptions))
	mux.Handle("POST /account/passkeys", s.post(s.addPasskey))
	mux.Handle("GET /account/passkeys/{id}/remove", s.get(s.removePasskeyPage))
	mux.Handle("POST /account/passkeys/{id}/remove", s.post(s.removePasskey))
	mux.HandleFunc("POST /login/passkey/options", s.passkeyLoginOptions)
	mux.HandleFunc("POST /login/passkey", s.passkeyLoginSubmit)

	mux.HandleFunc("/", s.notFound)

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.csrfFailed))
	return s.secureHeaders(cop.Handler(mux))
}

// remoteHost is the default Config.ClientIP.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
