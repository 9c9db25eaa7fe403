package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/api"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/server/dataplane"
	"github.com/rampart-dev/rampart/internal/store/sqlite"
)

// TestFirewallCommands runs the firewall commands against a real API
// server (store, service layer, handlers) in plan mode.
func TestFirewallCommands(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := app.New(db, app.Options{Firewall: app.FirewallOptions{Render: dataplane.RenderFirewall}})
	ctx := context.Background()
	tokens := map[rampart.Role]string{}
	for _, role := range []rampart.Role{rampart.RoleAdmin, rampart.RoleMember} {
		email := string(role) + "@example.com"
		if _, err := a.Accounts.Create(ctx, app.OperatorActor(), rampart.UserInput{Email: email, Password: "correct horse battery", Role: role}); err != nil {
			t.Fatal(err)
		}
		if tokens[role], _, err = a.Accounts.CreateToken(ctx, app.OperatorActor(), rampart.TokenInput{Email: email, Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.New(a, api.Options{}))
	t.Cleanup(srv.Close)
	t.Setenv("RAMPART_CLI_CONFIG", t.TempDir()+"/cli.json")
	fw := func(stdin string, role rampart.Role, args ...string) (int, string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(append([]string{"firewall"}, args...), "--server", srv.URL, "--token", tokens[role])
		code := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	admin := rampart.RoleAdmin

	code, out, errOut := fw("", admin, "list")
	if code != 0 || !strings.Contains(out, "22/tcp") || !strings.Contains(out, "443/tcp") {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	code, out, errOut = fw("", admin, "add", "--proto", "tcp", "--port", "8000-8100", "--source", "203.0.113.9/24", "--source", "2001:db8::/32", "--comment", "office")
	if code != 0 || !strings.Contains(out, "8000-8100/tcp from 203.0.113.0/24, 2001:db8::/32") || !strings.Contains(out, "Note:") {
		t.Fatalf("add: %d %q %q", code, out, errOut)
	}
	code, _, errOut = fw("", admin, "add", "--proto", "tcp", "--port", "8050")
	if code == 0 || !strings.Contains(errOut, "overlap") {
		t.Errorf("overlapping add: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = fw("", rampart.RoleMember, "list")
	if code == 0 || !strings.Contains(errOut, "only an admin") {
		t.Errorf("member: exit %d, stderr %q", code, errOut)
	}
	code, out, _ = fw("", admin, "list", "-o", "json")
	var rules []*rampart.FirewallRule
	if err := json.Unmarshal([]byte(out), &rules); code != 0 || err != nil || len(rules) != 4 {
		t.Fatalf("list -o json: %d %v %q", code, err, out)
	}
	var office *rampart.FirewallRule
	for _, r := range rules {
		if r.PortFrom == 8000 {
			office = r
		}
	}
	id := itoa64(office.ID)
	code, out, _ = fw("", admin, "update", id, "--source", "any", "--confirm-within", "30s")
	if code != 0 || !strings.Contains(out, "from any") || !strings.Contains(out, "rampart firewall confirm") {
		t.Errorf("update: %d %q", code, out)
	}
	if code, out, errOut = fw("", admin, "confirm"); code != 0 || !strings.Contains(out, "Confirmed") {
		t.Errorf("confirm: %d %q %q", code, out, errOut)
	}
	// remove asks; no answer (a script) or "n" removes nothing.
	if code, _, errOut = fw("", admin, "remove", id); code == 0 || !strings.Contains(errOut, "--yes") {
		t.Errorf("remove without an answer: %d %q", code, errOut)
	}
	if code, _, errOut = fw("n\n", admin, "remove", id); code == 0 || !strings.Contains(errOut, "8000-8100/tcp") {
		t.Errorf("remove answered no: %d %q", code, errOut)
	}
	if code, out, errOut = fw("y\n", admin, "remove", id); code != 0 || !strings.Contains(out, "Removed rule") {
		t.Errorf("remove answered yes: %d %q %q", code, out, errOut)
	}
	if code, _, errOut = fw("", admin, "remove", itoa64(rules[0].ID), "--yes"); code == 0 || !strings.Contains(errOut, "cannot be removed") {
		t.Errorf("remove 22: %d %q", code, errOut)
	}
	if code, out, _ = fw("", admin, "tool", "4242", "open"); code != 0 {
		t.Errorf("tool open: %d %q", code, out)
	}
	code, out, _ = fw("", admin, "show")
	if code != 0 || !strings.Contains(out, "Enforcement: off") || !strings.Contains(out, "4242/udp    open") {
		t.Errorf("show: %d %q", code, out)
	}
	code, out, _ = fw("", admin, "show", "--nft")
	if code != 0 || !strings.HasPrefix(out, "#") || !strings.Contains(out, "table inet rampart") || !strings.Contains(out, "4242") {
		t.Errorf("show --nft: %d %q", code, out)
	}
	if code, out, _ = fw("", admin, "apply", "--confirm-within", "1m"); code != 0 || !strings.Contains(out, "Enforcement is off") {
		t.Errorf("apply: %d %q", code, out)
	}
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
