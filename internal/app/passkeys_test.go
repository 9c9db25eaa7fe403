package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

var localSite = PasskeySite{Host: "localhost", Origin: "http://localhost:7070"}

// addStoredPasskey puts a passkey straight into the store, as a finished
// registration would.
func (f *mfaFixture) addStoredPasskey(t *testing.T, u *rampart.User, name, rpID string) *rampart.Passkey {
	t.Helper()
	p := &rampart.Passkey{UserID: u.ID, CredentialID: []byte("cred-" + name), PublicKey: []byte("key"), RPID: rpID, Name: name}
	if err := f.st.CreatePasskey(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasskeySites(t *testing.T) {
	f := newMFAFixture(t)
	f.app.core.opts.AdminDomain = "rampart.example.com"
	me := UserActor(f.member, "192.0.2.9")
	for _, c := range []struct {
		site PasskeySite
		want string // "" for accepted, else part of the refusal
	}{
		{localSite, ""},
		{PasskeySite{"rampart.example.com", "https://rampart.example.com"}, ""},
		{PasskeySite{"rampart.example.com", "https://rampart.example.com:8443"}, ""},
		{PasskeySite{"127.0.0.1", "http://127.0.0.1:7070"}, "opened by its name, not 127.0.0.1: use http://localhost:<port> on this machine, or https://rampart.example.com"},
		{PasskeySite{"[::1]", "http://[::1]:7070"}, "opened by its name"},
		{PasskeySite{"evil.example", "https://evil.example"}, "do not work at evil.example"},
		{PasskeySite{"rampart.example.com", "http://rampart.example.com"}, "need HTTPS"},
		{PasskeySite{"localhost", "http://other:7070"}, "does not match"},
	} {
		opts, err := f.app.Accounts.BeginPasskeyRegistration(t.Context(), me, c.site, "laptop")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.site, err)
		case c.want == "" && !strings.Contains(string(opts), `"rp":{"name":"rampart","id":"`+c.site.Host+`"}`):
			t.Errorf("%+v: options %s do not name the relying party", c.site, opts)
		case c.want != "" && (rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want a refusal saying %q", c.site, err, c.want)
		}
	}
}

func TestPasskeyNamesAndLimit(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	me := UserActor(f.member, "192.0.2.9")
	begin := func(name string) error {
		_, err := f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, name)
		return err
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", 65), "two\nlines"} {
		if err := begin(name); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("name %q: %v, want EINVALID", name, err)
		}
	}
	if err := begin(strings.Repeat("é", 64)); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	f.addStoredPasskey(t, f.member, "Laptop", "localhost")
	if err := begin(" laptop "); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("a name taken (in another case): %v, want ECONFLICT", err)
	}
	for i := 1; i < rampart.MaxPasskeys; i++ {
		f.addStoredPasskey(t, f.member, fmt.Sprintf("key %d", i), "localhost")
	}
	if err := begin("one more"); rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "remove one") {
		t.Errorf("the 11th: %v, want a refusal saying to remove one", err)
	}
	// A name in use by someone else is free for this user.
	f.addStoredPasskey(t, f.admin, "phone", "localhost")
	if _, err := f.app.Accounts.BeginPasskeyRegistration(ctx, UserActor(f.admin, ""), localSite, "laptop"); err != nil {
		t.Errorf("admin's first passkey: %v", err)
	}
}

func TestPasskeyNeedsASecondFactor(t *testing.T) {
	f := newMFAFixture(t)
	f.member.MFA = rampart.MFANone
	if err := f.st.SetUserMFA(t.Context(), f.member); err != nil {
		t.Fatal(err)
	}
	_, err := f.app.Accounts.BeginPasskeyRegistration(t.Context(), UserActor(f.member, ""), localSite, "laptop")
	if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "turn two-factor authentication on first") {
		t.Fatalf("MFA off: %v", err)
	}
	_, err = f.app.Accounts.BeginPasskeyRegistration(t.Context(), Actor{}, localSite, "laptop")
	if rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("nobody: %v", err)
	}
}

func TestPasskeyRegistrationRefusals(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	me := UserActor(f.member, "192.0.2.9")
	// Without a begin, or after it expired, or from another site.
	if _, _, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, "laptop", []byte("{}")); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("finish without begin: %v", err)
	}
	if _, err := f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, "laptop"); err != nil {
		t.Fatal(err)
	}
	f.clock.add(rampart.PasskeyCeremonyTTL)
	if _, _, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, "laptop", []byte("{}")); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("finish after the ceremony expired: %v", err)
	}
	if _, err := f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, "laptop"); err != nil {
		t.Fatal(err)
	}
	other := PasskeySite{Host: "localhost", Origin: "http://localhost:9999"}
	if _, _, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, other, "laptop", []byte("{}")); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("finish at another origin: %v", err)
	}
	// A begin is spent by one finish, even a failed one.
	if _, err := f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, "laptop", []byte(`{"id":"x"}`)); rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("garbage: %v", err)
	}
	if _, _, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, "laptop", []byte(`{"id":"x"}`)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("second finish of one begin: %v", err)
	}
	if list, _ := f.app.Accounts.ListPasskeys(ctx, me); len(list) != 0 {
		t.Fatalf("refusals stored %d passkeys", len(list))
	}
}

func TestRemovePasskey(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	me := UserActor(f.member, "192.0.2.9")
	mine := f.addStoredPasskey(t, f.member, "laptop", "localhost")
	theirs := f.addStoredPasskey(t, f.admin, "phone", "localhost")
	if _, err := f.app.Accounts.RemovePasskey(ctx, me, theirs.ID); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("removing another user's passkey: %v, want ENOTFOUND", err)
	}
	if _, err := f.st.PasskeyByID(ctx, theirs.ID); err != nil {
		t.Fatalf("the other user's passkey is gone: %v", err)
	}
	before, mails := f.auditCount(t), len(f.mail.All("mia@example.com"))
	if _, err := f.app.Accounts.RemovePasskey(ctx, me, mine.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.app.Accounts.ListPasskeys(ctx, me); len(list) != 0 {
		t.Fatalf("still listed: %v", list)
	}
	if f.auditCount(t) != before+1 {
		t.Error("removal not audited")
	}
	all := f.mail.All("mia@example.com")
	if len(all) != mails+1 || !strings.Contains(all[len(all)-1].Text, `"laptop"`) {
		t.Errorf("the user was not emailed about the removal: %d mails", len(all))
	}
	if _, err := f.app.Accounts.RemovePasskey(ctx, me, mine.ID); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("removing twice: %v", err)
	}
}

func TestPasskeyLoginRefusals(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	step := f.start(t)
	if usable, total, err := f.app.Accounts.PasskeysForLogin(ctx, step.Challenge, localSite); usable != 0 || total != 0 || err != nil {
		t.Fatalf("PasskeysForLogin without passkeys = %d, %d, %v", usable, total, err)
	}
	if _, err := f.app.Accounts.BeginPasskeyLogin(ctx, step.Challenge, localSite); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Fatalf("begin without passkeys: %v", err)
	}
	f.addStoredPasskey(t, f.member, "laptop", "localhost")
	f.addStoredPasskey(t, f.member, "elsewhere", "rampart.example.com")
	if usable, total, err := f.app.Accounts.PasskeysForLogin(ctx, step.Challenge, localSite); usable != 1 || total != 2 || err != nil {
		t.Fatalf("PasskeysForLogin = %d, %d, %v; want 1 of 2", usable, total, err)
	}
	if _, _, err := f.app.Accounts.PasskeysForLogin(ctx, step.Challenge, PasskeySite{"127.0.0.1", "http://127.0.0.1:7070"}); err == nil || !strings.Contains(err.Error(), "by its name") {
		t.Fatalf("PasskeysForLogin by IP: %v", err)
	}
	if _, err := f.app.Accounts.BeginPasskeyLogin(ctx, "not-a-login", localSite); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("begin for no login: %v", err)
	}

	// Without a begin: refused, and counted like a wrong code.
	before := f.auditCount(t)
	if _, err := f.app.Accounts.FinishPasskeyLogin(ctx, step.Challenge, localSite, []byte("{}"), "192.0.2.9"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("finish without begin: %v", err)
	}
	if f.auditCount(t) != before+1 {
		t.Error("the refused passkey was not audited as a failed login")
	}
	opts, err := f.app.Accounts.BeginPasskeyLogin(ctx, step.Challenge, localSite)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			RPID  string `json:"rpId"`
			Allow []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.RPID != "localhost" || len(o.PublicKey.Allow) != 1 {
		t.Fatalf("login options %s: want rpId localhost and the one passkey made there", opts)
	}
	if _, err := f.app.Accounts.FinishPasskeyLogin(ctx, step.Challenge, localSite, []byte(`{"id":"x"}`), "192.0.2.9"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED || !strings.Contains(err.Error(), "not accepted") {
		t.Fatalf("garbage answer: %v", err)
	}
	// The attempts are the code's: after EmailCodeAttempts the login is over,
	// and the emailed code no longer opens it either.
	for range rampart.EmailCodeAttempts - 2 {
		_, _ = f.app.Accounts.FinishPasskeyLogin(ctx, step.Challenge, localSite, []byte("{}"), "192.0.2.9")
	}
	code := f.mail.Code(t, "mia@example.com")
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code, "192.0.2.9"); err == nil {
		t.Fatal("the right code worked after the attempts ran out on passkeys")
	}
}

func TestResetMFARemovesPasskeys(t *testing.T) {
	f := newMFAFixture(t)
	f.addStoredPasskey(t, f.member, "laptop", "localhost")
	if _, err := f.app.Accounts.ResetMFA(t.Context(), OperatorActor(), "mia@example.com"); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.app.Accounts.ListPasskeys(t.Context(), UserActor(f.member, "")); len(list) != 0 {
		t.Fatalf("after a reset %d passkeys are left", len(list))
	}
}
