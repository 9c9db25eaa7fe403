package api

import (
	"context"
	"encoding/json"
	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/lifecycle"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// testDomain is the platform domain of every test API.
const testDomain = "example.net"

// env is an API on a fresh SQLite store with three accounts: an admin and
// two members, each with a token.
type env struct {
	t     *testing.T
	app   *app.App
	db    *sqlite.DB
	h     http.Handler
	clock *clock
	logs  *logtail.Log // the edge log the app reads
	mail  *mailertest.Outbox

	admin, alice, bob string // tokens
}

// clock is the App's time source, so that tests can expire tokens.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newEnv(t *testing.T) *env {
	return newEnvWith(t, Options{})
}

func newEnvWith(t *testing.T, opts Options) *env {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	logs := logtail.New(logtail.Options{})
	mail := &mailertest.Outbox{}
	// The operator allows loopback upstreams (as a single-owner host
	// would): the tests point services at loopback addresses nothing dials.
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	backups, err := backup.NewLocal(filepath.Join(t.TempDir(), "backups"))
	if err != nil {
		t.Fatal(err)
	}
	lc := &lifecycle.Manager{Store: db, Backups: backups, Root: filepath.Join(t.TempDir(), "services"), Now: c.Now, Log: log}
	a := app.New(db, app.Options{Logger: log, Now: c.Now, Mailer: mail, Lifecycle: lc, PublicURL: "https://rampart.test", Cache: app.PurgeFunc(func(int64) int { return 0 }), PlatformDomain: testDomain,
		Upstreams:    egress.New(nets),
		Certificates: app.ResetFunc(func(_ context.Context, name string) (string, error) { return "/var/lib/rampart/certs.old-test", nil }),
		CheckKeyPair: dataplane.CheckKeyPair,
		Firewall:     app.FirewallOptions{Render: dataplane.RenderFirewall},
		MailDomain:   "mail." + testDomain, MailRelay: testRelay{},
		Logs: dataplane.Logs(logs), LogHeartbeat: 100 * time.Millisecond,
		DNS: app.DNSCheckFunc(func(context.Context, *rampart.Domain) rampart.DNSCheck {
			return rampart.DNSCheck{Resolvers: []rampart.DNSAnswer{{Resolver: "192.0.2.53:53", CNAME: []string{"web." + testDomain}, PointsHere: true}}, PointsHere: true}
		})})
	if opts.Logger == nil {
		opts.Logger = log
	}
	if opts.PlatformDomain == "" {
		opts.PlatformDomain = testDomain
	}
	e := &env{t: t, app: a, db: db, h: New(a, opts), clock: c, logs: logs, mail: mail}
	e.admin = e.user("admin@example.com", rampart.RoleAdmin)
	e.alice = e.user("alice@example.com", rampart.RoleMember)
	e.bob = e.user("bob@example.com", rampart.RoleMember)
	return e
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// user creates an account and returns a token for it.
func (e *env) user(email string, role rampart.Role) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.app.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: email, Password: "correct horse battery", Role: role}); err != nil {
		e.t.Fatal(err)
	}
	return e.token(email, 0)
}

func (e *env) token(email string, ttl time.Duration) string {
	e.t.Helper()
	tok, _, err := e.app.Accounts.CreateToken(context.Background(), app.OperatorActor(), rampart.TokenInput{Email: email, Name: "test", TTL: ttl})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// do sends a request with a bearer token (none if token is "") and, if body
// is not empty, a JSON body.
func (e *env) do(method, path, token, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var hdr http.Header
	if body != "" {
		hdr = http.Header{"Content-Type": {"application/json"}}
	}
	return e.doHeader(method, path, token, body, hdr)
}

func (e *env) doHeader(method, path, token, body string, hdr http.Header) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// createService creates a service through the API and fails the test if
// that does not work.
func (e *env) createService(token, name string) rampart.ServiceView {
	e.t.Helper()
	rec := e.do("POST", "/api/v1/services", token, `{"name":"`+name+`","upstreams":["http://127.0.0.1:8080"]}`)
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("creating %s: %d %s", name, rec.Code, rec.Body)
	}
	return decode[rampart.ServiceView](e.t, rec)
}

// names lists the services token sees.
func (e *env) names(token string) []string {
	e.t.Helper()
	rec := e.do("GET", "/api/v1/services", token, "")
	if rec.Code != http.StatusOK {
		e.t.Fatalf("listing services: %d %s", rec.Code, rec.Body)
	}
	var names []string
	for _, s := range decode[rampart.ServiceList](e.t, rec).Services {
		names = append(names, s.Name)
	}
	return names
}

// audit lists the actions token may read, newest first, as "action service".
func (e *env) audit(token, query string) []string {
	e.t.Helper()
	rec := e.do("GET", "/api/v1/audit"+query, token, "")
	if rec.Code != http.StatusOK {
		e.t.Fatalf("reading audit log: %d %s", rec.Code, rec.Body)
	}
	var out []string
	for _, ev := range decode[rampart.AuditList](e.t, rec).Events {
		out = append(out, strings.TrimSpace(ev.Action+" "+ev.Service))
	}
	return out
}

// decode parses a JSON response, strictly, so that a field the handler
// sends but the type lacks fails the test.
func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T: %v", v, err)
	}
	return v
}

// wantError checks an error answer's status, code and that its message
// contains msg.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code, msg string) rampart.ErrorBody {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	body := decode[rampart.ErrorResponse](t, rec).Error
	if body.Code != code {
		t.Errorf("code = %q, want %q (message %q)", body.Code, code, body.Message)
	}
	if !strings.Contains(body.Message, msg) {
		t.Errorf("message = %q, want it to contain %q", body.Message, msg)
	}
	return body
}

// startLogin posts the password of email to /login and returns the step.
func (e *env) startLogin(email string) *rampart.LoginStep {
	e.t.Helper()
	rec := e.do("POST", "/api/v1/login", "", `{"email":"`+email+`","password":"correct horse battery"}`)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("POST /login: %d %s", rec.Code, rec.Body)
	}
	res := decode[rampart.LoginResponse](e.t, rec)
	if res.Step == nil || res.Step.Challenge == "" || res.Token != "" {
		e.t.Fatalf("POST /login answered %+v, want a step and no token", res)
	}
	return res.Step
}

// purge removes a deleted service's record, as the purge job does after
// its grace period.
func (e *env) purge(name string) {
	e.t.Helper()
	svc, err := e.db.ServiceByName(e.t.Context(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	if svc.State != rampart.StateDeleted {
		e.t.Fatalf("purge %s: state %s, want deleted", name, svc.State)
	}
	if err := e.db.DeleteService(e.t.Context(), svc.ID); err != nil {
		e.t.Fatal(err)
	}
}
