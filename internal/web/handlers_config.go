package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rampart-dev/rampart"
)

// "Update config" of a service (the Overview's Configuration card): a page
// with the tabs Env (the service's environment, edited as a .env text) and
// Upstreams (where the edge sends its requests). Each tab is a plain form;
// a save redirects to the Overview with what changed, and a refused one
// renders the tab again with the text as typed and the app's message.

// configTabs of the Update config page, in display order.
var configTabs = []struct{ ID, Label string }{
	{"env", "Env"},
	{"upstreams", "Upstreams"},
}

// configPage is the data of service_config.html.
type configPage struct {
	base
	Service *rampart.Service
	Tab     string
	Tabs    []struct{ ID, Label string }
	// Env and Upstreams are the forms' texts: what is stored, or what was
	// typed when a save was refused.
	Env, Upstreams       string
	EnvErr, UpstreamsErr string
	MaxEnvVars           int
}

func (s *server) configPageFor(rc *reqCtx, svc *rampart.Service, tab string) configPage {
	known := false
	for _, t := range configTabs {
		known = known || t.ID == tab
	}
	if !known {
		tab = "env"
	}
	return configPage{
		base: rc.base("Update config · "+svc.Name, "services"), Service: svc, Tab: tab, Tabs: configTabs,
		Env: rampart.FormatEnvFile(svc.Env), Upstreams: strings.Join(svc.Upstreams, "\n"), MaxEnvVars: rampart.MaxEnvVars,
	}
}

func (s *server) showConfig(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.render(w, r, http.StatusOK, "service_config", s.configPageFor(rc, svc, r.URL.Query().Get("tab")))
}

// saveEnv replaces the service's environment with the form's text. The
// change is sent as the difference to what the page was rendered from
// being stored now, so names the text leaves out are removed.
func (s *server) saveEnv(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	text := r.PostFormValue("env")
	refuse := func(err error) {
		d := s.configPageFor(rc, svc, "env")
		d.Env, d.EnvErr = text, rampart.ErrorMessage(err)
		status, _ := statusOf(rampart.ErrorCode(err))
		s.render(w, r, status, "service_config", d)
	}
	want, err := rampart.ParseEnvFile(text)
	if err != nil {
		refuse(err)
		return
	}
	patch := svc.Env.Diff(want)
	_, set, removed := patch.Apply(svc.Env)
	if len(set) == 0 && len(removed) == 0 {
		s.setFlash(w, rc.sess, "success", "Environment unchanged.")
		http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
		return
	}
	if _, err := s.app.Services.Update(r.Context(), rc.actor, rampart.ServiceUpdate{Name: svc.Name, Env: patch}); err != nil {
		if code := rampart.ErrorCode(err); code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED || code == rampart.ENOTFOUND {
			s.fail(w, r, rc, err)
			return
		}
		refuse(err)
		return
	}
	s.setFlash(w, rc.sess, "success", "Environment saved: "+envChangeWords(set, removed)+". "+envNote)
	http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
}

// envNote says when a saved environment takes effect.
const envNote = "The service gets it when rampart starts its process; this release does not run services yet, so set it where the app runs too."

func envChangeWords(set, removed []string) string {
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "set "+strings.Join(set, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	return strings.Join(parts, "; ")
}

func (s *server) saveUpstreams(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	text := r.PostFormValue("upstreams")
	ups := splitList(text)
	if ups == nil {
		ups = []string{}
	}
	updated, err := s.app.Services.Update(r.Context(), rc.actor, rampart.ServiceUpdate{Name: svc.Name, Upstreams: ups})
	if err != nil {
		if code := rampart.ErrorCode(err); code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED || code == rampart.ENOTFOUND {
			s.fail(w, r, rc, err)
			return
		}
		d := s.configPageFor(rc, svc, "upstreams")
		d.Upstreams, d.UpstreamsErr = text, rampart.ErrorMessage(err)
		status, _ := statusOf(rampart.ErrorCode(err))
		s.render(w, r, status, "service_config", d)
		return
	}
	s.setFlash(w, rc.sess, "success", fmt.Sprintf("Upstreams saved: the edge sends %s's requests to %s from now on.", updated.Name, strings.Join(updated.Upstreams, ", ")))
	http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
}
