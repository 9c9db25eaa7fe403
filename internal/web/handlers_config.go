package web

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
)

// "Update config" of a service (the Overview's Configuration card): a page
// with the tabs Env (the service's environment, edited as a .env text),
// Upstreams (where the edge sends its requests) and Runtime (who runs its
// app). Each tab is a plain form; a save redirects to the Overview with
// what changed, and a refused one renders the tab again with the text as
// typed and the app's message.

// configTabs of the Update config page, in display order.
var configTabs = []struct{ ID, Label string }{
	{"env", "Env"},
	{"upstreams", "Upstreams"},
	{"runtime", "Runtime"},
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
	// Runtime is the Runtime tab's form. Only an admin gets the form
	// (CanSetRuntime): the service layer refuses a member any runtime
	// that runs something, so a member sees the runtime read-only.
	Runtime       runtimeForm
	CanSetRuntime bool
	RuntimeKinds  []runtimeKind
	// Bounds the Runtime tab's help states.
	MaxComposeKiB  int
	MaxArgs        int
	MaxStopTimeout string
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
		Runtime: runtimeFormOf(svc.Runtime), CanSetRuntime: rc.user.IsAdmin(), RuntimeKinds: runtimeKinds,
		MaxComposeKiB: rampart.MaxComposeFileLength >> 10, MaxArgs: rampart.MaxRuntimeArgs,
		MaxStopTimeout: shortDuration(rampart.MaxStopTimeout),
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
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		refuse(err)
		return
	}
	s.setFlash(w, rc.sess, "success", "Environment saved: "+envChangeWords(set, removed)+". "+envNote(svc))
	http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
}

// envNote says when a saved environment reaches the app. The environment
// is part of what rampart runs (runtime.Spec's hash), so a service it runs
// is restarted with the new variables; a proxy service's app runs
// elsewhere, where rampart hands it nothing.
func envNote(svc *rampart.Service) string {
	switch {
	case svc.Runtime.Runs() && svc.State == rampart.StateActive:
		return "rampart restarts " + svc.Name + " with the new variables."
	case svc.Runtime.Runs():
		return svc.Name + " is shut down: it gets the new variables when you start it."
	}
	return "rampart does not run " + svc.Name + " (runtime proxy): set the same variables where its app runs."
}

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
		if pageError(err) {
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

// runtimeKind is one choice of the Runtime tab's radio buttons.
type runtimeKind struct {
	Kind  rampart.RuntimeKind
	Label string
	Help  string
}

var runtimeKinds = []runtimeKind{
	{rampart.RuntimeProxy, "Elsewhere (proxy)", "You run the app where you like; the edge sends requests to its upstreams."},
	{rampart.RuntimeExec, "A process rampart runs (exec)", "rampart starts the command, restarts it when it crashes and stops it gracefully."},
	{rampart.RuntimeCompose, "Docker Compose (compose)", "rampart runs a docker compose project from the compose file below."},
}

// RuntimeLabel is the stored runtime's kind in the radio buttons' words.
func (p configPage) RuntimeLabel() string {
	for _, k := range p.RuntimeKinds {
		if k.Kind == p.Service.Runtime.Kind {
			return k.Label
		}
	}
	return runtimeKinds[0].Label // an empty kind is proxy
}

// runtimeForm is the Runtime tab's form. Fields hold text as typed, so
// that a refused save comes back unchanged. The fields of every kind are
// kept (without JavaScript the page shows them all), but only those of
// the chosen kind are sent to the app.
type runtimeForm struct {
	Kind                     string
	Port, StopTimeout        string
	Command, Args, Dir, User string // Args: one per line
	ComposeFile              string
	// Errors next to the fields the handler reads (a port that is no
	// number, say); Err, above the form, is the app's message, which is
	// about the runtime as a whole.
	KindErr, PortErr, StopTimeoutErr, ComposeFileErr, Err string
}

func runtimeFormOf(rt rampart.Runtime) runtimeForm {
	f := runtimeForm{Kind: string(rt.Kind), Command: rt.Command, Args: strings.Join(rt.Args, "\n"), Dir: rt.Dir, User: rt.User, ComposeFile: rt.ComposeFile}
	if f.Kind == "" {
		f.Kind = string(rampart.RuntimeProxy)
	}
	if rt.Port != 0 {
		f.Port = strconv.Itoa(rt.Port)
	}
	if rt.StopTimeout != 0 {
		f.StopTimeout = shortDuration(time.Duration(rt.StopTimeout))
	}
	return f
}

// runtimeFormFrom reads the posted form. Browsers send a textarea's lines
// ending in CRLF; the compose file is stored with plain newlines, as the
// CLI reads it from a file.
func runtimeFormFrom(r *http.Request) runtimeForm {
	v := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return runtimeForm{
		Kind: v("kind"), Port: v("port"), StopTimeout: v("stop_timeout"),
		Command: v("command"), Args: r.PostFormValue("args"), Dir: v("dir"), User: v("user"),
		ComposeFile: strings.ReplaceAll(r.PostFormValue("compose_file"), "\r\n", "\n"),
	}
}

// runtime builds the runtime the form asks for, from the fields of its
// kind only. It reports false, with the messages in f, when a field
// cannot be read; what it can read is checked by the app (Runtime.Validate).
func (f *runtimeForm) runtime() (rampart.Runtime, bool) {
	rt := rampart.Runtime{Kind: rampart.RuntimeKind(f.Kind)}
	switch rt.Kind {
	case rampart.RuntimeProxy:
		return rt, true
	case rampart.RuntimeExec, rampart.RuntimeCompose:
	case "":
		f.KindErr = "choose who runs the app: elsewhere (proxy), a process rampart runs (exec) or Docker Compose (compose)"
		return rt, false
	default:
		f.KindErr = fmt.Sprintf("runtime %q is unknown: choose proxy, exec or compose", f.Kind)
		return rt, false
	}
	ok := true
	port, err := strconv.Atoi(f.Port)
	switch {
	case f.Port == "":
		f.PortErr = fmt.Sprintf("runtime %s needs the port the app listens on, a number between 1 and 65535, e.g. 8080", rt.Kind)
		ok = false
	case err != nil || port < 1 || port > 65535:
		f.PortErr = fmt.Sprintf("port %q is not a port number: use a whole number between 1 and 65535, e.g. 8080", f.Port)
		ok = false
	}
	rt.Port = port
	if f.StopTimeout != "" {
		// Go's duration text, as the CLI's --stop-timeout takes it, or a
		// bare number of seconds, as the API does.
		d, err := time.ParseDuration(f.StopTimeout)
		if secs, nerr := strconv.ParseUint(f.StopTimeout, 10, 32); nerr == nil {
			d, err = time.Duration(secs)*time.Second, nil
		}
		switch {
		case err != nil:
			f.StopTimeoutErr = fmt.Sprintf("stop timeout %q is not a duration: use text like 10s, 30s or 1m (empty: 10s)", f.StopTimeout)
			ok = false
		case d < 0 || d > rampart.MaxStopTimeout:
			f.StopTimeoutErr = fmt.Sprintf("stop timeout must be between 0 and %s (empty: 10s)", shortDuration(rampart.MaxStopTimeout))
			ok = false
		}
		rt.StopTimeout = rampart.Duration(d)
	}
	if rt.Kind == rampart.RuntimeExec {
		rt.Command, rt.Dir, rt.User = f.Command, f.Dir, f.User
		for line := range strings.Lines(f.Args) {
			if a := strings.TrimSpace(line); a != "" {
				rt.Args = append(rt.Args, a)
			}
		}
		return rt, ok
	}
	if n := len(f.ComposeFile); n > rampart.MaxComposeFileLength {
		f.ComposeFileErr = fmt.Sprintf("the compose file is %d bytes: at most %d (%d KiB) are allowed", n, rampart.MaxComposeFileLength, rampart.MaxComposeFileLength>>10)
		ok = false
	}
	rt.ComposeFile = f.ComposeFile
	return rt, ok
}

// saveRuntime replaces the service's runtime with the form's. Its
// version is left empty, so the app keeps the current one: changing it
// is the Overview's "Change software version", a protected action. Only
// an admin may set a runtime that runs something; the app refuses a
// member, whose page shows no form.
func (s *server) saveRuntime(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	f := runtimeFormFrom(r)
	refuse := func(status int) {
		d := s.configPageFor(rc, svc, "runtime")
		d.Runtime = f
		s.render(w, r, status, "service_config", d)
	}
	rt, ok := f.runtime()
	if !ok {
		refuse(http.StatusUnprocessableEntity)
		return
	}
	// The app keeps the version; compared with it, an unchanged form is
	// not an error ("nothing to change") but a no-op.
	same := rt
	same.Version = svc.Runtime.Version
	if same.Equal(svc.Runtime) {
		s.setFlash(w, rc.sess, "success", "Runtime unchanged.")
		http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
		return
	}
	updated, err := s.app.Services.Update(r.Context(), rc.actor, rampart.ServiceUpdate{Name: svc.Name, Runtime: &rt})
	if err != nil {
		code := rampart.ErrorCode(err)
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		f.Err = rampart.ErrorMessage(err)
		status, _ := statusOf(code)
		refuse(status)
		return
	}
	s.setFlash(w, rc.sess, "success", runtimeSaved(svc.Runtime, updated))
	http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
}

// runtimeSaved says what a saved runtime does. The runtimes reconciler
// stops what ran under the old runtime and starts the new one, unless
// the service is shut down. The edge follows the stored upstreams: the
// app points them at the runtime's port when rampart starts running a
// service (and follows a port change), but leaves them as they are when
// it stops running one.
func runtimeSaved(before rampart.Runtime, svc *rampart.Service) string {
	rt, ups := svc.Runtime, strings.Join(svc.Upstreams, ", ")
	switch {
	case rt.Runs() && svc.State != rampart.StateActive:
		return fmt.Sprintf("Runtime saved: %s is shut down, so nothing starts now. When you start it, rampart runs it (%s) and the edge sends its requests to %s.", svc.Name, rt.Kind, ups)
	case rt.Runs() && before.Runs():
		return fmt.Sprintf("Runtime saved: rampart restarts %s with the new runtime (%s), and the edge sends its requests to %s.", svc.Name, rt.Kind, ups)
	case rt.Runs():
		return fmt.Sprintf("Runtime saved: rampart starts %s (%s), and the edge sends its requests to %s.", svc.Name, rt.Kind, ups)
	case before.Runs() && slices.Equal(svc.Upstreams, []string{before.UpstreamURL()}):
		return fmt.Sprintf("Runtime saved: rampart no longer runs %s; its data directory stays. The edge still sends its requests to %s, where nothing of rampart's listens any more: run the app there, or say where it runs on the Upstreams tab.", svc.Name, ups)
	case before.Runs():
		return fmt.Sprintf("Runtime saved: rampart no longer runs %s; its data directory stays. The edge sends its requests to its upstreams, %s.", svc.Name, ups)
	}
	return fmt.Sprintf("Runtime saved: %s runs elsewhere, and the edge sends its requests to %s.", svc.Name, ups)
}
