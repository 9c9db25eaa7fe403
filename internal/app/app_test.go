package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// clock is a settable time source for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	app           *App
	st            store.Store // the App's store, opened by the test
	clock         *clock
	admin, member *rampart.User
	dbPath        string // the SQLite file
}

// newFixture returns an app whose operator allows loopback upstreams (as
// a single-owner host would): most tests point services at loopback
// addresses that nothing dials. upstreams_test.go tests the defaults.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return newFixtureWith(t, Options{Upstreams: egress.New(nets)})
}

// newFixtureWith is newFixture with opts (Now and CheckKeyPair are set).
func newFixtureWith(t *testing.T, opts Options) *fixture {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "rampart.db")
	db, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	opts.Now, opts.CheckKeyPair = c.now, dataplane.CheckKeyPair
	a := New(db, opts)
	ctx := context.Background()
	admin, err := a.Accounts.Create(ctx, OperatorActor(), rampart.UserInput{Email: "Admin@Example.com", Password: "correct horse battery", Role: rampart.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	member, err := a.Accounts.Create(ctx, UserActor(admin, "192.0.2.1"), rampart.UserInput{Email: "mia@example.com", Password: "member password", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{app: a, st: db, clock: c, admin: admin, member: member, dbPath: dbPath}
}

func (f *fixture) auditCount(t *testing.T) int {
	evs, err := f.app.Audit.List(context.Background(), OperatorActor(), rampart.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestCreateUserRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if f.admin.Email != "admin@example.com" {
		t.Errorf("email not normalized: %q", f.admin.Email)
	}
	for _, tc := range []struct {
		actor        Actor
		email, pw    string
		role         rampart.Role
		code, substr string
	}{
		{UserActor(f.member, ""), "x@example.com", "long enough pw", rampart.RoleMember, rampart.EFORBIDDEN, "only an admin"},
		{Actor{}, "x@example.com", "long enough pw", rampart.RoleMember, rampart.EUNAUTHORIZED, "authentication required"},
		{OperatorActor(), "not-an-email", "long enough pw", rampart.RoleMember, rampart.EINVALID, "not a valid address"},
		{OperatorActor(), "x@example.com", "short", rampart.RoleMember, rampart.EINVALID, "too short"},
		{OperatorActor(), "x@example.com", "long enough pw", "root", rampart.EINVALID, "role"},
		{OperatorActor(), "MIA@example.com", "long enough pw", rampart.RoleMember, rampart.ECONFLICT, "already exists"},
	} {
		_, err := f.app.Accounts.Create(ctx, tc.actor, rampart.UserInput{Email: tc.email, Password: tc.pw, Role: tc.role})
		if rampart.ErrorCode(err) != tc.code || !strings.Contains(rampart.ErrorMessage(err), tc.substr) {
			t.Errorf("CreateUser(%q, %q, %q) = %v; want %s containing %q", tc.email, tc.pw, tc.role, err, tc.code, tc.substr)
		}
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if u, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: " ADMIN@example.com ", Password: "correct horse battery", IP: "192.0.2.1"}); err != nil || u.ID != f.admin.ID {
		t.Fatalf("good login: %v, %v", u, err)
	}
	_, errWrong := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "wrong password!", IP: "192.0.2.1"})
	_, errNobody := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "nobody@example.com", Password: "wrong password!", IP: "192.0.2.1"})
	if errWrong == nil || errNobody == nil || errWrong.Error() != errNobody.Error() {
		t.Errorf("wrong password %v and unknown user %v must fail alike", errWrong, errNobody)
	}
}

func TestServicesVisibilityAndAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, member := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	// The reconcilers hear of changes from the store.
	changes, stop := f.st.Subscribe(store.KindServices)
	defer stop()

	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://127.0.0.1:3000"}}); err != nil {
		t.Fatal(err)
	}
	shop, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "shop", Upstreams: []string{" http://127.0.0.1:3001 "}})
	if err != nil {
		t.Fatal(err)
	}
	if shop.OwnerID != f.member.ID || shop.Upstreams[0] != "http://127.0.0.1:3001" || shop.State != rampart.StateActive {
		t.Errorf("created %+v", shop)
	}
	select {
	case <-changes:
	default:
		t.Error("no change notice after create")
	}

	list, _ := f.app.Services.List(ctx, member)
	if len(list) != 1 || list[0].Name != "shop" {
		t.Errorf("member sees %v", names(list))
	}
	list, _ = f.app.Services.List(ctx, admin)
	if len(list) != 2 {
		t.Errorf("admin sees %v", names(list))
	}
	n := f.auditCount(t)
	// A member cannot see, change or delete the admin's service, and is
	// told it does not exist.
	if _, err := f.app.Services.Get(ctx, member, "blog"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member get blog: %v", err)
	}
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "blog", Upstreams: []string{"http://127.0.0.1:1"}}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member update blog: %v", err)
	}
	if err := f.app.Services.Delete(ctx, member, "blog"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member delete blog: %v", err)
	}
	if _, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "x", Upstreams: []string{"http://127.0.0.1:1"}, Owner: "admin@example.com"}); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member creating for admin: %v", err)
	}
	if got := f.auditCount(t); got != n {
		t.Errorf("refused calls wrote %d audit events", got-n)
	}
	// Admins may act on anyone's service and create for others.
	stopped := rampart.StateStopped
	if s, err := f.app.Services.Update(ctx, admin, rampart.ServiceUpdate{Name: "shop", State: &stopped}); err != nil || s.State != stopped {
		t.Errorf("admin stop shop: %v %v", s, err)
	}
	if s, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "for-mia", Upstreams: []string{"http://127.0.0.1:1"}, Owner: "mia@example.com"}); err != nil || s.OwnerID != f.member.ID {
		t.Errorf("admin create for member: %v %v", s, err)
	}
	// Members read their own actions and events on their services, not the admin's.
	evs, err := f.app.Audit.List(ctx, member, rampart.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Service == "blog" || (e.ActorID != f.member.ID && e.OwnerID != f.member.ID) {
			t.Errorf("member sees foreign event %+v", e)
		}
	}
	var sawAdminStop bool
	for _, e := range evs {
		if e.Action == "service.update" && e.Service == "shop" && e.Actor == "admin@example.com" && e.IP == "192.0.2.1" {
			sawAdminStop = true
		}
	}
	if !sawAdminStop {
		t.Error("member does not see the admin's change to their service")
	}
	if err := f.app.Services.Delete(ctx, member, "shop"); err != nil {
		t.Fatal(err)
	}
	if svc, err := f.app.Services.Get(ctx, admin, "shop"); err != nil || svc.State != rampart.StateDeleted || svc.PurgeAfter == nil {
		t.Errorf("after delete: %+v, %v; want it deleted, waiting for its purge", svc, err)
	}
}

func TestServiceBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := UserActor(f.admin, "")
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "taken", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	n := f.auditCount(t)
	for _, in := range []rampart.ServiceInput{
		{Name: "Blog", Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: strings.Repeat("a", 64), Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: "-blog", Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: "taken", Upstreams: []string{"http://127.0.0.1:1"}},
		{Name: "ok", Upstreams: nil},
		{Name: "ok", Upstreams: []string{"127.0.0.1:1"}},
		{Name: "ok", Upstreams: []string{"http://127.0.0.1:1", "http://127.0.0.1:1"}},
		{Name: "ok", Upstreams: []string{"http://127.0.0.1:1"}, Owner: "ghost@example.com"},
	} {
		if _, err := f.app.Services.Create(ctx, admin, in); err == nil || rampart.ErrorCode(err) == rampart.EINTERNAL {
			t.Errorf("CreateService(%+v) = %v; want a clear error", in, err)
		}
	}
	bad := rampart.ServiceState("exploded")
	for _, up := range []rampart.ServiceUpdate{{}, {State: &bad}, {Upstreams: []string{"javascript:alert(1)"}}} {
		if _, err := f.app.Services.Update(ctx, admin, withName(up, "taken")); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("UpdateService(%+v) = %v; want invalid", up, err)
		}
	}
	list, _ := f.app.Services.List(ctx, admin)
	if len(list) != 1 || list[0].Upstreams[0] != "http://127.0.0.1:1" {
		t.Errorf("services changed: %v", names(list))
	}
	if got := f.auditCount(t); got != n {
		t.Errorf("bad input wrote %d audit events", got-n)
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	plain, tok, err := f.app.Accounts.CreateToken(ctx, OperatorActor(), rampart.TokenInput{Email: "mia@example.com", Name: "cli", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := f.app.Accounts.Authenticate(ctx, plain); err != nil || u.ID != f.member.ID {
		t.Fatalf("AuthenticateToken: %v %v", u, err)
	}
	if _, _, err := f.app.Accounts.CreateToken(ctx, UserActor(f.member, ""), rampart.TokenInput{Email: "admin@example.com", Name: "steal"}); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member minting admin token: %v", err)
	}
	for _, bad := range []string{"", "garbage", plain[:len(plain)-1] + "x"} {
		if _, err := f.app.Accounts.Authenticate(ctx, bad); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
			t.Errorf("AuthenticateToken(%q) = %v", bad, err)
		}
	}
	f.clock.add(time.Hour)
	_, err = f.app.Accounts.Authenticate(ctx, plain)
	if rampart.ErrorCode(err) != rampart.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token (%v): %v", tok.ExpiresAt, err)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cookie, s, err := f.app.Accounts.StartSession(ctx, f.admin, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if s.CSRFToken == "" || cookie == "" {
		t.Fatal("session without cookie or CSRF token")
	}
	if _, u, err := f.app.Accounts.Session(ctx, cookie); err != nil || u.ID != f.admin.ID {
		t.Fatalf("Session: %v %v", u, err)
	}
	// Activity keeps it alive past the idle limit...
	for i := 0; i < 3; i++ {
		f.clock.add(90 * time.Minute)
		if _, _, err := f.app.Accounts.Session(ctx, cookie); err != nil {
			t.Fatalf("active session ended after %d×90m: %v", i+1, err)
		}
	}
	// ...and an idle gap ends it.
	f.clock.add(2*time.Hour + time.Second)
	if _, _, err := f.app.Accounts.Session(ctx, cookie); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("idle session: %v", err)
	}
	// What a page does by itself (polls, a log stream's checks) is not
	// use: a tab left open ends its session after the idle time too.
	cookie, _, _ = f.app.Accounts.StartSession(ctx, f.admin, "192.0.2.1")
	for i := 0; i < 23; i++ {
		f.clock.add(5 * time.Minute)
		if _, _, err := f.app.Accounts.CheckSession(ctx, cookie); err != nil {
			t.Fatalf("a checked session ended after %d×5m: %v", i+1, err)
		}
	}
	f.clock.add(6 * time.Minute) // 2h01m since the last use
	if _, _, err := f.app.Accounts.CheckSession(ctx, cookie); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("a session only polled for 2h: %v", err)
	}
	// The absolute limit ends even a busy session.
	cookie, _, _ = f.app.Accounts.StartSession(ctx, f.admin, "192.0.2.1")
	for i := 0; i < 24; i++ {
		f.clock.add(time.Hour)
		_, _, err = f.app.Accounts.Session(ctx, cookie)
	}
	if rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("session alive after 24h: %v", err)
	}
	// Logout.
	cookie, s, _ = f.app.Accounts.StartSession(ctx, f.admin, "192.0.2.1")
	if err := f.app.Accounts.EndSession(ctx, s, f.admin, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.app.Accounts.Session(ctx, cookie); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("after logout: %v", err)
	}
	if _, _, err := f.app.Accounts.Session(ctx, "not-a-cookie"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("bogus cookie: %v", err)
	}
}

func names(ss []*rampart.Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestLoginThrottle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	start := f.clock.now()
	for i := 0; i < LoginFailuresPerAccount; i++ {
		if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "wrong password!", IP: "198.51.100.1"}); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
			t.Fatalf("failure %d: %v", i, err)
		}
		// After the first few, each failure makes the next try wait,
		// twice as long each time.
		wait := f.app.Accounts.byAccount.Blocked("admin@example.com", f.clock.now())
		if want := time.Duration(0); i+1 > LoginFreeFailures && i+1 < LoginFailuresPerAccount {
			want = LoginDelay << (i - LoginFreeFailures)
			if wait != want {
				t.Fatalf("after failure %d: wait %v, want %v", i+1, wait, want)
			}
			if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "correct horse battery", IP: "198.51.100.1"}); rampart.ErrorCode(err) != rampart.ETOOMANY {
				t.Fatalf("right password during the wait: %v", err)
			}
		}
		if i+1 < LoginFailuresPerAccount {
			f.clock.add(wait)
		}
	}
	// At the limit even the right password is refused, from any IP, until
	// the window that began with the first failure ends.
	_, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "correct horse battery", IP: "198.51.100.2"})
	if want := "try again in " + roundUp(start.Add(LoginFailureWindow).Sub(f.clock.now())).String(); rampart.ErrorCode(err) != rampart.ETOOMANY || !strings.Contains(err.Error(), want) {
		t.Errorf("throttled login: %v (want %q)", err, want)
	}
	// Another account is not affected...
	if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "198.51.100.2"}); err != nil {
		t.Errorf("other account: %v", err)
	}
	// ...and the window ends.
	f.clock.add(LoginFailureWindow)
	if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "correct horse battery", IP: "198.51.100.2"}); err != nil {
		t.Errorf("after the window: %v", err)
	}
	// Per IP: one client spraying many (unknown) accounts is stopped too,
	// with the same answer whether or not the accounts exist.
	// (Without waiting, the sprayer is stopped by the growing delay after
	// LoginFreeFailures tries.)
	for i := 0; i < LoginFailuresPerIP; i++ {
		f.app.Accounts.Login(ctx, rampart.LoginInput{Email: fmt.Sprintf("user%d@example.com", i), Password: "guess guess", IP: "203.0.113.9"})
	}
	if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "203.0.113.9"}); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Errorf("sprayer's IP: %v", err)
	}
}

func TestRateLimitAndCacheSettings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	member := UserActor(f.member, "192.0.2.2")
	svc, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if svc.RateLimit.Requests != 150 || svc.RateLimit.Per != "minute" || !svc.RateLimit.Enabled || !svc.Cache.Enabled || svc.Cache.TTL != rampart.Duration(3*time.Second) {
		t.Errorf("defaults: %+v %+v", svc.RateLimit, svc.Cache)
	}
	rl := rampart.RateLimit{Enabled: true, Requests: 10, Per: rampart.PerSecond, Allow: []string{"203.0.113.7", "2001:db8::1/48"}}
	svc, err = f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", RateLimit: &rl})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.RateLimit.Allow; len(got) != 2 || got[0] != "203.0.113.7/32" || got[1] != "2001:db8::/48" {
		t.Errorf("allow-list not normalized: %v", got)
	}
	n := f.auditCount(t)
	for _, bad := range []rampart.RateLimit{
		{Enabled: true, Requests: 0, Per: "minute"},
		{Enabled: true, Requests: 10, Per: "hour"},
		{Enabled: false, Requests: 10, Per: "minute", Allow: []string{"not-a-cidr"}},
		{Enabled: true, Requests: 10, Per: "minute", Allow: []string{"10.0.0.0/8", "10.1.0.0/8"}}, // the same network twice
	} {
		if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", RateLimit: &bad}); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("rate limit %+v: %v", bad, err)
		}
	}
	for _, bad := range []rampart.Cache{
		{Enabled: true, TTL: rampart.Duration(500 * time.Millisecond)},
		{Enabled: true, TTL: rampart.Duration(2 * time.Hour)},
		{Enabled: true, TTL: rampart.Duration(time.Second), StaleIfError: rampart.Duration(-time.Second)},
	} {
		if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", Cache: &bad}); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("cache %+v: %v", bad, err)
		}
	}
	if got := f.auditCount(t); got != n {
		t.Errorf("refused settings wrote %d audit events", got-n)
	}
	got, _ := f.app.Services.Get(ctx, member, "shop")
	if got.RateLimit.Requests != 10 || got.Cache != rampart.DefaultCache() {
		t.Errorf("refused settings changed the service: %+v %+v", got.RateLimit, got.Cache)
	}

	// Purge: checked like any change, audited, carried out by the hook.
	if _, err := f.app.Services.PurgeCache(ctx, member, "shop"); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("purge without an edge: %v", err)
	}
	var purged []int64
	f.app.core.opts.Cache = PurgeFunc(func(id int64) int { purged = append(purged, id); return 7 })
	if n, err := f.app.Services.PurgeCache(ctx, member, "shop"); err != nil || n != 7 {
		t.Errorf("purge: %d %v", n, err)
	}
	if _, err := f.app.Services.Create(ctx, UserActor(f.admin, ""), rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.PurgeCache(ctx, member, "blog"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member purging another's cache: %v", err)
	}
	if shop, err := f.app.Services.Get(ctx, member, "shop"); err != nil || len(purged) != 1 || purged[0] != shop.ID {
		t.Errorf("purged %v, want shop's ID (%v)", purged, err)
	}
}

// withName is up for the service name.
func withName(up rampart.ServiceUpdate, name string) rampart.ServiceUpdate {
	up.Name = name
	return up
}
