// Package app is rampart's service layer: the one place that changes desired
// state. The dashboard, the REST API and the operator commands all call it;
// it validates input, checks who may do what, writes the change and its
// audit event in one transaction; the store then tells the reconcilers that
// something changed (store.Changes). Nothing else writes desired state.
//
// An App is a set of nouns (App.Services, App.Domains, App.Accounts,
// App.Audit, App.Logs, App.SSL, App.SSHKeys, App.Mail), each with the verbs people use on it, over
// one shared core: the store, the permission checks, the audit log written
// in the same transaction as the change, the clock and the logger. Methods that change something take the context, the
// Actor and an input struct of the root package (rampart.ServiceInput,
// rampart.DomainInput…), which is also what the REST API decodes.
//
// What the service layer needs from the data plane (the edge's request
// log and cache, the DNS checker, the certificate manager) it declares as
// small interfaces where it uses them (CachePurger, DNSChecker,
// CertificateResetter, rampart.LogSource); internal/server passes the real
// ones, and a process without a data plane passes none. So app does not
// import the edge, the certificate manager or the DNS library.
package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/limits"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/store"
)

// Actor is whoever asks for a change. Every method takes one, so that
// permission checks and the audit log cannot be forgotten.
type Actor struct {
	// User is the logged-in user; nil with Operator false means nobody, and
	// every call fails with EUNAUTHORIZED.
	User *rampart.User
	// Operator marks a person at the machine's shell, acting on the data
	// directory directly (rampart user create …). They can do anything.
	Operator bool
	// IP is the client address, recorded in the audit log.
	IP string
}

// OperatorActor is the actor for commands run on the server itself.
func OperatorActor() Actor { return Actor{Operator: true} }

// UserActor is the actor for a request authenticated as u from ip.
func UserActor(u *rampart.User, ip string) Actor { return Actor{User: u, IP: ip} }

func (a Actor) isAdmin() bool { return a.Operator || a.User.IsAdmin() }

func (a Actor) name() string {
	switch {
	case a.User != nil:
		return a.User.Email
	case a.Operator:
		return "operator"
	}
	return "anonymous"
}

func (a Actor) id() int64 {
	if a.User != nil {
		return a.User.ID
	}
	return 0
}

func (a Actor) check() error {
	if a.User == nil && !a.Operator {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "authentication required: log in, or pass an API token")
	}
	return nil
}

func (a Actor) requireAdmin() error {
	if err := a.check(); err != nil {
		return err
	}
	if !a.isAdmin() {
		return rampart.Errorf(rampart.EFORBIDDEN, "only an admin can do this")
	}
	return nil
}

// Login throttling: after this many failed logins for one account (or from
// one IP) within LoginFailureWindow, further attempts are refused until the
// window ends. Per account it stops password guessing against one person;
// per IP it stops one client from spraying many accounts.
const (
	LoginFailuresPerAccount = 10
	LoginFailuresPerIP      = 30
	LoginFailureWindow      = 15 * time.Minute
)

// After LoginFreeFailures failures a key waits LoginDelay before its next
// try, twice as long after each further failure, until the lockout.
const (
	LoginFreeFailures = 3
	LoginDelay        = time.Second
)

func loginThrottle(limit int) *auth.Throttle {
	return &auth.Throttle{Limit: limit, Window: LoginFailureWindow, Free: LoginFreeFailures, Delay: LoginDelay}
}

// Options tune an App. The zero value works: an App without the data
// plane's parts refuses what needs them with a message that says so.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // for tests; default time.Now
	// SessionIdle and SessionMax bound a dashboard session: it ends after
	// SessionIdle without a request, and SessionMax after login regardless.
	SessionIdle time.Duration // default 2h
	SessionMax  time.Duration // default 24h
	// PlatformDomain is the domain under which services get their own
	// hostnames; custom domains at or under it are refused. Empty: no
	// platform domain, nothing refused for it.
	PlatformDomain string
	// AdminDomain is the dashboard's own host name (admin.domain): no
	// service may claim it, as a custom domain or, when it sits under the
	// platform domain, as its service name.
	AdminDomain string

	// Cache is the edge's output cache, which Services.PurgeCache empties;
	// nil when this process runs no edge.
	Cache CachePurger
	// DNS runs the DNS check of a domain now, for Domains.Check; nil when
	// this process cannot.
	DNS DNSChecker
	// Certificates is the certificate manager, for SSL.Reset; nil when
	// this process manages no certificates.
	Certificates CertificateResetter
	// CheckKeyPair checks an uploaded certificate and key (TLS mode
	// custom) for a domain and says what is wrong in words for the person
	// who uploaded them (certs.ParseCustom, in serve). nil: this process
	// cannot check uploads and refuses them.
	CheckKeyPair func(name string, certPEM, keyPEM []byte) error
	// Logs is the edge's memory of recent requests, which Logs.Open reads;
	// nil when this process runs no edge.
	Logs rampart.LogSource
	// LogHeartbeat is how often a quiet log stream says it is alive;
	// default rampart.LogHeartbeat. Tests shorten it.
	LogHeartbeat time.Duration
	// Quotas bound what a member may own; a field of 0 takes its default
	// (limits.DefaultQuotas). Admins and the operator are exempt.
	Quotas limits.Quotas
	// SSHKeys is how serve manages authorized_keys, which SSHKeys reports.
	SSHKeys SSHKeyOptions
	// Upstreams decides where services may be pointed (see package
	// egress); nil: egress.New(nil), the defaults, without rampart's own
	// listeners (serve passes the policy that knows them).
	Upstreams *egress.Policy
	// Resolver looks up upstream host names when a service is saved; nil:
	// the system's.
	Resolver Resolver
	// Firewall describes the node's firewall setup (see FirewallOptions).
	Firewall FirewallOptions

	// Mailer sends the platform's own mail: login codes and notices about
	// account changes. nil: such mail is refused, and so are email codes.
	Mailer mailer.Mailer
	// Secrets seals authenticator-app seeds with a key kept outside the
	// store; nil: apps cannot be set up.
	Secrets Sealer
	// PublicURL is the dashboard's base URL ("https://rampart.example.com"),
	// under which emailed invitation and password-reset links point
	// (/invite/SECRET and /reset/SECRET). Empty: no such links can be sent.
	PublicURL string
	// Issuer is the name authenticator apps show above the account
	// (default "rampart"); serve adds the admin host so that two servers
	// are told apart. No colons.
	Issuer string
	// PasskeyHosts are the host names passkeys may be made for and used
	// at (WebAuthn RP IDs): the names the dashboard is served at. Empty:
	// AdminDomain, when set, and "localhost" (the loopback listener).
	PasskeyHosts []string

	// Lifecycle moves services' data: backups, restores, resets and the
	// final backup of a delete (internal/lifecycle). nil: this process
	// keeps no data for services; delete then only marks the service
	// deleted, and restore and reset of data are refused.
	Lifecycle Lifecycle
	// DeleteGrace is how long a deleted service can be restored before the
	// purge; default rampart.DefaultDeleteGrace (the seed's 7 days).
	DeleteGrace time.Duration

	// MailDomain is mail.domain: services send as <service>@MailDomain.
	// Empty: the relay is off and no SMTP logins are handed out (quotas
	// and suspensions can still be set).
	MailDomain string
	// MailRelay is the running relay, for live usage, its endpoint and
	// its DNS check; nil when this process runs none.
	MailRelay MailRelay
	// MailPerHourDefault is the quota of services without their own;
	// default rampart.DefaultMailPerHour.
	MailPerHourDefault int
	// MailViolationsToSuspend is how many violations within
	// MailViolationWindow suspend a service's mail; default
	// DefaultMailViolationsToSuspend.
	MailViolationsToSuspend int
}

// App is the service layer. Create it with New; it is safe for concurrent
// use.
type App struct {
	Services *Services
	Domains  *Domains
	Accounts *Accounts
	Audit    *Audit
	SSHKeys  *SSHKeys
	Logs     *Logs
	SSL      *SSL
	Firewall *Firewall
	Mail     *Mail

	core *core
}

// core is what the nouns share.
type core struct {
	store store.Store
	log   *slog.Logger
	now   func() time.Time
	opts  Options
}

// New returns an App on st.
func New(st store.Store, opts Options) *App {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 2 * time.Hour
	}
	if opts.SessionMax <= 0 {
		opts.SessionMax = 24 * time.Hour
	}
	if opts.LogHeartbeat <= 0 {
		opts.LogHeartbeat = rampart.LogHeartbeat
	}
	opts.Quotas = normalizeQuotas(opts.Quotas)
	if opts.Upstreams == nil {
		opts.Upstreams = egress.New(nil)
	}
	if opts.Resolver == nil {
		opts.Resolver = defaultResolver
	}
	if opts.Issuer == "" {
		opts.Issuer = "rampart"
	}
	if opts.DeleteGrace <= 0 {
		opts.DeleteGrace = rampart.DefaultDeleteGrace
	}
	if opts.MailPerHourDefault <= 0 {
		opts.MailPerHourDefault = rampart.DefaultMailPerHour
	}
	if opts.MailViolationsToSuspend <= 0 {
		opts.MailViolationsToSuspend = DefaultMailViolationsToSuspend
	}
	c := &core{store: st, log: opts.Logger, now: opts.Now, opts: opts}
	return &App{
		Services: &Services{c},
		Domains:  &Domains{c},
		SSHKeys:  &SSHKeys{c},
		Accounts: &Accounts{core: c,
			byAccount:     loginThrottle(LoginFailuresPerAccount),
			byDevice:      loginThrottle(LoginFailuresPerAccount),
			byIP:          loginThrottle(LoginFailuresPerIP),
			codeByAccount: loginThrottle(CodeFailuresPerAccount),
			codeByIP:      loginThrottle(CodeFailuresPerIP),
			codeMails:     &auth.Throttle{Limit: CodeMailsPerAccount, Window: LoginFailureWindow},
		},
		Audit:    &Audit{c},
		Logs:     &Logs{core: c},
		SSL:      &SSL{c},
		Firewall: &Firewall{c},
		Mail:     &Mail{c},
		core:     c,
	}
}

// audit appends an event for actor inside the caller's transaction.
func (c *core) audit(ctx context.Context, st store.Store, actor Actor, action string, svc *rampart.Service, detail string) error {
	e := &rampart.AuditEvent{
		At:      c.now().UTC(),
		ActorID: actor.id(),
		Actor:   actor.name(),
		IP:      actor.IP,
		Action:  action,
		Detail:  detail,
	}
	if svc != nil {
		e.Service, e.ServiceID, e.OwnerID = svc.Name, svc.ID, svc.OwnerID
	}
	return st.AddAudit(ctx, e)
}

// visibleService returns the named service if actor may see it, and says
// it does not exist otherwise.
func (c *core) visibleService(ctx context.Context, st store.Store, actor Actor, name string) (*rampart.Service, error) {
	if err := rampart.ValidateServiceName(name); err != nil {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "service %q not found", name)
	}
	svc, err := st.ServiceByName(ctx, name)
	if err != nil {
		return nil, err
	}
	if !actor.isAdmin() && svc.OwnerID != actor.User.ID {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "service %q not found", name)
	}
	return svc, nil
}

// liveService is visibleService for changes: a deleted service waiting
// out its grace period can only be restored.
func (c *core) liveService(ctx context.Context, st store.Store, actor Actor, name string) (*rampart.Service, error) {
	svc, err := c.visibleService(ctx, st, actor, name)
	if err != nil {
		return nil, err
	}
	if svc.State == rampart.StateDeleted {
		return nil, errDeleted(svc)
	}
	return svc, nil
}

func errDeleted(svc *rampart.Service) error {
	until := ""
	if svc.PurgeAfter != nil {
		until = " until " + svc.PurgeAfter.UTC().Format("2006-01-02 15:04 MST")
	}
	return rampart.Errorf(rampart.ECONFLICT, "service %q is deleted: restore it first (rampart service restore %s), which is possible%s", svc.Name, svc.Name, until)
}
