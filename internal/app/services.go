package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Services are the web applications rampart fronts: their upstreams,
// state, rate limit, output cache and environment.
type Services struct{ *core }

// CachePurger empties the output cache of one service and says how many
// responses it dropped: the edge, in the process that runs one. The
// service is named by its ID, not its name: a name can belong to another
// service by the time the purge runs, and the edge keeps each service's
// responses under its ID.
type CachePurger interface {
	PurgeCache(serviceID int64) int
}

// PurgeFunc is a CachePurger made of a function.
type PurgeFunc func(serviceID int64) int

// PurgeCache calls f.
func (f PurgeFunc) PurgeCache(serviceID int64) int { return f(serviceID) }

// Create creates a service owned by the caller (or by in.Owner, for admins).
func (s *Services) Create(ctx context.Context, actor Actor, in rampart.ServiceInput) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc := &rampart.Service{
		Name:      strings.TrimSpace(in.Name),
		Upstreams: trimAll(in.Upstreams),
		State:     rampart.StateActive,
		RateLimit: rampart.DefaultRateLimit(),
		Cache:     rampart.DefaultCache(),
		HSTS:      rampart.DefaultHSTS(),
		Env:       in.Env.Clone(),
	}
	explicit := in.AllowPrivateUpstreams != nil
	if explicit {
		svc.AllowPrivateUpstreams = *in.AllowPrivateUpstreams
		if svc.AllowPrivateUpstreams && !actor.isAdmin() {
			return nil, errPrivateUpstreamsAdminOnly()
		}
	}
	if in.Runtime != nil {
		svc.Runtime = *in.Runtime
		if err := checkRuntimeChange(actor, svc); err != nil {
			return nil, err
		}
		if svc.Runtime.Runs() && len(svc.Upstreams) == 0 {
			svc.Upstreams = []string{svc.Runtime.UpstreamURL()}
		}
	}
	if svc.Runtime.Kind == "" {
		svc.Runtime.Kind = rampart.RuntimeProxy
	}
	if err := svc.Validate(); err != nil {
		return nil, err
	}
	if s.opts.PlatformDomain != "" && s.opts.AdminDomain != "" && svc.Hostname(s.opts.PlatformDomain) == s.opts.AdminDomain {
		return nil, rampart.FieldError("name", rampart.Errorf(rampart.EINVALID, "service name %q is taken by the dashboard, whose address is %s: choose another name", svc.Name, s.opts.AdminDomain))
	}
	// Looked up outside the transaction: a host name can take seconds.
	problems := s.upstreamProblems(ctx, svc.Upstreams)
	err := s.store.InTx(ctx, func(st store.Store) error {
		owner, err := s.resolveOwner(ctx, st, actor, in.Owner)
		if err != nil {
			return err
		}
		svc.OwnerID, svc.Owner = owner.ID, owner.Email
		if err := s.checkServiceQuota(ctx, st, actor, owner.ID); err != nil {
			return err
		}
		// After the owner and quota checks: a member who may not create
		// the service at all hears that first.
		note, err := applyUpstreamPolicy(actor, svc, problems, explicit)
		if err != nil {
			return err
		}
		retired, err := s.checkRetiredName(ctx, st, actor, svc)
		if err != nil {
			return err
		}
		if retired != "" {
			note = strings.TrimSpace(note + " " + retired)
		}
		if err := st.CreateService(ctx, svc); err != nil {
			if rampart.ErrorCode(err) == rampart.ECONFLICT {
				if old, _ := st.ServiceByName(ctx, svc.Name); old != nil && old.State == rampart.StateDeleted && old.PurgeAfter != nil {
					return rampart.FieldError("name", rampart.Errorf(rampart.ECONFLICT, "the name %q belongs to a deleted service, kept until %s so that its owner can restore it: choose another name", svc.Name, old.PurgeAfter.UTC().Format("2006-01-02 15:04 MST")))
				}
			}
			return err
		}
		detail := "upstreams=" + strings.Join(svc.Upstreams, ",")
		if svc.Runtime.Runs() {
			detail += " runtime=" + string(svc.Runtime.Kind)
		}
		if len(svc.Env) > 0 {
			detail += " env=" + strings.Join(svc.Env.Names(), ",")
		}
		switch {
		case note != "":
			detail += " " + note
		case svc.AllowPrivateUpstreams:
			detail += " allow_private_upstreams=true"
		}
		return s.audit(ctx, st, actor, "service.create", svc, detail)
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// checkRetiredName refuses a member a name that a purged service of
// another account used with custom domains (see rampart.RetiredName):
// their DNS may still point at it, and the name would prove those domains
// for the new service. The account that last owned it may take it back;
// an admin may give it to anyone, and the audit detail it returns says
// whose domains the name served.
func (s *Services) checkRetiredName(ctx context.Context, st store.Store, actor Actor, svc *rampart.Service) (string, error) {
	rn, err := st.RetiredName(ctx, svc.Name)
	switch {
	case rampart.ErrorCode(err) == rampart.ENOTFOUND:
		return "", nil
	case err != nil:
		return "", err
	case rn.OwnerID == svc.OwnerID:
		return "", nil
	case !actor.isAdmin():
		return "", rampart.FieldError("name", rampart.Errorf(rampart.ECONFLICT,
			"the name %q belonged to a service of another account that had custom domains, whose DNS may still point at %s: choose another name",
			svc.Name, svc.Hostname(s.opts.PlatformDomain)))
	}
	return fmt.Sprintf("reuses_retired_name_of_user=%d domains=%s", rn.OwnerID, strings.Join(rn.Domains, ",")), nil
}

func (c *core) resolveOwner(ctx context.Context, st store.Store, actor Actor, email string) (*rampart.User, error) {
	email = rampart.NormalizeEmail(email)
	switch {
	case email == "" && actor.User != nil:
		return actor.User, nil
	case email == "":
		users, err := st.ListUsers(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			if u.IsAdmin() {
				return u, nil
			}
		}
		return nil, rampart.Errorf(rampart.EINVALID, "no owner given and there is no admin yet: create one with `rampart user create --admin`")
	case !actor.isAdmin() && email != actor.User.Email:
		return nil, rampart.Errorf(rampart.EFORBIDDEN, "only an admin can create a service for another user")
	}
	u, err := st.UserByEmail(ctx, email)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, rampart.Errorf(rampart.EINVALID, "owner %q has no account: create it first with `rampart user create`", email)
	}
	return u, err
}

// List returns the services the caller may see: all for admins, their own
// for members.
func (s *Services) List(ctx context.Context, actor Actor) ([]*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	var f store.ServiceFilter
	if !actor.isAdmin() {
		f.OwnerID = actor.User.ID
	}
	return s.store.ListServices(ctx, f)
}

// Get returns the named service if the caller may see it. A member
// asking for someone else's service is told it does not exist, so that
// service names do not leak between tenants.
func (s *Services) Get(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	return s.visibleService(ctx, s.store, actor, name)
}

// Update applies up to the service up.Name.
func (s *Services) Update(ctx context.Context, actor Actor, up rampart.ServiceUpdate) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	explicit := up.AllowPrivateUpstreams != nil
	if explicit && *up.AllowPrivateUpstreams && !actor.isAdmin() {
		return nil, errPrivateUpstreamsAdminOnly()
	}
	if up.State != nil && *up.State == rampart.StateDeleted {
		return nil, rampart.FieldError("state", rampart.Errorf(rampart.EINVALID, "a service is deleted with DELETE (rampart service delete), which takes its final backup"))
	}
	// The upstreams are checked (their names looked up) before the
	// transaction, which must not wait for DNS; the transaction makes
	// sure they are still the ones checked.
	var checked []string
	var problems []upstreamProblem
	if up.Upstreams != nil || explicit {
		cur, err := s.liveService(ctx, s.store, actor, up.Name)
		if err != nil {
			return nil, err
		}
		checked = cur.Upstreams
		if up.Upstreams != nil {
			checked = trimAll(up.Upstreams)
		}
		problems = s.upstreamProblems(ctx, checked)
	}
	var svc *rampart.Service
	err := s.store.InTx(ctx, func(st store.Store) error {
		var err error
		if svc, err = s.liveService(ctx, st, actor, up.Name); err != nil {
			return err
		}
		var changes []string
		wasPrivate := svc.AllowPrivateUpstreams
		upstreamsChanged := up.Upstreams != nil && !slices.Equal(trimAll(up.Upstreams), svc.Upstreams)
		switch {
		case explicit:
			svc.AllowPrivateUpstreams = *up.AllowPrivateUpstreams
		case upstreamsChanged && !actor.isAdmin():
			// An admin allowed the upstreams they saw; new ones from a
			// member are held to the operator's networks.
			svc.AllowPrivateUpstreams = false
		}
		if up.Upstreams != nil {
			svc.Upstreams = trimAll(up.Upstreams)
			changes = append(changes, "upstreams="+strings.Join(svc.Upstreams, ","))
		}
		if up.State != nil && *up.State != svc.State {
			if *up.State == rampart.StateStopped {
				if err := refuseIfProtected(svc, actionStop); err != nil {
					return err
				}
			}
			svc.State = *up.State
			changes = append(changes, "state="+string(svc.State))
		}
		if up.Runtime != nil {
			rt := *up.Runtime
			if rt.Kind == "" {
				rt.Kind = rampart.RuntimeProxy
			}
			if rt.Version == "" {
				rt.Version = svc.Runtime.Version
			}
			if rt.Version != svc.Runtime.Version {
				if err := refuseIfProtected(svc, actionSetVersion); err != nil {
					return err
				}
			}
			if !rt.Equal(svc.Runtime) {
				oldURL := svc.Runtime.UpstreamURL()
				wasRun := svc.Runtime.Runs()
				if wasRun && !actor.isAdmin() {
					// The runtime was an admin's decision, and so was the
					// loopback upstream it allowed: a member who could
					// drop it would keep a service fronting 127.0.0.1:PORT,
					// a port the admin may give to someone else's app.
					return rampart.FieldError("runtime", rampart.Errorf(rampart.EFORBIDDEN, "only an admin can change the runtime of %s: rampart runs it (%s). Ask an admin", svc.Name, svc.Runtime.Kind))
				}
				svc.Runtime = rt
				if err := checkRuntimeChange(actor, svc); err != nil {
					return err
				}
				// A service rampart runs is reached at its runtime's port:
				// follow a port change unless upstreams were given.
				if rt.Runs() && up.Upstreams == nil && (!wasRun || slices.Equal(svc.Upstreams, []string{oldURL})) {
					svc.Upstreams = []string{rt.UpstreamURL()}
				}
				changes = append(changes, "runtime="+string(rt.Kind))
			}
		}
		if up.RateLimit != nil {
			svc.RateLimit = *up.RateLimit
			changes = append(changes, "rate_limit="+describeRateLimit(svc.RateLimit))
		}
		if up.Cache != nil {
			svc.Cache = *up.Cache
			changes = append(changes, "cache="+describeCache(svc.Cache))
		}
		if up.HSTS != nil {
			svc.HSTS = *up.HSTS
			changes = append(changes, "hsts="+describeHSTS(svc.HSTS))
		}
		if up.Env != nil {
			if err := checkEnvInjection(actor, svc, up.Env); err != nil {
				return err
			}
			var set, removed []string
			svc.Env, set, removed = up.Env.Apply(svc.Env)
			if d := describeEnvChange(set, removed); d != "" {
				changes = append(changes, d)
			} else if len(changes) == 0 && !explicit {
				return nil // the patch sets what is there already
			}
		}
		if upstreamsChanged || explicit {
			if !slices.Equal(svc.Upstreams, checked) {
				return rampart.Errorf(rampart.ECONFLICT, "service %q changed while its upstreams were being checked: try again", svc.Name)
			}
			note, err := applyUpstreamPolicy(actor, svc, problems, explicit)
			if err != nil {
				return err
			}
			if note != "" {
				changes = append(changes, note)
			} else if svc.AllowPrivateUpstreams != wasPrivate {
				changes = append(changes, fmt.Sprintf("allow_private_upstreams=%t", svc.AllowPrivateUpstreams))
			} else if explicit && len(changes) == 0 {
				return nil // the patch sets what is there already
			}
		}
		if len(changes) == 0 {
			return rampart.Errorf(rampart.EINVALID, "nothing to change: give upstreams, state, rate_limit, cache, hsts, env, runtime or allow_private_upstreams")
		}
		if err := svc.Validate(); err != nil {
			return err
		}
		if err := st.UpdateService(ctx, svc); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, "service.update", svc, strings.Join(changes, " "))
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// describeEnvChange is the audit detail of an environment change: the
// names set and removed, never the values (they are often secrets).
func describeEnvChange(set, removed []string) string {
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "env_set="+strings.Join(set, ","))
	}
	if len(removed) > 0 {
		parts = append(parts, "env_removed="+strings.Join(removed, ","))
	}
	return strings.Join(parts, " ")
}

// checkRuntimeChange: a runtime other than proxy runs commands (or
// containers) on the host, as rampart's user or whom the runtime names,
// so only an admin may set or change one. Members keep the actions on
// the services they own.
func checkRuntimeChange(actor Actor, svc *rampart.Service) error {
	if svc.Runtime.Runs() && !actor.isAdmin() {
		return rampart.FieldError("runtime", rampart.Errorf(rampart.EFORBIDDEN, "only an admin can set a runtime: %s runs commands on the host. Ask an admin, or use runtime proxy with an upstream", svc.Runtime.Kind))
	}
	if svc.Runtime.Runs() {
		svc.AllowPrivateUpstreams = true
	}
	return nil
}

// injectionVars are environment variables that make a dynamic loader, a
// shell or an interpreter load code of the setter's choosing. In a
// process rampart runs (as the runtime's user, root unless the admin set
// another) a member who could set them and place a file (through their own
// application's uploads, say) would run code as that user. Only admins
// set them on services rampart runs.
var injectionVars = []string{"PATH", "BASH_ENV", "ENV", "NODE_OPTIONS", "NODE_PATH", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME",
	"PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GCONV_PATH", "HOSTALIASES", "LOCPATH", "NLSPATH", "PHPRC", "PHP_INI_SCAN_DIR"}

func checkEnvInjection(actor Actor, svc *rampart.Service, patch rampart.EnvPatch) error {
	if actor.isAdmin() || !svc.Runtime.Runs() {
		return nil
	}
	for name := range patch {
		if strings.HasPrefix(name, "LD_") || slices.Contains(injectionVars, name) {
			return rampart.FieldError("env", rampart.Errorf(rampart.EFORBIDDEN, "%s makes a loader or interpreter run code of the setter's choosing in the process rampart runs: only an admin can set it on %s", name, svc.Name))
		}
	}
	return nil
}

func trimAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func describeRateLimit(r rampart.RateLimit) string {
	if !r.Enabled {
		return "off"
	}
	d := fmt.Sprintf("%d/%s", r.Requests, r.Per)
	if len(r.Allow) > 0 {
		d += " allow=" + strings.Join(r.Allow, ",")
	}
	return d
}

func describeCache(c rampart.Cache) string {
	if !c.Enabled {
		return "off"
	}
	return fmt.Sprintf("ttl=%s stale_if_error=%s", time.Duration(c.TTL), time.Duration(c.StaleIfError))
}

// describeHSTS is the audit log's words for an HSTS setting: off, or the
// header the edge sends.
func describeHSTS(h rampart.HSTS) string {
	if !h.Enabled {
		return "off"
	}
	return strings.ReplaceAll(h.Header(), " ", "")
}

// PurgeCache drops every cached response of the named service at once. The
// cache is enforcement state, not desired state: the purge is checked and
// audited here and carried out by Options.Cache (the edge, in serve).
func (s *Services) PurgeCache(ctx context.Context, actor Actor, name string) (int, error) {
	if err := actor.check(); err != nil {
		return 0, err
	}
	if s.opts.Cache == nil {
		return 0, rampart.Errorf(rampart.EINVALID, "this rampart process has no cache to purge")
	}
	var n int
	err := s.store.InTx(ctx, func(st store.Store) error {
		svc, err := s.liveService(ctx, st, actor, name)
		if err != nil {
			return err
		}
		n = s.opts.Cache.PurgeCache(svc.ID)
		return s.audit(ctx, st, actor, "service.cache_purge", svc, fmt.Sprintf("entries=%d", n))
	})
	return n, err
}
