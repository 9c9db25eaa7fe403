// Package app is rampart's service layer: the one place that changes desired
// state. The dashboard, the REST API and the operator commands all call it;
// it validates input, checks who may do what, writes the change and its
// audit event in one transaction, and tells the reconcilers that something
// changed. Nothing else writes to the store.
package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/dnscheck"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
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

// Options tune an App. The zero value works.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // for tests; default time.Now
	// SessionIdle and SessionMax bound a dashboard session: it ends after
	// SessionIdle without a request, and SessionMax after login regardless.
	SessionIdle time.Duration // default 2h
	SessionMax  time.Duration // default 24h
	// PurgeCache drops a service's cached responses and says how many; nil
	// when this process runs no edge.
	PurgeCache func(service string) int
	// PlatformDomain is the domain under which services get their own
	// hostnames; custom domains at or under it are refused. Empty: no
	// platform domain, nothing refused for it.
	PlatformDomain string
	// CheckDNS runs the DNS check of a domain now (dnscheck through the
	// configured resolvers, against the domain's service); nil when this
	// process cannot, and CheckDomain then says so.
	CheckDNS func(ctx context.Context, d *rampart.Domain) dnscheck.Result
	// ResetCertificates moves the certificate storage of name (all of it
	// for "") aside and has the certificates obtained anew; it returns
	// where the files went. nil when this process manages no
	// certificates. See certs.Manager.Reset.
	ResetCertificates func(ctx context.Context, name string) (movedTo string, err error)
	// Logs is the edge's memory of recent requests, which OpenLogs reads;
	// nil when this process runs no edge.
	Logs *logtail.Log
	// LogHeartbeat is how often a quiet log stream says it is alive;
	// default LogHeartbeat. Tests shorten it.
	LogHeartbeat time.Duration
}

// App is the service layer. Create it with New; it is safe for concurrent use.
type App struct {
	store   store.Store
	log     *slog.Logger
	now     func() time.Time
	opts    Options
	changed chan struct{}

	// Failed logins are throttled per account and per client IP.
	loginsByAccount, loginsByIP *auth.Throttle

	logMu      sync.Mutex
	logStreams map[int64]int // user ID → following log streams open
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
	return &App{
		store: st, log: opts.Logger, now: opts.Now, opts: opts, changed: make(chan struct{}, 1),
		loginsByAccount: &auth.Throttle{Limit: LoginFailuresPerAccount, Window: LoginFailureWindow},
		loginsByIP:      &auth.Throttle{Limit: LoginFailuresPerIP, Window: LoginFailureWindow},
	}
}

// Store returns the store, for reconcilers that read desired state.
func (a *App) Store() store.Store { return a.store }

// Changes delivers a value after desired state changed through this App.
// Notifications coalesce: one receive may stand for several changes, so the
// receiver re-reads everything it cares about.
func (a *App) Changes() <-chan struct{} { return a.changed }

func (a *App) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// audit appends an event for actor inside the caller's transaction.
func (a *App) audit(ctx context.Context, st store.Store, actor Actor, action string, svc *rampart.Service, detail string) error {
	e := &rampart.AuditEvent{
		At:      a.now().UTC(),
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
