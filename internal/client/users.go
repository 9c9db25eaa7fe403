package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
)

// userPath is the API path of one account, with its address escaped.
func userPath(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", fmt.Errorf("name the user by their email address, as `rampart user list` shows it")
	}
	return "users/" + url.PathEscape(email), nil
}

// ListUsers returns every account (admins only).
func (c *Client) ListUsers(ctx context.Context) ([]*rampart.User, error) {
	var out rampart.UserList
	if err := c.do(ctx, http.MethodGet, "users", nil, &out); err != nil {
		return nil, err
	}
	return out.Users, nil
}

// InviteUser creates an account without a password and has the server
// email its owner a link to choose one (admins only).
func (c *Client) InviteUser(ctx context.Context, in rampart.InviteInput) (*rampart.User, error) {
	var u rampart.User
	if err := c.do(ctx, http.MethodPost, "users", in, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpdateUser changes an account's role, whether it is disabled, or both
// (admins only), and returns it as it is now.
func (c *Client) UpdateUser(ctx context.Context, email string, in rampart.UserPatch) (*rampart.User, error) {
	p, err := userPath(email)
	if err != nil {
		return nil, err
	}
	var u rampart.User
	if err := c.do(ctx, http.MethodPatch, p, in, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// DeleteUser deletes an account; the server refuses while it owns services.
func (c *Client) DeleteUser(ctx context.Context, email string) error {
	p, err := userPath(email)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil)
}

// ResetPassword has the server email the user a link to choose a new
// password (admins only).
func (c *Client) ResetPassword(ctx context.Context, email string) error {
	p, err := userPath(email)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, p+"/reset-password", nil, nil)
}

// StartConfirm opens a confirmation with the caller's second factor (for
// emailed codes, one is sent now), which ChangePassword then carries.
func (c *Client) StartConfirm(ctx context.Context) (*rampart.LoginStep, error) {
	var step rampart.LoginStep
	if err := c.do(ctx, http.MethodPost, "me/confirm", nil, &step); err != nil {
		return nil, err
	}
	return &step, nil
}

// ChangePassword changes the caller's own password.
func (c *Client) ChangePassword(ctx context.Context, in rampart.PasswordChange) error {
	return c.do(ctx, http.MethodPost, "me/password", in, nil)
}

// ListTokens returns the API tokens of email's account, or the caller's
// own when email is empty.
func (c *Client) ListTokens(ctx context.Context, email string) ([]*rampart.APIToken, error) {
	p := "tokens"
	if email = strings.TrimSpace(email); email != "" {
		p += "?email=" + url.QueryEscape(email)
	}
	var out rampart.TokenList
	if err := c.do(ctx, http.MethodGet, p, nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// CreateToken creates an API token; the answer holds it this once.
func (c *Client) CreateToken(ctx context.Context, in rampart.TokenRequest) (*rampart.TokenCreated, error) {
	var out rampart.TokenCreated
	if err := c.do(ctx, http.MethodPost, "tokens", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeToken revokes the API token with the given ID.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "tokens/"+strconv.FormatInt(id, 10), nil, nil)
}
