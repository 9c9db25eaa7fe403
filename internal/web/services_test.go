package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

func TestCreateServiceForm(t *testing.T) {
	e := newEnv(t)
	e.createService(otherEmail, "taken")
	b := e.browser()
	tok := b.login(memberEmail)

	wantContains(t, b.get("/new"), `name="name"`, `name="upstream"`)

	for _, tc := range []struct {
		name, upstream string
		field          string // the id of the error element
		msg            string // part of the app's message
	}{
		{"Bad_Name", "http://127.0.0.1:8080", "name-err", "upper-case"},
		{"", "http://127.0.0.1:8080", "name-err", "service name is required"},
		{"taken", "http://127.0.0.1:8080", "name-err", "already exists"},
		{"good", "ftp://127.0.0.1", "upstream-err", "must start with http:// or https://"},
		{"good", "", "upstream-err", "upstream URL is empty"},
	} {
		res := b.post("/new", url.Values{"csrf_token": {tok}, "name": {tc.name}, "upstream": {tc.upstream}})
		if res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusConflict {
			t.Errorf("name %q upstream %q: status %d, want 422 or 409", tc.name, tc.upstream, res.StatusCode)
		}
		wantContains(t, res, `id="`+tc.field+`"`, tc.msg)
		// What was typed is still in the form.
		wantContains(t, res, `name="name" value="`+tc.name+`"`, `value="`+tc.upstream+`"`)
	}
	if e.serviceExists("good") || e.serviceExists("Bad_Name") {
		t.Fatal("an invalid form created a service")
	}

	// Members cannot hand services to others: the field is not even read.
	res := b.post("/new", url.Values{"csrf_token": {tok}, "name": {"shop"}, "upstream": {" http://10.0.0.5:3000 "}, "owner": {adminEmail}})
	wantRedirect(t, res, "/services/shop")
	svc, err := e.db.ServiceByName(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if svc.OwnerID != e.users[memberEmail].ID || svc.Upstreams[0] != "http://10.0.0.5:3000" {
		t.Errorf("created %+v: want owner bob and trimmed upstream", svc)
	}
	page := b.get("/services/shop")
	wantContains(t, page, "Service shop created.")
	if strings.Contains(b.get("/services/shop").Body, "Service shop created.") {
		t.Error("flash message shown twice")
	}
}

func TestAdminCreatesForOthers(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	tok := b.login(adminEmail)
	res := b.post("/new", url.Values{"csrf_token": {tok}, "name": {"x"}, "upstream": {"http://127.0.0.1:1"}, "owner": {"ghost@example.com"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="owner-err"`, "has no account")
	res = b.post("/new", url.Values{"csrf_token": {tok}, "name": {"x"}, "upstream": {"http://127.0.0.1:1"}, "owner": {memberEmail}})
	wantRedirect(t, res, "/services/x")
	list := b.get("/")
	wantContains(t, list, `data-service="x"`, memberEmail, ">Owner</th>")
}

func TestServiceOverview(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)

	list := b.get("/")
	wantContains(t, list, `href="/services/blog"`, "blog."+testDomain, "http://127.0.0.1:9000", "Active")
	if strings.Contains(list.Body, ">Owner</th>") {
		t.Error("members see an Owner column")
	}

	res := b.get("/services/blog")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res,
		`data-field="hostname">blog.`+testDomain+`<`,
		`data-copy="blog.`+testDomain+`"`,
		`data-field="node-ip">203.0.113.7<`, `data-copy="203.0.113.7"`,
		`data-field="node-ip">2001:db8::7<`, ">AAAA<",
		`data-field="upstream">http://127.0.0.1:9000<`,
		`data-field="owner">`+memberEmail+`<`,
		"service.create", `id="delete-dialog"`,
	)

	for tab, want := range map[string]string{
		"security": "Rate Limiter", "logs": "No edge runs in this process", "backups": "No backups yet",
	} {
		res := b.get("/services/blog?tab=" + tab)
		wantStatus(t, res, http.StatusOK)
		wantContains(t, res, want, `data-tab="`+tab+`" aria-current="page"`)
	}
	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, "SSL/TLS", "Firewall", "An admin of this server manages the firewall", "Output Cache", "Manage SSH Keys", "Show Options")
	if strings.Contains(sec.Body, "Coming soon") {
		t.Error("the Security tab still has a Coming soon row")
	}
	wantContains(t, b.get("/services/blog?tab=nonsense"), `data-tab="overview" aria-current="page"`)
}

// TestServiceOverviewPrivateUpstreams: the overview says when an admin let
// the service use networks members may not.
func TestServiceOverviewPrivateUpstreams(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)
	if res := b.get("/services/blog"); strings.Contains(res.Body, `data-field="private-upstreams"`) {
		t.Error("the overview mentions private upstreams of a service without the override")
	}
	yes := true
	if _, err := e.app.Services.Update(context.Background(), app.OperatorActor(), rampart.ServiceUpdate{Name: "blog", AllowPrivateUpstreams: &yes}); err != nil {
		t.Fatal(err)
	}
	wantContains(t, b.get("/services/blog"), `data-field="private-upstreams">Private networks allowed by an admin<`)
}

func TestDeleteService(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	// The page that works without JavaScript.
	wantContains(t, b.get("/services/blog/delete"), `data-confirm-match="blog"`)

	res := b.post("/services/blog/delete", url.Values{"csrf_token": {tok}, "confirm": {"blo"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "exactly to confirm")
	if !e.serviceExists("blog") {
		t.Fatal("deleted without the right confirmation")
	}

	res = b.post("/services/blog/delete", url.Values{"csrf_token": {tok}, "confirm": {"blog"}})
	wantRedirect(t, res, "/")
	if e.state("blog") != rampart.StateDeleted {
		t.Fatal("service is not deleted")
	}
	// It waits out its grace period under Deleted services, restorable.
	list := b.get("/")
	wantContains(t, list, "Service blog deleted. A final backup was taken: you can restore it, with its data, under Deleted services until ",
		"No services yet", `id="deleted-services"`, `data-deleted-service="blog"`, "Restorable for 6 days 23 hours", `action="/services/blog/restore"`)
	page := b.get("/services/blog")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, `id="deleted-banner"`, "It can be restored, with the data of its final backup, for 6 days 23 hours")
	if strings.Contains(page.Body, `id="actions"`) || strings.Contains(page.Body, `id="termination-protection"`) {
		t.Error("a deleted service's page offers actions other than Restore")
	}

	evs, err := e.app.Audit.List(context.Background(), app.OperatorActor(), rampart.AuditFilter{Service: "blog"})
	if err != nil || len(evs) == 0 || evs[0].Action != "service.delete" || evs[0].IP != "192.0.2.10" {
		t.Errorf("audit after delete: %+v, %v: want service.delete from the client IP", evs, err)
	}
}

func TestMemberCannotReachOthersServices(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "bobs")
	b := e.browser()
	tok := b.login(otherEmail)

	if strings.Contains(b.get("/").Body, "bobs") {
		t.Error("carol's list shows bob's service")
	}
	for _, p := range []string{"/services/bobs", "/services/bobs?tab=security", "/services/bobs/delete"} {
		res := b.get(p)
		wantStatus(t, res, http.StatusNotFound)
		if strings.Contains(res.Body, "127.0.0.1:9000") {
			t.Errorf("GET %s leaks bob's upstream", p)
		}
	}
	// The same 404 as for a name that does not exist, whatever is typed.
	for _, confirm := range []string{"bobs", "wrong"} {
		res := b.post("/services/bobs/delete", url.Values{"csrf_token": {tok}, "confirm": {confirm}})
		wantStatus(t, res, http.StatusNotFound)
	}
	if !e.serviceExists("bobs") {
		t.Fatal("carol deleted bob's service")
	}
	if strings.Contains(b.get("/audit").Body, "bobs") {
		t.Error("carol's audit log shows bob's service")
	}

	// Admins see and reach it.
	a := e.browser()
	a.login(adminEmail)
	wantStatus(t, a.get("/services/bobs"), http.StatusOK)
	wantContains(t, a.get("/audit"), "bobs", "service.create")
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	check := func(res *response) {
		t.Helper()
		for k, want := range map[string]string{
			"X-Frame-Options":        "DENY",
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
		} {
			if got := res.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", res.Request.URL, k, got, want)
			}
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: CSP %q lacks %q", res.Request.URL, csp, d)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe: %q", res.Request.URL, csp)
		}
	}
	login := b.get("/login")
	check(login)
	check(b.get("/nope"))
	b.login(adminEmail)
	home := b.get("/")
	check(home)
	if home.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("pages: Cache-Control %q, want no-store", home.Header.Get("Cache-Control"))
	}
	// No inline script anywhere: every <script> has a src.
	for _, page := range []string{login.Body, home.Body} {
		if strings.Count(page, "<script") != strings.Count(page, "<script src=") {
			t.Error("a page has an inline <script>")
		}
		if strings.Contains(page, " style=") || strings.Contains(page, " onclick=") {
			t.Error("a page has an inline style or event handler attribute")
		}
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t)
	as, err := loadAssets()
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	for _, name := range []string{"app.css", "app.js", "htmx.min.js", "favicon.svg"} {
		u, err := as.url(name)
		if err != nil {
			t.Fatal(err)
		}
		res := b.get(u)
		wantStatus(t, res, http.StatusOK)
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q, want immutable", u, cc)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", u)
		}
		// The login page, served to anyone, must reference this exact URL
		// for the CSS and scripts.
		if name != "favicon.svg" && !strings.Contains(b.get("/login").Body, u) {
			t.Errorf("login page does not link %s", u)
		}
	}
	js, _ := as.url("htmx.min.js")
	res := b.do("GET", js, nil, http.Header{"Accept-Encoding": {"gzip, br"}})
	if res.Header.Get("Content-Encoding") != "gzip" || len(res.Body) > 25000 {
		t.Errorf("htmx.min.js: Content-Encoding %q, %d bytes: want gzip", res.Header.Get("Content-Encoding"), len(res.Body))
	}
	// An outdated version still gets the file, but not a cacheable one.
	res = b.get("/static/000000000000/app.css")
	wantStatus(t, res, http.StatusOK)
	if res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("stale version: Cache-Control %q, want no-cache", res.Header.Get("Cache-Control"))
	}
	wantStatus(t, b.get("/static/x/README.md"), http.StatusNotFound)
	wantStatus(t, b.get("/static/x/htmx.LICENSE"), http.StatusNotFound)
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	res := b.get("/")
	wantStatus(t, res, http.StatusInternalServerError)
	wantContains(t, res, "Something went wrong")
	if strings.Contains(strings.ToLower(res.Body), "sql") || strings.Contains(res.Body, "closed") {
		t.Errorf("internal details leaked to the page:\n%s", res.Body)
	}
	if !strings.Contains(e.logs.String(), "dashboard request failed") {
		t.Error("internal error was not logged")
	}
}

func TestForgedFlashIsIgnored(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	b.cookies[flashCookie] = &http.Cookie{Name: flashCookie, Value: "c3VjY2VzcwpQaGlzaGluZw.bad"} // "success\nPhishing"
	res := b.get("/")
	if strings.Contains(res.Body, "Phishing") {
		t.Error("an unsigned flash cookie was displayed")
	}
}

func TestAuditPaging(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminEmail)
	for i := 0; i < auditPageSize+5; i++ {
		err := e.db.AddAudit(context.Background(), &rampart.AuditEvent{Actor: "operator", Action: "test.event"})
		if err != nil {
			t.Fatal(err)
		}
	}
	page := b.get("/audit")
	wantContains(t, page, "test.event", "/audit?before=")
	wantStatus(t, b.get("/audit?before=nope"), http.StatusBadRequest)
}

// TestFormsShowEveryFieldError: a form with several bad fields shows each
// field's own message beside it, all at once.
func TestFormsShowEveryFieldError(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	res := b.post("/new", url.Values{"csrf_token": {tok}, "name": {"My Blog!"}, "upstream": {"ftp://127.0.0.1"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantFieldError(t, res.Body, "name-err", `service name &#34;My Blog!&#34; has upper-case letters: use &#34;my-blog&#34;`)
	wantFieldError(t, res.Body, "upstream-err", `upstream &#34;ftp://127.0.0.1&#34; must start with http:// or https://`)
	// The first field at fault has the focus; a second autofocus is void.
	if n := strings.Count(res.Body, " autofocus"); n != 1 {
		t.Errorf("%d autofocus attributes, want 1", n)
	}

	for _, tc := range []struct {
		name, requests, per, allow string
		want                       map[string]string // error element id → part of its message
	}{
		{"two bad", "0", "minute", "192.0.2.1\nnot-an-ip", map[string]string{
			"rl-requests-err": "requests must be between 1 and 1000000, got 0",
			"rl-allow-err":    `allow-list entry &#34;not-an-ip&#34; is not an IP address`,
		}},
		{"not a number and two bad", "lots", "hour", "10.0.0.300", map[string]string{
			"rl-requests-err": "requests must be a whole number",
			"rl-per-err":      `per must be &#34;second&#34; or &#34;minute&#34;, got &#34;hour&#34;`,
			"rl-allow-err":    `allow-list entry &#34;10.0.0.300&#34; is not an IP address`,
		}},
	} {
		res := b.post("/services/blog/ratelimit", url.Values{"csrf_token": {tok}, "enabled": {"on"},
			"requests": {tc.requests}, "per": {tc.per}, "allow": {tc.allow}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		for id, msg := range tc.want {
			wantFieldError(t, res.Body, id, msg)
		}
	}

	res = b.post("/services/blog/cache", url.Values{"csrf_token": {tok}, "enabled": {"on"}, "ttl": {"0s"}, "stale_if_error": {"-1s"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantFieldError(t, res.Body, "cache-ttl-err", "ttl must be between")
	wantFieldError(t, res.Body, "cache-stale-err", "stale_if_error must be between")
}

// wantFieldError checks that the page has the error element id, holding
// msg.
func wantFieldError(t *testing.T, body, id, msg string) {
	t.Helper()
	m := regexp.MustCompile(`<p class="field-error" id="` + regexp.QuoteMeta(id) + `">([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		t.Errorf("no error element %q on the page", id)
		return
	}
	if !strings.Contains(m[1], msg) {
		t.Errorf("%s says %q, want it to contain %q", id, m[1], msg)
	}
}
