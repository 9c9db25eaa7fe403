package api

import (
	"net/http"
	"net/url"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// Service is a service as the API shows it: the stored fields plus the
// platform hostname, which depends on configuration and so is not stored.
// The client package decodes into the same type.
type Service struct {
	rampart.Service
	// Hostname is <name>.<platform domain>: the CNAME target for the
	// service's own domains.
	Hostname string `json:"hostname"`
}

// ServiceList is the answer to GET /services. The list is wrapped in an
// object so that fields (paging, say) can be added without breaking clients.
type ServiceList struct {
	Services []Service `json:"services"`
}

func (s *server) service(svc *rampart.Service) Service {
	return Service{Service: *svc, Hostname: svc.Hostname(s.domain)}
}

func (s *server) listServices(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	svcs, err := s.app.ListServices(r.Context(), actor)
	if err != nil {
		return err
	}
	out := ServiceList{Services: make([]Service, 0, len(svcs))}
	for _, svc := range svcs {
		out.Services = append(out.Services, s.service(svc))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) createService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in app.ServiceInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	svc, err := s.app.CreateService(r.Context(), actor, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", servicePath(svc.Name))
	writeJSON(w, http.StatusCreated, s.service(svc))
	return nil
}

func (s *server) getService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	svc, err := s.app.GetService(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) updateService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	// A PATCH to a service that is not there (or not the caller's) is
	// answered 404 whatever its body, the more useful of the two errors.
	if _, err := s.app.GetService(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	var up app.ServiceUpdate
	if err := decodeBody(w, r, &up); err != nil {
		return err
	}
	svc, err := s.app.UpdateService(r.Context(), actor, r.PathValue("name"), up)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) deleteService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.DeleteService(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// PurgeResult answers a cache purge.
type PurgeResult struct {
	Purged int `json:"purged"` // cached responses dropped
}

func (s *server) purgeCache(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	n, err := s.app.PurgeCache(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, PurgeResult{Purged: n})
	return nil
}

// servicePath is the URL path of a service, for Location headers.
func servicePath(name string) string {
	return Prefix + "services/" + url.PathEscape(name)
}
