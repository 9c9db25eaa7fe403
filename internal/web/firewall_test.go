package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// rules reads the node's firewall rules straight from the store.
func (e *env) rules() []*rampart.FirewallRule {
	e.t.Helper()
	rs, err := e.db.ListFirewallRules(context.Background(), rampart.LocalNode)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// rule returns the stored rule of that port and protocol, nil if none.
func (e *env) rule(ports, proto string) *rampart.FirewallRule {
	e.t.Helper()
	for _, r := range e.rules() {
		if r.Ports() == ports && r.Proto == proto {
			return r
		}
	}
	return nil
}

func ruleSummary(rs []*rampart.FirewallRule) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, r.Ports()+"/"+r.Proto+" "+strings.Join(r.Sources, ","))
	}
	return strings.Join(parts, "; ")
}

func TestFirewallRow(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "blog")
	b := e.browser()
	tok := b.login(adminEmail)

	sec := b.get("/services/blog?tab=security")
	wantStatus(t, sec, http.StatusOK)
	wantContains(t, sec, `id="firewall-options"`, "Show Settings", `data-field="firewall-mode">Plan only: not enforced<`,
		"firewall.enforce: true", `data-rule="22/tcp"`, `data-rule="80/tcp"`, `data-rule="443/tcp"`,
		"anywhere (IPv4, IPv6)", `data-field="rule-origin">default<`,
		`data-tool-port="4242"`, `data-tool-port="18445"`, "the optional live log viewer",
		`id="fw-add-form"`, `id="remove-rule-dialog"`, `id="ssh-keys-options"`, `data-field="ssh-mode">Plan only: not enforced<`,
		"the firewall is a plan only, not enforced")
	for _, gone := range []string{"Coming soon", "still being built", `id="fw-pending"`} {
		if strings.Contains(sec.Body, gone) {
			t.Errorf("security tab still says %q", gone)
		}
	}
	// SSH has no Remove button: it is required.
	if strings.Contains(sec.Body, `data-fill-name="22/tcp"`) {
		t.Error("22/tcp has a Remove button")
	}

	// Add: back to the tab, the rule stored, normalised, and said so.
	add := url.Values{"csrf_token": {tok}, "proto": {"tcp"}, "ports": {"8000-8100"},
		"sources": {"203.0.113.7/24\r\n2001:db8::/32"}, "comment": {"office"}}
	wantRedirect(t, b.post("/services/blog/firewall/rules", add), "/services/blog?tab=security&open=firewall#firewall")
	r := e.rule("8000-8100", "tcp")
	if r == nil || strings.Join(r.Sources, ",") != "203.0.113.0/24,2001:db8::/32" || r.Comment != "office" || r.CreatedBy != adminEmail {
		t.Fatalf("stored after add: %s", ruleSummary(e.rules()))
	}
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, "Rule added: 8000-8100/tcp open to 203.0.113.0/24, 2001:db8::/32", "203.0.113.7/24",
		"Plan only: nothing on this server changes", `data-rule="8000-8100/tcp"`, "added by "+adminEmail, ">office<")

	// Edit: the link opens the rule's form, filled in.
	id := strconv.FormatInt(r.ID, 10)
	edit := b.get("/services/blog?tab=security&edit_rule=" + id)
	wantContains(t, edit, `id="fw-edit-`+id+`-form"`, `id="firewall-options" open`, ">203.0.113.0/24\n2001:db8::/32</textarea>", `value="8000-8100"`)
	wantRedirect(t, b.post("/services/blog/firewall/rules/"+id, url.Values{"csrf_token": {tok}, "proto": {"udp"}, "ports": {"9000"},
		"sources": {"198.51.100.0/24, 198.51.100.9, 192.0.2.0/24, 10.0.0.0/8 172.16.0.0/12"}, "comment": {"game"}}), "/services/blog?tab=security&open=firewall#firewall")
	if r = e.rule("9000", "udp"); r == nil || len(r.Sources) != 4 || r.Comment != "game" {
		t.Fatalf("stored after edit: %s", ruleSummary(e.rules()))
	}
	// Four sources or more are summarised, the whole list in the tooltip.
	wantContains(t, b.get("/services/blog?tab=security"), `<span class="src-count">4 networks:</span>`, `<span class="mono src">172.16.0.0/12</span>`, `title="10.0.0.0/8, 172.16.0.0/12, 192.0.2.0/24, 198.51.100.0/24"`)

	// Remove: the page without JavaScript, then the POST the modal sends.
	wantContains(t, b.get("/services/blog/firewall/rules/"+id+"/remove"), "Remove the rule for <span class=\"mono\">9000/udp</span>?")
	wantRedirect(t, b.post("/services/blog/firewall/rules/"+id+"/remove", url.Values{"csrf_token": {tok}}), "/services/blog?tab=security&open=firewall#firewall")
	if e.rule("9000", "udp") != nil {
		t.Fatal("rule still stored after remove")
	}
	wantContains(t, b.get("/services/blog?tab=security"), "Rule "+id+" removed")
	wantStatus(t, b.post("/services/blog/firewall/rules/"+id+"/remove", url.Values{"csrf_token": {tok}}), http.StatusNotFound)

	// Every change is audited.
	evs, err := e.app.Audit.List(context.Background(), app.OperatorActor(), rampart.AuditFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	for _, want := range []string{"firewall.rule.add", "firewall.rule.update", "firewall.rule.remove"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
}

// TestFirewallGuards: a refused change is shown inline next to the form it
// came from, with what was typed, and nothing is stored.
func TestFirewallGuards(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "blog")
	admin := app.UserActor(e.users[adminEmail], "192.0.2.1")
	if _, err := e.app.Domains.Add(context.Background(), admin, rampart.DomainInput{Service: "blog", Name: "blog.example.org"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	tok := b.login(adminEmail)
	before := ruleSummary(e.rules())
	if before == "" {
		b.get("/services/blog?tab=security") // seeds
		before = ruleSummary(e.rules())
	}
	http80 := strconv.FormatInt(e.rule("80", "tcp").ID, 10)
	ssh22 := strconv.FormatInt(e.rule("22", "tcp").ID, 10)

	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		errID, msg string
		kept       []string
	}{
		{"port 80 restricted with a managed domain", "/services/blog/firewall/rules/" + http80,
			url.Values{"proto": {"tcp"}, "ports": {"80"}, "sources": {"203.0.113.0/24"}, "comment": {"HTTP"}},
			http.StatusConflict, "fw-edit-" + http80 + "-err", "80/tcp must stay open to everyone while any domain uses managed TLS (blog.example.org does)",
			[]string{`id="fw-edit-` + http80 + `-form"`, ">203.0.113.0/24</textarea>"}},
		{"reversed range", "/services/blog/firewall/rules",
			url.Values{"proto": {"tcp"}, "ports": {"9000-8000"}, "comment": {"oops"}},
			http.StatusUnprocessableEntity, "fw-add-err", "port range &#34;9000-8000&#34; is reversed: write 8000-9000", []string{`value="9000-8000"`, `value="oops"`}},
		{"bad CIDR", "/services/blog/firewall/rules",
			url.Values{"proto": {"udp"}, "ports": {"5000"}, "sources": {"10.0.0.0/33"}},
			http.StatusUnprocessableEntity, "fw-add-err", "10.0.0.0/33", []string{">10.0.0.0/33</textarea>", `<option value="udp" selected>`}},
		{"duplicate", "/services/blog/firewall/rules",
			url.Values{"proto": {"tcp"}, "ports": {"443"}},
			http.StatusUnprocessableEntity, "fw-add-err", "443", nil},
		{"SSH shut to the requester", "/services/blog/firewall/rules/" + ssh22,
			url.Values{"proto": {"tcp"}, "ports": {"22"}, "sources": {"198.51.100.0/24"}, "comment": {"SSH"}},
			http.StatusConflict, "fw-edit-" + ssh22 + "-err", "this change shuts your address 192.0.2.10 out of SSH", []string{`name="force"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf_token", tok)
			res := b.post(tc.path, tc.form)
			wantStatus(t, res, tc.status)
			wantContains(t, res, `id="`+tc.errID+`"`, tc.msg, "Nothing was changed.", `id="firewall-options" open`)
			wantContains(t, res, tc.kept...)
			if got := ruleSummary(e.rules()); got != before {
				t.Errorf("rules changed by a refused change:\n got %s\nwant %s", got, before)
			}
		})
	}
	// SSH cannot be removed, even by hand-crafting the POST.
	res := b.post("/services/blog/firewall/rules/"+ssh22+"/remove", url.Values{"csrf_token": {tok}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res, "22/tcp (SSH) cannot be removed")
	// With force the SSH restriction goes through.
	wantRedirect(t, b.post("/services/blog/firewall/rules/"+ssh22, url.Values{"csrf_token": {tok}, "proto": {"tcp"}, "ports": {"22"},
		"sources": {"198.51.100.0/24"}, "force": {"on"}}), "/services/blog?tab=security&open=firewall#firewall")
	if r := e.rule("22", "tcp"); strings.Join(r.Sources, ",") != "198.51.100.0/24" {
		t.Errorf("22/tcp after a forced change: %v", r.Sources)
	}
}

func TestFirewallToolPorts(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "blog")
	b := e.browser()
	tok := b.login(adminEmail)
	wantContains(t, b.get("/services/blog?tab=security"), `aria-label="Tool port 18344 (terminal) (18344/tcp)"`)

	wantRedirect(t, b.post("/services/blog/firewall/tool-ports/18344", url.Values{"csrf_token": {tok}, "open": {"on"}}), "/services/blog?tab=security&open=firewall#firewall")
	if r := e.rule("18344", "tcp"); r == nil || len(r.Sources) != 0 {
		t.Fatalf("18344 not opened to anyone: %s", ruleSummary(e.rules()))
	}
	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, "Tool port 18344 (terminal) (18344/tcp) opened to anyone.", `data-field="rule-origin">tool port<`)
	if !strings.Contains(sec.Body, `role="switch" aria-checked="true" aria-label="Tool port 18344 (terminal) (18344/tcp)"`) {
		t.Error("the toggle of an open tool port is not on")
	}
	wantRedirect(t, b.post("/services/blog/firewall/tool-ports/18344", url.Values{"csrf_token": {tok}, "open": {"off"}}), "/services/blog?tab=security&open=firewall#firewall")
	if e.rule("18344", "tcp") != nil {
		t.Fatal("18344 still open after closing it")
	}
	res := b.post("/services/blog/firewall/tool-ports/8080", url.Values{"csrf_token": {tok}, "open": {"on"}})
	wantStatus(t, res, http.StatusNotFound)
	wantContains(t, res, "8080 is not a known tool port")
}

// TestFirewallConfirmWindow: with the firewall enforced, a change to SSH
// waits for a confirmation: a banner with the time left and a Confirm
// button; the polled fragment says when the change was rolled back.
func TestFirewallConfirmWindow(t *testing.T) {
	e := newEnvWith(t, edge{firewall: app.FirewallOptions{Enforce: true}})
	e.createService(adminEmail, "blog")
	b := e.browser()
	tok := b.login(adminEmail)
	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, `data-field="firewall-mode">Enforced: being applied<`, "the firewall is enforced")
	ssh22 := strconv.FormatInt(e.rule("22", "tcp").ID, 10)

	wantRedirect(t, b.post("/services/blog/firewall/rules/"+ssh22, url.Values{"csrf_token": {tok}, "proto": {"tcp"}, "ports": {"22"},
		"sources": {"192.0.2.0/24"}, "comment": {"SSH from the office"}}), "/services/blog?tab=security&open=firewall#fw-banner")
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, "Confirm the change within the time shown", `id="fw-pending"`, `data-countdown="`, `id="fw-confirm"`,
		`hx-get="/services/blog/firewall/pending"`, "touches SSH or the admin port")
	frag := b.get("/services/blog/firewall/pending")
	wantStatus(t, frag, http.StatusOK)
	wantContains(t, frag, `id="fw-banner"`, `id="fw-countdown"`)
	if strings.Contains(frag.Body, "<html") {
		t.Error("the polled banner is a whole page")
	}

	wantRedirect(t, b.post("/services/blog/firewall/confirm", url.Values{"csrf_token": {tok}}), "/services/blog?tab=security&open=firewall#firewall")
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, "Firewall change confirmed")
	if strings.Contains(sec.Body, `id="fw-pending"`) {
		t.Error("the banner stays after Confirm")
	}
	// Confirming twice says there is nothing to confirm.
	b.post("/services/blog/firewall/confirm", url.Values{"csrf_token": {tok}})
	wantContains(t, b.get("/services/blog?tab=security"), "no confirm window is open")

	// A window that runs out: the reconciler rolls back at the deadline;
	// the banner then says so.
	admin := app.UserActor(e.users[adminEmail], "192.0.2.10")
	if _, err := e.app.Firewall.Add(context.Background(), admin, rampart.FirewallRuleInput{Proto: "tcp", Ports: "8443",
		FirewallChange: rampart.FirewallChange{ConfirmWithin: rampart.Duration(time.Second)}}); err != nil {
		t.Fatal(err)
	}
	wantContains(t, b.get("/services/blog/firewall/pending"), `id="fw-countdown"`)
	time.Sleep(1100 * time.Millisecond)
	late := b.get("/services/blog/firewall/pending")
	wantContains(t, late, "Not confirmed in time.", `hx-trigger="every 1s"`)
	if done, err := e.app.Firewall.RollbackExpired(context.Background()); err != nil || !done {
		t.Fatalf("RollbackExpired = %v, %v", done, err)
	}
	rolled := b.get("/services/blog/firewall/pending")
	wantContains(t, rolled, `id="fw-rolled-back"`, "was not confirmed in time")
	if strings.Contains(rolled.Body, "hx-trigger") {
		t.Error("the banner keeps polling after the rollback")
	}
	wantContains(t, b.get("/services/blog?tab=security"), `id="fw-rolled-back"`)
	if e.rule("8443", "tcp") != nil {
		t.Error("the unconfirmed rule is still stored")
	}
}

// TestNodeRowsMember: members see both rows read-only and cannot change
// either, even by posting the forms.
func TestNodeRowsMember(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)
	sec := b.get("/services/blog?tab=security")
	wantStatus(t, sec, http.StatusOK)
	wantContains(t, sec, `data-field="firewall-admin-only"`, "An admin of this server manages the firewall",
		`data-field="ssh-admin-only"`, "An admin of this server manages its SSH keys", "an admin manages them")
	for _, hidden := range []string{`id="firewall-options"`, `id="ssh-keys-options"`, `id="fw-rules"`, "/firewall/rules", "/ssh-keys"} {
		if strings.Contains(sec.Body, hidden) {
			t.Errorf("a member's security tab has %q", hidden)
		}
	}
	before := ruleSummary(e.rules())
	pub, _ := testSSHKey(t)
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{"POST", "/services/blog/firewall/rules", url.Values{"proto": {"tcp"}, "ports": {"8080"}}},
		{"POST", "/services/blog/firewall/rules/1", url.Values{"proto": {"tcp"}, "ports": {"22"}, "sources": {"192.0.2.1"}}},
		{"POST", "/services/blog/firewall/rules/2/remove", url.Values{}},
		{"GET", "/services/blog/firewall/rules/2/remove", nil},
		{"POST", "/services/blog/firewall/tool-ports/18344", url.Values{"open": {"on"}}},
		{"POST", "/services/blog/firewall/confirm", url.Values{}},
		{"GET", "/services/blog/firewall/pending", nil},
		{"POST", "/services/blog/ssh-keys", url.Values{"title": {"mine"}, "public_key": {pub}}},
		{"GET", "/services/blog/ssh-keys/1/remove", nil},
	} {
		if tc.form != nil {
			tc.form.Set("csrf_token", tok)
		}
		res := b.do(tc.method, tc.path, tc.form, nil)
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res, "only an admin")
	}
	if got := ruleSummary(e.rules()); got != before {
		t.Errorf("a member changed the rules: %s", got)
	}
	if keys, _ := e.db.ListSSHKeys(context.Background(), rampart.LocalNode); len(keys) != 0 {
		t.Errorf("a member added a key: %v", keys)
	}
	// Another owner's service is not found, as everywhere else.
	e.createService(otherEmail, "shop")
	wantStatus(t, b.post("/services/shop/firewall/rules", url.Values{"csrf_token": {tok}, "proto": {"tcp"}, "ports": {"8080"}}), http.StatusNotFound)
}

// TestNodeRowsCSRF: without the session's token nothing changes.
func TestNodeRowsCSRF(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "blog")
	b := e.browser()
	b.login(adminEmail)
	b.get("/services/blog?tab=security")
	before := ruleSummary(e.rules())
	pub, _ := testSSHKey(t)
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/services/blog/firewall/rules", url.Values{"proto": {"tcp"}, "ports": {"8080"}}},
		{"/services/blog/firewall/tool-ports/18344", url.Values{"open": {"on"}}},
		{"/services/blog/firewall/rules/1/remove", url.Values{}},
		{"/services/blog/ssh-keys", url.Values{"title": {"mine"}, "public_key": {pub}}},
	} {
		for _, tok := range []string{"", "forged"} {
			f := url.Values{}
			for k, v := range p.form {
				f[k] = v
			}
			if tok != "" {
				f.Set("csrf_token", tok)
			}
			res := b.post(p.path, f)
			wantStatus(t, res, http.StatusForbidden)
			wantContains(t, res, "Request refused")
		}
	}
	if got := ruleSummary(e.rules()); got != before {
		t.Errorf("rules changed without a CSRF token: %s", got)
	}
	if keys, _ := e.db.ListSSHKeys(context.Background(), rampart.LocalNode); len(keys) != 0 {
		t.Errorf("a key was added without a CSRF token")
	}
}

// testSSHKey returns a new Ed25519 key: its authorized_keys line and its
// private key in OpenSSH's PEM form.
func testSSHKey(t *testing.T) (pub, priv string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(sk, "ada@laptop")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " ada@laptop", string(pem.EncodeToMemory(block))
}

func TestSSHKeysRow(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "blog")
	b := e.browser()
	tok := b.login(adminEmail)
	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, `id="ssh-keys-empty"`, "ssh.manage_authorized_keys: true", `as <span class="mono">root</span>`, `id="ssh-key-form"`)

	pub, priv := testSSHKey(t)
	wantRedirect(t, b.post("/services/blog/ssh-keys", url.Values{"csrf_token": {tok}, "title": {"ada's laptop"}, "public_key": {pub + "\n"}}),
		"/services/blog?tab=security&open=ssh-keys#ssh-keys")
	keys, err := e.db.ListSSHKeys(context.Background(), rampart.LocalNode)
	if err != nil || len(keys) != 1 {
		t.Fatalf("stored keys: %v, %v", keys, err)
	}
	k := keys[0]
	// html/template writes + as &#43;.
	fp := strings.ReplaceAll(k.Fingerprint, "+", "&#43;")
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, "SSH key ada&#39;s laptop added ("+fp+").", `data-field="key-fingerprint">`+fp+`<`,
		`data-field="key-type">ssh-ed25519 · 256 bits<`, `data-field="key-added-by">`+adminEmail+`<`, "ada&#39;s laptop", `id="remove-key-dialog"`, "· 1 key<")

	// A private key pasted by mistake: refused, said so, never shown back.
	res := b.post("/services/blog/ssh-keys", url.Values{"csrf_token": {tok}, "title": {"oops"}, "public_key": {priv}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="key-text-err"`, "this is a private key", "What you pasted is not shown again", `value="oops"`, `id="ssh-keys-options" open`)
	body := strings.Split(strings.TrimSpace(priv), "\n")
	for _, line := range body[1 : len(body)-1] {
		if strings.Contains(res.Body, line) {
			t.Fatalf("the page quotes the private key back: %q", line)
		}
	}
	if strings.Contains(res.Body, "BEGIN OPENSSH PRIVATE KEY") {
		t.Fatal("the page shows the private key's armour")
	}
	// Other refusals: a duplicate, garbage, no title.
	for _, tc := range []struct{ title, key, errID, msg string }{
		{"again", pub, "key-text-err", "ada&#39;s laptop"},
		{"junk", "not a key at all", "key-text-err", "line 1"},
		{"", pub, "key-title-err", "title"},
	} {
		res := b.post("/services/blog/ssh-keys", url.Values{"csrf_token": {tok}, "title": {tc.title}, "public_key": {tc.key}})
		if res.StatusCode != http.StatusUnprocessableEntity && res.StatusCode != http.StatusConflict {
			t.Errorf("%q: status %d", tc.title, res.StatusCode)
		}
		wantContains(t, res, `id="`+tc.errID+`"`, tc.msg)
	}
	if keys, _ := e.db.ListSSHKeys(context.Background(), rampart.LocalNode); len(keys) != 1 {
		t.Fatalf("refused pastes were stored: %d keys", len(keys))
	}

	id := strconv.FormatInt(k.ID, 10)
	wantContains(t, b.get("/services/blog/ssh-keys/"+id+"/remove"), "Remove the SSH key ada&#39;s laptop?", fp)
	wantRedirect(t, b.post("/services/blog/ssh-keys/"+id+"/remove", url.Values{"csrf_token": {tok}}), "/services/blog?tab=security&open=ssh-keys#ssh-keys")
	if keys, _ := e.db.ListSSHKeys(context.Background(), rampart.LocalNode); len(keys) != 0 {
		t.Fatalf("key still stored after remove")
	}
	wantContains(t, b.get("/services/blog?tab=security"), "SSH key ada&#39;s laptop removed", `id="ssh-keys-empty"`)
	wantStatus(t, b.post("/services/blog/ssh-keys/"+id+"/remove", url.Values{"csrf_token": {tok}}), http.StatusNotFound)
}

// TestFirewallSuspended: after a first enforcing apply that nobody
// confirmed, the row says nothing is filtered and offers to enforce again,
// through a confirm window.
func TestFirewallSuspended(t *testing.T) {
	e := newEnvWith(t, edge{firewall: app.FirewallOptions{Enforce: true}})
	e.createService(adminEmail, "blog")
	b := e.browser()
	tok := b.login(adminEmail)
	b.get("/services/blog?tab=security") // seeds the rules
	if err := e.db.SetFirewallSuspended(context.Background(), rampart.LocalNode, true); err != nil {
		t.Fatal(err)
	}
	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, `data-field="firewall-mode">Enforcement suspended<`, "nothing is filtered now", `id="fw-apply"`,
		"the firewall is a plan only, not enforced")
	wantRedirect(t, b.post("/services/blog/firewall/apply", url.Values{"csrf_token": {tok}}), "/services/blog?tab=security&open=firewall#fw-banner")
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, `id="fw-pending"`, "rampart stops enforcing the firewall again", `id="fw-confirm"`)
	if strings.Contains(sec.Body, `id="fw-apply"`) {
		t.Error("the row still offers to enforce again")
	}
}

// TestFirewallRemoveAdminPort: removing the rule of the dashboard's port
// would shut the requester out; the confirmation says so and offers force.
func TestFirewallRemoveAdminPort(t *testing.T) {
	e := newEnvWith(t, edge{firewall: app.FirewallOptions{AdminPort: 7443}})
	e.createService(adminEmail, "blog")
	b := e.browser()
	tok := b.login(adminEmail)
	wantContains(t, b.get("/services/blog?tab=security"), `data-rule="7443/tcp"`, ">Dashboard and API<")
	id := strconv.FormatInt(e.rule("7443", "tcp").ID, 10)
	res := b.post("/services/blog/firewall/rules/"+id+"/remove", url.Values{"csrf_token": {tok}})
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res, `id="remove-rule-err"`, "shuts your address 192.0.2.10 out of the dashboard and API (7443/tcp)", `id="remove-rule-force"`)
	if e.rule("7443", "tcp") == nil {
		t.Fatal("the dashboard's rule was removed despite the guard")
	}
	wantRedirect(t, b.post("/services/blog/firewall/rules/"+id+"/remove", url.Values{"csrf_token": {tok}, "force": {"on"}}), "/services/blog?tab=security&open=firewall#firewall")
	if e.rule("7443", "tcp") != nil {
		t.Fatal("the dashboard's rule is still there after a forced removal")
	}
}
