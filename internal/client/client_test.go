package client

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/api"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// server is a real API on a fresh SQLite store, with an admin and a member.
type server struct {
	url          string
	app          *app.App
	logs         *logtail.Log // the edge log the app reads
	admin, alice string       // tokens
}

func newServer(t *testing.T) *server {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	logs := logtail.New(logtail.Options{})
	// The operator allows loopback upstreams (as a single-owner host
	// would): the tests point members' services at loopback addresses.
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	a := app.New(db, app.Options{Logger: log, Logs: dataplane.Logs(logs), LogHeartbeat: 50 * time.Millisecond, Upstreams: egress.New(nets),
		Mailer: &mailertest.Outbox{}, PublicURL: "https://rampart.test", MailDomain: "mail.example.net"})
	mux := http.NewServeMux()
	mux.Handle(rampart.APIPrefix, api.New(a, api.Options{Logger: log, PlatformDomain: "example.net"}))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s := &server{url: hs.URL, app: a, logs: logs}
	s.admin = s.user(t, "admin@example.com", rampart.RoleAdmin)
	s.alice = s.user(t, "alice@example.com", rampart.RoleMember)
	return s
}

func (s *server) user(t *testing.T, email string, role rampart.Role) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.app.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: email, Password: "correct horse battery", Role: role}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.app.Accounts.CreateToken(ctx, app.OperatorActor(), rampart.TokenInput{Email: email, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *server) client(t *testing.T, token string, opts ...Option) *Client {
	t.Helper()
	c, err := New(s.url, token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantAPIError checks that err is the server's *rampart.Error.
func wantAPIError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *rampart.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *rampart.Error", err, err)
	}
	if e.Code != code || !strings.Contains(e.Message, msg) {
		t.Errorf("error = %q %q, want %q containing %q", e.Code, e.Message, code, msg)
	}
}

func TestNewServerURL(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"http://127.0.0.1:8443", "http://127.0.0.1:8443", ""},
		{" https://rampart.example.com/ ", "https://rampart.example.com", ""},
		{"http://[::1]:8443", "http://[::1]:8443", ""},
		{"https://example.com/rampart/", "https://example.com/rampart", ""},
		{"http://127.0.0.1:8443/api/v1/", "http://127.0.0.1:8443", ""},
		{"https://example.com/rampart/api/v1", "https://example.com/rampart", ""},
		{"", "", "no rampart server given: pass --server"},
		{"127.0.0.1:8443", "", `server "127.0.0.1:8443" is not a URL: give the scheme too, e.g. http://127.0.0.1:8443`},
		{"localhost:8443", "", "give the scheme too"},
		{"ftp://example.com", "", "must start with http:// or https://"},
		{"http://", "", "has no host"},
		{"http://:8443", "", "has no host"},
		{"http://admin:secret@example.com", "", "contains credentials"},
		{"http://example.com/?x=1", "", "must not have a query or fragment"},
		{"http://example.com:0", "", "not between 1 and 65535"},
		{"http://exa mple.com", "", "is not a URL"},
	} {
		c, err := New(tc.in, "")
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("New(%q) error = %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("New(%q): %v", tc.in, err)
		case tc.err == "" && c.Server() != tc.want:
			t.Errorf("New(%q).Server() = %q, want %q", tc.in, c.Server(), tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
	if _, err := New("http://127.0.0.1:1", "rpt_abc def"); err == nil || !strings.Contains(err.Error(), "spaces or control characters") {
		t.Errorf("token with a space: %v", err)
	}
}

func TestServices(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := s.client(t, s.alice+"\n") // as read from a file

	me, err := c.Me(ctx)
	if err != nil || me.Email != "alice@example.com" || me.Role != rampart.RoleMember {
		t.Fatalf("Me = %+v, %v", me, err)
	}

	svc, err := c.CreateService(ctx, rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://127.0.0.1:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "blog" || svc.Hostname != "blog.example.net" || svc.Owner != "alice@example.com" || svc.State != rampart.StateActive {
		t.Errorf("created %+v", svc)
	}
	got, err := c.GetService(ctx, "blog")
	if err != nil || got.ID != svc.ID || got.Hostname != svc.Hostname {
		t.Errorf("GetService = %+v, %v", got, err)
	}
	stopped := rampart.StateStopped
	up, err := c.UpdateService(ctx, "blog", rampart.ServiceUpdate{State: &stopped})
	if err != nil || up.State != rampart.StateStopped || !slices.Equal(up.Upstreams, svc.Upstreams) {
		t.Errorf("UpdateService = %+v, %v", up, err)
	}
	yes := true
	if other, err := s.client(t, s.admin).CreateService(ctx, rampart.ServiceInput{Name: "other", Upstreams: []string{"http://127.0.0.1:1"}, AllowPrivateUpstreams: &yes}); err != nil || !other.AllowPrivateUpstreams {
		t.Fatalf("admin's CreateService with the upstream override = %+v, %v", other, err)
	}
	list, err := c.ListServices(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "blog" || list[0].Hostname != "blog.example.net" {
		t.Errorf("ListServices = %+v, %v", list, err)
	}
	if p, err := c.SetTerminationProtection(ctx, "blog", true); err != nil || !p.TerminationProtection {
		t.Fatalf("SetTerminationProtection(on) = %+v, %v", p, err)
	}
	wantAPIError(t, c.DeleteService(ctx, "blog"), rampart.ETERMPROTECTED, "blog has termination protection on: turn it off first")
	if p, err := c.SetTerminationProtection(ctx, "blog", false); err != nil || p.TerminationProtection {
		t.Fatalf("SetTerminationProtection(off) = %+v, %v", p, err)
	}
	if err := c.DeleteService(ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	// Deleted, it waits out its grace period, restorable.
	wantAPIError(t, c.DeleteService(ctx, "blog"), rampart.ECONFLICT, `service "blog" is deleted: restore it first`)
	if list, err := c.ListServices(ctx); err != nil || len(list) != 1 || list[0].State != rampart.StateDeleted || list[0].PurgeAfter == nil {
		t.Errorf("ListServices after delete = %#v, %v", list, err)
	}

	page, err := c.ListAudit(ctx, AuditQuery{Service: "blog", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range page.Events {
		actions = append(actions, e.Action)
	}
	if !slices.Equal(actions, []string{"service.delete", "service.protection.off"}) || page.NextBefore == 0 {
		t.Fatalf("first page: %v, next %d", actions, page.NextBefore)
	}
	page, err = c.ListAudit(ctx, AuditQuery{Service: "blog", Limit: 2, Before: page.NextBefore})
	if err != nil || len(page.Events) != 2 || page.Events[0].Action != "service.protection.on" || page.Events[1].Action != "service.update" {
		t.Fatalf("second page: %+v, %v", page, err)
	}
	page, err = c.ListAudit(ctx, AuditQuery{Service: "blog", Limit: 2, Before: page.NextBefore})
	if err != nil || len(page.Events) != 1 || page.Events[0].Action != "service.create" || page.NextBefore != 0 {
		t.Errorf("third page: %+v, %v", page, err)
	}
	all, err := s.client(t, s.admin).ListAudit(ctx, AuditQuery{})
	if err != nil || len(all.Events) < 6 {
		t.Errorf("admin's audit log: %+v, %v", all, err)
	}
	if s, err := c.RestoreService(ctx, "blog", 0); err != nil || s.State != rampart.StateActive {
		t.Errorf("RestoreService = %+v, %v", s, err)
	}
}

func TestServerErrors(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	c := s.client(t, s.alice)

	_, err := c.CreateService(ctx, rampart.ServiceInput{Name: "Blog", Upstreams: []string{"http://127.0.0.1:8080"}})
	wantAPIError(t, err, rampart.EINVALID, `service name "Blog" has upper-case letters: use "blog"`)
	_, err = c.CreateService(ctx, rampart.ServiceInput{Name: "blog", Upstreams: []string{"127.0.0.1:8080"}})
	wantAPIError(t, err, rampart.EINVALID, `upstream "127.0.0.1:8080"`)
	_, err = c.GetService(ctx, "nope")
	wantAPIError(t, err, rampart.ENOTFOUND, `service "nope" not found`)
	_, err = c.UpdateService(ctx, "nope", rampart.ServiceUpdate{})
	wantAPIError(t, err, rampart.ENOTFOUND, `service "nope" not found`)
	_, err = c.ListAudit(ctx, AuditQuery{Limit: 5000})
	wantAPIError(t, err, rampart.EINVALID, "use 1 to 1000")

	// Names are escaped, so they cannot reach another endpoint.
	for _, name := range []string{"../me", "a/b", "a?b", "%2e%2e", ".."} {
		_, err = c.GetService(ctx, name)
		wantAPIError(t, err, rampart.ENOTFOUND, "not found")
	}
	_, err = c.GetService(ctx, "")
	wantAPIError(t, err, rampart.EINVALID, "service name is required")

	_, err = s.client(t, "").Me(ctx)
	wantAPIError(t, err, rampart.EUNAUTHORIZED, "no API token given")
	_, err = s.client(t, "rpt_"+strings.Repeat("x", 43)).ListServices(ctx)
	wantAPIError(t, err, rampart.EUNAUTHORIZED, "API token is not valid")
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	c, _ := New(addr, "")
	_, err = c.Me(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "cannot reach rampart at "+addr+": ") ||
		!strings.HasSuffix(err.Error(), "is `rampart serve` running? check --server") {
		t.Errorf("error = %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("the cause is not kept: %T", errors.Unwrap(err))
	}
}

func TestNotRampart(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/me" {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>welcome to nginx</html>")
			return
		}
		http.Error(w, "<html><body>502 Bad Gateway</body></html>", http.StatusBadGateway)
	}))
	defer hs.Close()
	c, _ := New(hs.URL, "")
	_, err := c.ListServices(context.Background())
	wantAPIError(t, err, rampart.EINTERNAL, "answered 502 Bad Gateway without a rampart error (is --server pointing at rampart")
	_, err = c.Me(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is not what rampart sends") {
		t.Errorf("HTML answer: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hs.Close()
	defer close(release)

	c, _ := New(hs.URL, "", WithTimeout(50*time.Millisecond))
	_, err := c.Me(context.Background())
	if err == nil || !strings.Contains(err.Error(), "did not answer within 50ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}

	// The caller's own cancellation is passed through as it is.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	c, _ = New(hs.URL, "", WithTimeout(0))
	if _, err := c.Me(ctx); err != context.Canceled {
		t.Errorf("cancelled: %v", err)
	}
}

func TestBasePathAndHeaders(t *testing.T) {
	s := newServer(t)
	var ua string
	front := httptest.NewServer(http.StripPrefix("/rampart", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua = r.Header.Get("User-Agent")
		r2 := r.Clone(r.Context())
		r2.URL.Scheme, r2.URL.Host, r2.RequestURI = "http", strings.TrimPrefix(s.url, "http://"), ""
		resp, err := http.DefaultTransport.RoundTrip(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})))
	defer front.Close()
	c, err := New(front.URL+"/rampart/", s.admin, WithUserAgent("rampart-cli/test"))
	if err != nil {
		t.Fatal(err)
	}
	if me, err := c.Me(context.Background()); err != nil || me.Email != "admin@example.com" {
		t.Errorf("Me through a base path: %+v, %v", me, err)
	}
	if ua != "rampart-cli/test" {
		t.Errorf("User-Agent = %q", ua)
	}
}

func TestTLSHints(t *testing.T) {
	tlsServer := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsServer.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsServer.StartTLS()
	defer tlsServer.Close()
	c, _ := New(tlsServer.URL, "")
	if _, err := c.Me(context.Background()); err == nil || !strings.Contains(err.Error(), "its certificate is not trusted here") {
		t.Errorf("untrusted certificate: %v", err)
	}
	// With the test CA trusted, the same server is reachable.
	c, _ = New(tlsServer.URL, "", WithHTTPClient(tlsServer.Client()))
	if _, err := c.Me(context.Background()); err == nil || !strings.Contains(err.Error(), "without a rampart error") {
		t.Errorf("trusted certificate: %v", err)
	}

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	c, _ = New(strings.Replace(plain.URL, "http://", "https://", 1), "")
	if _, err := c.Me(context.Background()); err == nil || !strings.Contains(err.Error(), "does not speak HTTPS at that address") {
		t.Errorf("https to a plain server: %v", err)
	}
}
