// Package agent holds the reconcilers: loops that read desired state from the
// store and make this machine match it. Enforcement points (the edge today;
// nftables, authorized_keys and the SMTP policy later) never read the store
// themselves; a reconciler hands them plain config. In `rampart serve` the
// reconcilers run in-process; on a fleet they will run in `rampart agent`.
package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/ratelimit"
	"github.com/rampart-dev/rampart/internal/store"
)

// RouteTable is what the routes reconciler drives: the edge.
type RouteTable interface {
	SetRoutes([]edge.Route) error
}

// Routes keeps the edge's routing table equal to the services in the store.
type Routes struct {
	Store          store.Store
	Edge           RouteTable
	PlatformDomain string
	// Changes wakes the loop right after a change made in this process.
	Changes <-chan struct{}
	// Poll is how often the store's services version is checked, to notice
	// changes made by other processes. Default 2s.
	Poll time.Duration
	Log  *slog.Logger
}

// Sync builds the routing table from the store once and installs it.
func (r *Routes) Sync(ctx context.Context) error {
	svcs, err := r.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	domains, err := r.Store.ListDomains(ctx, store.DomainFilter{})
	if err != nil {
		return err
	}
	return r.Edge.SetRoutes(RoutesFor(svcs, domains, r.PlatformDomain))
}

// RoutesFor maps services to edge routes. A service's route has its
// platform hostname and every custom domain on its list, whatever the
// domain's TLS mode and state: the edge serves a name over HTTP as soon as
// it is listed, and over HTTPS once the certificate manager has a
// certificate for it.
func RoutesFor(svcs []*rampart.Service, domains []*rampart.Domain, platformDomain string) []edge.Route {
	byService := map[int64][]string{}
	for _, d := range domains {
		byService[d.ServiceID] = append(byService[d.ServiceID], d.Name)
	}
	routes := make([]edge.Route, 0, len(svcs))
	for _, s := range svcs {
		routes = append(routes, edge.Route{
			Service:   s.Name,
			Hosts:     append([]string{s.Hostname(platformDomain)}, byService[s.ID]...),
			Upstreams: s.Upstreams,
			Stopped:   s.State != rampart.StateActive,
			RateLimit: rateLimitConfig(s.RateLimit),
			Cache:     cacheConfig(s.Cache),
		})
	}
	return routes
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

// Run syncs at start, then on every change notice and whenever the store's
// services version moves. It returns when ctx ends. A failed sync keeps the
// previous table in place (the edge swaps tables atomically) and is retried.
func (r *Routes) Run(ctx context.Context) error {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	poll := r.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()

	var applied int64 = -1
	sync := func() {
		v, err := r.Store.ServicesVersion(ctx)
		if err == nil && v == applied {
			return
		}
		if err := r.Sync(ctx); err != nil {
			if ctx.Err() == nil {
				log.Error("updating edge routes; the previous routes stay in place", "err", err)
			}
			return
		}
		applied = v
		log.Debug("edge routes updated", "version", v)
	}
	sync()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.Changes:
			applied = -1 // a change in this process: sync even if the version read races
			sync()
		case <-tick.C:
			sync()
		}
	}
}
