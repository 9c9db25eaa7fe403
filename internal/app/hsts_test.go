package app

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

// TestHSTSSetting: HSTS is off on a new service; its owner (a member) turns
// it on and off, each change audited; nonsense is refused, unaudited; other
// members cannot touch it.
func TestHSTSSetting(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	member := UserActor(f.member, "192.0.2.2")
	svc, err := f.app.Services.Create(ctx, member, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if svc.HSTS != rampart.DefaultHSTS() || svc.HSTS.Enabled {
		t.Errorf("new service's HSTS = %+v, want off with a year's max-age", svc.HSTS)
	}

	on := rampart.HSTS{Enabled: true, MaxAge: 31536000, IncludeSubDomains: true, Preload: true}
	svc, err = f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", HSTS: &on})
	if err != nil {
		t.Fatal(err)
	}
	if svc.HSTS != on {
		t.Errorf("HSTS = %+v, want %+v", svc.HSTS, on)
	}
	ev := f.lastAudit(t)
	if ev.Action != "service.update" || ev.Detail != "hsts=max-age=31536000;includeSubDomains;preload" || ev.ActorID != f.member.ID {
		t.Errorf("audit event = %s %q by %d", ev.Action, ev.Detail, ev.ActorID)
	}

	n := f.auditCount(t)
	for _, tc := range []struct {
		h    rampart.HSTS
		want string
	}{
		{rampart.HSTS{Enabled: true, MaxAge: -1}, "between 0 and 63072000"},
		{rampart.HSTS{Enabled: true, MaxAge: 3 * 31536000}, "between 0 and 63072000"},
		{rampart.HSTS{Enabled: true, MaxAge: 86400, IncludeSubDomains: true, Preload: true}, "preload requires a max_age of at least 31536000"},
		{rampart.HSTS{Enabled: true, MaxAge: 31536000, Preload: true}, "preload requires include_subdomains"},
	} {
		_, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", HSTS: &tc.h})
		if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want EINVALID saying %q", tc.h, err, tc.want)
		}
	}
	if got := f.auditCount(t); got != n {
		t.Errorf("refused settings wrote %d audit events", got-n)
	}
	if got, _ := f.app.Services.Get(ctx, member, "shop"); got.HSTS != on {
		t.Errorf("refused settings changed the service: %+v", got.HSTS)
	}

	off := on
	off.Enabled = false
	if svc, err = f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "shop", HSTS: &off}); err != nil || svc.HSTS != off {
		t.Fatalf("off: %+v %v", svc, err)
	}
	if ev := f.lastAudit(t); ev.Detail != "hsts=off" {
		t.Errorf("audit detail %q, want hsts=off", ev.Detail)
	}

	if _, err := f.app.Services.Create(ctx, UserActor(f.admin, ""), rampart.ServiceInput{Name: "blog", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.Update(ctx, member, rampart.ServiceUpdate{Name: "blog", HSTS: &on}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("member setting another's HSTS: %v", err)
	}
}
