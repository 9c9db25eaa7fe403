package app

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestTerminationProtection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, member := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "192.0.2.2")
	for _, in := range []struct {
		actor Actor
		name  string
	}{{admin, "blog"}, {member, "shop"}} {
		svc, err := f.app.Services.Create(ctx, in.actor, rampart.ServiceInput{Name: in.name, Upstreams: []string{"http://127.0.0.1:3000"}})
		if err != nil {
			t.Fatal(err)
		}
		if svc.TerminationProtection {
			t.Errorf("%s: protection on at creation, want off", in.name)
		}
	}
	n := f.auditCount(t)

	// A member cannot touch another's service, and is told it does not exist.
	if _, err := f.app.Services.SetTerminationProtection(ctx, member, "blog", true); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member protecting the admin's service: %v, want not_found", err)
	}
	if _, err := f.app.Services.SetTerminationProtection(ctx, Actor{}, "shop", true); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("nobody protecting: %v, want unauthorized", err)
	}
	if got := f.auditCount(t); got != n {
		t.Errorf("refused calls wrote %d audit events", got-n)
	}

	// The owner turns it on; again changes nothing and is not audited.
	for range 2 {
		svc, err := f.app.Services.SetTerminationProtection(ctx, member, "shop", true)
		if err != nil || !svc.TerminationProtection {
			t.Fatalf("protect shop: %v %v", svc, err)
		}
	}
	if got := f.auditCount(t); got != n+1 {
		t.Errorf("turning protection on twice wrote %d audit events, want 1", got-n)
	}

	// Delete is refused, by owner and admin alike, with the way out.
	for _, actor := range []Actor{member, admin} {
		err := f.app.Services.Delete(ctx, actor, "shop")
		if rampart.ErrorCode(err) != rampart.ETERMPROTECTED {
			t.Fatalf("delete of a protected service: %v, want termination_protected", err)
		}
		for _, want := range []string{"shop has termination protection on", "turn it off first", "rampart service protect shop off", "Overview tab"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not say %q", err, want)
			}
		}
	}
	if _, err := f.app.Services.Get(ctx, member, "shop"); err != nil {
		t.Errorf("shop after the refused delete: %v", err)
	}
	// Other changes go on while protected.
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", Env: rampart.EnvPatch{"GREETING": ptr("hi")}}); err != nil {
		t.Errorf("saving the environment of a protected service: %v", err)
	}
	stopped := rampart.StateStopped
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", State: &stopped}); rampart.ErrorCode(err) != rampart.ETERMPROTECTED {
		t.Errorf("stopping a protected service by an update: %v, want termination_protected", err)
	}
	if svc, _ := f.app.Services.Get(ctx, member, "shop"); !svc.TerminationProtection {
		t.Error("an update turned protection off")
	}

	// An admin may turn it off; then delete works.
	if svc, err := f.app.Services.SetTerminationProtection(ctx, admin, "shop", false); err != nil || svc.TerminationProtection {
		t.Fatalf("unprotect shop: %v %v", svc, err)
	}
	if err := f.app.Services.Delete(ctx, member, "shop"); err != nil {
		t.Fatalf("delete after protection is off: %v", err)
	}

	evs, err := f.app.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Service == "shop" && strings.HasPrefix(e.Action, "service.") && e.Action != "service.create" {
			got = append(got, e.Actor+" "+e.Action)
		}
	}
	want := map[string]bool{"mia@example.com service.protection.on": true, "admin@example.com service.protection.off": true, "mia@example.com service.delete": true}
	for _, g := range got {
		delete(want, g)
	}
	if len(want) > 0 {
		t.Errorf("audit events for shop %q; missing %v", got, want)
	}
}

// TestEnvInjectionRefusedForMembers: on a service rampart runs, a member
// cannot set the variables that make a loader or interpreter run code of
// their choosing; an admin can, and a proxy service's env is the member's.
func TestEnvInjectionRefusedForMembers(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	member, admin := UserActor(f.member, ""), UserActor(f.admin, "")
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "run", Owner: f.member.Email,
		Runtime: &rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/app", Port: 18090}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "NODE_OPTIONS", "PYTHONPATH", "BASH_ENV"} {
		_, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "run", Env: rampart.EnvPatch{name: ptr("/srv/x")}})
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "only an admin") {
			t.Errorf("member setting %s: %v", name, err)
		}
	}
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "run", Env: rampart.EnvPatch{"GREETING": ptr("hi")}}); err != nil {
		t.Errorf("an ordinary variable: %v", err)
	}
	if _, err := f.app.Services.Update(ctx, admin, rampart.ServiceUpdate{Name: "run", Env: rampart.EnvPatch{"LD_LIBRARY_PATH": ptr("/opt/lib")}}); err != nil {
		t.Errorf("an admin setting LD_LIBRARY_PATH: %v", err)
	}
	if _, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "prox", Upstreams: []string{"http://192.0.2.10:80"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "prox", Env: rampart.EnvPatch{"PATH": ptr("/x")}}); err != nil {
		t.Errorf("PATH on a proxy service (its process runs elsewhere): %v", err)
	}
}

// TestRuntimeChangesAreAdmins: a member can neither set a runtime nor
// change or drop the one an admin gave their service; dropping it would
// leave the service fronting the loopback port the runtime had, which an
// admin may give to another tenant's app.
func TestRuntimeChangesAreAdmins(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	member, admin := UserActor(f.member, ""), UserActor(f.admin, "")
	if _, err := f.app.Services.Create(ctx, admin, rampart.ServiceInput{Name: "run", Owner: f.member.Email,
		Runtime: &rampart.Runtime{Kind: rampart.RuntimeExec, Command: "/bin/app", Port: 18090}}); err != nil {
		t.Fatal(err)
	}
	for what, rt := range map[string]rampart.Runtime{
		"drop it (proxy)": {Kind: rampart.RuntimeProxy},
		"another command": {Kind: rampart.RuntimeExec, Command: "/bin/sh", Port: 18090},
		"another port":    {Kind: rampart.RuntimeExec, Command: "/bin/app", Port: 18091},
	} {
		_, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "run", Runtime: &rt})
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(rampart.ErrorMessage(err), "only an admin can change the runtime of run") {
			t.Errorf("member: %s: %v", what, err)
		}
	}
	svc, err := f.app.Services.Get(ctx, admin, "run")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Runtime.Kind != rampart.RuntimeExec || svc.Runtime.Command != "/bin/app" || svc.Runtime.Port != 18090 || !svc.AllowPrivateUpstreams {
		t.Errorf("after the refusals: %+v", svc.Runtime)
	}
	// The same runtime again is no change: not refused as one.
	same := svc.Runtime
	same.Version = ""
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "run", Runtime: &same}); rampart.ErrorCode(err) == rampart.EFORBIDDEN {
		t.Errorf("member sending the same runtime: %v", err)
	}
	if _, err := f.app.Services.Update(ctx, admin, rampart.ServiceUpdate{Name: "run", Runtime: &rampart.Runtime{Kind: rampart.RuntimeProxy}}); err != nil {
		t.Errorf("an admin drops the runtime: %v", err)
	}
}
