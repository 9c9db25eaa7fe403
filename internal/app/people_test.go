package app

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
)

type peopleFixture struct {
	*fixture
	mail *mailertest.Outbox
}

func newPeopleFixture(t *testing.T) *peopleFixture {
	t.Helper()
	mail := &mailertest.Outbox{}
	return &peopleFixture{fixture: newFixtureWith(t, Options{Mailer: mail, PublicURL: "https://rampart.test/"}), mail: mail}
}

var linkRE = regexp.MustCompile(`https://rampart\.test/(invite|reset)/([A-Za-z0-9_-]{43})\b`)

// link returns the secret of the link in the last mail to to, and checks
// its page.
func (f *peopleFixture) link(t *testing.T, to, page string) string {
	t.Helper()
	m := linkRE.FindStringSubmatch(f.mail.Last(t, to).Text)
	if m == nil || m[1] != page {
		t.Fatalf("the last mail to %s has no /%s/ link:\n%s", to, page, f.mail.Last(t, to).Text)
	}
	return m[2]
}

// wantErr fails t unless err has code and its message contains substr.
func wantErr(t *testing.T, what string, err error, code, substr string) {
	t.Helper()
	if rampart.ErrorCode(err) != code || !strings.Contains(rampart.ErrorMessage(err), substr) {
		t.Errorf("%s: %v (code %q); want %s containing %q", what, err, rampart.ErrorCode(err), code, substr)
	}
}

// audited reports whether the newest audit events include action.
func (f *fixture) audited(t *testing.T, action, detail string) bool {
	t.Helper()
	evs, err := f.app.Audit.List(t.Context(), OperatorActor(), rampart.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Action == action && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func (f *fixture) login(t *testing.T, email, password string) (*rampart.User, error) {
	t.Helper()
	return f.app.Accounts.Login(t.Context(), rampart.LoginInput{Email: email, Password: password, IP: "192.0.2.7"})
}

func TestInviteAndAccept(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	admin := UserActor(f.admin, "192.0.2.1")
	u, err := f.app.Accounts.Invite(ctx, admin, rampart.InviteInput{Email: " New@Example.com", Role: rampart.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "new@example.com" || u.Status != rampart.UserInvited {
		t.Fatalf("invited user = %+v", u)
	}
	if !f.audited(t, "user.invite", "email=new@example.com role=member") {
		t.Error("no user.invite in the audit log")
	}
	first := f.link(t, "new@example.com", "invite")

	// No password works before the link is used, and the answer is the
	// one for a wrong password.
	_, errInvited := f.login(t, "new@example.com", "")
	_, errWrong := f.login(t, "mia@example.com", "wrong password!")
	if errInvited == nil || errInvited.Error() != errWrong.Error() {
		t.Errorf("invited login = %v; want the wrong-password answer %v", errInvited, errWrong)
	}

	// Inviting again sends a new link, voids the old and takes the new role.
	if u, err = f.app.Accounts.Invite(ctx, admin, rampart.InviteInput{Email: "new@example.com", Role: rampart.RoleAdmin}); err != nil || u.Role != rampart.RoleAdmin {
		t.Fatalf("re-invite = %+v, %v", u, err)
	}
	secret := f.link(t, "new@example.com", "invite")
	if secret == first {
		t.Fatal("a re-invite sent the same link")
	}
	_, err = f.app.Accounts.AcceptLink(ctx, first, "a good long password", "192.0.2.7")
	wantErr(t, "the replaced link", err, rampart.ENOTFOUND, "ask an admin")

	email, kind, expires, err := f.app.Accounts.LinkState(ctx, secret)
	if err != nil || email != "new@example.com" || kind != rampart.LinkInvite || !expires.Equal(f.clock.now().Add(7*24*time.Hour)) {
		t.Errorf("LinkState = %q %q %v %v", email, kind, expires, err)
	}
	_, err = f.app.Accounts.AcceptLink(ctx, secret, "short", "192.0.2.7")
	wantErr(t, "short password", err, rampart.EINVALID, "too short")
	if u, err = f.app.Accounts.AcceptLink(ctx, secret, "a good long password", "192.0.2.7"); err != nil || u.Status != rampart.UserActive {
		t.Fatalf("AcceptLink = %+v, %v", u, err)
	}
	if !f.audited(t, "password.set", "invite link") {
		t.Error("no password.set in the audit log")
	}
	if _, err := f.login(t, "new@example.com", "a good long password"); err != nil {
		t.Errorf("login after accepting: %v", err)
	}
	_, err = f.app.Accounts.AcceptLink(ctx, secret, "another long password", "192.0.2.7")
	wantErr(t, "a spent link", err, rampart.ENOTFOUND, "already used")

	// An account that exists is not invited again.
	_, err = f.app.Accounts.Invite(ctx, admin, rampart.InviteInput{Email: "mia@example.com", Role: rampart.RoleMember})
	wantErr(t, "inviting an active user", err, rampart.ECONFLICT, "reset-password")
	_, err = f.app.Accounts.Invite(ctx, admin, rampart.InviteInput{Email: "x@example.com", Role: "root"})
	wantErr(t, "unknown role", err, rampart.EINVALID, "role")
}

func TestInviteLinkExpires(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	if _, err := f.app.Accounts.Invite(ctx, OperatorActor(), rampart.InviteInput{Email: "late@example.com", Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	secret := f.link(t, "late@example.com", "invite")
	f.clock.add(7 * 24 * time.Hour)
	_, err := f.app.Accounts.AcceptLink(ctx, secret, "a good long password", "")
	wantErr(t, "an expired link", err, rampart.ENOTFOUND, "expired")
	f.clock.add(time.Second)
	if n, err := f.app.Accounts.PruneLinks(ctx); err != nil || n != 1 {
		t.Errorf("PruneLinks = %d, %v; want 1", n, err)
	}
}

func TestLinksNeedMailAndAddress(t *testing.T) {
	f := newFixture(t)
	_, err := f.app.Accounts.Invite(t.Context(), OperatorActor(), rampart.InviteInput{Email: "x@example.com", Role: rampart.RoleMember})
	wantErr(t, "invite without a mailer", err, rampart.EUNAVAILABLE, "mail.smtp")
	err = f.app.Accounts.ResetPassword(t.Context(), OperatorActor(), "mia@example.com")
	wantErr(t, "reset without a mailer", err, rampart.EUNAVAILABLE, "mail.smtp")
}

func TestMemberRefused(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	m := UserActor(f.member, "192.0.2.9")
	const email = "admin@example.com"
	_, err := f.app.Accounts.List(ctx, m)
	wantErr(t, "List", err, rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Accounts.Invite(ctx, m, rampart.InviteInput{Email: "x@example.com", Role: rampart.RoleMember})
	wantErr(t, "Invite", err, rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Accounts.SetRole(ctx, m, "mia@example.com", rampart.RoleAdmin)
	wantErr(t, "SetRole", err, rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Accounts.Disable(ctx, m, email)
	wantErr(t, "Disable", err, rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Accounts.Enable(ctx, m, email)
	wantErr(t, "Enable", err, rampart.EFORBIDDEN, "only an admin")
	wantErr(t, "Delete", f.app.Accounts.Delete(ctx, m, email), rampart.EFORBIDDEN, "only an admin")
	wantErr(t, "ResetPassword", f.app.Accounts.ResetPassword(ctx, m, email), rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Accounts.ListTokens(ctx, m, email)
	wantErr(t, "ListTokens of another", err, rampart.EFORBIDDEN, "your own")
	_, tok, err := f.app.Accounts.CreateToken(ctx, OperatorActor(), rampart.TokenInput{Email: email, Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "RevokeToken of another", f.app.Accounts.RevokeToken(ctx, m, tok.ID), rampart.ENOTFOUND, "not found")
	_, err = f.app.Accounts.List(ctx, Actor{})
	wantErr(t, "List by nobody", err, rampart.EUNAUTHORIZED, "authentication required")
}

func TestLastAdminStays(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	op := OperatorActor()
	// An invited admin cannot log in yet, so does not count.
	if _, err := f.app.Accounts.Invite(ctx, op, rampart.InviteInput{Email: "next@example.com", Role: rampart.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	_, err := f.app.Accounts.SetRole(ctx, op, "admin@example.com", rampart.RoleMember)
	wantErr(t, "demote the last admin", err, rampart.ECONFLICT, "last active admin")
	_, err = f.app.Accounts.Disable(ctx, op, "admin@example.com")
	wantErr(t, "disable the last admin", err, rampart.ECONFLICT, "last active admin")
	wantErr(t, "delete the last admin", f.app.Accounts.Delete(ctx, op, "admin@example.com"), rampart.ECONFLICT, "last active admin")

	admin := UserActor(f.admin, "")
	_, err = f.app.Accounts.Disable(ctx, admin, "admin@example.com")
	wantErr(t, "disable oneself", err, rampart.EFORBIDDEN, "your own account")

	// With a second admin, either can go.
	u, err := f.app.Accounts.SetRole(ctx, admin, "mia@example.com", rampart.RoleAdmin)
	if err != nil || u.Role != rampart.RoleAdmin {
		t.Fatalf("promote: %+v, %v", u, err)
	}
	if !f.audited(t, "user.role", "email=mia@example.com role=admin") {
		t.Error("no user.role in the audit log")
	}
	if f.mail.Last(t, "mia@example.com").Subject != "Your rampart role changed" {
		t.Error("the promoted user was not emailed")
	}
	if _, err := f.app.Accounts.SetRole(ctx, UserActor(u, ""), "admin@example.com", rampart.RoleMember); err != nil {
		t.Errorf("demoting one of two admins: %v", err)
	}
	demoted, err := f.st.UserByID(ctx, f.admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Accounts.Disable(ctx, UserActor(demoted, ""), "mia@example.com")
	wantErr(t, "a member disabling the last admin", err, rampart.EFORBIDDEN, "only an admin")
	_, err = f.app.Accounts.Disable(ctx, op, "mia@example.com")
	wantErr(t, "disable the new last admin", err, rampart.ECONFLICT, "last active admin")
}

func TestDisableStopsTokensAndSessionsAtOnce(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	plain, _, err := f.app.Accounts.CreateToken(ctx, OperatorActor(), rampart.TokenInput{Email: "mia@example.com", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, err := f.app.Accounts.StartSession(ctx, f.member, "192.0.2.9")
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.app.Accounts.Disable(ctx, UserActor(f.admin, ""), "mia@example.com")
	if err != nil || u.Status != rampart.UserDisabled || u.DisabledAt == nil {
		t.Fatalf("Disable = %+v, %v", u, err)
	}
	if !f.audited(t, "user.disable", "email=mia@example.com") {
		t.Error("no user.disable in the audit log")
	}
	if f.mail.Last(t, "mia@example.com").Subject != "Your rampart account was disabled" {
		t.Error("the user was not emailed")
	}
	_, err = f.app.Accounts.Authenticate(ctx, plain)
	wantErr(t, "a disabled user's token", err, rampart.EUNAUTHORIZED, "disabled")
	_, _, err = f.app.Accounts.Session(ctx, cookie)
	wantErr(t, "a disabled user's session", err, rampart.EUNAUTHORIZED, "session has ended")
	_, err = f.login(t, "mia@example.com", "member password")
	wantErr(t, "a disabled user's right password", err, rampart.EFORBIDDEN, "this account is disabled: ask an admin")
	_, err = f.login(t, "mia@example.com", "wrong password!")
	wantErr(t, "a disabled user's wrong password", err, rampart.EUNAUTHORIZED, "email or password is incorrect")

	if _, err := f.app.Accounts.Enable(ctx, UserActor(f.admin, ""), "mia@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Accounts.Authenticate(ctx, plain); err != nil {
		t.Errorf("token after Enable: %v", err)
	}
	if _, err := f.login(t, "mia@example.com", "member password"); err != nil {
		t.Errorf("login after Enable: %v", err)
	}
	if !f.audited(t, "user.enable", "email=mia@example.com") {
		t.Error("no user.enable in the audit log")
	}
}

func TestDeleteUser(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	plain, _, err := f.app.Accounts.CreateToken(ctx, OperatorActor(), rampart.TokenInput{Email: "mia@example.com", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	var svcs []*rampart.Service
	for _, name := range []string{"shop", "blog"} {
		svc := &rampart.Service{Name: name, OwnerID: f.member.ID, Upstreams: []string{"http://127.0.0.1:8080"}, State: rampart.StateActive}
		if err := f.st.CreateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		svcs = append(svcs, svc)
	}
	admin := UserActor(f.admin, "")
	wantErr(t, "delete an owner", f.app.Accounts.Delete(ctx, admin, "mia@example.com"), rampart.ECONFLICT, "mia@example.com owns 2 services (blog, shop): hand them to another account (rampart service transfer NAME --to EMAIL) or delete them first")
	for _, s := range svcs {
		if err := f.st.DeleteService(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.app.Accounts.Delete(ctx, admin, "mia@example.com"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !f.audited(t, "user.delete", "email=mia@example.com") {
		t.Error("no user.delete in the audit log")
	}
	_, err = f.app.Accounts.Authenticate(ctx, plain)
	wantErr(t, "a deleted user's token", err, rampart.EUNAUTHORIZED, "")
	wantErr(t, "delete again", f.app.Accounts.Delete(ctx, admin, "mia@example.com"), rampart.ENOTFOUND, "user list")
}

func TestResetPassword(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	cookie, _, err := f.app.Accounts.StartSession(ctx, f.member, "192.0.2.9")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.Accounts.ResetPassword(ctx, UserActor(f.admin, ""), "mia@example.com"); err != nil {
		t.Fatal(err)
	}
	if !f.audited(t, "password.reset", "email=mia@example.com") {
		t.Error("no password.reset in the audit log")
	}
	secret := f.link(t, "mia@example.com", "reset")
	// Until the link is used, nothing changed.
	if _, err := f.login(t, "mia@example.com", "member password"); err != nil {
		t.Errorf("the old password stopped working before the link was used: %v", err)
	}
	if _, _, err := f.app.Accounts.Session(ctx, cookie); err != nil {
		t.Errorf("session ended before the link was used: %v", err)
	}
	if _, kind, exp, err := f.app.Accounts.LinkState(ctx, secret); err != nil || kind != rampart.LinkReset || !exp.Equal(f.clock.now().Add(time.Hour)) {
		t.Errorf("LinkState = %q %v %v", kind, exp, err)
	}
	if _, err := f.app.Accounts.AcceptLink(ctx, secret, "a brand new password", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.app.Accounts.Session(ctx, cookie); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("session after the reset: %v", err)
	}
	if _, err := f.login(t, "mia@example.com", "member password"); err == nil {
		t.Error("the old password works after the reset")
	}
	if _, err := f.login(t, "mia@example.com", "a brand new password"); err != nil {
		t.Errorf("the new password: %v", err)
	}

	// A reset link lasts an hour.
	if err := f.app.Accounts.ResetPassword(ctx, OperatorActor(), "mia@example.com"); err != nil {
		t.Fatal(err)
	}
	secret = f.link(t, "mia@example.com", "reset")
	f.clock.add(time.Hour)
	_, err = f.app.Accounts.AcceptLink(ctx, secret, "yet another password", "")
	wantErr(t, "an expired reset link", err, rampart.ENOTFOUND, "expired")

	if _, err := f.app.Accounts.Invite(ctx, OperatorActor(), rampart.InviteInput{Email: "new@example.com", Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "reset an invited user", f.app.Accounts.ResetPassword(ctx, OperatorActor(), "new@example.com"), rampart.ECONFLICT, "invite them again")
}

func TestChangePassword(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	me := UserActor(f.member, "192.0.2.9")
	keep, kept, _ := f.app.Accounts.StartSession(ctx, f.member, "192.0.2.9")
	other, _, _ := f.app.Accounts.StartSession(ctx, f.member, "198.51.100.1")

	step, err := f.app.Accounts.StartConfirm(ctx, me)
	if err != nil || step.Method != rampart.MFAEmail {
		t.Fatalf("StartConfirm = %+v, %v", step, err)
	}
	code := f.mail.Code(t, "mia@example.com")
	err = f.app.Accounts.ChangePassword(ctx, me, "member password", "short", step.Challenge, code, kept.ID)
	wantErr(t, "a short new password", err, rampart.EINVALID, "too short")
	err = f.app.Accounts.ChangePassword(ctx, me, "wrong password!", "a brand new password", step.Challenge, code, kept.ID)
	wantErr(t, "a wrong current password", err, rampart.EUNAUTHORIZED, "current password")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	err = f.app.Accounts.ChangePassword(ctx, me, "member password", "a brand new password", step.Challenge, wrong, kept.ID)
	wantErr(t, "a wrong code", err, rampart.EUNAUTHORIZED, "code")
	if _, err := f.login(t, "mia@example.com", "member password"); err != nil {
		t.Fatalf("the password changed without the right code: %v", err)
	}
	if err := f.app.Accounts.ChangePassword(ctx, me, "member password", "a brand new password", step.Challenge, code, kept.ID); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if !f.audited(t, "password.change", "1 other sessions ended") {
		t.Error("no password.change in the audit log")
	}
	if _, _, err := f.app.Accounts.Session(ctx, keep); err != nil {
		t.Errorf("the caller's own session ended: %v", err)
	}
	if _, _, err := f.app.Accounts.Session(ctx, other); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("another session survived: %v", err)
	}
	if _, err := f.login(t, "mia@example.com", "a brand new password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if f.mail.Last(t, "mia@example.com").Subject != "Your rampart password was changed" {
		t.Error("the user was not emailed")
	}

	// Without MFA there is no code to give.
	u, _ := f.st.UserByID(ctx, f.member.ID)
	u.MFA = rampart.MFANone
	if err := f.st.SetUserMFA(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := f.app.Accounts.ChangePassword(ctx, me, "a brand new password", "the third password", "", "", 0); err != nil {
		t.Errorf("ChangePassword without MFA: %v", err)
	}
	_ = f.app.Accounts.ChangePassword(ctx, OperatorActor(), "a", "b", "", "", 0)
}

func TestTokenListAndRevoke(t *testing.T) {
	f := newPeopleFixture(t)
	ctx := t.Context()
	me := UserActor(f.member, "")
	plain, tok, err := f.app.Accounts.CreateToken(ctx, me, rampart.TokenInput{Email: "mia@example.com", Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	plain2, tok2, err := f.app.Accounts.CreateToken(ctx, me, rampart.TokenInput{Email: "mia@example.com", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		actor Actor
		email string
	}{{me, ""}, {me, "MIA@example.com"}, {UserActor(f.admin, ""), "mia@example.com"}, {OperatorActor(), "mia@example.com"}} {
		list, err := f.app.Accounts.ListTokens(ctx, tc.actor, tc.email)
		if err != nil || len(list) != 2 || list[0].Name != "laptop" {
			t.Errorf("ListTokens(%s, %q) = %v, %v", tc.actor.name(), tc.email, list, err)
		}
	}
	if err := f.app.Accounts.RevokeToken(ctx, me, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Accounts.Authenticate(ctx, plain)
	wantErr(t, "a revoked token", err, rampart.EUNAUTHORIZED, "revoked")
	if !f.audited(t, "token.revoke", `name="laptop"`) {
		t.Error("no token.revoke in the audit log")
	}
	sent := f.mail.Count()
	if err := f.app.Accounts.RevokeToken(ctx, UserActor(f.admin, ""), tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Accounts.Authenticate(ctx, plain2); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("token revoked by an admin: %v", err)
	}
	if f.mail.Count() != sent+1 || !strings.Contains(f.mail.Last(t, "mia@example.com").Text, `"ci"`) {
		t.Error("the owner was not told an admin revoked their token")
	}
	wantErr(t, "revoke again", f.app.Accounts.RevokeToken(ctx, me, tok.ID), rampart.ENOTFOUND, "token list")
}
