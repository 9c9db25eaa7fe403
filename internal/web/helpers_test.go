package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/auth/sealed"
	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/lifecycle"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
	"github.com/rampart-dev/rampart/internal/store/sqlite/sqlitetest"
)

const (
	testDomain   = "apps.example.net"
	testPassword = "correct horse battery"
	adminEmail   = "alice@example.com"
	memberEmail  = "bob@example.com"
	otherEmail   = "carol@example.com"
)

var testNodeIPs = []string{"203.0.113.7", "2001:db8::7"}

// env is a dashboard on a real SQLite store with three accounts: an admin
// (alice) and two members (bob, carol).
type env struct {
	t     *testing.T
	db    *sqlite.DB
	app   *app.App
	h     http.Handler
	users map[string]*rampart.User
	logs  *logBuf
	mail  *mailertest.Outbox
	// The lifecycle behind delete, reset, restore and backups, and its
	// backup store.
	lifecycle *lifecycle.Manager
	backups   *backup.Local
}

// logBuf collects the server's log for assertions; slog may write from
// several goroutines.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// edge is what the process running an edge hands the app and the
// dashboard; the zero value is a process without one.
type edge struct {
	purge func(serviceID int64) int
	stats func(serviceID int64) rampart.TrafficStats
	// checkDNS runs a custom domain's DNS check (app.Options.DNS).
	checkDNS func(ctx context.Context, d *rampart.Domain) rampart.DNSCheck
	// logs is the edge's request log (app.Options.Logs): the test
	// publishes requests into it.
	logs *logtail.Log
	// httpPort is the edge's HTTP port (Config.EdgeHTTPPort).
	httpPort int
	// firewall is app.Options.Firewall: Enforce on makes changes to SSH
	// open confirm windows (no reconciler runs: the host is untouched).
	firewall app.FirewallOptions
	// mailDomain and mailRelay are app.Options.MailDomain and MailRelay:
	// the SMTP relay of the process (mail_test.go has a fake).
	mailDomain string
	mailRelay  app.MailRelay
	// now is the app's clock (app.Options.Now); nil: the wall clock.
	now func() time.Time
}

// testFirstAdmin is Config.FirstAdminCommand in tests.
const testFirstAdmin = "rampart user create --data /var/lib/rampart --email you@example.com --admin"

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, edge{}) }

// newEnvWith is newEnv in a process that runs the edge ed.
func newEnvWith(t *testing.T, ed edge) *env {
	t.Helper()
	return newEnvAccounts(t, ed, map[string]rampart.Role{adminEmail: rampart.RoleAdmin, memberEmail: rampart.RoleMember, otherEmail: rampart.RoleMember})
}

// newEnvAccounts is newEnvWith with the given accounts: none is a fresh
// server.
func newEnvAccounts(t *testing.T, ed edge, accounts map[string]rampart.Role) *env {
	t.Helper()
	db := sqlitetest.Open(t)
	logs := &logBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	// The operator allows loopback upstreams (as a single-owner host
	// would): the tests point members' services at loopback addresses.
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	box, err := sealed.LoadOrCreateKey(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	mail := &mailertest.Outbox{}
	opts := app.Options{Logger: log, PlatformDomain: testDomain, CheckKeyPair: dataplane.CheckKeyPair,
		Logs: dataplane.Logs(ed.logs), LogHeartbeat: 200 * time.Millisecond, Upstreams: egress.New(nets),
		Mailer: mail, Secrets: box, Firewall: ed.firewall, PublicURL: "https://rampart.example.net",
		MailDomain: ed.mailDomain, MailRelay: ed.mailRelay, Now: ed.now}
	if ed.purge != nil {
		opts.Cache = app.PurgeFunc(ed.purge)
	}
	if ed.checkDNS != nil {
		opts.DNS = app.DNSCheckFunc(ed.checkDNS)
	}
	// A real lifecycle, so that delete, reset, restore and the Backups tab
	// work. No Runner: nothing runs, as for proxy services.
	backups, err := backup.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lc := &lifecycle.Manager{Store: db, Backups: backups, Root: t.TempDir(), Log: log}
	opts.Lifecycle = lc
	a := app.New(db, opts)
	e := &env{t: t, db: db, app: a, users: map[string]*rampart.User{}, logs: logs, mail: mail, lifecycle: lc, backups: backups}
	for email, role := range accounts {
		u, err := a.Accounts.Create(context.Background(), app.OperatorActor(), rampart.UserInput{Email: email, Password: testPassword, Role: role})
		if err != nil {
			t.Fatalf("create user %s: %v", email, err)
		}
		e.users[email] = u
	}
	h, err := New(a, Config{PlatformDomain: testDomain, NodeIPs: testNodeIPs, Logger: log, Stats: ed.stats,
		EdgeHTTPPort: ed.httpPort, FirstAdminCommand: testFirstAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// createService makes a service directly through the service layer.
func (e *env) createService(ownerEmail, name string) *rampart.Service {
	e.t.Helper()
	svc, err := e.app.Services.Create(context.Background(), app.UserActor(e.users[ownerEmail], "192.0.2.1"), rampart.ServiceInput{Name: name, Upstreams: []string{"http://127.0.0.1:9000"}})
	if err != nil {
		e.t.Fatalf("create service %s: %v", name, err)
	}
	return svc
}

// serviceExists asks the store, not the dashboard, whether name exists
// and is not deleted (a deleted service waits out its grace period in the
// store).
func (e *env) serviceExists(name string) bool {
	e.t.Helper()
	svc, err := e.db.ServiceByName(context.Background(), name)
	switch rampart.ErrorCode(err) {
	case "":
		return svc.State != rampart.StateDeleted
	case rampart.ENOTFOUND:
		return false
	}
	e.t.Fatalf("ServiceByName(%q): %v", name, err)
	return false
}

// browser is a minimal cookie-keeping client that does not follow redirects.
type browser struct {
	e       *env
	cookies map[string]*http.Cookie
	header  http.Header // sent with every request
}

func (e *env) browser() *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

type response struct {
	*http.Response
	Body string
}

func (b *browser) do(method, target string, form url.Values, hdr http.Header) *response {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = "192.0.2.10:50000"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range []http.Header{b.header, hdr} {
		for k, v := range h {
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.e.h.ServeHTTP(rec, req)
	res := rec.Result()
	res.Request = req
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return &response{Response: res, Body: rec.Body.String()}
}

func (b *browser) get(target string) *response { b.e.t.Helper(); return b.do("GET", target, nil, nil) }

func (b *browser) post(target string, form url.Values) *response {
	b.e.t.Helper()
	return b.do("POST", target, form, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the first form on a page.
func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token field in page:\n%s", page)
	}
	return m[1]
}

// login logs in through the forms (password, then the emailed code) and
// returns the session's CSRF token.
func (b *browser) login(email string) string {
	t := b.e.t
	t.Helper()
	page := b.get("/login")
	res := b.post("/login", url.Values{"email": {email}, "password": {testPassword}, "csrf_token": {csrfOf(t, page.Body)}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login/verify") {
		t.Fatalf("login as %s: status %d Location %q, want 303 to /login/verify:\n%s", email, res.StatusCode, res.Header.Get("Location"), res.Body)
	}
	res = b.enterCode(email, res)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login code for %s: status %d, want 303:\n%s", email, res.StatusCode, res.Body)
	}
	home := b.get("/")
	if home.StatusCode != http.StatusOK {
		t.Fatalf("GET / after login: status %d", home.StatusCode)
	}
	return csrfOf(t, home.Body)
}

// enterCode takes the answer to a right password (a redirect to the code
// page), and enters the code mailed to email: the answer is where the
// login leads.
func (b *browser) enterCode(email string, res *response) *response {
	t := b.e.t
	t.Helper()
	page := b.get(res.Header.Get("Location"))
	wantStatus(t, page, http.StatusOK)
	m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("code page has no next field:\n%s", page.Body)
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	return b.post("/login/verify", url.Values{"code": {b.e.mail.Code(t, email)}, "next": {next}, "csrf_token": {csrfOf(t, page.Body)}})
}

func wantStatus(t *testing.T, res *response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%s", res.Request.Method, res.Request.URL, res.StatusCode, want, res.Body)
	}
}

func wantRedirect(t *testing.T, res *response, want string) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Fatalf("%s %s: status %d Location %q, want 303 to %q\n%s", res.Request.Method, res.Request.URL,
			res.StatusCode, res.Header.Get("Location"), want, res.Body)
	}
}

func wantContains(t *testing.T, res *response, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(res.Body, s) {
			t.Errorf("%s %s: body lacks %q", res.Request.Method, res.Request.URL, s)
		}
	}
}
