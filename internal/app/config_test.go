package app

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

func strp(s string) *string { return &s }

// lastAudit returns the newest audit event.
func (f *fixture) lastAudit(t *testing.T) *rampart.AuditEvent {
	t.Helper()
	evs, err := f.st.ListAudit(context.Background(), rampart.AuditFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("reading the audit log: %v (%d events)", err, len(evs))
	}
	return evs[0]
}

func TestServiceEnv(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	member, other := UserActor(f.member, "192.0.2.2"), UserActor(f.admin, "192.0.2.1")
	svc, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:2"}, Env: rampart.Env{"SECRET": "s3cr3t"}})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Env["SECRET"] != "s3cr3t" {
		t.Fatalf("created with env %v", svc.Env)
	}

	got, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", Env: rampart.EnvPatch{"APP_DOMAIN": strp("shop.example.com"), "SECRET": nil, "NEVER_SET": nil}})
	if err != nil {
		t.Fatal(err)
	}
	if want := (rampart.Env{"APP_DOMAIN": "shop.example.com"}); !maps.Equal(got.Env, want) {
		t.Errorf("env after patch = %v, want %v", got.Env, want)
	}
	ev := f.lastAudit(t)
	if ev.Action != "service.update" || ev.Detail != "env_set=APP_DOMAIN env_removed=SECRET" {
		t.Errorf("audit = %s %q, want service.update with the names set and removed", ev.Action, ev.Detail)
	}
	if strings.Contains(ev.Detail, "shop.example.com") || strings.Contains(ev.Detail, "s3cr3t") {
		t.Error("the audit log holds a value")
	}

	// Setting what is there already changes nothing and writes nothing.
	before := f.auditCount(t)
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", Env: rampart.EnvPatch{"APP_DOMAIN": strp("shop.example.com")}}); err != nil {
		t.Errorf("a patch that changes nothing: %v", err)
	}
	if f.auditCount(t) != before {
		t.Error("a patch that changed nothing was audited")
	}

	// Bad names and values are refused with the field, and nothing changes.
	for _, p := range []rampart.EnvPatch{
		{"BAD-NAME": strp("1")},
		{"OK": strp("a\x00b")},
		{"OK": strp(strings.Repeat("x", rampart.MaxEnvValueBytes+1))},
	} {
		_, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", Env: p, Upstreams: []string{"http://127.0.0.1:9"}})
		if rampart.ErrorCode(err) != rampart.EINVALID || rampart.ErrorField(err) != "env" {
			t.Errorf("patch %v: %v (field %q), want invalid env", p, err, rampart.ErrorField(err))
		}
	}
	stored, _ := f.app.Services.Get(ctx, member, "shop")
	if !maps.Equal(stored.Env, rampart.Env{"APP_DOMAIN": "shop.example.com"}) || stored.Upstreams[0] != "http://127.0.0.1:2" {
		t.Errorf("a refused patch changed the service: %+v", stored)
	}
	if f.auditCount(t) != before {
		t.Error("a refused patch was audited")
	}

	// Another member's service is not there; an admin may change it.
	if _, err := f.app.Services.Create(ctx, other, rampart.ServiceInput{Name: "adminsvc", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "adminsvc", Env: rampart.EnvPatch{"A": strp("1")}}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member changing another's env: %v, want not found", err)
	}
	if _, err := f.app.Services.Update(ctx, other, rampart.ServiceUpdate{Name: "shop", Env: rampart.EnvPatch{"A": strp("1")}}); err != nil {
		t.Errorf("admin changing a member's env: %v", err)
	}
}

func TestUpdateDomain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	member := UserActor(f.member, "192.0.2.2")
	if _, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	added, err := f.app.Domains.Add(ctx, member, rampart.DomainInput{Service: "shop", Name: "origin.example"})
	if err != nil {
		t.Fatal(err)
	}
	// DNS proved it (the domains reconciler's part): a mode change keeps
	// the proof and starts the new mode's way.
	if err := f.st.VerifyDomain(ctx, added.ID, time.Now()); err != nil {
		t.Fatal(err)
	}

	// Managed → custom needs the upload, and one that fits the name.
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSCustom}); rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "needs both a certificate and its private key") {
		t.Errorf("custom without upload: %v", err)
	}
	wrongCert, wrongKey := selfSigned(t, "other.example")
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSCustom, CertPEM: string(wrongCert), KeyPEM: string(wrongKey)}); rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "origin.example") {
		t.Errorf("custom with a certificate for another name: %v", err)
	}
	if d, _ := f.app.Domains.Get(ctx, member, rampart.DomainRef{Service: "shop", Name: "origin.example"}); d.TLSMode != rampart.TLSManaged {
		t.Fatalf("a refused update changed the mode to %s", d.TLSMode)
	}
	cert, key := selfSigned(t, "origin.example")
	d, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "ORIGIN.example.", TLSMode: rampart.TLSCustom, CertPEM: string(cert), KeyPEM: string(key)})
	if err != nil {
		t.Fatal(err)
	}
	if d.TLSMode != rampart.TLSCustom || d.State != rampart.DomainIssuing || string(d.KeyPEM) != string(key) {
		t.Errorf("after switching to custom: %+v", d)
	}
	if ev := f.lastAudit(t); ev.Action != "domain.update" || ev.Detail != "domain=origin.example tls=managed→custom" {
		t.Errorf("audit: %s %q", ev.Action, ev.Detail)
	}
	// A new upload for a custom domain replaces the old one.
	cert2, key2 := selfSigned(t, "origin.example")
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSCustom, CertPEM: string(cert2), KeyPEM: string(key2)}); err != nil {
		t.Fatal(err)
	}
	if stored, _ := f.st.DomainByName(ctx, "origin.example"); string(stored.CertPEM) != string(cert2) {
		t.Error("the new certificate was not stored")
	}
	// Off drops the upload; a second off is refused as a no-op.
	off, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSOff})
	if err != nil || off.State != rampart.DomainActive || off.CertPEM != nil {
		t.Fatalf("switching to off: %+v, %v", off, err)
	}
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSOff}); !strings.Contains(rampart.ErrorMessage(err), "already has TLS mode off") {
		t.Errorf("off twice: %v", err)
	}
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: rampart.TLSManaged, CertPEM: string(cert), KeyPEM: string(key)}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("managed with an upload: %v", err)
	}
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "origin.example", TLSMode: "automatic"}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("unknown mode: %v", err)
	}
	if _, err := f.app.Domains.Update(ctx, member, rampart.DomainUpdate{Service: "shop", Name: "nope.example", TLSMode: rampart.TLSOff}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("a domain not on the list: %v", err)
	}
}

func TestResetCertificates(t *testing.T) {
	f := newFixture(t)
	f.app.core.opts.PlatformDomain = "localhost"
	var resets []string
	f.app.core.opts.Certificates = ResetFunc(func(_ context.Context, name string) (string, error) {
		resets = append(resets, name)
		return "/data/certs.old-1", nil
	})
	ctx := context.Background()
	admin, member := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	for _, s := range []struct {
		actor Actor
		name  string
	}{{member, "shop"}, {admin, "adminsvc"}} {
		if _, err := f.app.Services.Create(ctx, s.actor, rampart.ServiceInput{Name: s.name, Upstreams: []string{"http://127.0.0.1:2"}}); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := selfSigned(t, "origin.example")
	for _, d := range []struct {
		actor        Actor
		svc, name    string
		mode         rampart.TLSMode
		cert, keyPEM []byte
	}{
		{member, "shop", "www.shop.example", rampart.TLSManaged, nil, nil},
		{member, "shop", "origin.example", rampart.TLSCustom, cert, key},
		{member, "shop", "plain.example", rampart.TLSOff, nil, nil},
		{admin, "adminsvc", "admin.example", rampart.TLSManaged, nil, nil},
	} {
		if _, err := f.app.Domains.Add(ctx, d.actor, rampart.DomainInput{Service: d.svc, Name: d.name, TLSMode: d.mode, CertPEM: string(d.cert), KeyPEM: string(d.keyPEM)}); err != nil {
			t.Fatal(err)
		}
	}

	res, err := f.app.SSL.Reset(ctx, member, rampart.SSLResetInput{Domain: " WWW.shop.example "})
	if err != nil {
		t.Fatal(err)
	}
	if res.Domain != "www.shop.example" || res.MovedTo != "" || len(res.Reissuing) != 1 {
		t.Errorf("member's reset = %+v (the server path is for admins only)", res)
	}
	if ev := f.lastAudit(t); ev.Action != "ssl.reset" || ev.Service != "shop" || !strings.Contains(ev.Detail, "domain=www.shop.example") {
		t.Errorf("audit: %+v", ev)
	}
	// The platform hostname of the member's own service (internal CA).
	if _, err := f.app.SSL.Reset(ctx, member, rampart.SSLResetInput{Domain: "shop.localhost"}); err != nil {
		t.Errorf("resetting the own platform hostname: %v", err)
	}

	refused := []struct {
		actor       Actor
		domain      string
		code, words string
	}{
		{member, "", rampart.EFORBIDDEN, "only an admin"},
		{member, "admin.example", rampart.ENOTFOUND, "not a domain of any service you can see"},
		{member, "adminsvc.localhost", rampart.ENOTFOUND, "not a domain of any service you can see"},
		{member, "unknown.example", rampart.ENOTFOUND, "not a domain of any service you can see"},
		{member, "origin.example", rampart.EINVALID, "uploaded certificate"},
		{member, "plain.example", rampart.EINVALID, "TLS off"},
		{member, "https://x/", rampart.EINVALID, "URL"},
	}
	for _, tc := range refused {
		before := len(resets)
		_, err := f.app.SSL.Reset(ctx, tc.actor, rampart.SSLResetInput{Domain: tc.domain})
		if rampart.ErrorCode(err) != tc.code || !strings.Contains(rampart.ErrorMessage(err), tc.words) {
			t.Errorf("reset %q: %v (code %s), want %s with %q", tc.domain, err, rampart.ErrorCode(err), tc.code, tc.words)
		}
		if len(resets) != before {
			t.Errorf("reset %q was refused but reached the certificate manager", tc.domain)
		}
	}

	all, err := f.app.SSL.Reset(ctx, admin, rampart.SSLResetInput{})
	if err != nil {
		t.Fatal(err)
	}
	if all.MovedTo != "/data/certs.old-1" || strings.Join(all.Reissuing, ",") != "admin.example,www.shop.example" {
		t.Errorf("full reset = %+v", all)
	}
	if got := strings.Join(resets, "|"); got != "www.shop.example|shop.localhost|" {
		t.Errorf("the manager was asked to reset %q", got)
	}

	f.app.core.opts.Certificates = nil
	if _, err := f.app.SSL.Reset(ctx, admin, rampart.SSLResetInput{}); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("without a certificate manager: %v", err)
	}
}
