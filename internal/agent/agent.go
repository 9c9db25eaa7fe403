// Package agent holds the reconcilers: loops that read desired state from the
// store and make this machine match it. Enforcement points (the edge today;
// nftables, authorized_keys and the SMTP policy later) never read the store
// themselves; a reconciler hands them plain config. In `rampart serve` the
// reconcilers run in-process; on a fleet they will run in `rampart agent`.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/runtime"
	"github.com/rampart-dev/rampart/internal/store"
)

// RouteTable is what the routes reconciler drives: the edge. SetRoutes
// installs every valid route and refuses the others one by one (see
// edge.RouteErrors), so one service's bad configuration never holds back
// another's change.
type RouteTable interface {
	SetRoutes([]edge.Route) error
}

// Routes keeps the edge's routing table equal to the services in the store,
// and each service's routing condition equal to what the edge did with it.
type Routes struct {
	Store          store.Store
	Edge           RouteTable
	PlatformDomain string
	// Upstreams, if set, is the egress policy: a service whose upstream is
	// an IP address it refuses is left out, its status saying why (see
	// holdForbidden).
	Upstreams *egress.Policy
	Log       *slog.Logger
	// Now is the clock of the conditions' times; default time.Now.
	Now func() time.Time

	// mu makes passes one at a time: besides the loop, the runtimes
	// reconciler runs one before it stops a service (see
	// Runtimes.BeforeStop), and a table read earlier must not be
	// installed after one read later.
	mu sync.Mutex
}

// Name implements Reconciler.
func (r *Routes) Name() string { return "routes" }

// Kinds implements Reconciler: a route has the service's settings and the
// host names of its domains.
func (r *Routes) Kinds() []store.Kind { return []store.Kind{store.KindServices, store.KindDomains} }

// Sync builds the routing table from the store, installs it, and records on
// each service whether its route was installed or why it was refused.
func (r *Routes) Sync(ctx context.Context, t Trigger) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	domains, err := r.Store.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return err
	}
	routes, held := holdForbidden(r.Upstreams, RoutesFor(svcs, domains, r.PlatformDomain))
	err = r.Edge.SetRoutes(routes)
	refused := edge.RouteErrors(err)
	if err != nil && len(refused) == 0 {
		// Not one service's fault: the table as a whole was not taken.
		return fmt.Errorf("installing the routing table: %w", err)
	}
	for k, v := range edge.RouteErrors(errors.Join(held...)) {
		if refused == nil {
			refused = make(map[string]error)
		}
		refused[k] = v
	}
	return r.report(ctx, svcs, refused, t.Revisions[store.KindServices])
}

// report writes the routing condition of every service whose condition
// changed, in one transaction.
func (r *Routes) report(ctx context.Context, svcs []*rampart.Service, refused map[string]error, rev int64) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	type update struct {
		id   int64
		cond rampart.Condition
	}
	var updates []update
	for _, s := range svcs {
		c := rampart.Condition{Type: rampart.ConditionRouting, OK: true, Revision: rev, UpdatedAt: now().UTC()}
		if err := refused[s.Name]; err != nil {
			c.OK, c.Message = false, reason(err)
			r.log().Error("the edge refused a service's route; it is left out, every other service is served", "service", s.Name, "err", err)
		}
		if old := s.Status.Condition(rampart.ConditionRouting); old != nil && old.OK == c.OK && old.Message == c.Message && old.Revision == c.Revision {
			continue
		}
		updates = append(updates, update{s.ID, c})
	}
	if len(updates) == 0 {
		return nil
	}
	return r.Store.InTx(ctx, func(tx store.Store) error {
		for _, u := range updates {
			// A service deleted since the list was read has no status to keep.
			if err := tx.SetServiceCondition(ctx, u.id, u.cond); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
				return fmt.Errorf("recording the routing status: %w", err)
			}
		}
		return nil
	})
}

// reason is what the edge said about one service's route, without the
// "route of service x" that the status's place already says.
func reason(err error) string {
	var re *edge.RouteError
	if errors.As(err, &re) && re.Err != nil {
		if _, joined := err.(interface{ Unwrap() []error }); !joined {
			return re.Err.Error()
		}
	}
	return err.Error()
}

func (r *Routes) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// RoutesFor maps services to edge routes. A service's route has its
// platform hostname and every custom domain on its list that DNS has
// proven to be the service's (rampart.DomainStatus.Verified), whatever the
// domain's TLS mode: the edge serves a proven name over HTTP at once, and
// over HTTPS once the certificate manager has a certificate for it. An
// unproven name is in no route, so the edge answers it with its "not
// configured" page: on a shared node, a name a member merely claims must
// not reach that member's upstream.
func RoutesFor(svcs []*rampart.Service, domains []*rampart.Domain, platformDomain string) []edge.Route {
	byService := map[int64][]string{}
	for _, d := range domains {
		if d.Verified() {
			byService[d.ServiceID] = append(byService[d.ServiceID], d.Name)
		}
	}
	routes := make([]edge.Route, 0, len(svcs))
	for _, s := range svcs {
		if s.State == rampart.StateDeleted {
			// Deleted: no route at all (the edge answers as for an
			// unknown host), and no certificates (see Domains).
			continue
		}
		routes = append(routes, edge.Route{
			ID:        RouteID(s.ID),
			Service:   s.Name,
			Hosts:     append([]string{s.Hostname(platformDomain)}, byService[s.ID]...),
			Upstreams: s.Upstreams,
			Stopped:   s.State != rampart.StateActive,
			RateLimit: rateLimitConfig(s.RateLimit),
			Cache:     cacheConfig(s.Cache),
			HSTS:      hstsConfig(s.HSTS),
			// The edge's dialer enforces the egress policy again at every
			// connection; an admin's override opens the same for it.
			AllowPrivate: s.AllowPrivateUpstreams,
			Hold:         holdFor(s),
			// A container's port is Docker's proxy, which accepts
			// connections while the container is being replaced.
			HoldClosed: s.Runtime.Kind == rampart.RuntimeCompose,
		})
	}
	return routes
}

// RestartHold is how long the edge lets a request wait for a service that
// rampart runs to listen, when its port refuses the connection: a restart,
// a new version or a changed environment replaces the process, and the
// new one takes a moment to open its port. Ten seconds cover an app that
// loads for a while; past them the request gets its 502.
const RestartHold = 10 * time.Second

// holdFor is the edge's hold for s's route: RestartHold for a running
// service whose process rampart runs, none for a proxy (rampart cannot
// tell a restart of that from an app that is down) or for a service that
// crash-loops or failed to start, whose requests should not wait for a
// listener that is not coming.
func holdFor(s *rampart.Service) time.Duration {
	if !s.Runtime.Runs() || s.State != rampart.StateActive {
		return 0
	}
	if s.Run != nil && down(runtime.State(s.Run.State)) {
		return 0
	}
	return RestartHold
}

// rateLimitConfig turns the stored setting into the limiter's config; nil
// when it is off. The store holds validated settings, so a parse error
// here means the row was changed behind the service layer's back: the
// route is then limited with the defaults rather than not at all.
func rateLimitConfig(r rampart.RateLimit) *ratelimit.Config {
	if !r.Enabled {
		return nil
	}
	allow, err := rampart.ParseAllowList(r.Allow)
	if err != nil {
		allow = nil
	}
	return &ratelimit.Config{Requests: r.Requests, Period: r.Period(), Allow: allow}
}

// hstsConfig turns the stored setting into the edge's; nil when it is off.
func hstsConfig(h rampart.HSTS) *edge.HSTS {
	if !h.Enabled {
		return nil
	}
	return &edge.HSTS{MaxAge: h.MaxAge, IncludeSubDomains: h.IncludeSubDomains, Preload: h.Preload}
}

// cacheConfig turns the stored setting into the cache's config; nil when
// it is off. A zero StaleIfError means "no stale copies", which the cache
// spells as a negative duration.
func cacheConfig(c rampart.Cache) *cache.Config {
	if !c.Enabled {
		return nil
	}
	stale := time.Duration(c.StaleIfError)
	if stale == 0 {
		stale = -1
	}
	return &cache.Config{TTL: time.Duration(c.TTL), StaleIfError: stale}
}
