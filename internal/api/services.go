package api

import (
	"net/http"
	"net/url"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

func (s *server) service(svc *rampart.Service) rampart.ServiceView {
	host := svc.Hostname(s.domain)
	return rampart.ServiceView{Service: *svc, Hostname: host, URL: rampart.ServiceURL(host, s.httpPort)}
}

func (s *server) listServices(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	svcs, err := s.app.Services.List(r.Context(), actor)
	if err != nil {
		return err
	}
	out := rampart.ServiceList{Services: make([]rampart.ServiceView, 0, len(svcs))}
	for _, svc := range svcs {
		out.Services = append(out.Services, s.service(svc))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) createService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.ServiceInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	svc, err := s.app.Services.Create(r.Context(), actor, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", servicePath(svc.Name))
	writeJSON(w, http.StatusCreated, s.service(svc))
	return nil
}

func (s *server) getService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	svc, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) updateService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	// A PATCH to a service that is not there (or not the caller's) is
	// answered 404 whatever its body, the more useful of the two errors.
	if _, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	up := rampart.ServiceUpdate{Name: r.PathValue("name")}
	if err := decodeBody(w, r, &up); err != nil {
		return err
	}
	svc, err := s.app.Services.Update(r.Context(), actor, up)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Services.Delete(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) purgeCache(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	n, err := s.app.Services.PurgeCache(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.PurgeResult{Purged: n})
	return nil
}

func (s *server) setTerminationProtection(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	// As with PATCH: a service that is not there (or not the caller's)
	// is answered 404 whatever the body.
	if _, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	var in rampart.TerminationProtectionInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Enabled == nil {
		return &rampart.Error{Code: rampart.EINVALID, Field: "enabled", Message: `give "enabled": true to turn termination protection on, or false to turn it off`}
	}
	svc, err := s.app.Services.SetTerminationProtection(r.Context(), actor, r.PathValue("name"), *in.Enabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

// servicePath is the URL path of a service, for Location headers.
func servicePath(name string) string {
	return rampart.APIPrefix + "services/" + url.PathEscape(name)
}
