package client

import (
	"context"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestMail(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	alice, admin := s.client(t, s.alice), s.client(t, s.admin)
	if _, err := alice.CreateService(ctx, rampart.ServiceInput{Name: "shop", Upstreams: []string{"http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}

	st, err := alice.MailSettings(ctx, "shop")
	if err != nil || st.Address != "shop@mail.example.net" || st.Enabled || !st.PerHourDefault {
		t.Fatalf("MailSettings = %+v, %v", st, err)
	}
	creds, err := alice.MailCredentials(ctx, "shop", false)
	if err != nil || creds.Password == "" || creds.Username != "shop@mail.example.net" {
		t.Fatalf("first MailCredentials = %+v, %v", creds, err)
	}
	again, err := alice.MailCredentials(ctx, "shop", false)
	if err != nil || again.Password != "" {
		t.Errorf("second MailCredentials = %+v, %v; want no password", again, err)
	}
	if rotated, err := alice.MailCredentials(ctx, "shop", true); err != nil || rotated.Password == "" || rotated.Password == creds.Password {
		t.Errorf("rotated = %+v, %v", rotated, err)
	}

	_, err = alice.SetMailQuota(ctx, "shop", 5000)
	wantAPIError(t, err, rampart.EFORBIDDEN, "only an admin")
	_, err = alice.ResumeMail(ctx, "shop")
	wantAPIError(t, err, rampart.EFORBIDDEN, "only an admin")
	if st, err = admin.SetMailQuota(ctx, "shop", 40); err != nil || st.PerHour != 40 {
		t.Errorf("SetMailQuota = %+v, %v", st, err)
	}
	if st, err = admin.SetMailQuota(ctx, "shop", 0); err != nil || !st.PerHourDefault {
		t.Errorf("SetMailQuota 0 = %+v, %v", st, err)
	}
	_, err = admin.SetMailQuota(ctx, "shop", -3)
	wantAPIError(t, err, rampart.EINVALID, "between 1 and 100000")
	if st, err = admin.SuspendMail(ctx, "shop", "complaints"); err != nil || !st.Suspended || st.SuspendedReason != "complaints" {
		t.Errorf("SuspendMail = %+v, %v", st, err)
	}
	if st, err = admin.ResumeMail(ctx, "shop"); err != nil || st.Suspended {
		t.Errorf("ResumeMail = %+v, %v", st, err)
	}

	list, err := alice.MailLog(ctx, "shop", 0, 10)
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("MailLog of a quiet service = %v, %v", list, err)
	}
	if _, err := alice.MailLog(ctx, "shop", 7, 0); err != nil {
		t.Errorf("MailLog after 7: %v", err)
	}
	_, err = alice.MailLog(ctx, "nope", 0, 0)
	wantAPIError(t, err, rampart.ENOTFOUND, `service "nope" not found`)
	_, err = admin.MailDNS(ctx)
	wantAPIError(t, err, rampart.EUNAVAILABLE, "set mail.domain")
	_, err = alice.MailDNS(ctx)
	wantAPIError(t, err, rampart.EFORBIDDEN, "only an admin")
	_, err = alice.MailSettings(ctx, "")
	wantAPIError(t, err, rampart.EINVALID, "service name is required")
}
