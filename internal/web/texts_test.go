package web

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/config"
)

// TestSSLIssuers: the SSL/TLS row names the issuer that applies to each
// domain, never Let's Encrypt for a name only the internal CA certifies.
func TestSSLIssuers(t *testing.T) {
	dom := func(name string, mode rampart.TLSMode) *rampart.Domain {
		return &rampart.Domain{Name: name, TLSMode: mode}
	}
	le := acmeCAName("")
	for _, tc := range []struct {
		name    string
		domains []*rampart.Domain
		want    []string
		not     string
	}{
		{"none", nil, []string{"Custom domains get certificates from Let's Encrypt", "rampart's internal CA"}, ""},
		{"internal only", []*rampart.Domain{dom("shop.test", rampart.TLSManaged), dom("app.localhost", rampart.TLSManaged)},
			[]string{"From rampart's internal CA for shop.test, app.localhost"}, "Let's Encrypt"},
		{"both", []*rampart.Domain{dom("shop.test", rampart.TLSManaged), dom("shop.example.com", rampart.TLSManaged)},
			[]string{"From Let's Encrypt for shop.example.com", "From rampart's internal CA for shop.test"}, ""},
		{"uploaded and off", []*rampart.Domain{dom("a.example.com", rampart.TLSCustom), dom("b.example.com", rampart.TLSOff)},
			[]string{"Your uploaded certificate for a.example.com"}, "b.example.com"},
	} {
		got := strings.Join(sslIssuers(le, tc.domains), " ")
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.name, got, w)
			}
		}
		if tc.not != "" && strings.Contains(got, tc.not) {
			t.Errorf("%s: %q mentions %q", tc.name, got, tc.not)
		}
	}
	for dir, want := range map[string]string{
		"":                                       "Let's Encrypt",
		config.LetsEncryptProduction:             "Let's Encrypt",
		config.LetsEncryptStaging:                "Let's Encrypt's staging CA",
		"https://ca.corp.example/acme/directory": "the ACME CA at ca.corp.example",
	} {
		if got := acmeCAName(dir); !strings.HasPrefix(got, want) {
			t.Errorf("acmeCAName(%q) = %q, want %q", dir, got, want)
		}
	}
}

// TestSecurityTabSSLRow: the row on the page follows the service's domains.
func TestSecurityTabSSLRow(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	if _, err := e.app.Domains.Add(context.Background(), app.UserActor(e.users[memberEmail], "192.0.2.1"), rampart.DomainInput{Service: "blog", Name: "blog.test"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login(memberEmail)
	res := b.get("/services/blog?tab=security")
	wantContains(t, res, "From rampart&#39;s internal CA for blog.test")
	if strings.Contains(res.Body, "Let&#39;s Encrypt") {
		t.Error("the SSL/TLS row promises Let's Encrypt for an internal name")
	}
}

// TestCreatedFlashSaysLive: a new service is live at its URL, port
// included, at once; custom domains are optional.
func TestCreatedFlashSaysLive(t *testing.T) {
	e := newEnvWith(t, edge{httpPort: 8080})
	b := e.browser()
	tok := b.login(memberEmail)
	wantRedirect(t, b.post("/new", url.Values{"csrf_token": {tok}, "name": {"blog"}, "upstream": {"http://127.0.0.1:3000"}}), "/services/blog")
	wantContains(t, b.get("/services/blog"), "Service blog created. It is live at http://blog."+testDomain+":8080. Custom domains are optional")
}

// TestLoginFirstAdmin: while no account exists the login page says how to
// create the first one, and not after.
func TestLoginFirstAdmin(t *testing.T) {
	fresh := newEnvAccounts(t, edge{}, nil)
	wantContains(t, fresh.browser().get("/login"), `id="first-admin"`, testFirstAdmin)
	if res := newEnv(t).browser().get("/login"); strings.Contains(res.Body, "first-admin") {
		t.Error("the login page shows the first-admin command although accounts exist")
	}
}

// TestNoComingSoon: the pages claim no feature the product lacks; the
// Backups tab is a real one now.
func TestNoComingSoon(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)
	for _, p := range []string{"/", "/services/blog", "/services/blog?tab=security", "/services/blog?tab=logs", "/services/blog?tab=backups"} {
		if res := b.get(p); strings.Contains(strings.ToLower(res.Body), "coming soon") {
			t.Errorf("%s says coming soon", p)
		}
	}
	wantContains(t, b.get("/services/blog?tab=backups"), "rampart backs up every service daily", "Back up now")
}
