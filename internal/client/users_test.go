package client

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

func TestUsersAndTokens(t *testing.T) {
	s := newServer(t)
	ctx := context.Background()
	_, err := s.client(t, s.alice).ListUsers(ctx)
	wantAPIError(t, err, rampart.EFORBIDDEN, "only an admin")

	c := s.client(t, s.admin)
	u, err := c.InviteUser(ctx, rampart.InviteInput{Email: "carol@example.com", Role: rampart.RoleMember})
	if err != nil || u.Status != rampart.UserInvited {
		t.Fatalf("InviteUser = %+v, %v", u, err)
	}
	users, err := c.ListUsers(ctx)
	if err != nil || len(users) != 3 || users[0].Email != "admin@example.com" {
		t.Fatalf("ListUsers = %v, %v", users, err)
	}
	disabled := true
	if u, err = c.UpdateUser(ctx, "alice@example.com", rampart.UserPatch{Disabled: &disabled}); err != nil || u.Status != rampart.UserDisabled {
		t.Fatalf("disable = %+v, %v", u, err)
	}
	_, err = s.client(t, s.alice).Me(ctx)
	wantAPIError(t, err, rampart.EUNAUTHORIZED, "disabled")
	disabled = false
	role := rampart.RoleAdmin
	if u, err = c.UpdateUser(ctx, "alice@example.com", rampart.UserPatch{Disabled: &disabled, Role: &role}); err != nil || u.Status != rampart.UserActive || u.Role != rampart.RoleAdmin {
		t.Fatalf("enable and promote = %+v, %v", u, err)
	}
	if err := c.ResetPassword(ctx, "alice@example.com"); err != nil {
		t.Errorf("ResetPassword: %v", err)
	}
	if err := c.DeleteUser(ctx, "carol@example.com"); err != nil {
		t.Errorf("DeleteUser: %v", err)
	}
	wantAPIError(t, c.DeleteUser(ctx, "carol@example.com"), rampart.ENOTFOUND, "no user")
	if err := c.DeleteUser(ctx, " "); err == nil || !strings.Contains(err.Error(), "email address") {
		t.Errorf("DeleteUser without an address: %v", err)
	}

	created, err := c.CreateToken(ctx, rampart.TokenRequest{Name: "ci"})
	if err != nil || created.Token == "" || created.TokenInfo.ExpiresAt == nil {
		t.Fatalf("CreateToken = %+v, %v", created, err)
	}
	tokens, err := c.ListTokens(ctx, "")
	if err != nil || len(tokens) != 2 || tokens[1].Name != "ci" {
		t.Fatalf("ListTokens = %v, %v", tokens, err)
	}
	if tokens, err := c.ListTokens(ctx, "alice@example.com"); err != nil || len(tokens) != 1 {
		t.Errorf("ListTokens(alice) = %v, %v", tokens, err)
	}
	if err := c.RevokeToken(ctx, created.TokenInfo.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.client(t, created.Token).Me(ctx)
	wantAPIError(t, err, rampart.EUNAUTHORIZED, "revoked")

	// A password change, confirmed with the emailed code.
	step, err := c.StartConfirm(ctx)
	if err != nil || step.Method != rampart.MFAEmail {
		t.Fatalf("StartConfirm = %+v, %v", step, err)
	}
	err = c.ChangePassword(ctx, rampart.PasswordChange{CurrentPassword: "wrong password!", NewPassword: "a new long password", Challenge: step.Challenge, Code: "123456"})
	wantAPIError(t, err, rampart.EUNAUTHORIZED, "current password")
}
