package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/dnscheck"
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
	Domains  []*rampart.Domain
	// Input and Err are the add form's text and the app's message.
	Input, Mode, Err string
}

func (s *server) domainsPageFor(r *http.Request, rc *reqCtx) (domainsPage, error) {
	svc, err := s.app.GetService(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		return domainsPage{}, err
	}
	list, err := s.app.ListDomains(r.Context(), rc.actor, svc.Name)
	if err != nil {
		return domainsPage{}, err
	}
	return domainsPage{
		base: rc.base("SSL domains · "+svc.Name, "services"), Service: svc,
		Hostname: svc.Hostname(s.cfg.PlatformDomain), NodeIPs: s.cfg.NodeIPs, Domains: list,
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
	d, err := s.app.GetDomain(r.Context(), rc.actor, r.PathValue("name"), r.PathValue("domain"))
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		w.WriteHeader(286)
		return
	}
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.renderFragment(w, r, http.StatusOK, "service_domains", "domain-status", d)
}

func (s *server) addDomain(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, err := s.domainsPageFor(r, rc)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d.Input, d.Mode = r.PostFormValue("domain"), r.PostFormValue("tls_mode")
	added, err := s.app.AddDomain(r.Context(), rc.actor, d.Service.Name, d.Input, rampart.TLSMode(d.Mode), nil, nil)
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
		d.Input, d.Mode = "", ""
		if d.Domains, err = s.app.ListDomains(r.Context(), rc.actor, d.Service.Name); err != nil {
			s.fail(w, r, rc, err)
			return
		}
		s.renderFragment(w, r, http.StatusOK, "service_domains", "domains-panel", d)
		return
	}
	s.setFlash(w, rc.sess, "success", "Added "+added.Name+".")
	http.Redirect(w, r, domainsPath(d.Service.Name), http.StatusSeeOther)
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
	svc, err := s.app.GetService(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	dom, err := s.app.GetDomain(r.Context(), rc.actor, svc.Name, r.PathValue("domain"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "domain_remove", removeDomainPage{base: rc.base("Remove "+dom.Name, "services"), Service: svc, Domain: dom})
}

func (s *server) removeDomain(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.GetService(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	name := r.PathValue("domain")
	if err := s.app.RemoveDomain(r.Context(), rc.actor, svc.Name, name); err != nil {
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
	Result dnscheck.Result
	Err    string
}

func (s *server) domainDNS(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	d, res, err := s.app.CheckDomain(r.Context(), rc.actor, r.PathValue("name"), r.PathValue("domain"))
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
