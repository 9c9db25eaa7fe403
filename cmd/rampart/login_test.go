package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/api"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// TestLoginWithEmail: `rampart login --email` asks for the password, then
// the emailed code, and saves a token that works; a wrong password saves
// nothing.
func TestLoginWithEmail(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mail := &mailertest.Outbox{}
	a := app.New(db, app.Options{Mailer: mail})
	if _, err := a.Accounts.Create(t.Context(), app.OperatorActor(), rampart.UserInput{Email: "ada@example.com", Password: "correct horse battery", Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(a, api.Options{}))
	t.Cleanup(srv.Close)
	cfgPath := filepath.Join(t.TempDir(), "cli.json")
	t.Setenv("RAMPART_CLI_CONFIG", cfgPath)

	// A wrong password: refused, nothing saved, no mail.
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"login", "--server", srv.URL, "--email", "ada@example.com", "--password-stdin"}, strings.NewReader("wrong password!\n"), &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), "email or password is incorrect") {
		t.Fatalf("wrong password: exit %d, stderr %q", code, errOut.String())
	}
	if _, err := os.Stat(cfgPath); !os.IsNotExist(err) || mail.Count() != 0 {
		t.Fatalf("a wrong password saved a config (%v) or sent %d mails", err, mail.Count())
	}

	// The password, then the code once it has arrived.
	pr, pw := io.Pipe()
	done := make(chan int)
	out.Reset()
	errOut.Reset()
	go func() {
		done <- run(t.Context(), []string{"login", "--server", srv.URL, "--email", "ada@example.com", "--password-stdin", "--token-name", "test laptop"}, pr, &out, &errOut)
	}()
	fmt.Fprintln(pw, "correct horse battery")
	deadline := time.Now().Add(10 * time.Second)
	for mail.Count() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintln(pw, mail.Code(t, "ada@example.com"))
	pw.Close()
	if code := <-done; code != 0 || !strings.Contains(out.String(), "Logged in to "+srv.URL+" as ada@example.com") {
		t.Fatalf("login: exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var saved cliConfig
	if err := json.Unmarshal(b, &saved); err != nil || saved.Token == "" || saved.Server != srv.URL {
		t.Fatalf("saved config %s (%v)", b, err)
	}
	// The saved token works for the next command.
	out.Reset()
	if code := run(t.Context(), []string{"service", "list"}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("service list with the saved token: exit %d, %s", code, errOut.String())
	}
	// --email and a token do not mix.
	if code, _, stderr := runArgs(t, "login", "--server", srv.URL, "--email", "ada@example.com", "--token", saved.Token); code != 2 || !strings.Contains(stderr, "leave out --token") {
		t.Errorf("--email with --token: exit %d, %q", code, stderr)
	}
}
