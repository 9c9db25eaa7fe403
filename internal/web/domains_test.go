package web

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"testing"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/dnscheck"
)

func TestDomainsPage(t *testing.T) {
	e := newEnvWith(t, edge{checkDNS: func(_ context.Context, d *rampart.Domain) dnscheck.Result {
		return dnscheck.Result{Resolvers: []dnscheck.ResolverResult{{Resolver: "9.9.9.9:53", A: []netip.Addr{netip.MustParseAddr("203.0.113.9")}}},
			Reason: "DNS points at 203.0.113.9"}
	}})
	e.createService(memberEmail, "blog")
	e.createService(otherEmail, "theirs")
	b := e.browser()
	csrf := b.login(memberEmail)

	res := b.get("/services/blog/domains")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "domains-empty", "Add a domain")

	// Without htmx: a plain POST that redirects back.
	res = b.post("/services/blog/domains", url.Values{"domain": {"Shop.Example.com"}, "tls_mode": {"managed"}, "csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog/domains")
	res = b.get("/services/blog/domains")
	wantContains(t, res, `data-domain="shop.example.com"`, "Waiting for DNS", "Added shop.example.com.")

	// With htmx: the panel comes back, with the error and what was typed.
	res = b.do("POST", "/services/blog/domains", url.Values{"domain": {"1.2.3.4"}, "csrf_token": {csrf}}, http.Header{"HX-Request": {"true"}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="domains-panel"`, "is an IP address", `value="1.2.3.4"`)

	res = b.get("/services/blog/domains/shop.example.com/status")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `hx-trigger="every 2s"`, "Waiting for DNS")
	res = b.get("/services/blog/domains/shop.example.com/dns")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "9.9.9.9:53", "203.0.113.9")

	// Another tenant's service and domain are not found.
	wantStatus(t, b.get("/services/theirs/domains"), http.StatusNotFound)

	res = b.post("/services/blog/domains/shop.example.com/remove", url.Values{"csrf_token": {csrf}})
	wantRedirect(t, res, "/services/blog/domains")
	if _, err := e.db.DomainByName(context.Background(), "shop.example.com"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("domain still stored: %v", err)
	}
	wantStatus(t, b.get("/services/blog/domains/shop.example.com/status"), 286)
}

// A resolver that answered one record type and not the other shows both:
// what it saw, and why the other type gave nothing.
func TestDomainsDNSPerType(t *testing.T) {
	e := newEnvWith(t, edge{checkDNS: func(_ context.Context, d *rampart.Domain) dnscheck.Result {
		return dnscheck.Result{PointsHere: true, Resolvers: []dnscheck.ResolverResult{{Resolver: "127.0.0.53:53", PointsHere: true,
			A: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, AAAAErr: "does not resolve recursively"}}}
	}})
	e.createService(memberEmail, "blog")
	b := e.browser()
	csrf := b.login(memberEmail)
	wantRedirect(t, b.post("/services/blog/domains", url.Values{"domain": {"shop.example.com"}, "csrf_token": {csrf}}), "/services/blog/domains")
	res := b.get("/services/blog/domains/shop.example.com/dns")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "A 192.0.2.1", `data-field="aaaa-error"`, "AAAA: no answer: does not resolve recursively")
}
