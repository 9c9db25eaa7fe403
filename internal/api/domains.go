package api

import (
	"net/http"
	"net/url"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

func (s *server) listDomains(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	list, err := s.app.Domains.List(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.DomainList{Domains: list})
	return nil
}

// getDomain answers one domain, with its state and the TXT record that
// proves it (the service's token: only those who may see the service get
// here).
func (s *server) getDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	d, err := s.app.Domains.Get(r.Context(), actor, domainRef(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *server) addDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	// As with PATCH: a missing service is the more useful error.
	if _, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	in := rampart.DomainInput{Service: r.PathValue("name")}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	d, err := s.app.Domains.Add(r.Context(), actor, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", servicePath(d.Service)+"/domains/"+url.PathEscape(d.Name))
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *server) updateDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	ref := domainRef(r)
	if _, err := s.app.Domains.Get(r.Context(), actor, ref); err != nil {
		return err
	}
	in := rampart.DomainUpdate{Service: ref.Service, Name: ref.Name}
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.TLSMode == "" {
		if in.CertPEM == "" && in.KeyPEM == "" {
			return rampart.FieldError("tls_mode", rampart.Errorf(rampart.EINVALID, "nothing to change: give tls_mode (managed, custom or off), or cert_pem and key_pem to replace an uploaded certificate"))
		}
		in.TLSMode = rampart.TLSCustom
	}
	d, err := s.app.Domains.Update(r.Context(), actor, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *server) removeDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Domains.Remove(r.Context(), actor, domainRef(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) checkDomain(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	d, res, err := s.app.Domains.Check(r.Context(), actor, domainRef(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.NewDomainCheck(d, res))
	return nil
}

// domainRef is the domain a request's path names.
func domainRef(r *http.Request) rampart.DomainRef {
	return rampart.DomainRef{Service: r.PathValue("name"), Name: r.PathValue("domain")}
}
