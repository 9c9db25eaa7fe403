package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/demo"
)

// DemoAdminEmail is the account `serve --demo` creates.
const DemoAdminEmail = "admin@demo.localhost"

// Demo describes what SetUpDemo made.
type Demo struct {
	UpstreamURL string
	Email       string
	Password    string // empty when the account already existed
	Stop        func() error
}

// SetUpDemo starts the built-in demo app, creates the first admin account if
// there is none (with a random password), and points the "demo" service at
// the app, creating it if needed.
func SetUpDemo(ctx context.Context, a *app.App) (*Demo, error) {
	url, stop, err := demo.Listen()
	if err != nil {
		return nil, err
	}
	d := &Demo{UpstreamURL: url, Email: DemoAdminEmail, Stop: stop}
	fail := func(err error) (*Demo, error) { stop(); return nil, err }
	op := app.OperatorActor()
	n, err := a.Accounts.Count(ctx)
	if err != nil {
		return fail(err)
	}
	if n == 0 {
		d.Password = randomPassword()
		if _, err := a.Accounts.Create(ctx, op, rampart.UserInput{Email: d.Email, Password: d.Password, Role: rampart.RoleAdmin}); err != nil {
			return fail(fmt.Errorf("creating the demo admin: %w", err))
		}
	}
	// The demo app gets a new port at every start: repoint the service.
	if _, err := a.Services.Get(ctx, op, "demo"); rampart.ErrorCode(err) == rampart.ENOTFOUND {
		_, err = a.Services.Create(ctx, op, rampart.ServiceInput{Name: "demo", Upstreams: []string{url}})
		if err != nil {
			return fail(fmt.Errorf("creating the demo service: %w", err))
		}
	} else if err != nil {
		return fail(err)
	} else if _, err := a.Services.Update(ctx, op, rampart.ServiceUpdate{Name: "demo", Upstreams: []string{url}}); err != nil {
		return fail(fmt.Errorf("pointing the demo service at the demo app: %w", err))
	}
	return d, nil
}

// randomPassword returns 4 groups of 5 characters from an alphabet without
// look-alikes (about 95 bits), easy to copy from a terminal.
func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 0, 23)
	for i := 0; i < 20; i++ {
		if i > 0 && i%5 == 0 {
			b = append(b, '-')
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b = append(b, alphabet[n.Int64()])
	}
	return string(b)
}
