package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// state is what the store says of the named service's state.
func (e *env) state(name string) rampart.ServiceState {
	e.t.Helper()
	return e.stored(name).State
}

// createExec makes a service that rampart runs (runtime exec), owned by
// ownerEmail; only an admin may set a runtime, so the operator creates it.
func (e *env) createExec(ownerEmail, name string) *rampart.Service {
	e.t.Helper()
	svc, err := e.app.Services.Create(context.Background(), app.OperatorActor(), rampart.ServiceInput{
		Name: name, Owner: ownerEmail,
		Runtime: &rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/opt/app/${VERSION}/server", Port: 9100, Version: "1.0.0"},
	})
	if err != nil {
		e.t.Fatalf("create exec service %s: %v", name, err)
	}
	return svc
}

// backupsOf lists the named service's backups from the store.
func (e *env) backupsOf(name string) []*rampart.Backup {
	e.t.Helper()
	list, err := e.db.ListBackups(context.Background(), e.stored(name).ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// follow follows a redirect and returns the page it leads to.
func (b *browser) follow(res *response) *response {
	b.e.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("%s %s: status %d, want 303\n%s", res.Request.Method, res.Request.URL, res.StatusCode, res.Body)
	}
	return b.get(res.Header.Get("Location"))
}

var sixProtected = []string{"stop", "restart", "kill", "reset", "version", "delete"}

func TestLifecycleActions(t *testing.T) {
	e := newEnv(t)
	e.createExec(memberEmail, "app")
	b := e.browser()
	tok := b.login(memberEmail)

	page := b.get("/services/app")
	wantContains(t, page, `id="actions"`, `data-field="runtime">Runtime <span class="mono">exec</span> · version <span class="mono" data-field="version">1.0.0</span>`,
		`action="/services/app/start"`, `action="/services/app/stop"`, `action="/services/app/restart"`,
		`href="/services/app/kill" data-open-dialog="kill-dialog"`, `id="kill-dialog"`,
		`href="/services/app/reset" data-open-dialog="reset-dialog"`, `id="reset-dialog"`,
		`action="/services/app/version"`, `name="version" type="text" value="1.0.0"`,
		`data-open-dialog="delete-dialog" id="delete-button"`, `id="delete-dialog"`,
		`hx-get="/services/app/run-state" hx-trigger="every 3s"`, "Waiting for the runtime&#39;s first report")
	if strings.Contains(page.Body, " disabled") {
		t.Error("an action is disabled while protection is off")
	}

	// Without the session's CSRF token nothing happens.
	for _, p := range []string{"stop", "kill", "restart", "reset", "start", "version"} {
		for _, form := range []url.Values{{"version": {"9"}}, {"version": {"9"}, "csrf_token": {"forged"}}} {
			wantStatus(t, b.post("/services/app/"+p, form), http.StatusForbidden)
		}
	}
	if svc := e.stored("app"); svc.State != rampart.StateActive || svc.Generation != 0 || svc.Runtime.Version != "1.0.0" {
		t.Fatalf("a forged form changed the service: %+v", svc)
	}

	do := func(action string, form url.Values) *response {
		t.Helper()
		if form == nil {
			form = url.Values{}
		}
		form.Set("csrf_token", tok)
		res := b.post("/services/app/"+action, form)
		wantRedirect(t, res, "/services/app")
		return b.get("/services/app")
	}
	wantContains(t, do("stop", nil), "app is shut down: visitors get a 503 page until you start it again.")
	if got := e.state("app"); got != rampart.StateStopped {
		t.Errorf("after Shut down: %s", got)
	}
	wantContains(t, do("start", nil), "app is started: the edge routes it.")
	if got := e.state("app"); got != rampart.StateActive {
		t.Errorf("after Start: %s", got)
	}
	wantContains(t, do("restart", nil), "Rebooting app")
	if g := e.stored("app").Generation; g != 1 {
		t.Errorf("after Reboot: generation %d, want 1", g)
	}
	wantContains(t, do("kill", nil), "Powered off app: its process was killed and it stays stopped.")
	if got := e.state("app"); got != rampart.StateStopped {
		t.Errorf("after Power off: %s", got)
	}
	wantContains(t, do("reset", nil), "Reinstalled app", "pre-reset backup")
	if svc := e.stored("app"); svc.State != rampart.StateActive || svc.Generation != 2 {
		t.Errorf("after Reinstall: %s, generation %d: want active, 2", svc.State, svc.Generation)
	}
	if list := e.backupsOf("app"); len(list) != 1 || list[0].Kind != rampart.BackupPreReset {
		t.Errorf("after Reinstall the backups are %+v, want one pre-reset", list)
	}
	wantContains(t, do("version", url.Values{"version": {" 2.0.0 "}}), "Changed the software version of app to 2.0.0", `value="2.0.0"`)
	if v := e.stored("app").Runtime.Version; v != "2.0.0" {
		t.Errorf("version %q, want 2.0.0", v)
	}
	// An error of the service layer is a flash; nothing changes.
	page = do("version", url.Values{"version": {"  "}})
	wantContains(t, page, `class="flash flash-error"`, "give the version to run")

	evs, err := e.app.Audit.List(context.Background(), app.OperatorActor(), rampart.AuditFilter{Service: "app"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, " "); got != "service.set-version service.reset service.kill service.restart service.start service.stop service.create" {
		t.Errorf("audit: %s", got)
	}
}

func TestLifecycleActionsProtected(t *testing.T) {
	e := newEnv(t)
	e.createExec(memberEmail, "app")
	b := e.browser()
	tok := b.login(memberEmail)
	wantRedirect(t, b.post("/services/app/termination-protection", url.Values{"csrf_token": {tok}, "enabled": {"on"}}), "/services/app")

	page := b.get("/services/app")
	for id, verb := range map[string]string{"stop": "shut down", "restart": "reboot", "kill": "power off", "reset": "reinstall", "delete": "delete"} {
		wantContains(t, page, `disabled aria-describedby="`+id+`-blocked" id="`+id+`-button"`,
			`id="`+id+`-blocked">Termination protection is on: turn it off to `+verb+` app.</p>`)
	}
	wantContains(t, page, `id="version-button" disabled`, "Termination protection is on: turn it off to change the software version of app.")
	// Start stays; the protected actions' modals are not on the page.
	wantContains(t, page, `<button type="submit" class="btn" id="start-button">Start</button>`)
	for _, dialog := range []string{"kill-dialog", "reset-dialog", "delete-dialog"} {
		if strings.Contains(page.Body, `id="`+dialog+`"`) {
			t.Errorf("%s is on the page while protection is on", dialog)
		}
	}
	// The pages without JavaScript say why and refuse too.
	for _, p := range []string{"kill", "reset"} {
		wantContains(t, b.get("/services/app/"+p), `id="`+p+`-confirm-blocked"`, `disabled aria-describedby="`+p+`-confirm-blocked"`)
	}

	// Posted anyway: refused with the service layer's message, as a flash.
	before := e.stored("app")
	for _, p := range sixProtected {
		res := b.post("/services/app/"+p, url.Values{"csrf_token": {tok}, "version": {"2.0.0"}, "confirm": {"app"}})
		if p == "delete" {
			// The delete form shows its own error beside the field.
			wantStatus(t, res, http.StatusConflict)
			wantContains(t, res, "app has termination protection on: turn it off first")
			continue
		}
		wantContains(t, b.follow(res), `class="flash flash-error"`, "app has termination protection on: turn it off first")
	}
	after := e.stored("app")
	if after.State != before.State || after.Generation != before.Generation || after.Runtime.Version != before.Runtime.Version {
		t.Errorf("a protected service changed: %+v, was %+v", after, before)
	}
	if n := len(e.backupsOf("app")); n != 0 {
		t.Errorf("%d backups taken by refused actions", n)
	}
	// Start is not protected.
	wantContains(t, b.follow(b.post("/services/app/start", url.Values{"csrf_token": {tok}})), "app is started")
}

func TestLifecycleOthersService(t *testing.T) {
	e := newEnv(t)
	e.createExec(memberEmail, "bobs")
	if _, err := e.app.Services.CreateBackup(context.Background(), app.OperatorActor(), "bobs"); err != nil {
		t.Fatal(err)
	}
	id := e.backupsOf("bobs")[0].ID
	b := e.browser()
	tok := b.login(otherEmail)
	for _, p := range []string{"start", "stop", "restart", "kill", "reset", "version", "restore", "backups", "backups/" + itoa(id) + "/restore"} {
		res := b.post("/services/bobs/"+p, url.Values{"csrf_token": {tok}, "version": {"6.6.6"}})
		wantStatus(t, res, http.StatusNotFound)
	}
	for _, p := range []string{"kill", "reset", "run-state", "?tab=backups", "backups/" + itoa(id) + "/download", "backups/" + itoa(id) + "/restore"} {
		path := "/services/bobs/" + p
		if strings.HasPrefix(p, "?") {
			path = "/services/bobs" + p
		}
		res := b.get(path)
		wantStatus(t, res, http.StatusNotFound)
	}
	if svc := e.stored("bobs"); svc.State != rampart.StateActive || svc.Generation != 0 || svc.Runtime.Version != "1.0.0" {
		t.Errorf("carol changed bob's service: %+v", svc)
	}
	if n := len(e.backupsOf("bobs")); n != 1 {
		t.Errorf("bob's service has %d backups, want the one", n)
	}
}

func TestLifecycleProxyService(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)
	page := b.get("/services/blog")
	wantContains(t, page, `id="proxy-note"`, "rampart does not run this service (runtime proxy)",
		`id="start-button"`, `id="stop-button"`, `id="delete-button"`, "Routed to its upstream")
	for _, gone := range []string{`id="restart-button"`, `id="kill-button"`, `id="reset-button"`, `id="version-form"`, "hx-trigger"} {
		if strings.Contains(page.Body, gone) {
			t.Errorf("a proxy service's Overview has %s", gone)
		}
	}
	// Posted anyway: the service layer's refusal, as a flash.
	wantContains(t, b.follow(b.post("/services/blog/restart", url.Values{"csrf_token": {tok}})), `class="flash flash-error"`, "runs elsewhere (runtime proxy)")
	wantContains(t, b.follow(b.post("/services/blog/stop", url.Values{"csrf_token": {tok}})), "blog is shut down", "Stopped: not routed")
}

func itoa(n int64) string { return formatID(n) }

func TestRunStateWords(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	exec := rampart.Runtime{Kind: rampart.RuntimeExec, Command: "x", Port: 1}
	for _, tc := range []struct {
		run   *rampart.RunState
		state rampart.ServiceState
		want  string
		kind  string
	}{
		{&rampart.RunState{State: "running", PID: 4242, Since: time.Now().Add(-3 * time.Minute)}, rampart.StateActive, "Running since 3 minutes ago (pid 4242)", "ok"},
		{&rampart.RunState{State: "crash-looping", LastExit: "exit status 1", Restarts: 3, NextStart: now.Add(8 * time.Second)}, rampart.StateActive, "Crash-looping: exit status 1, 3 restarts, next try in 8s", "error"},
		{&rampart.RunState{State: "stopped"}, rampart.StateStopped, "Stopped", "muted"},
		{&rampart.RunState{State: "failed", Message: "exec: /opt/app/1.0/server: no such file"}, rampart.StateActive, "Failed: exec: /opt/app/1.0/server: no such file", "error"},
		{nil, rampart.StateStopped, "Stopped", "muted"},
		{nil, rampart.StateActive, "Waiting for the runtime's first report", "muted"},
	} {
		got := runStateOf(&rampart.Service{Name: "app", State: tc.state, Runtime: exec, Run: tc.run}, now)
		if got.Text != tc.want || got.Kind != tc.kind || !got.Poll {
			t.Errorf("%+v: %q (%s, poll %v), want %q (%s, poll)", tc.run, got.Text, got.Kind, got.Poll, tc.want, tc.kind)
		}
	}
	for d, want := range map[time.Duration]string{
		7*24*time.Hour - time.Minute: "6 days 23 hours", 7 * 24 * time.Hour: "7 days", 90 * time.Minute: "1 hour 30 minutes",
		5 * time.Minute: "5 minutes", 10 * time.Second: "less than a minute", -time.Second: "no time",
	} {
		if got := timeLeft(now.Add(d), now); got != want {
			t.Errorf("timeLeft(%s) = %q, want %q", d, got, want)
		}
	}
	for n, want := range map[int64]string{1: "1 byte", 812: "812 bytes", 4200: "4.2 kB", 1_300_000: "1.3 MB", 2_500_000_000: "2.5 GB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRunStateFragment(t *testing.T) {
	e := newEnv(t)
	svc := e.createExec(memberEmail, "app")
	if err := e.db.SetServiceRunState(context.Background(), svc.ID, &rampart.RunState{
		State: "crash-looping", LastExit: "exit status 1", Restarts: 3, NextStart: time.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login(memberEmail)
	res := b.do("GET", "/services/app/run-state", nil, http.Header{"HX-Request": {"true"}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="run-state" data-kind="error" hx-get="/services/app/run-state"`, "Crash-looping: exit status 1, 3 restarts, next try in")
	if strings.Contains(res.Body, "<html") {
		t.Error("the fragment has the layout")
	}
	wantContains(t, b.get("/services/app"), "Crash-looping: exit status 1, 3 restarts")
}

var backupRowRE = regexp.MustCompile(`<tr id="backup-(\d+)" data-backup="\d+">`)

func TestBackupsTab(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	page := b.get("/services/blog?tab=backups")
	wantContains(t, page, `id="backups-empty"`, "rampart backs up every service daily, and before every delete and reinstall",
		"Where backups are stored is a setting of this server", `id="backup-now"`)

	wantStatus(t, b.post("/services/blog/backups", url.Values{}), http.StatusForbidden)
	if n := len(e.backupsOf("blog")); n != 0 {
		t.Fatalf("%d backups after a forged form", n)
	}
	res := b.post("/services/blog/backups", url.Values{"csrf_token": {tok}})
	wantRedirect(t, res, "/services/blog?tab=backups")
	page = b.get(res.Header.Get("Location"))
	list := e.backupsOf("blog")
	if len(list) != 1 || list[0].Kind != rampart.BackupManual {
		t.Fatalf("backups %+v, want one manual", list)
	}
	bk := list[0]
	id := itoa(bk.ID)
	wantContains(t, page, "Backed up blog: "+byteSize(bk.Size), `data-kind="manual">Manual<`,
		`data-field="backup-size">`+byteSize(bk.Size)+`<`, `data-field="backup-files">`+itoa(int64(bk.Files))+`<`,
		`title="SHA-256 `+bk.SHA256+`" data-field="backup-sum">`+bk.SHA256[:12]+`<`,
		`href="/services/blog/backups/`+id+`/download"`, `data-fill-action="/services/blog/backups/`+id+`/restore"`,
		`id="restore-dialog"`, "The current data is backed up first (pre-restore) and replaced by this backup&#39;s.")
	if m := backupRowRE.FindAllStringSubmatch(page.Body, -1); len(m) != 1 || m[0][1] != id {
		t.Errorf("rows %v, want backup %s", m, id)
	}

	// The download is the stored archive, byte for byte.
	res = b.get("/services/blog/backups/" + id + "/download")
	wantStatus(t, res, http.StatusOK)
	if ct, cd := res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"); ct != "application/zstd" ||
		!strings.HasPrefix(cd, `attachment; filename="blog-`) || !strings.HasSuffix(cd, `-manual.tar.zst"`) {
		t.Errorf("download: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	r, err := e.backups.Get(context.Background(), bk.Key)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.Body != string(stored) || int64(len(stored)) != bk.Size {
		t.Errorf("downloaded %d bytes, the store holds %d (recorded size %d)", len(res.Body), len(stored), bk.Size)
	}
	wantStatus(t, b.get("/services/blog/backups/999/download"), http.StatusNotFound)
	wantStatus(t, b.get("/services/blog/backups/nope/download"), http.StatusNotFound)

	// Restoring over the live data keeps that data in a pre-restore backup.
	wantContains(t, b.get("/services/blog/backups/"+id+"/restore"), `action="/services/blog/backups/`+id+`/restore"`, "Restore this backup")
	wantStatus(t, b.post("/services/blog/backups/"+id+"/restore", url.Values{}), http.StatusForbidden)
	res = b.post("/services/blog/backups/"+id+"/restore", url.Values{"csrf_token": {tok}})
	wantContains(t, b.follow(res), "Restored blog from backup "+id, `data-kind="pre-restore"`)
	if list := e.backupsOf("blog"); len(list) != 2 || list[0].Kind != rampart.BackupPreRestore {
		t.Errorf("after the restore: %+v, want a pre-restore backup first", list)
	}
}

// TestRestoreDeleted: a deleted service is listed for its owner (and
// admins) with the time left, and comes back with Restore.
func TestRestoreDeleted(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)
	wantRedirect(t, b.post("/services/blog/delete", url.Values{"csrf_token": {tok}, "confirm": {"blog"}}), "/")
	if list := e.backupsOf("blog"); len(list) != 1 || list[0].Kind != rampart.BackupFinal {
		t.Fatalf("backups after delete: %+v, want the final one", list)
	}
	wantContains(t, b.get("/"), `data-deleted-service="blog"`, "Restorable for 6 days 23 hours")

	// Others do not see it; admins do.
	c := e.browser()
	ctok := c.login(otherEmail)
	if strings.Contains(c.get("/").Body, "blog") {
		t.Error("carol sees bob's deleted service")
	}
	wantStatus(t, c.post("/services/blog/restore", url.Values{"csrf_token": {ctok}}), http.StatusNotFound)
	a := e.browser()
	a.login(adminEmail)
	wantContains(t, a.get("/"), `data-deleted-service="blog"`, memberEmail)

	// Actions other than restore are refused with the service layer's word.
	wantContains(t, b.follow(b.post("/services/blog/stop", url.Values{"csrf_token": {tok}})), `class="flash flash-error"`, "is deleted: restore it first")
	// The Backups tab of a deleted service lists its final backup, and
	// cannot take new ones.
	wantContains(t, b.get("/services/blog?tab=backups"), `data-kind="final"`, `id="backup-now" disabled`)

	wantStatus(t, b.post("/services/blog/restore", url.Values{}), http.StatusForbidden)
	res := b.post("/services/blog/restore", url.Values{"csrf_token": {tok}})
	wantRedirect(t, res, "/services/blog")
	wantContains(t, b.get("/services/blog"), "Restored blog with the data of its final backup.", `id="actions"`)
	if got := e.state("blog"); got != rampart.StateActive {
		t.Errorf("after the restore: %s", got)
	}
	if strings.Contains(b.get("/").Body, `id="deleted-services"`) {
		t.Error("the restored service is still listed as deleted")
	}
}

// TestRestoreDeletedFromBackup: a deleted service can also come back from
// a backup chosen on its Backups tab.
func TestRestoreDeletedFromBackup(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)
	wantRedirect(t, b.post("/services/blog/backups", url.Values{"csrf_token": {tok}}), "/services/blog?tab=backups")
	manual := e.backupsOf("blog")[0]
	wantRedirect(t, b.post("/services/blog/delete", url.Values{"csrf_token": {tok}, "confirm": {"blog"}}), "/")
	wantContains(t, b.get("/services/blog/backups/"+itoa(manual.ID)+"/restore"), "The service comes back with this backup&#39;s data")
	res := b.post("/services/blog/backups/"+itoa(manual.ID)+"/restore", url.Values{"csrf_token": {tok}})
	wantRedirect(t, res, "/services/blog?tab=backups")
	if got := e.state("blog"); got != rampart.StateActive {
		t.Errorf("after the restore: %s", got)
	}
}
