package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
)

// TestTransfer: an admin hands a member's service to another member; the
// old owner loses it everywhere at once (reads, changes, a following log
// stream), the new one has it, and the refusals change nothing.
func TestTransfer(t *testing.T) {
	mail := &mailertest.Outbox{}
	nets, err := egress.ParseNetworks([]string{"0.0.0.0/0", "::/0", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, Options{Mailer: mail, Upstreams: egress.New(nets)})
	logs := logtail.New(logtail.Options{})
	f.app.core.opts.Logs = dataplane.Logs(logs)
	f.app.core.opts.LogHeartbeat = 50 * time.Millisecond
	ctx := context.Background()
	admin, mia := UserActor(f.admin, "192.0.2.1"), UserActor(f.member, "")
	noorUser, err := f.app.Accounts.Create(ctx, admin, rampart.UserInput{Email: "noor@example.com", Password: "another password", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	noor := UserActor(noorUser, "")
	if _, err := f.app.Accounts.Create(ctx, admin, rampart.UserInput{Email: "gone@example.com", Password: "a third password", Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Accounts.Disable(ctx, admin, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Services.Create(ctx, mia, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:9000"}, Env: rampart.Env{"APP_URL": "https://shop.example.com"}}); err != nil {
		t.Fatal(err)
	}
	owner := func() string {
		t.Helper()
		svc, err := f.app.Services.Get(ctx, admin, "shop")
		if err != nil {
			t.Fatal(err)
		}
		return svc.Owner
	}

	// Refusals: each changes nothing.
	before := f.auditCount(t)
	_, err = f.app.Services.Transfer(ctx, mia, "shop", "noor@example.com")
	wantErr(t, "the owner hands it over", err, rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Services.Transfer(ctx, noor, "shop", "noor@example.com")
	wantErr(t, "another member takes it", err, rampart.ENOTFOUND, `service "shop" not found`)
	_, err = f.app.Services.Transfer(ctx, admin, "shop", "nobody@example.com")
	wantErr(t, "to an account that does not exist", err, rampart.EINVALID, "nobody@example.com has no account")
	_, err = f.app.Services.Transfer(ctx, admin, "shop", "gone@example.com")
	wantErr(t, "to a disabled account", err, rampart.EINVALID, "gone@example.com is disabled")
	_, err = f.app.Services.Transfer(ctx, admin, "shop", "  ")
	wantErr(t, "to nobody", err, rampart.EINVALID, "name the account")
	_, err = f.app.Services.Transfer(ctx, admin, "nosuch", "noor@example.com")
	wantErr(t, "a service that does not exist", err, rampart.ENOTFOUND, "")
	if _, err := f.app.Services.Transfer(ctx, admin, "shop", "MIA@example.com"); err != nil {
		t.Errorf("to its owner: %v", err)
	}
	if got := f.auditCount(t); got != before {
		t.Errorf("refusals and a transfer to the owner wrote %d audit events", got-before)
	}
	if got := owner(); got != "mia@example.com" {
		t.Fatalf("owner after the refusals: %s", got)
	}

	// Mia follows the service's log while it is handed over.
	stream, err := f.app.Logs.Open(ctx, mia, rampart.LogQuery{Service: "shop", Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	request(logs, "shop", "/before")
	if got := nextEntries(t, stream); len(got) != 1 || got[0] != "shop/before" {
		t.Fatalf("before the transfer mia reads %v", got)
	}

	svc, err := f.app.Services.Transfer(ctx, admin, "shop", "Noor@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if svc.Owner != "noor@example.com" || svc.OwnerID != noorUser.ID {
		t.Errorf("Transfer returned owner %q (%d)", svc.Owner, svc.OwnerID)
	}
	if got := owner(); got != "noor@example.com" {
		t.Errorf("stored owner: %s", got)
	}
	request(logs, "shop", "/after")
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := next(t, stream)
		if err != nil {
			if rampart.ErrorCode(err) != rampart.ENOTFOUND || !strings.Contains(err.Error(), "no longer yours") {
				t.Errorf("mia's stream ended with %v", err)
			}
			break
		}
		for _, e := range b.Entries {
			t.Errorf("mia read %s%s after the transfer", e.Service, e.Path)
		}
		if time.Now().After(deadline) {
			t.Fatal("mia's stream of a service no longer hers did not end")
		}
	}

	// Mia has lost it everywhere; Noor has it, with what was the service's.
	if _, err := f.app.Services.Get(ctx, mia, "shop"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("mia reads the service she gave away: %v", err)
	}
	if _, err := f.app.Services.Update(ctx, mia, rampart.ServiceUpdate{Name: "shop", Env: rampart.EnvPatch{"X": ptr("1")}}); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("mia changes the service she gave away: %v", err)
	}
	if list, err := f.app.Services.List(ctx, mia); err != nil || len(list) != 0 {
		t.Errorf("mia's list: %v, %v", names(list), err)
	}
	got, err := f.app.Services.Get(ctx, noor, "shop")
	if err != nil {
		t.Fatalf("noor reads her new service: %v", err)
	}
	if got.Env["APP_URL"] != "https://shop.example.com" {
		t.Errorf("the environment did not go with the service: %v", got.Env)
	}
	if !f.audited(t, "service.transfer.out", "from=mia@example.com to=noor@example.com") || !f.audited(t, "service.transfer.in", "from=mia@example.com to=noor@example.com") {
		t.Error("the transfer is not in the audit log")
	}
	for _, c := range []struct {
		actor Actor
		want  string
	}{{mia, "service.transfer.out"}, {noor, "service.transfer.in"}} {
		evs, err := f.app.Audit.List(ctx, c.actor, rampart.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range evs {
			found = found || e.Action == c.want
		}
		if !found {
			t.Errorf("%s's audit log has no %s", c.actor.name(), c.want)
		}
	}
	if m := mail.Last(t, "mia@example.com"); !strings.Contains(m.Text, "handed your service shop to noor@example.com") {
		t.Errorf("mail to the old owner: %q", m.Text)
	}
	if m := mail.Last(t, "noor@example.com"); !strings.Contains(m.Text, "handed you the service shop, which mia@example.com owned") {
		t.Errorf("mail to the new owner: %q", m.Text)
	}
}

// TestTransferLetsAnOwnerGo: an account that owns services cannot be
// deleted; once they are handed on, deleted ones in their grace period
// included, it can, and the new owner may restore the deleted one.
func TestTransferLetsAnOwnerGo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin, mia := UserActor(f.admin, ""), UserActor(f.member, "")
	for _, name := range []string{"shop", "blog"} {
		if _, err := f.app.Services.Create(ctx, mia, rampart.ServiceInput{Name: name, Upstreams: []string{"http://127.0.0.1:9000"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.app.Services.Delete(ctx, mia, "blog"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete an owner", f.app.Accounts.Delete(ctx, admin, "mia@example.com"), rampart.ECONFLICT, "owns 1 service (shop): hand them to another account (rampart service transfer NAME --to EMAIL) or delete them first")
	if _, err := f.app.Services.Transfer(ctx, admin, "shop", "admin@example.com"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete the owner of a deleted service", f.app.Accounts.Delete(ctx, admin, "mia@example.com"), rampart.ECONFLICT, "in the grace period before the purge (blog): hand them to another account")
	if _, err := f.app.Services.Transfer(ctx, admin, "blog", "admin@example.com"); err != nil {
		t.Fatalf("a deleted service in its grace period: %v", err)
	}
	if err := f.app.Accounts.Delete(ctx, admin, "mia@example.com"); err != nil {
		t.Fatalf("an account that owns nothing any more: %v", err)
	}
	if _, err := f.app.Services.Restore(ctx, admin, "blog", 0); err != nil {
		t.Errorf("the new owner restores the deleted service: %v", err)
	}
}
