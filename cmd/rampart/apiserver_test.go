package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/api"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/store"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// apiServer is a real API on a fresh store, for the CLI's network
// commands, with an admin (admin@example.com) and a member
// (mia@example.com) holding a token each.
type apiServer struct {
	t             *testing.T
	app           *app.App
	db            store.Store // the app's store, for what only the data plane writes
	url           string
	admin, member string // tokens
}

// newAPIServer starts one; opts tunes the service layer (its Logger is set
// here).
func newAPIServer(t *testing.T, opts app.Options) *apiServer {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a := app.New(db, opts)
	mux := http.NewServeMux()
	mux.Handle(rampart.APIPrefix, api.New(a, api.Options{Logger: opts.Logger}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Setenv("RAMPART_CLI_CONFIG", t.TempDir()+"/cli.json")
	s := &apiServer{t: t, app: a, db: db, url: srv.URL}
	s.admin = s.user("admin@example.com", rampart.RoleAdmin)
	s.member = s.user("mia@example.com", rampart.RoleMember)
	return s
}

// user creates an account and returns a token of it.
func (s *apiServer) user(email string, role rampart.Role) string {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.app.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: email, Password: "correct horse battery", Role: role}); err != nil {
		s.t.Fatal(err)
	}
	tok, _, err := s.app.Accounts.CreateToken(ctx, app.OperatorActor(), rampart.TokenInput{Email: email, Name: "test"})
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// run runs the CLI against the server with token tok and stdin.
func (s *apiServer) run(tok, stdin string, args ...string) (int, string, string) {
	s.t.Helper()
	var out, errOut strings.Builder
	code := run(s.t.Context(), append(args, "--server", s.url, "--token", tok), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}
