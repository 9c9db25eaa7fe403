package app

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/dnstest"
	"github.com/rampart-dev/rampart/internal/egress"
)

// testDNS serves A and AAAA records for the names in zone from a real DNS
// server on loopback, and returns a resolver that asks only it.
func testDNS(t *testing.T, zone map[string][]string) *net.Resolver {
	t.Helper()
	d := dnstest.Start(t)
	for name, addrs := range zone {
		d.Set(name, addrs...)
	}
	return d.Resolver()
}

// newPolicyFixture is an app with the default upstream policy, rampart's
// admin listener at 127.0.0.1:7070, and a DNS server with names that
// point at forbidden and allowed addresses.
func newPolicyFixture(t *testing.T) *fixture {
	p := egress.New(nil)
	p.Protect("admin_addr", netip.MustParseAddrPort("127.0.0.1:7070"))
	return newFixtureWith(t, Options{Upstreams: p, Resolver: testDNS(t, map[string][]string{
		"loop.test":   {"127.0.0.1"},
		"loop6.test":  {"::1"},
		"meta.test":   {"169.254.169.254"},
		"mixed.test":  {"192.0.2.10", "127.0.0.1"},
		"public.test": {"192.0.2.10", "2001:db8::10"},
	})})
}

func TestUpstreamPolicyOnCreate(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := t.Context()
	admin, member := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	yes, no := new(bool), new(bool)
	*yes = true

	n := 0
	create := func(actor Actor, upstream string, allow *bool) (*rampart.Service, error) {
		n++
		return f.app.Services.Create(ctx, actor, rampart.ServiceInput{Name: "s" + string(rune('a'+n)), Upstreams: []string{upstream}, AllowPrivateUpstreams: allow})
	}

	refused := []struct {
		actor    Actor
		upstream string
		allow    *bool
		want     []string
	}{
		// A member: the operator's networks only.
		{member, "http://127.0.0.1:7070", nil, []string{`upstream "http://127.0.0.1:7070": 127.0.0.1:7070 is rampart's own listener (admin_addr)`, "never reachable"}},
		{member, "http://127.0.0.1:9000", nil, []string{"127.0.0.1 is a loopback address", "ask an admin", "allow_private_upstreams"}},
		{member, "http://[::1]:9000", nil, []string{"::1 is a loopback address"}},
		{member, "http://[::ffff:127.0.0.1]:9000", nil, []string{"127.0.0.1 is a loopback address"}},
		{member, "http://169.254.169.254/latest/meta-data", nil, []string{"169.254.169.254 is the cloud metadata address"}},
		{member, "http://0.0.0.0:9000", nil, []string{"this host"}},
		{member, "http://loop.test:9000", nil, []string{"loop.test resolves to 127.0.0.1, which is a loopback address"}},
		{member, "http://loop6.test:9000", nil, []string{"loop6.test resolves to ::1"}},
		{member, "http://meta.test", nil, []string{"meta.test resolves to 169.254.169.254, which is the cloud metadata address"}},
		{member, "http://mixed.test", nil, []string{"mixed.test resolves to 127.0.0.1"}},
		{member, "http://loop.test:7070", nil, []string{"loop.test resolves to 127.0.0.1:7070, which is rampart's own listener"}},
		// An admin: never rampart's own listeners, override or not…
		{admin, "http://127.0.0.1:7070", yes, []string{"rampart's own listener (admin_addr)"}},
		{admin, "https://loop.test:7070", nil, []string{"rampart's own listener (admin_addr)"}},
		{admin, "http://0.0.0.0:7070", yes, []string{"rampart's own listener (admin_addr)"}},
		// …and no private address after saying no to the override.
		{admin, "http://127.0.0.1:9000", no, []string{"127.0.0.1 is a loopback address", "set allow_private_upstreams"}},
	}
	for _, tt := range refused {
		_, err := create(tt.actor, tt.upstream, tt.allow)
		msg := rampart.ErrorMessage(err)
		if rampart.ErrorCode(err) != rampart.EINVALID || rampart.ErrorField(err) != "upstreams" {
			t.Errorf("%s creating %s: %v, want an invalid upstreams field", tt.actor.name(), tt.upstream, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s creating %s: %q, want it to say %q", tt.actor.name(), tt.upstream, msg, w)
			}
		}
	}

	// A member may not turn the override on.
	if _, err := create(member, "http://127.0.0.1:9000", yes); rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(rampart.ErrorMessage(err), "only an admin") {
		t.Errorf("member setting allow_private_upstreams: %v, want forbidden", err)
	}

	// What the operator allows, anyone may use.
	for _, up := range []string{"http://192.0.2.10:8080", "http://10.0.0.5", "https://public.test", "http://[2001:db8::1]:8080", "http://unknown.test:8080"} {
		svc, err := create(member, up, nil)
		if err != nil || svc.AllowPrivateUpstreams {
			t.Errorf("member creating %s: %+v, %v", up, svc, err)
		}
	}
	if svc, err := create(member, "http://192.0.2.10:8080", no); err != nil || svc.AllowPrivateUpstreams {
		t.Errorf("member saying no to the override: %+v, %v", svc, err)
	}

	// An admin pointing a service at loopback gets the override, and the
	// audit log says why.
	svc, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "local", Upstreams: []string{"http://127.0.0.1:9000"}})
	if err != nil || !svc.AllowPrivateUpstreams {
		t.Fatalf("admin creating a loopback service: %+v, %v", svc, err)
	}
	got, err := f.app.Services.Get(ctx, admin, "local")
	if err != nil || !got.AllowPrivateUpstreams {
		t.Fatalf("stored: %+v, %v", got, err)
	}
	evs, err := f.app.Audit.List(ctx, admin, rampart.AuditFilter{Service: "local"})
	if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Detail, `allow_private_upstreams=true (automatic: upstream "http://127.0.0.1:9000": 127.0.0.1 is a loopback address)`) {
		t.Errorf("audit: %+v, %v", evs, err)
	}
	// Explicitly, for a member and by name.
	svc, err = f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "meta", Owner: f.member.Email, Upstreams: []string{"http://meta.test"}, AllowPrivateUpstreams: yes})
	if err != nil || !svc.AllowPrivateUpstreams || svc.OwnerID != f.member.ID {
		t.Fatalf("admin creating a service with the override for a member: %+v, %v", svc, err)
	}
	evs, err = f.app.Audit.List(ctx, admin, rampart.AuditFilter{Service: "meta"})
	if err != nil || len(evs) != 1 || !strings.HasSuffix(evs[0].Detail, " allow_private_upstreams=true") {
		t.Errorf("audit: %+v, %v", evs, err)
	}
}

func TestUpstreamPolicyOnUpdate(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := t.Context()
	admin, member := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	yes, no := new(bool), new(bool)
	*yes = true
	update := func(actor Actor, up rampart.ServiceUpdate) (*rampart.Service, error) {
		up.Name = "app"
		return f.app.Services.Update(ctx, actor, up)
	}

	// An admin set the member's service up on loopback.
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "app", Owner: f.member.Email, Upstreams: []string{"http://127.0.0.1:9000"}}); err != nil {
		t.Fatal(err)
	}
	// The member may change everything else, and send the same upstreams
	// back (as a form does): the override stays.
	svc, err := update(member, rampart.ServiceUpdate{Upstreams: []string{"http://127.0.0.1:9000"}, Env: rampart.EnvPatch{"A": ptr("1")}})
	if err != nil || !svc.AllowPrivateUpstreams {
		t.Fatalf("member's update keeping the upstreams: %+v, %v", svc, err)
	}
	// New upstreams from the member are held to the operator's networks.
	for _, up := range []string{"http://127.0.0.1:9001", "http://169.254.169.254", "http://loop.test:9000"} {
		if _, err := update(member, rampart.ServiceUpdate{Upstreams: []string{up}}); rampart.ErrorField(err) != "upstreams" || !strings.Contains(rampart.ErrorMessage(err), "ask an admin") {
			t.Errorf("member pointing the service at %s: %v, want refused", up, err)
		}
	}
	if _, err := update(member, rampart.ServiceUpdate{AllowPrivateUpstreams: yes}); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member setting the override: %v, want forbidden", err)
	}
	// An allowed one clears the override: it was for the upstreams the
	// admin saw.
	svc, err = update(member, rampart.ServiceUpdate{Upstreams: []string{"http://public.test:9000"}})
	if err != nil || svc.AllowPrivateUpstreams {
		t.Fatalf("member pointing the service at a public name: %+v, %v", svc, err)
	}
	evs, _ := f.app.Audit.List(ctx, admin, rampart.AuditFilter{Service: "app", Limit: 1})
	if len(evs) != 1 || !strings.Contains(evs[0].Detail, "allow_private_upstreams=false") {
		t.Errorf("audit of the cleared override: %+v", evs)
	}

	// An admin turns it on by hand, then points the service at loopback.
	if svc, err = update(admin, rampart.ServiceUpdate{AllowPrivateUpstreams: yes}); err != nil || !svc.AllowPrivateUpstreams {
		t.Fatalf("admin setting the override: %+v, %v", svc, err)
	}
	if _, err := update(admin, rampart.ServiceUpdate{AllowPrivateUpstreams: yes}); err != nil {
		t.Errorf("setting it again: %v", err)
	}
	if svc, err = update(admin, rampart.ServiceUpdate{Upstreams: []string{"http://[::1]:9000"}}); err != nil || !svc.AllowPrivateUpstreams {
		t.Fatalf("admin pointing it at ::1: %+v, %v", svc, err)
	}
	// Turning it off while an upstream needs it is refused, by name.
	if _, err := update(admin, rampart.ServiceUpdate{AllowPrivateUpstreams: no}); rampart.ErrorField(err) != "upstreams" || !strings.Contains(rampart.ErrorMessage(err), "::1 is a loopback address") {
		t.Errorf("admin turning the override off under a loopback upstream: %v", err)
	}
	// Not even the override reaches the admin listener.
	if _, err := update(admin, rampart.ServiceUpdate{Upstreams: []string{"http://127.0.0.1:7070"}}); !strings.Contains(rampart.ErrorMessage(err), "rampart's own listener") {
		t.Errorf("admin pointing it at the admin listener: %v", err)
	}
	// Off together with an allowed upstream.
	svc, err = update(admin, rampart.ServiceUpdate{Upstreams: []string{"http://192.0.2.10"}, AllowPrivateUpstreams: no})
	if err != nil || svc.AllowPrivateUpstreams {
		t.Fatalf("admin turning it off with a public upstream: %+v, %v", svc, err)
	}
}

func ptr(s string) *string { return &s }
