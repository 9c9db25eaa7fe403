package client

import (
	"context"
	"net/url"

	"github.com/rampart-dev/rampart"
)

// Login starts a login with a password (the client needs no token). The
// answer is the second factor's step, or the new token when the account
// has no second factor.
func (c *Client) Login(ctx context.Context, email, password string) (*rampart.LoginResponse, error) {
	var out rampart.LoginResponse
	err := c.do(ctx, "POST", "login", rampart.LoginRequest{Email: email, Password: password}, &out)
	return &out, err
}

// LoginCode finishes a login with its second factor and returns the new
// token.
func (c *Client) LoginCode(ctx context.Context, in rampart.LoginCodeRequest) (*rampart.LoginResponse, error) {
	var out rampart.LoginResponse
	err := c.do(ctx, "POST", "login/code", in, &out)
	return &out, err
}

// LoginResend asks for a new emailed code.
func (c *Client) LoginResend(ctx context.Context, challenge string) (*rampart.LoginResponse, error) {
	var out rampart.LoginResponse
	err := c.do(ctx, "POST", "login/resend", rampart.LoginResendRequest{Challenge: challenge}, &out)
	return &out, err
}

// ResetMFA resets a user's second factor to email codes (admins only).
func (c *Client) ResetMFA(ctx context.Context, email string) (*rampart.User, error) {
	var out rampart.User
	err := c.do(ctx, "POST", "users/"+url.PathEscape(email)+"/reset-mfa", nil, &out)
	return &out, err
}
