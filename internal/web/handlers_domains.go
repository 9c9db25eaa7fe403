package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
)

// The "Manage SSL Domains" page of a service: a one-field form where Enter
// adds a domain, and the list of domains with their state. Both live in
// #domains-panel; an add through htmx swaps the panel (the list with the
// new domain, or the form with the error and what was typed). While a
// domain is still on its way (waiting_for_dns, issuing) its status polls
// itself every 2 seconds, so states change without a reload, and stops
// once it is settled. Only the status is swapped, so an open DNS details
// expander stays open. Without JavaScript the form is a plain POST
// that redirects back, and remove has a confirmation page of its own.

// domainsPage is the data of service_domains.html and its fragments.
type domainsPage struct {
	base
	Service  *rampart.Service
	Hostname string
	NodeIPs  []string
	Domains  []domainRow
	// Input, Mode, CertPEM, KeyPEM and Err are the add form's text as
	// typed and the app's message.
	Input, Mode, CertPEM, KeyPEM, Err string
	// TLS is the "Change TLS" form of the domain it names, open after a
	// refused change.
	TLS tlsForm
}

// tlsForm is a domain row's "Change TLS" form as typed, with the app's
// message.
type tlsForm struct {
	Domain, Mode, CertPEM, KeyPEM, Err string
}

// domainRow is a domain as its row shows it: with what an unproven one
// needs to be proven, since the row says which records to add.
type domainRow struct {
	*rampart.Domain
	// CNAME is the service's hostname, the CNAME target that proves the
	// name alone; NodeIPs are the A/AAAA targets.
	CNAME   string
	NodeIPs []string
	// Shared: the node has more than one account, so A/AAAA records prove
	// the name only with the TXT record of Domain.Challenge.
	Shared bool
}

// domainRows makes the rows of list. The account count decides whether
// the TXT record is asked for, as it does in the domains reconciler; when
// it cannot be read, the TXT record is shown (it does no harm).
func (s *server) domainRows(r *http.Request, list []*rampart.Domain) []domainRow {
	n, err := s.app.Accounts.Count(r.Context())
	shared := err != nil || n >= 2
	rows := make([]domainRow, len(list))
	for i, d := range list {
		rows[i] = domainRow{Domain: d, CNAME: (&rampart.Service{Name: d.Service}).Hostname(s.cfg.PlatformDomain), NodeIPs: s.cfg.NodeIPs, Shared: shared}
	}
	return rows
}

func (s *server) domainsPageFor(r *http.Request, rc *reqCtx) (domainsPage, error) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		return domainsPage{}, err
	}
	list, err := s.app.Domains.List(r.Context(), rc.actor, svc.Name)
	if err != nil {
		return domainsPage{}, err
	}
	return domainsPage{
		base: rc.base("SSL domains · "+svc.Name, "services"), Service: svc,
		Hostname: svc.Hostname(s.cfg.PlatformDomain), NodeIPs: s.cfg.NodeIPs, Domains: s.domainRows(r, list),
	}, nil
}

func (s *server) showDomains(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.domainsPageFor(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "service_domains", d)
}

// domainStatus answers a row's polling with its status fragment. A domain
// that is gone answers 286, which tells htmx to stop polling.
func (s *server) domainStatus(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.app.Domains.Get(r.Context(), rc.actor, rampart.DomainRef{Service: r.PathValue("name"), Name: r.PathValue("domain")})
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		w.WriteHeader(286)
		return
	}
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.renderFragment(w, r, http.StatusOK, "service_domains", "domain-status", s.domainRows(r, []*rampart.Domain{d})[0])
}

func (s *server) addDomain(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.domainsPageFor(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d.Input, d.Mode = r.PostFormValue("domain"), r.PostFormValue("tls_mode")
	in := rampart.DomainInput{Service: d.Service.Name, Name: d.Input, TLSMode: rampart.TLSMode(d.Mode)}
	if in.TLSMode == rampart.TLSCustom {
		// The upload fields stay in the form, hidden, in the other modes:
		// only custom uses what they hold.
		d.CertPEM, d.KeyPEM = r.PostFormValue("cert_pem"), r.PostFormValue("key_pem")
		in.CertPEM, in.KeyPEM = d.CertPEM, d.KeyPEM
	}
	added, err := s.app.Domains.Add(r.Context(), rc.actor, in)
	htmx := r.Header.Get("HX-Request") == "true"
	if err != nil {
		code := rampart.ErrorCode(err)
		if code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED {
			s.fail(w, r, rc, err)
			return
		}
		d.Err = rampart.ErrorMessage(err)
		status, _ := statusOf(code)
		if htmx {
			// htmx swaps only 2xx answers by default: the panel with the
			// error is a normal answer to the form.
			s.renderFragment(w, r, http.StatusOK, "service_domains", "domains-panel", d)
			return
		}
		s.render(w, r, status, "service_domains", d)
		return
	}
	if htmx {
		d.Input, d.Mode, d.CertPEM, d.KeyPEM = "", "", "", ""
		list, err := s.app.Domains.List(r.Context(), rc.actor, d.Service.Name)
		if err != nil {
			s.fail(w, r, rc, err)
			return
		}
		d.Domains = s.domainRows(r, list)
		s.renderFragment(w, r, http.StatusOK, "service_domains", "domains-panel", d)
		return
	}
	s.setFlash(w, rc.sess, "success", "Added "+added.Name+".")
	http.Redirect(w, r, domainsPath(d.Service.Name), http.StatusSeeOther)
}

// updateDomainTLS is a row's "Change TLS" form: a new mode, or a new
// upload for a custom domain. A refused change renders the page with the
// row's form open, what was typed kept and the app's message in it.
func (s *server) updateDomainTLS(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.domainsPageFor(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	f := tlsForm{Domain: r.PathValue("domain"), Mode: r.PostFormValue("tls_mode")}
	up := rampart.DomainUpdate{Service: d.Service.Name, Name: f.Domain, TLSMode: rampart.TLSMode(f.Mode)}
	if up.TLSMode == rampart.TLSCustom {
		f.CertPEM, f.KeyPEM = r.PostFormValue("cert_pem"), r.PostFormValue("key_pem")
		up.CertPEM, up.KeyPEM = f.CertPEM, f.KeyPEM
	}
	dom, err := s.app.Domains.Update(r.Context(), rc.actor, up)
	if err != nil {
		code := rampart.ErrorCode(err)
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		f.Err = rampart.ErrorMessage(err)
		d.TLS = f
		status, _ := statusOf(code)
		s.render(w, r, status, "service_domains", d)
		return
	}
	msg := dom.Name + ": TLS " + tlsModeWords(dom.TLSMode, dom.Name) + "."
	switch dom.TLSMode {
	case rampart.TLSCustom:
		msg += " The uploaded certificate is served as soon as it is installed."
	case rampart.TLSOff:
		msg += " rampart no longer requests certificates for it; it is served over HTTP."
	default:
		msg += " A certificate is requested as soon as DNS shows the name is this service's."
	}
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, domainsPath(d.Service.Name), http.StatusSeeOther)
}

// tlsModeWords is how the dashboard names a domain's TLS mode.
func tlsModeWords(m rampart.TLSMode, name string) string {
	switch m {
	case rampart.TLSManaged:
		if rampart.IsInternalName(name) {
			return "from the internal CA"
		}
		return "managed (certificate from the ACME CA)"
	case rampart.TLSCustom:
		return "custom certificate"
	case rampart.TLSOff:
		return "off"
	}
	return string(m)
}

// removeDomainPage is the confirmation without JavaScript; with it the same
// form opens in a modal.
type removeDomainPage struct {
	base
	Service *rampart.Service
	Domain  *rampart.Domain
	Err     string
}

func (s *server) removeDomainPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	dom, err := s.app.Domains.Get(r.Context(), rc.actor, rampart.DomainRef{Service: svc.Name, Name: r.PathValue("domain")})
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "domain_remove", removeDomainPage{base: rc.base("Remove "+dom.Name, "services"), Service: svc, Domain: dom})
}

func (s *server) removeDomain(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	name := r.PathValue("domain")
	if err := s.app.Domains.Remove(r.Context(), rc.actor, rampart.DomainRef{Service: svc.Name, Name: name}); err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.setFlash(w, rc.sess, "success", "Removed "+name+": the edge no longer serves it.")
	http.Redirect(w, r, domainsPath(svc.Name), http.StatusSeeOther)
}

// dnsDetails is the per-resolver view of one domain's DNS, loaded when its
// expander is opened.
type dnsDetails struct {
	Domain *rampart.Domain
	Result rampart.DNSCheck
	Err    string
}

func (s *server) domainDNS(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, res, err := s.app.Domains.Check(r.Context(), rc.actor, rampart.DomainRef{Service: r.PathValue("name"), Name: r.PathValue("domain")})
	v := dnsDetails{Domain: d, Result: res}
	if err != nil {
		if code := rampart.ErrorCode(err); code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED {
			s.fail(w, r, rc, err)
			return
		}
		v.Err = rampart.ErrorMessage(err)
	}
	s.renderFragment(w, r, http.StatusOK, "service_domains", "dns-details", v)
}

// renderFragment renders one named template of a page's set, without the
// layout, for htmx swaps.
func (s *server) renderFragment(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	t, ok := s.pages.sets[page]
	if !ok {
		s.internalError(w, r, fmt.Errorf("no page %q", page))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		s.internalError(w, r, fmt.Errorf("rendering %s of page %q: %w", name, page, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func domainsPath(service string) string {
	return "/services/" + url.PathEscape(service) + "/domains"
}

// domainStateWords is the badge text of a domain state.
func domainStateWords(s rampart.DomainState) string {
	switch s {
	case rampart.DomainWaitingForDNS:
		return "Waiting for DNS"
	case rampart.DomainIssuing:
		return "Issuing certificate"
	case rampart.DomainActive:
		return "Active"
	case rampart.DomainError:
		return "Error"
	}
	return strings.ReplaceAll(string(s), "_", " ")
}
