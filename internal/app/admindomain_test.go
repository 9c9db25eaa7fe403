package app

import (
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/egress"
)

// TestAdminDomainIsReserved: a member cannot take the dashboard's address,
// as a custom domain or as the service name whose hostname it is — else
// they would serve the login page everyone types their password into.
func TestAdminDomainIsReserved(t *testing.T) {
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, Options{Upstreams: egress.New(nets), PlatformDomain: "apps.example.net", AdminDomain: "rampart.apps.example.net"})
	ctx := t.Context()
	mia := UserActor(f.member, "192.0.2.9")
	_, err = f.app.Services.Create(ctx, mia, rampart.ServiceInput{Name: "rampart", Upstreams: []string{"http://203.0.113.5:8080"}})
	if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "dashboard") {
		t.Fatalf("service named after the dashboard's host: %v", err)
	}
	if _, err := f.app.Services.Create(ctx, mia, rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://203.0.113.5:8080"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rampart.apps.example.net", "RAMPART.apps.example.net."} {
		_, err = f.app.Domains.Add(ctx, mia, rampart.DomainInput{Service: "blog", Name: name})
		if rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("custom domain %s: %v", name, err)
		}
	}

	g := newFixtureWith(t, Options{Upstreams: egress.New(nets), PlatformDomain: "apps.example.net", AdminDomain: "rampart.example.com"})
	if _, err := g.app.Services.Create(ctx, UserActor(g.member, ""), rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://203.0.113.5:8080"}}); err != nil {
		t.Fatal(err)
	}
	_, err = g.app.Domains.Add(ctx, UserActor(g.member, ""), rampart.DomainInput{Service: "blog", Name: "rampart.example.com"})
	if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "admin.domain") {
		t.Errorf("custom domain = admin domain: %v", err)
	}
}
