package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rampart-dev/rampart"
)

// The Security tab's "SMTP service" row: how a service sends transactional
// mail through rampart's relay (SPEC §8). Owners see their service's
// sender address, where to submit, their login, the hour's quota and the
// recent log, and make or rotate the SMTP password; admins also set the
// quota, suspend and resume, and see the mail domain's DNS records.
// Everything goes through app.Mail, which checks who may do what: a
// member's hand-made POST to an admin route gets a 403 page that says so.
//
// The password is shown once, in the response to the POST that made it,
// like an API token: never in a URL, a flash cookie or a redirect, and the
// page is no-store. app.js then rewrites the address bar to the tab, so a
// reload asks for the tab again instead of posting again; without
// JavaScript a resubmitted rotation is caught by set_at, the time of the
// password it meant to replace, and changes nothing.

// mailLogRows is how many of the newest log rows the row shows; the CLI's
// `rampart mail log SERVICE -f` has the rest.
const mailLogRows = 20

// mailTextMax bounds a reason or remote reply in the log table; the whole
// text is in the cell's tooltip.
const mailTextMax = 240

// mailView is the SMTP service row of a service's Security tab.
type mailView struct {
	Service  string
	CSRF     string
	Settings *rampart.MailSettings
	Admin    bool
	// Open unfolds the options: after an action, or ?open=smtp.
	Open bool

	// Created is the login a POST just made, password included: shown in
	// this response only. Rotated says it replaced an older password.
	Created *rampart.MailCredentials
	Rotated bool
	// CredInfo is a note about the login (no new password was made);
	// CredErr a refused credentials request.
	CredInfo, CredErr string

	Usage mailUsage
	Log   []mailLogRow
	// LogMore: there may be older rows than the table shows.
	LogMore bool

	// The admin forms: what was typed and each one's error.
	PerHour, PerHourErr string
	Reason, ReasonErr   string
	AdminErr            string

	// Rotate is the confirmation of a new password, in a modal.
	Rotate confirmForm
	// SuspendAfter is how many violations in a day suspend mail.
	SuspendAfter int

	// Poll is how often the row's live parts (the state, the quota and
	// the recent mail) are fetched again, as htmx writes it; Live marks
	// the response of such a fetch (mailLive).
	Poll string
	Live bool
}

// mailPoll is how often an open Security tab refreshes the SMTP row's
// live parts: one small request per open tab, and a new message shows
// within seconds.
const mailPoll = "5s"

// mailUsage is the quota bar: Used of Limit recipients in the sliding hour.
type mailUsage struct {
	Used, Limit int
	// Width is the filled share of the bar in percent, 0 to 100.
	Width string
	// Level colours the bar: "ok", "high" (80% or more), "full".
	Level     string
	ResumesAt *time.Time
}

// mailLogRow is one message in the recent-mail table, its outside text
// (addresses, reasons, remote replies) made printable.
type mailLogRow struct {
	At      time.Time
	To      []string // the first few recipients
	More    int      // how many more there are
	ToAll   string   // every recipient, for the tooltip, when To is cut
	Size    string
	Status  rampart.MailStatus
	Badge   string // badge class
	Details []mailDetail
}

// mailDetail is a reason or a receiving server's reply, with the whole
// text for the tooltip when Text is cut.
type mailDetail struct{ Text, Full string }

// mailFor gathers the row; the log and quota only while the relay runs.
func (s *server) mailFor(ctx context.Context, rc *reqCtx, svc *rampart.Service, open bool) (*mailView, error) {
	st, err := s.app.Mail.Settings(ctx, rc.actor, svc.Name)
	if err != nil {
		return nil, err
	}
	v := &mailView{Service: svc.Name, CSRF: rc.sess.CSRFToken, Settings: st, Admin: rc.user.IsAdmin(), Open: open,
		SuspendAfter: s.cfg.MailViolationsToSuspend, Poll: mailPoll}
	v.PerHour = strconv.Itoa(st.PerHour)
	if st.PerHourDefault {
		v.PerHour = "0"
	}
	if !st.Enabled {
		return v, nil
	}
	v.Usage = usageOf(st)
	msgs, err := s.app.Mail.Log(ctx, rc.actor, svc.Name, 0, mailLogRows)
	if err != nil {
		return nil, err
	}
	v.LogMore = len(msgs) == mailLogRows
	// The app gives the newest rows oldest first; the table shows the
	// newest on top, as a person reading "what just happened" expects.
	for i := len(msgs) - 1; i >= 0; i-- {
		v.Log = append(v.Log, mailRowOf(msgs[i]))
	}
	v.Rotate = s.rotateConfirm(v.CSRF, svc.Name, st)
	return v, nil
}

// mailLive answers the SMTP row's poll with its live parts: the recent
// mail, and the state and quota swapped in by id. A relay that is off has
// nothing live (204: htmx leaves the page as it is).
func (s *server) mailLive(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	v, err := s.mailFor(r.Context(), rc, svc, false)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if !v.Settings.Enabled {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	v.Live = true
	s.renderFragment(w, r, http.StatusOK, "service", "mail-live", v)
}

// rotateConfirm is the rotation's confirmation, in the modal and on its
// own page without JavaScript.
func (s *server) rotateConfirm(csrf, service string, st *rampart.MailSettings) confirmForm {
	return confirmForm{
		CSRF: csrf, ID: "mail-rotate", Action: mailPath(service, "credentials"),
		Title: "Make a new SMTP password for " + service + "?",
		Body: []string{
			"The current password stops working within seconds: " + service + " cannot send mail until you put the new one in its SMTP settings.",
			"The new password is shown once, on the next page.",
		},
		Submit: "Make a new password",
		Cancel: servicePath(service, "security") + "&open=smtp#smtp",
		Fields: []hiddenField{{"rotate", "on"}, {"set_at", setAtOf(st)}},
	}
}

// setAtOf is the time of the service's current password as the rotation
// form carries it; "" when there is none.
func setAtOf(st *rampart.MailSettings) string {
	if st.CredentialsSetAt == nil {
		return ""
	}
	return st.CredentialsSetAt.UTC().Format(time.RFC3339Nano)
}

func usageOf(st *rampart.MailSettings) mailUsage {
	u := mailUsage{Used: st.Used, Limit: st.PerHour, Level: "ok", ResumesAt: st.ResumesAt, Width: "0"}
	if u.Limit > 0 {
		pct := float64(u.Used) * 100 / float64(u.Limit)
		switch {
		case u.Used >= u.Limit:
			u.Level, pct = "full", 100
		case pct >= 80:
			u.Level = "high"
		}
		if u.Used > 0 && pct < 1 {
			pct = 1 // a sliver, so that "some" never looks like "none"
		}
		u.Width = strconv.FormatFloat(pct, 'f', 1, 64)
	}
	if st.ResumesAt != nil {
		u.Level = "full"
	}
	return u
}

func mailRowOf(m *rampart.MailMessage) mailLogRow {
	row := mailLogRow{At: m.At, Size: byteSize(m.Size), Status: m.Status, Badge: mailBadge(m.Status)}
	if m.Size == 0 && m.Status == rampart.MailRefused {
		row.Size = "—" // refused before the data: no size to tell
	}
	addrs := make([]string, len(m.Recipients))
	for i, r := range m.Recipients {
		addrs[i] = printable(r.Addr, 254)
	}
	const shown = 3
	row.To = addrs
	if len(addrs) > shown {
		row.To, row.More, row.ToAll = addrs[:shown], len(addrs)-shown, strings.Join(addrs, ", ")
	}
	if m.Reason != "" {
		row.Details = append(row.Details, detailOf(m.Reason))
	}
	// What the receiving servers said about recipients that did not get
	// it (yet): the first two, then how many more.
	var failed int
	for _, r := range m.Recipients {
		if r.Status != rampart.MailBounced && r.Status != rampart.MailDeferred || (r.Code == 0 && r.Reply == "") {
			continue
		}
		failed++
		if failed > 2 {
			continue
		}
		reply := strings.TrimSpace(strconv.Itoa(r.Code) + " " + r.Reply)
		if r.Code == 0 {
			reply = r.Reply
		}
		text := r.Addr + ": " + reply
		if len(m.Recipients) == 1 {
			text = reply
		}
		if m.Reason != "" && strings.Contains(m.Reason, r.Reply) && r.Reply != "" {
			continue // the reason already quotes it
		}
		row.Details = append(row.Details, detailOf(text))
	}
	if failed > 2 {
		row.Details = append(row.Details, mailDetail{Text: fmt.Sprintf("and %d more recipients", failed-2)})
	}
	return row
}

func detailOf(s string) mailDetail {
	d := mailDetail{Text: printable(s, mailTextMax)}
	if full := printable(s, 4*mailTextMax); full != d.Text {
		d.Full = full
	}
	return d
}

func mailBadge(st rampart.MailStatus) string {
	switch st {
	case rampart.MailSent:
		return "badge-ok"
	case rampart.MailDeferred:
		return "badge-warn"
	case rampart.MailBounced, rampart.MailRefused:
		return "badge-error"
	}
	return "badge-muted"
}

// printable makes text from outside (a tenant's addresses, a receiving
// server's reply) safe to show: html/template escapes markup, and this
// takes out what escaping leaves: control characters (a terminal escape
// sequence reads as \x1b[31m, visibly), bidirectional overrides that
// would reorder what is shown, and invalid UTF-8. Line breaks become
// spaces; the text is cut to max characters.
func printable(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n >= max {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			if r < utf8.RuneSelf {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		case unicode.Is(unicode.Bidi_Control, r), r == '\u2028', r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

func mailPath(service, what string) string {
	return "/services/" + url.PathEscape(service) + "/mail/" + what
}

// mailDone redirects to the open SMTP row with a flash.
func (s *server) mailDone(w http.ResponseWriter, r *http.Request, rc *reqCtx, svc *rampart.Service, msg string) {
	s.setFlash(w, rc.sess, "success", msg)
	http.Redirect(w, r, servicePath(svc.Name, "security")+"&open=smtp#smtp", http.StatusSeeOther)
}

// mailAdminOnly is what a member who posts to an admin route is told.
const mailAdminOnly = "Only an admin of this server can change a service's mail quota or suspend and resume its mail: they are the server's defence against spam, and they restrain the service's owner. Ask an admin if your service needs a higher quota."

// mailFailed answers an error of app.Mail. Errors about what was typed
// (edit, when not nil, puts them into the row) render the tab again with
// the row open; refusals and outages get a page of their own that says
// what happened, never a bare 500.
func (s *server) mailFailed(w http.ResponseWriter, r *http.Request, rc *reqCtx, svc *rampart.Service, err error, edit func(v *mailView, msg string)) {
	code := rampart.ErrorCode(err)
	switch {
	case code == rampart.EFORBIDDEN:
		s.showError(w, r, rc, http.StatusForbidden, "Not allowed", mailAdminOnly)
		return
	case code == rampart.EUNAVAILABLE:
		s.showError(w, r, rc, http.StatusServiceUnavailable, "The mail relay is off", rampart.ErrorMessage(err))
		return
	case code == rampart.EINTERNAL || code == rampart.EUNAUTHORIZED || code == rampart.ENOTFOUND || edit == nil:
		s.fail(w, r, rc, err)
		return
	}
	d, perr := s.servicePageFor(r, rc, svc, "security")
	if perr != nil {
		s.fail(w, r, rc, perr)
		return
	}
	if d.Mail != nil {
		d.Mail.Open = true
		edit(d.Mail, rampart.ErrorMessage(err))
	}
	status, _ := statusOf(code)
	s.render(w, r, status, "service", d)
}

// mailCredentials makes the service's SMTP password, or a new one with
// rotate=on, and shows it in this response only.
func (s *server) mailCredentials(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	rotate := r.PostFormValue("rotate") == "on"
	credErr := func(v *mailView, msg string) { v.CredErr = msg }
	before, err := s.app.Mail.Settings(r.Context(), rc.actor, svc.Name)
	if err != nil {
		s.mailFailed(w, r, rc, svc, err, nil)
		return
	}
	if !before.Enabled {
		// The login would work once the relay runs, but a password made
		// now could not be shown: the row shows nothing while it is off.
		s.mailFailed(w, r, rc, svc, rampart.Errorf(rampart.EUNAVAILABLE,
			"the mail relay does not run on this server, so no SMTP password was made: an admin sets mail.domain in the server's configuration and restarts rampart serve"), nil)
		return
	}
	if rotate && setAtOf(before) != r.PostFormValue("set_at") {
		// The form meant to replace an older password than the current
		// one: a resubmitted page, or two people at once. Making yet
		// another would silently break the one just handed out.
		msg := "The password was changed since this page was loaded"
		if before.CredentialsSetAt != nil {
			msg += " (at " + datetime(*before.CredentialsSetAt) + ")"
		}
		msg += ", so no new one was made. If you do not have the current password, make a new one below."
		s.mailFailed(w, r, rc, svc, rampart.Errorf(rampart.ECONFLICT, "%s", msg), credErr)
		return
	}
	creds, isNew, err := s.app.Mail.Credentials(r.Context(), rc.actor, svc.Name, rotate)
	if err != nil {
		s.mailFailed(w, r, rc, svc, err, credErr)
		return
	}
	d, err := s.servicePageFor(r, rc, svc, "security")
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if d.Mail != nil {
		d.Mail.Open = true
		if isNew {
			d.Mail.Created, d.Mail.Rotated = creds, before.CredentialsSetAt != nil
		} else {
			d.Mail.CredInfo = "This service already has an SMTP password, and rampart keeps only its hash, so it cannot be shown again. If you have lost it, make a new one."
		}
	}
	// Every page is no-store (headers.go); this one holds a secret, so
	// say it here too, whatever changes there.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "service", d)
}

// mailCredentialsGet answers a GET of the credentials URL (the address
// bar after a POST without JavaScript): the password is not shown again,
// so it leads to the row.
func (s *server) mailCredentialsGet(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	http.Redirect(w, r, servicePath(svc.Name, "security")+"&open=smtp#smtp", http.StatusSeeOther)
}

// mailRotatePage is the rotation's confirmation without JavaScript.
func (s *server) mailRotatePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	st, err := s.app.Mail.Settings(r.Context(), rc.actor, svc.Name)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := serviceConfirmPage{base: rc.base("New SMTP password for "+svc.Name, "services"), Service: svc, Crumb: "New SMTP password"}
	d.Form = s.rotateConfirm(d.CSRF, svc.Name, st)
	s.render(w, r, http.StatusOK, "service_confirm", d)
}

func (s *server) mailSuspend(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if err := s.app.Mail.Suspend(r.Context(), rc.actor, svc.Name, reason); err != nil {
		s.mailFailed(w, r, rc, svc, err, func(v *mailView, msg string) { v.Reason, v.ReasonErr = reason, msg })
		return
	}
	s.mailDone(w, r, rc, svc, "Mail of "+svc.Name+" is suspended: the relay refuses it until an admin resumes it. The owner sees the reason on this tab.")
}

func (s *server) mailResume(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	if err := s.app.Mail.Resume(r.Context(), rc.actor, svc.Name); err != nil {
		s.mailFailed(w, r, rc, svc, err, func(v *mailView, msg string) { v.AdminErr = msg })
		return
	}
	s.mailDone(w, r, rc, svc, "Mail of "+svc.Name+" is resumed, and its violations are forgotten: it can send again.")
}

func (s *server) mailQuota(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	typed := strings.TrimSpace(r.PostFormValue("per_hour"))
	quotaErr := func(v *mailView, msg string) { v.PerHour, v.PerHourErr = typed, msg }
	n, perr := strconv.Atoi(typed)
	if perr != nil || n < 0 {
		err := rampart.FieldError("per_hour", rampart.Errorf(rampart.EINVALID,
			"the quota must be a whole number of recipients per hour, %d to %d, or 0 for the default; got %q", rampart.MinMailPerHour, rampart.MaxMailPerHour, typed))
		if !rc.user.IsAdmin() {
			// The app would refuse a member anyway: say that, not this.
			err = rampart.Errorf(rampart.EFORBIDDEN, "admins only")
		}
		s.mailFailed(w, r, rc, svc, err, quotaErr)
		return
	}
	if err := s.app.Mail.SetQuota(r.Context(), rc.actor, svc.Name, n); err != nil {
		s.mailFailed(w, r, rc, svc, err, quotaErr)
		return
	}
	st, err := s.app.Mail.Settings(r.Context(), rc.actor, svc.Name)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	msg := fmt.Sprintf("%s may now send to %s per hour.", svc.Name, plural(st.PerHour, "recipient"))
	if st.PerHourDefault {
		msg = fmt.Sprintf("%s is back to the default quota: %s per hour.", svc.Name, plural(st.PerHour, "recipient"))
	}
	s.mailDone(w, r, rc, svc, msg)
}

// mailDNSView is the DNS records of the mail domain, for admins: the
// fragment the row loads when its details open, and a page of its own
// without JavaScript.
type mailDNSView struct {
	base
	Service *rampart.Service
	Records []mailDNSRecord
	// Err is why there are no records to show.
	Err string
}

type mailDNSRecord struct {
	rampart.MailDNSRecord
	Label string   // "DKIM", "SPF"
	Found []string // what DNS answers now, printable
	Error string
}

func (s *server) mailDNS(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	d := mailDNSView{base: rc.base("DNS records of the mail domain", "services"), Service: svc}
	recs, err := s.app.Mail.DNS(r.Context(), rc.actor)
	switch code := rampart.ErrorCode(err); {
	case err == nil:
		for _, rec := range recs {
			v := mailDNSRecord{MailDNSRecord: rec, Label: strings.ToUpper(rec.Purpose), Error: printable(rec.Error, 300)}
			for _, f := range rec.Found {
				v.Found = append(v.Found, printable(f, 600))
			}
			d.Records = append(d.Records, v)
		}
		slices.SortStableFunc(d.Records, func(a, b mailDNSRecord) int { return strings.Compare(a.Purpose, b.Purpose) })
	case code == rampart.EFORBIDDEN:
		s.showError(w, r, rc, http.StatusForbidden, "Not allowed", "Only an admin of this server sees the DNS records of the mail domain: they are the server's, not one service's.")
		return
	case code == rampart.EUNAUTHORIZED:
		s.fail(w, r, rc, err)
		return
	case code == rampart.EINTERNAL:
		// Gathering the records failed as a whole (the DKIM keys could not
		// be read): the details are the log's, the person learns where.
		s.log.Error("dashboard: mail DNS records", "err", err)
		d.Err = "The records could not be gathered. The details are in the server's log; try again in a moment."
	default:
		d.Err = rampart.ErrorMessage(err)
	}
	if r.Header.Get("HX-Request") == "true" {
		s.renderFragment(w, r, http.StatusOK, "mail_dns", "mail-dns", d)
		return
	}
	s.render(w, r, http.StatusOK, "mail_dns", d)
}

// hiddenField is a hidden input of a confirmation form.
type hiddenField struct{ Name, Value string }
