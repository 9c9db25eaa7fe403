package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// servicesPage is the data of services.html.
type servicesPage struct {
	base
	Services       []*rampart.Service
	PlatformDomain string
	// Deleted are the deleted services still within their grace period.
	Deleted []deletedRow
}

func (s *server) listServices(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svcs, err := s.app.Services.List(r.Context(), rc.actor)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := servicesPage{base: rc.base("Services", "services"), PlatformDomain: s.cfg.PlatformDomain, Deleted: deletedRows(svcs, time.Now())}
	for _, svc := range svcs {
		if svc.State != rampart.StateDeleted {
			d.Services = append(d.Services, svc)
		}
	}
	s.render(w, r, http.StatusOK, "services", d)
}

// newServicePage is the data of service_new.html. The form keeps what was
// typed, and each error sits next to the field it is about.
type newServicePage struct {
	base
	Name, Upstream, Owner               string
	NameErr, UpstreamErr, OwnerErr, Err string
	PlatformDomain                      string
}

func (s *server) newServicePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d := newServicePage{base: rc.base("New service", "services"), PlatformDomain: s.cfg.PlatformDomain}
	s.render(w, r, http.StatusOK, "service_new", d)
}

func (s *server) createService(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	in := rampart.ServiceInput{
		Name:      strings.TrimSpace(r.PostFormValue("name")),
		Upstreams: []string{strings.TrimSpace(r.PostFormValue("upstream"))},
	}
	if rc.user.IsAdmin() {
		in.Owner = strings.TrimSpace(r.PostFormValue("owner"))
	}
	svc, err := s.app.Services.Create(r.Context(), rc.actor, in)
	if err == nil {
		s.setFlash(w, rc.sess, "success", "Service "+svc.Name+" created. It is live at "+rampart.ServiceURL(svc.Hostname(s.cfg.PlatformDomain), s.cfg.EdgeHTTPPort)+". Custom domains are optional: add one under Manage SSL Domains.")
		http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
		return
	}
	code := rampart.ErrorCode(err)
	if code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED {
		s.fail(w, r, rc, err)
		return
	}
	d := newServicePage{
		base: rc.base("New service", "services"), PlatformDomain: s.cfg.PlatformDomain,
		Name: in.Name, Upstream: in.Upstreams[0], Owner: in.Owner,
	}
	msgs := rampart.FieldMessages(err)
	d.NameErr, d.UpstreamErr = msgs["name"], msgs["upstreams"]
	// A clash on create can only be the name, the one unique field; an
	// error about no field with an owner given is about the owner.
	switch other := otherMessages(msgs, "name", "upstreams"); {
	case other == "":
	case code == rampart.ECONFLICT:
		d.NameErr = other
	case in.Owner != "":
		d.OwnerErr = other
	default:
		d.Err = other
	}
	status, _ := statusOf(code)
	s.render(w, r, status, "service_new", d)
}

// tabs of the service page, in display order.
var serviceTabs = []struct{ ID, Label string }{
	{"overview", "Overview"},
	{"security", "Security"},
	{"logs", "Logs"},
	{"backups", "Backups"},
}

// servicePage is the data of service.html and its tab templates.
type servicePage struct {
	base
	Service  *rampart.Service
	Hostname string
	NodeIPs  []string
	Tab      string
	Tabs     []struct{ ID, Label string }
	Events   []*rampart.AuditEvent
	Delete   deleteServicePage // the modal's form
	Domains  []*rampart.Domain // the Overview's custom domains row

	// SSL is the Security tab's SSL/TLS row: who certifies which domain;
	// HSTS its options form.
	SSL  []string
	HSTS hstsForm

	// The Security tab: the options forms, the purge modal's form, and
	// the edge's recent traffic, nil when this process has none to show.
	RateLimit rateLimitForm
	Cache     cacheForm
	Purge     purgeCachePage
	Traffic   *trafficView
	// The node's Firewall and SSH keys rows: nil for members, whom the
	// rows tell that an admin manages them.
	Firewall *firewallView
	SSHKeys  *sshKeysView
	// The SMTP service row: the service's mail through the relay.
	Mail *mailView

	// The Logs tab's rows; nil when no edge runs in this process.
	Logs *logsView

	// The Overview's Actions card (nil for a deleted service) and the
	// observed state of the service's process.
	Actions *actionsView
	Run     runStateView
	// The Backups tab.
	Backups *backupsView
	// The Overview's Owner card: nil but for admins.
	Transfer *transferView
}

func (s *server) showService(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d, err := s.servicePageFor(r, rc, svc, r.URL.Query().Get("tab"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "service", d)
}

// servicePageFor gathers what one tab of a service's page shows; an unknown
// tab is the Overview. The Security tab's forms hold the stored settings,
// which a failed save replaces with what was typed.
func (s *server) servicePageFor(r *http.Request, rc *reqCtx, svc *rampart.Service, tab string) (servicePage, error) {
	known := false
	for _, t := range serviceTabs {
		known = known || t.ID == tab
	}
	if !known {
		tab = "overview"
	}
	d := servicePage{
		base:     rc.base(svc.Name, "services"),
		Service:  svc,
		Hostname: svc.Hostname(s.cfg.PlatformDomain),
		NodeIPs:  s.cfg.NodeIPs,
		Tab:      tab,
		Tabs:     serviceTabs,
	}
	d.Delete = deleteServicePage{base: d.base, Service: svc, Hostname: d.Hostname}
	d.Delete.Until, d.Delete.Grace = s.purgeWindow()
	switch tab {
	case "overview":
		d.Run = runStateOf(svc, time.Now())
		if svc.State != rampart.StateDeleted {
			d.Actions = s.actionsFor(d.base, svc)
		}
		var err error
		d.Events, err = s.app.Audit.List(r.Context(), rc.actor, rampart.AuditFilter{Service: svc.Name, Limit: 8})
		if err != nil {
			return d, err
		}
		if d.Domains, err = s.app.Domains.List(r.Context(), rc.actor, svc.Name); err != nil {
			return d, err
		}
		if d.Actions != nil {
			if d.Transfer, err = s.transferFor(r.Context(), rc, svc); err != nil {
				return d, err
			}
		}
	case "security":
		domains, err := s.app.Domains.List(r.Context(), rc.actor, svc.Name)
		if err != nil {
			return d, err
		}
		d.SSL = sslIssuers(acmeCAName(s.cfg.ACMEDirectory), domains)
		d.RateLimit = rateLimitFormOf(svc.RateLimit)
		d.Cache = cacheFormOf(svc.Cache)
		d.HSTS = hstsFormOf(svc.HSTS)
		d.Purge = purgeCachePage{base: d.base, Service: svc}
		if s.cfg.Stats != nil {
			d.Traffic = newTrafficView(s.cfg.Stats(svc.ID))
		}
		editRule, _ := strconv.ParseInt(r.URL.Query().Get("edit_rule"), 10, 64)
		open := r.URL.Query().Get("open")
		if d.Firewall, err = s.firewallFor(r.Context(), rc, svc, editRule, open == "firewall"); err != nil {
			return d, err
		}
		if d.SSHKeys, err = s.sshKeysFor(r.Context(), rc, open == "ssh-keys"); err != nil {
			return d, err
		}
		if d.Mail, err = s.mailFor(r.Context(), rc, svc, open == "smtp"); err != nil {
			return d, err
		}
	case "logs":
		var err error
		if d.Logs, err = s.logsViewFor(r.Context(), rc, svc); err != nil {
			return d, err
		}
	case "backups":
		var err error
		if d.Backups, err = s.backupsFor(r, rc, svc); err != nil {
			return d, err
		}
	}
	return d, nil
}

// deleteServicePage is the data of service_delete.html: the confirmation
// as a page of its own, for browsers without JavaScript and for showing an
// error after a failed attempt. With JavaScript the same form opens in a
// modal on the service page.
type deleteServicePage struct {
	base
	Service  *rampart.Service
	Hostname string
	Confirm  string
	Err      string
	// Until is when the service would be purged if deleted now, Grace
	// how long that is ("7 days").
	Until time.Time
	Grace string
}

// purgeWindow is when a service deleted now would be purged, and how long
// that is in words.
func (s *server) purgeWindow() (time.Time, string) {
	now := time.Now().UTC()
	until := now.Add(s.cfg.DeleteGrace)
	return until, timeLeft(until, now)
}

func (s *server) deleteServicePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := deleteServicePage{base: rc.base("Delete "+svc.Name, "services"), Service: svc, Hostname: svc.Hostname(s.cfg.PlatformDomain)}
	d.Until, d.Grace = s.purgeWindow()
	s.render(w, r, http.StatusOK, "service_delete", d)
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	// Look the service up first so that a member probing someone else's
	// service gets the same 404 as for a name that does not exist.
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := deleteServicePage{
		base: rc.base("Delete "+svc.Name, "services"), Service: svc,
		Hostname: svc.Hostname(s.cfg.PlatformDomain), Confirm: r.PostFormValue("confirm"),
	}
	d.Until, d.Grace = s.purgeWindow()
	if strings.TrimSpace(d.Confirm) != svc.Name {
		d.Err = "Type the service name, " + svc.Name + ", exactly to confirm."
		s.render(w, r, http.StatusUnprocessableEntity, "service_delete", d)
		return
	}
	deleted, err := s.app.Services.DeleteService(r.Context(), rc.actor, svc.Name)
	if err != nil {
		code := rampart.ErrorCode(err)
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		d.Err = rampart.ErrorMessage(err)
		status, _ := statusOf(code)
		s.render(w, r, status, "service_delete", d)
		return
	}
	msg := "Service " + svc.Name + " deleted."
	if deleted.PurgeAfter != nil {
		msg += " A final backup was taken: you can restore it, with its data, under Deleted services until " + datetime(*deleted.PurgeAfter) + "."
	}
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// setTerminationProtection is the Overview tab's toggle: a form whose
// "enabled" is the state asked for ("on" or "off"), so that it works
// without JavaScript and a second click of a stale page changes nothing.
func (s *server) setTerminationProtection(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var on bool
	switch r.PostFormValue("enabled") {
	case "on":
		on = true
	case "off":
	default:
		// Only a hand-made request gets here; the name is checked first
		// so that it cannot tell another's service from a missing one.
		if _, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name")); err != nil {
			s.fail(w, r, rc, err)
			return
		}
		s.fail(w, r, rc, rampart.Errorf(rampart.EINVALID, `enabled must be "on" or "off": use the toggle on the Overview tab`))
		return
	}
	svc, err := s.app.Services.SetTerminationProtection(r.Context(), rc.actor, r.PathValue("name"), on)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	msg := "Termination protection is off: " + svc.Name + " can be deleted again."
	if on {
		msg = "Termination protection is on: " + svc.Name + " cannot be deleted, shut down, rebooted, powered off, reinstalled or moved to another version until you turn it off."
	}
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
}

// servicePath is the URL of a service's page, or of one of its tabs.
func servicePath(name, tab string) string {
	p := "/services/" + url.PathEscape(name)
	if tab != "" && tab != "overview" {
		p += "?tab=" + url.QueryEscape(tab)
	}
	return p
}
