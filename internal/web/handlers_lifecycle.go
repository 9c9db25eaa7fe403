package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// The Overview tab's Actions card: the seed's runtime actions, each a
// plain form that calls one method of app.Services. Termination
// protection, permissions and what applies to which runtime are decided
// there; the card only shows in advance what the service layer would
// refuse, so that nobody has to press a button to learn it.

// lifecycleAction is one button of the Actions card.
type lifecycleAction struct {
	ID    string // the path segment, and the action's name in app.ProtectedActions
	Label string // the seed's word, on the button
	Verb  string // in "turn it off to <verb> <name>"
	Help  string // what it does, beside the button
	// Confirm: destructive, a modal (or a page without JavaScript) first.
	Confirm bool
	// Proxy: applies to a service that runs elsewhere too (its routing).
	Proxy bool
	do    func(s *app.Services, ctx context.Context, actor app.Actor, name string) (*rampart.Service, error)
	done  func(svc *rampart.Service) string
}

var lifecycleActions = []lifecycleAction{
	{ID: "start", Label: "Start", Verb: "start", Proxy: true,
		Help: "Starts a stopped service: routed again, and run again when rampart runs it.",
		do:   (*app.Services).Start,
		done: func(svc *rampart.Service) string { return svc.Name + " is started: the edge routes it." }},
	{ID: "stop", Label: "Shut down", Verb: "shut down", Proxy: true,
		Help: "Stops it gracefully. Visitors get a 503 page until you start it again.",
		do:   (*app.Services).Stop,
		done: func(svc *rampart.Service) string {
			return svc.Name + " is shut down: visitors get a 503 page until you start it again."
		}},
	{ID: "restart", Label: "Reboot", Verb: "reboot",
		Help: "Restarts its process with the same configuration and data.",
		do:   (*app.Services).Restart,
		done: func(svc *rampart.Service) string {
			return "Rebooting " + svc.Name + ": a new process starts with the same configuration."
		}},
	{ID: "kill", Label: "Power off", Verb: "power off", Confirm: true,
		Help: "Kills its process at once, without a graceful stop. It stays stopped.",
		do:   (*app.Services).Kill,
		done: func(svc *rampart.Service) string {
			return "Powered off " + svc.Name + ": its process was killed and it stays stopped."
		}},
	{ID: "reset", Label: "Reinstall", Verb: "reinstall",
		Help:    "Backs up its data, then starts it afresh with an empty data directory.",
		Confirm: true,
		do:      (*app.Services).Reset,
		done: func(svc *rampart.Service) string {
			return "Reinstalled " + svc.Name + ": it starts afresh with an empty data directory. Its data is in the pre-reset backup on the Backups tab."
		}},
}

// actionByID returns the action named id.
func actionByID(id string) (lifecycleAction, bool) {
	for _, a := range lifecycleActions {
		if a.ID == id {
			return a, true
		}
	}
	return lifecycleAction{}, false
}

// actionButton is one row of the Actions card as the template draws it.
type actionButton struct {
	ID, Label, Help string
	Confirm         bool
	// Blocked says why the button is disabled; empty: enabled.
	Blocked string
}

// actionsView is the Actions card of a live service.
type actionsView struct {
	// Runs: rampart runs the application (exec, compose); otherwise only
	// Start, Shut down and Delete apply.
	Runs    bool
	Buttons []actionButton
	// Version is the current software version; VersionBlocked and
	// DeleteBlocked say why those are disabled.
	Version        string
	VersionBlocked string
	DeleteBlocked  string
	// Confirms are the modals of the destructive actions (Delete's is
	// the "delete-form" template).
	Confirms []confirmForm
}

// blockedReason is what a disabled action says while termination
// protection is on; empty when the service layer would allow it.
func blockedReason(svc *rampart.Service, action, verb string) string {
	if !svc.TerminationProtection || !slices.Contains(app.ProtectedActions(), action) {
		return ""
	}
	return "Termination protection is on: turn it off to " + verb + " " + svc.Name + "."
}

func (s *server) actionsFor(base base, svc *rampart.Service) *actionsView {
	v := &actionsView{
		Runs:           svc.Runtime.Runs(),
		Version:        svc.Runtime.Version,
		VersionBlocked: blockedReason(svc, "set-version", "change the software version of"),
		DeleteBlocked:  blockedReason(svc, "delete", "delete"),
	}
	for _, a := range lifecycleActions {
		if !a.Proxy && !v.Runs {
			continue
		}
		b := actionButton{ID: a.ID, Label: a.Label, Help: a.Help, Confirm: a.Confirm, Blocked: blockedReason(svc, a.ID, a.Verb)}
		v.Buttons = append(v.Buttons, b)
		if a.Confirm && b.Blocked == "" {
			v.Confirms = append(v.Confirms, actionConfirm(base.CSRF, svc, a, ""))
		}
	}
	return v
}

// confirmForm is a confirmation of a destructive action: in a modal on
// the service page, and a page of its own without JavaScript.
type confirmForm struct {
	CSRF   string
	ID     string // element IDs: <ID>-dialog, <ID>-title
	Action string // where the form posts
	Title  string
	Body   []string // paragraphs
	Submit string
	Cancel string // where Cancel leads without JavaScript
	// Blocked says why the action is refused; the submit button is then
	// disabled.
	Blocked string
	// Fields are hidden inputs the form posts besides the CSRF token.
	Fields []hiddenField
}

func actionConfirm(csrf string, svc *rampart.Service, a lifecycleAction, blocked string) confirmForm {
	f := confirmForm{CSRF: csrf, ID: a.ID, Action: servicePath(svc.Name, "") + "/" + a.ID,
		Submit: a.Label, Cancel: servicePath(svc.Name, ""), Blocked: blocked}
	switch a.ID {
	case "kill":
		f.Title = "Power off " + svc.Name + "?"
		f.Body = []string{
			"Its process is killed at once, without the graceful stop: requests in flight fail and whatever it has not written to disk is lost.",
			"It stays stopped, and visitors get a 503 page, until you start it again.",
		}
	case "reset":
		version := svc.Runtime.Version
		if version == "" {
			version = "the current version"
		}
		f.Title = "Reinstall " + svc.Name + "?"
		f.Body = []string{
			"Its data is backed up first (a pre-reset backup, listed on the Backups tab). Then its process is stopped, its data directory is emptied, and it starts afresh at " + version + " with the same configuration.",
			"To get the old data back, restore the pre-reset backup.",
		}
	}
	return f
}

// runAction is the POST handler of one action. An error the person can
// act on (protection, a state that does not allow it) comes back as a
// flash on the Overview, where nothing has changed.
func (s *server) runAction(id string) handler {
	a, ok := actionByID(id)
	if !ok {
		panic("web: no lifecycle action " + id)
	}
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
		svc, err := a.do(s.app.Services, r.Context(), rc.actor, r.PathValue("name"))
		s.afterAction(w, r, rc, "", err, func() string { return a.done(svc) })
	}
}

// afterAction redirects to the service's tab with the outcome as a flash.
// An unknown or another's service is the usual 404 page.
func (s *server) afterAction(w http.ResponseWriter, r *http.Request, rc *reqCtx, tab string, err error, ok func() string) {
	if err != nil {
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		s.setFlash(w, rc.sess, "error", rampart.ErrorMessage(err))
	} else {
		s.setFlash(w, rc.sess, "success", ok())
	}
	http.Redirect(w, r, servicePath(r.PathValue("name"), tab), http.StatusSeeOther)
}

// serviceConfirmPage is the data of service_confirm.html.
type serviceConfirmPage struct {
	base
	Service *rampart.Service
	Crumb   string
	Form    confirmForm
}

// actionConfirmPage is a destructive action's confirmation without
// JavaScript.
func (s *server) actionConfirmPage(id string) handler {
	a, ok := actionByID(id)
	if !ok {
		panic("web: no lifecycle action " + id)
	}
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
		svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
		if err != nil {
			s.fail(w, r, rc, err)
			return
		}
		d := serviceConfirmPage{base: rc.base(a.Label+" "+svc.Name, "services"), Service: svc, Crumb: a.Label}
		d.Form = actionConfirm(d.CSRF, svc, a, blockedReason(svc, a.ID, a.Verb))
		s.render(w, r, http.StatusOK, "service_confirm", d)
	}
}

// setVersion is the Actions card's "Change software version" form.
func (s *server) setVersion(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.SetVersion(r.Context(), rc.actor, r.PathValue("name"), r.PostFormValue("version"))
	s.afterAction(w, r, rc, "", err, func() string {
		return "Changed the software version of " + svc.Name + " to " + svc.Runtime.Version + ": it restarts with it."
	})
}

// runStateView is the observed state of a service on the Overview, kept
// live by polling the run-state fragment.
type runStateView struct {
	Name  string
	Kind  string // the badge's colour: ok, warn, error, muted
	Text  string
	Title string // the exact time, if the text says one relatively
	// Poll: rampart runs the service, so its state can change on its own.
	Poll bool
}

// runStateOf words what is known of a service's process at now.
func runStateOf(svc *rampart.Service, now time.Time) runStateView {
	v := runStateView{Name: svc.Name, Poll: svc.Runtime.Runs() && svc.State != rampart.StateDeleted}
	if !svc.Runtime.Runs() {
		switch svc.State {
		case rampart.StateActive:
			v.Kind, v.Text = "ok", "Routed to its upstream"
		case rampart.StateDeleted:
			v.Kind, v.Text = "error", "Deleted"
		default:
			v.Kind, v.Text = "muted", "Stopped: not routed, visitors get a 503 page"
		}
		return v
	}
	run := svc.Run
	if run == nil {
		switch svc.State {
		case rampart.StateActive:
			v.Kind, v.Text = "muted", "Waiting for the runtime's first report"
		case rampart.StateDeleted:
			v.Kind, v.Text = "error", "Deleted"
		default:
			v.Kind, v.Text = "muted", "Stopped"
		}
		return v
	}
	if !run.Since.IsZero() {
		v.Title = datetime(run.Since)
	}
	switch run.State {
	case "running":
		v.Kind, v.Text = "ok", "Running"
		if !run.Since.IsZero() {
			v.Text += " since " + ago(run.Since)
		}
		if run.PID > 0 {
			v.Text += " (pid " + strconv.Itoa(run.PID) + ")"
		}
	case "starting":
		v.Kind, v.Text = "warn", "Starting…"
	case "stopping":
		v.Kind, v.Text = "warn", "Stopping…"
	case "paused":
		v.Kind, v.Text = "warn", "Paused for a backup"
	case "stopped":
		v.Kind, v.Text = "muted", "Stopped"
	case "crash-looping":
		v.Kind, v.Text = "error", "Crash-looping"
		parts := ""
		if run.LastExit != "" {
			parts = run.LastExit
		}
		if run.Restarts > 0 {
			parts = joinNonEmpty(parts, plural(run.Restarts, "restart"))
		}
		if !run.NextStart.IsZero() {
			if d := run.NextStart.Sub(now); d > 0 {
				parts = joinNonEmpty(parts, "next try in "+shortDuration(d.Round(time.Second)))
			} else {
				parts = joinNonEmpty(parts, "trying again now")
			}
		}
		if parts != "" {
			v.Text += ": " + parts
		}
	case "failed":
		v.Kind, v.Text = "error", "Failed"
		if run.Message != "" {
			v.Text += ": " + run.Message
		} else if run.LastExit != "" {
			v.Text += ": " + run.LastExit
		}
	default:
		v.Kind, v.Text = "muted", run.State
	}
	return v
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// runState is the fragment the Overview polls.
func (s *server) runState(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	s.renderFragment(w, r, http.StatusOK, "service", "run-state", runStateOf(svc, time.Now()))
}

// timeLeft words how long until t: "6 days 23 hours", "5 hours 10
// minutes", "12 minutes".
func timeLeft(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "no time"
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		h := int(d / time.Hour)
		m := int(d%time.Hour) / int(time.Minute)
		if m == 0 {
			return plural(h, "hour")
		}
		return plural(h, "hour") + " " + plural(m, "minute")
	}
	days := int(d / (24 * time.Hour))
	h := int(d%(24*time.Hour)) / int(time.Hour)
	if h == 0 {
		return plural(days, "day")
	}
	return plural(days, "day") + " " + plural(h, "hour")
}

// byteSize words a number of bytes: "812 bytes", "4.2 kB", "1.3 MB".
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return plural(int(n), "byte")
	case n < 1000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}
