package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/dnscheck"
	"github.com/rampart-dev/rampart/internal/dnstest"
	edgepkg "github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
)

// chromiumPath finds Debian's Chromium. The real binary comes first: the
// /usr/bin/chromium launcher script adds flags of its own.
func chromiumPath() string {
	for _, p := range []string{"/usr/lib/chromium/chromium", "/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactsDir is where screenshots go: $RAMPART_ARTIFACTS, so that CI can
// keep them and people can look at them, or the test's temporary directory.
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("RAMPART_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// colorScheme makes the page see prefers-color-scheme: scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return chromedp.Void{}, err
	}
}

func clearViewport(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	_, err := cdp.Call(ctx, t, emulation.ClearDeviceMetricsOverride, cdp.Empty{})
	return chromedp.Void{}, err
}

// TestBrowser drives the dashboard in a real headless Chromium: log in,
// create a service, read its Overview, switch tabs with htmx, delete it
// through the confirmation modal. It also fails on any JavaScript exception
// or console error, which is how a Content-Security-Policy violation shows.
func TestBrowser(t *testing.T) {
	c := newChrome(t)
	// Custom domains get their states from the real domains reconciler,
	// DNS checker and certificate manager (internal CA only), asking a DNS
	// server the test controls. The node has several accounts, so names
	// are proven by a CNAME, or by an A record with the service's TXT
	// record: shop.test has the CNAME, www.elsewhere.example points
	// elsewhere, and shop.example, a bare domain, points here.
	var domains *agent.Domains
	dnsSrv := dnstest.Start(t)
	dnsSrv.Set("blog."+testDomain, testNodeIPs...)
	dnsSrv.SetCNAME("shop.test", "blog."+testDomain)
	dnsSrv.Set("www.elsewhere.example", "203.0.113.9")
	dnsSrv.Set("shop.example", testNodeIPs...)
	// The Logs tab reads an edge log that the test publishes requests to.
	logs := logtail.New(logtail.Options{})
	e := newEnvWith(t, edge{purge: func(int64) int { return 42 }, stats: demoStats, logs: logs, httpPort: 8080,
		checkDNS: func(ctx context.Context, d *rampart.Domain) dnscheck.Result { return domains.Check(ctx, d) }})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	cm, err := certs.New(certs.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	var nodeIPs []netip.Addr
	for _, ip := range testNodeIPs {
		nodeIPs = append(nodeIPs, netip.MustParseAddr(ip))
	}
	domains = &agent.Domains{Store: e.db, Certs: cm, Checker: &dnscheck.Checker{Resolvers: []string{dnsSrv.Addr}, Timeout: 2 * time.Second},
		PlatformDomain: testDomain, NodeIPs: nodeIPs, Recheck: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	domainsCtx, stopDomains := context.WithCancel(context.Background())
	defer stopDomains()
	go (&agent.Loop{Store: e.db, Poll: 200 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(domainsCtx, domains)
	ctx := c.ctx
	step, clickAndLoad, js, text, screenshot := c.step, c.clickAndLoad, c.js, c.text, c.screenshot

	// Log in: the dashboard sends us to the login page first.
	step("open dashboard", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("email")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("unauthenticated visit landed on %s, want /login", loc)
	}
	screenshot("login.png")
	step("fill login", chromedp.SendKeys(chromedp.ID("email"), adminEmail), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	clickAndLoad("submit login", `#login-form button[type=submit]`)
	// The password alone opens nothing: the second step asks for the code
	// that was just emailed.
	if got := text("#verify-lead"); !strings.Contains(got, "a••••@example.com") {
		t.Fatalf("code page says %q, want the masked address", got)
	}
	step("type a wrong code", chromedp.SendKeys(chromedp.ID("code"), "000000"))
	clickAndLoad("submit wrong code", `#verify-submit`)
	if got := text("#verify-error"); !strings.Contains(got, "code") {
		t.Fatalf("a wrong code shows %q", got)
	}
	screenshot("login-code.png")
	step("type the code", chromedp.SendKeys(chromedp.ID("code"), e.mail.Code(t, adminEmail)))
	clickAndLoad("submit code", `#verify-submit`)
	if got := text(".account-email"); got != adminEmail {
		t.Fatalf("top bar shows %q after login, want %s", got, adminEmail)
	}
	screenshot("services-empty.png")

	// Create a service; the first try has a bad name and must keep the input.
	clickAndLoad("open new service form", `a[href="/new"]`)
	step("fill form", chromedp.SendKeys(chromedp.ID("name"), "Blog"), chromedp.SendKeys(chromedp.ID("upstream"), "http://127.0.0.1:8080"))
	clickAndLoad("submit bad name", `#new-service-form button[type=submit]`)
	if got := text("#name-err"); !strings.Contains(got, "upper-case") {
		t.Fatalf("inline name error = %q, want the app's upper-case message", got)
	}
	if got := js(`document.getElementById("upstream").value`); got != "http://127.0.0.1:8080" {
		t.Fatalf("upstream field lost its value: %q", got)
	}
	screenshot("new-service-error.png")
	step("fix name", chromedp.SetValue(chromedp.ID("name"), "blog"))
	clickAndLoad("submit form", `#new-service-form button[type=submit]`)

	// The Overview shows what the store holds.
	step("overview", chromedp.WaitVisible(chromedp.ID("tab-overview")))
	for sel, want := range map[string]string{
		"#tab-overview [data-field=state]":    "Active",
		"#tab-overview [data-field=upstream]": "http://127.0.0.1:8080",
		"[data-field=hostname]":               "blog." + testDomain,
		"[data-field=owner]":                  adminEmail,
		".flash-success":                      "Service blog created. It is live at http://blog." + testDomain + ":8080. Custom domains are optional: add one under Manage SSL Domains.",
	} {
		if got := text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	ips := js(`[...document.querySelectorAll("[data-field=node-ip]")].map(e => e.textContent).join(",")`)
	if ips != strings.Join(testNodeIPs, ",") {
		t.Errorf("node IPs shown: %q, want %q", ips, strings.Join(testNodeIPs, ","))
	}
	if got := text("#activity"); !strings.Contains(got, "service.create") {
		t.Errorf("recent activity lacks service.create: %q", got)
	}
	// app.js runs under the CSP: the copy button reacts.
	step("copy hostname", chromedp.Click(chromedp.CSS(`[data-copy="blog.`+testDomain+`"]`)))
	if got := js(`new Promise(r => setTimeout(() => r(document.querySelector('[data-copy] .copy-label').textContent), 200))`); got == "Copy" {
		t.Errorf("copy button label did not change after a click")
	}
	screenshot("overview.png")
	// Colours have short transitions: let them finish before the picture.
	step("dark mode", colorScheme("dark"), chromedp.Sleep(300*time.Millisecond))
	screenshot("overview-dark.png")
	step("light mode", colorScheme("light"))

	// Tabs switch through htmx without a page load, and the URL follows.
	step("security tab", chromedp.Click(chromedp.CSS(`a[data-tab=security]`)), chromedp.WaitVisible(chromedp.ID("tab-security")))
	if got := text("#tab-security"); !strings.Contains(got, "Rate Limiter") || !strings.Contains(got, "Show Options") {
		t.Errorf("security tab: %q", got)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/services/blog?tab=security") {
		t.Errorf("URL after tab switch: %s", loc)
	}
	if got := js(`String(!!window.htmx)`); got != "true" {
		t.Errorf("htmx did not load")
	}
	screenshot("security.png")

	// Rate limiter: the options unfold without a request; a bad amount is
	// refused with the app's message; a good one is saved and shown.
	step("show rate limiter options", chromedp.Click(chromedp.CSS(`#rate-limiter-options > summary`)), chromedp.WaitVisible(chromedp.ID("ratelimit-form")))
	if got := js(`document.querySelector("#rate-limiter-options > summary").innerText`); got != "Hide Options" {
		t.Errorf("open options' button says %q, want Hide Options", got)
	}
	step("bad amount and network", chromedp.SetValue(chromedp.ID("rl-requests"), "0"), chromedp.SetValue(chromedp.ID("rl-allow"), "10.0.0.300"))
	clickAndLoad("save bad rate limit", `#ratelimit-form button[type=submit]`)
	if got := text("#rl-requests-err"); !strings.Contains(got, "requests must be between 1 and 1000000") {
		t.Errorf("inline requests error = %q", got)
	}
	// Both mistakes at once, each beside its field.
	if got := text("#rl-allow-err"); !strings.Contains(got, `allow-list entry "10.0.0.300" is not an IP address`) {
		t.Errorf("inline allow-list error = %q", got)
	}
	js(`document.getElementById("rate-limiter").scrollIntoView(), ""`)
	screenshot("security-ratelimit-error.png", true)
	step("set 300 per second", chromedp.SetValue(chromedp.ID("rl-requests"), "300"), chromedp.SetValue(chromedp.ID("rl-per"), "second"),
		chromedp.SetValue(chromedp.ID("rl-allow"), "203.0.113.7\n2001:db8:1::/48"))
	clickAndLoad("save rate limit", `#ratelimit-form button[type=submit]`)
	if got := text("[data-field=ratelimit]"); got != "300 requests per second per client IP" {
		t.Errorf("rate limiter row shows %q after saving", got)
	}
	if got := text(".flash-success"); got != "Rate limit saved: applies at once." {
		t.Errorf("flash after saving the rate limit: %q", got)
	}
	step("reopen rate limiter options", chromedp.Click(chromedp.CSS(`#rate-limiter-options > summary`)), chromedp.WaitVisible(chromedp.ID("limited-chart")))
	if got := js(`String(document.querySelectorAll("#limited-chart .chart-bar").length)`); got == "0" {
		t.Error("the limited-requests chart has no bars")
	}
	if got := js(`String(document.querySelectorAll("#top-limited tbody tr").length)`); got != "6" {
		t.Errorf("top-limited table has %s rows, want 6", got)
	}
	screenshot("security-ratelimit.png")

	// Output cache: save a TTL, then purge through the modal.
	step("show cache options", chromedp.Click(chromedp.CSS(`#output-cache-options > summary`)), chromedp.WaitVisible(chromedp.ID("cache-form")))
	step("set ttl", chromedp.SetValue(chromedp.ID("cache-ttl"), "10s"))
	clickAndLoad("save cache", `#cache-form button[type=submit]`)
	if got := text("[data-field=cache]"); got != "GET/HEAD responses cached for 10s" {
		t.Errorf("output cache row shows %q after saving", got)
	}
	if got := text(".flash-success"); got != "Output cache saved: applies at once." {
		t.Errorf("flash after saving the cache: %q", got)
	}
	step("open cache options", chromedp.Click(chromedp.CSS(`#output-cache-options > summary`)), chromedp.WaitVisible(chromedp.ID("hit-chart")))
	step("open purge modal", chromedp.Click(chromedp.ID("purge-button")), chromedp.WaitVisible(chromedp.ID("purge-dialog")))
	if got := js(`String(document.getElementById("purge-dialog").open)`); got != "true" {
		t.Fatal("purge dialog did not open")
	}
	screenshot("security-purge-modal.png", true)
	clickAndLoad("confirm purge", `#purge-dialog button[type=submit]`)
	if got := text(".flash-success"); got != "Purged 42 cached responses." {
		t.Errorf("flash after purge: %q", got)
	}
	step("show cache chart", chromedp.Click(chromedp.CSS(`#output-cache-options > summary`)), chromedp.WaitVisible(chromedp.ID("hit-chart")))
	screenshot("security-cache.png")
	step("dark mode", colorScheme("dark"), chromedp.Click(chromedp.CSS(`#rate-limiter-options > summary`)), chromedp.Sleep(300*time.Millisecond))
	screenshot("security-dark.png")
	step("light mode", colorScheme("light"))
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(),
		chromedp.Click(chromedp.CSS(`#rate-limiter-options > summary`)), chromedp.WaitVisible(chromedp.ID("limited-chart")))
	js(`document.getElementById("rate-limiter").scrollIntoView(), ""`)
	screenshot("security-phone.png", true)
	step("desktop viewport", clearViewport, chromedp.Reload())

	// Logs: the recent requests are on the page; a new one appears without
	// a reload; Pause stops the rows and Resume brings what came meanwhile.
	// The log shows a service only requests that started after it was
	// created (a reused name must not inherit its predecessor's): the
	// backlog's times start after blog's creation, however fast the
	// steps above ran.
	blogSvc, err := e.db.ServiceByName(context.Background(), "blog")
	if err != nil {
		t.Fatal(err)
	}
	logBase := time.Now()
	if first := demoLogEntries(logBase)[0].Time; !first.After(blogSvc.CreatedAt) {
		logBase = logBase.Add(blogSvc.CreatedAt.Sub(first) + 100*time.Millisecond)
	}
	for _, ent := range demoLogEntries(logBase) {
		logs.Publish(ent)
	}
	step("logs tab", chromedp.Click(chromedp.CSS(`a[data-tab=logs]`)), chromedp.WaitVisible(chromedp.ID("logs")),
		chromedp.WaitVisible(chromedp.CSS(`#logs-status[data-state=live]`)))
	if got := text("#logs-status-text"); got != "Live" {
		t.Errorf("logs status %q, want Live", got)
	}
	rows := func() string { return js(`String(document.querySelectorAll("#log-rows tr.log-row").length)`) }
	if got := rows(); got != strconv.Itoa(len(demoLogEntries(time.Now()))) {
		t.Errorf("logs tab renders %s rows, want %d", got, len(demoLogEntries(time.Now())))
	}
	// The background refresh's row: no client, and the reason says why.
	// It is not an error: the reason is a muted note. Rendered by the
	// server here, by app.js for a live row below.
	refreshRow := func(path string) string {
		return js(`(r => r ? [r.querySelector(".log-client").textContent, r.querySelector(".log-reason").className, r.querySelector(".log-reason").textContent].join("|") : "none")([...document.querySelectorAll("#log-rows tr")].find(tr => tr.querySelector(".log-cache[data-cache=REFRESH]") && tr.querySelector(".log-path-text").textContent === ` + jsString(path) + `))`)
	}
	const wantRefresh = "—|log-reason log-note|a background refresh of a stale copy (no client waited)"
	if got := refreshRow("/"); got != wantRefresh {
		t.Errorf("the REFRESH row's client, reason class and reason: %q, want %q", got, wantRefresh)
	}
	js(`window.rampartNoReload = "still here", ""`)
	newRow := func(path string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](`[...document.querySelectorAll("#log-rows .log-path-text")].some(e => e.textContent === `+jsString(path)+`)`,
				chromedp.WithPollingTimeout(10*time.Second))(ctx, tg)
			return chromedp.Void{}, err
		}
	}
	hostile := `/search/<img src=x onerror=alert(1)>`
	logs.Publish(demoLogEntry(time.Now(), "GET", "blog."+testDomain, hostile, 200, 5300, 12*time.Millisecond, "198.51.100.4", "MISS", false, ""))
	step("a request appears live", newRow(hostile))
	logs.Publish(refreshLogEntry(time.Now(), "blog."+testDomain, "/pricing", 200, 9100, 22*time.Millisecond))
	step("a background refresh appears live", newRow("/pricing"))
	if got := refreshRow("/pricing"); got != wantRefresh {
		t.Errorf("the live REFRESH row's client, reason class and reason: %q, want %q", got, wantRefresh)
	}
	logs.Publish(demoLogEntry(time.Now(), "GET", "blog."+testDomain, "/checkout", 200, 8400, 41*time.Millisecond, "203.0.113.9", "MISS", false, ""))
	step("another one", newRow("/checkout"))
	if got := js(`String(window.rampartNoReload)`); got != "still here" {
		t.Error("the page reloaded to show new requests")
	}
	if got := js(`document.querySelector("#log-rows tr .log-path-text").textContent`); got != "/checkout" {
		t.Errorf("newest row is %q, want /checkout on top", got)
	}
	if got := js(`String(document.querySelectorAll("#log-rows img").length)`); got != "0" {
		t.Error("a path from a request became HTML in the page")
	}
	// Let the arrival highlight fade before the picture.
	step("settle highlight", chromedp.Sleep(1800*time.Millisecond))
	screenshot("logs.png")
	step("dark mode", colorScheme("dark"), chromedp.Sleep(300*time.Millisecond))
	screenshot("logs-dark.png")
	step("light mode", colorScheme("light"))

	step("pause", chromedp.Click(chromedp.ID("logs-toggle")), chromedp.WaitVisible(chromedp.CSS(`#logs-status[data-state=paused]`)))
	if got := text("#logs-toggle"); got != "Resume" {
		t.Errorf("paused button says %q, want Resume", got)
	}
	logs.Publish(demoLogEntry(time.Now(), "POST", "blog."+testDomain, "/while-paused", 201, 120, 9*time.Millisecond, "203.0.113.9", "BYPASS", false, ""))
	step("paused: nothing new", chromedp.Sleep(700*time.Millisecond))
	if got := js(`String([...document.querySelectorAll("#log-rows .log-path-text")].some(e => e.textContent === "/while-paused"))`); got != "false" {
		t.Error("a row arrived while paused")
	}
	screenshot("logs-paused.png", true)
	step("resume", chromedp.Click(chromedp.ID("logs-toggle")), newRow("/while-paused"),
		chromedp.WaitVisible(chromedp.CSS(`#logs-status[data-state=live]`)))
	if got := rows(); got != strconv.Itoa(len(demoLogEntries(time.Now()))+4) {
		t.Errorf("after resuming %s rows, want each request once (%d)", got, len(demoLogEntries(time.Now()))+4)
	}
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#logs-status[data-state=live]`)), chromedp.Sleep(1800*time.Millisecond))
	screenshot("logs-phone.png", true)
	step("desktop viewport", clearViewport, chromedp.Reload())

	step("overview tab", chromedp.Click(chromedp.CSS(`a[data-tab=overview]`)), chromedp.WaitVisible(chromedp.ID("tab-overview")))

	// Update config → Env: the environment is typed as a .env text; a bad
	// line is refused with its number, a good text saved and counted on
	// the Overview.
	clickAndLoad("update config", `#update-config`)
	step("config page", chromedp.WaitVisible(chromedp.ID("env")))
	step("type a bad env", chromedp.SetValue(chromedp.ID("env"), "APP_URL=https://shop.test\nBAD NAME=1\n"))
	clickAndLoad("save bad env", `#env-form button[type=submit]`)
	if got := text("#env-err"); !strings.Contains(got, "line 2") {
		t.Errorf("env error = %q, want it to name line 2", got)
	}
	step("type env", chromedp.SetValue(chromedp.ID("env"), "# where the shop lives\nAPP_URL=https://shop.test\nSMTP_FROM=blog@mail.example.net\n"))
	screenshot("config-env.png")
	clickAndLoad("save env", `#env-form button[type=submit]`)
	if got := text(".flash-success"); !strings.HasPrefix(got, "Environment saved: set APP_URL, SMTP_FROM.") {
		t.Errorf("flash after saving the env: %q", got)
	}
	if got := text("[data-field=env-count]"); got != "2 variables" {
		t.Errorf("Overview shows %q for the environment, want 2 variables", got)
	}

	// SSL domains: type a name, press Enter; its state appears and moves
	// on without a reload.
	clickAndLoad("manage SSL domains", `#manage-domains`)
	step("domains page", chromedp.WaitVisible(chromedp.ID("domains-empty")))
	js(`window.rampartNoReload = "still here", ""`)
	step("type a bad domain + Enter", chromedp.SendKeys(chromedp.ID("domain-input"), "https://shop.example.com/cart\r"),
		chromedp.WaitVisible(chromedp.ID("domain-err")))
	if got := text("#domain-err"); !strings.Contains(got, "is a URL") || !strings.Contains(got, `"shop.example.com"`) {
		t.Errorf("error for a URL: %q", got)
	}
	screenshot("domains-error.png", true)
	js(`document.getElementById("domain-input").value = "", ""`)
	step("type shop.test + Enter", chromedp.SendKeys(chromedp.ID("domain-input"), "Shop.TEST\r"),
		chromedp.WaitVisible(chromedp.CSS(`li[data-domain="shop.test"] [data-field=domain-state]`)))
	first := js(`document.querySelector('li[data-domain="shop.test"] [data-field=domain-state]').dataset.state`)
	if first != "waiting_for_dns" && first != "issuing" && first != "active" {
		t.Errorf("shop.test first shows state %q", first)
	}
	if got := js(`document.activeElement && document.activeElement.id || ""`); got != "domain-input" {
		t.Logf("focus after add is on %q", got)
	}
	step("state becomes active without reload", chromedp.WaitVisible(chromedp.CSS(`li[data-domain="shop.test"] [data-state=active]`)))
	if got := js(`String(window.rampartNoReload)`); got != "still here" {
		t.Error("the page reloaded to show the new state")
	}
	t.Logf("shop.test: first shown %s, then active without a reload", first)
	step("add a domain pointing elsewhere", chromedp.SendKeys(chromedp.ID("domain-input"), "www.elsewhere.example\r"),
		chromedp.WaitVisible(chromedp.CSS(`li[data-domain="www.elsewhere.example"] [data-field=reason]`)))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`((document.querySelector('li[data-domain="www.elsewhere.example"] [data-field=reason]')||{}).textContent||"").includes("203.0.113.9")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		d, _ := e.db.DomainByName(context.Background(), "www.elsewhere.example")
		t.Fatalf("the reason of www.elsewhere.example never named 203.0.113.9: %v (shows %q; stored %+v; polling %s)", err, text(`li[data-domain="www.elsewhere.example"]`), d, js(`document.getElementById("domain-list").dataset.polling`))
	}
	js(`document.querySelector('li[data-domain="www.elsewhere.example"] details.domain-dns > summary').click(), ""`)
	step("open its DNS details", chromedp.WaitVisible(chromedp.CSS(`li[data-domain="www.elsewhere.example"] table.dns-resolvers`)))
	// Polling goes on (a domain is waiting) and keeps the details open.
	step("a poll later", chromedp.Sleep(2500*time.Millisecond))
	if got := js(`String(document.querySelector(%q).open)`, `li[data-domain="www.elsewhere.example"] details`); got != "true" {
		t.Error("polling closed the DNS details")
	}
	if got := js(`String(window.rampartNoReload)`); got != "still here" {
		t.Error("the page reloaded")
	}
	screenshot("domains.png")
	step("dark mode", colorScheme("dark"), chromedp.Sleep(300*time.Millisecond))
	screenshot("domains-dark.png")
	step("light mode", colorScheme("light"))
	// A bare domain with an A record to the node: on this node with
	// several accounts its row asks for the TXT record with the service's
	// token, and the reason names it too. Once the record is there and
	// the owner looks at the DNS details, it is proven and the
	// instructions go away without a reload.
	step("add a bare domain", chromedp.SendKeys(chromedp.ID("domain-input"), "shop.example\r"),
		chromedp.WaitVisible(chromedp.CSS(`li[data-domain="shop.example"] [data-field=proof-txt]`)))
	bare, err := e.db.DomainByName(context.Background(), "shop.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := text(`li[data-domain="shop.example"] [data-field=proof-txt]`); got != bare.Challenge.Value {
		t.Errorf("the TXT value shown is %q, want the service's token %q", got, bare.Challenge.Value)
	}
	if got := text(`li[data-domain="shop.example"] [data-field=proof-txt-name]`); got != "_rampart-challenge.shop.example" {
		t.Errorf("the TXT name shown is %q", got)
	}
	if got := text(`li[data-domain="shop.example"] [data-field=proof-cname]`); got != "blog."+testDomain {
		t.Errorf("the CNAME target shown is %q", got)
	}
	wantReason := `add a TXT record _rampart-challenge.shop.example with the value "` + bare.Challenge.Value + `"`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`((document.querySelector('li[data-domain="shop.example"] [data-field=reason]')||{}).textContent||"").includes(%q)`, wantReason), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Errorf("the reason of shop.example never named the TXT record: %v (shows %q)", err, text(`li[data-domain="shop.example"] [data-field=reason]`))
	}
	js(`document.querySelector('li[data-domain="shop.example"]').scrollIntoView({block: "center"}), ""`)
	screenshot("domains-txt.png", true)
	dnsSrv.SetTXT("_rampart-challenge.shop.example", bare.Challenge.Value)
	js(`document.querySelector('li[data-domain="shop.example"] details.domain-dns > summary').click(), ""`)
	step("proven: the instructions go", chromedp.WaitNotPresent(chromedp.CSS(`li[data-domain="shop.example"] [data-field=proof]`)))
	if got := js(`String(window.rampartNoReload)`); got != "still here" {
		t.Error("the page reloaded")
	}
	// Uploading a certificate: the fields show only once "Upload my
	// certificate" is chosen; each row has its own "Change TLS" form.
	uploadShown := func(sel string) string {
		return js(`getComputedStyle(document.querySelector(%q)).display`, sel)
	}
	if got := uploadShown(`.upload-fields[data-upload-for=add]`); got != "none" {
		t.Errorf("upload fields show (display %s) with a managed certificate chosen", got)
	}
	step("choose upload", chromedp.SetValue(chromedp.ID("domain-mode"), "custom"))
	if got := uploadShown(`.upload-fields[data-upload-for=add]`); got == "none" {
		t.Error("upload fields stay hidden with 'Upload my certificate' chosen")
	}
	if got := js(`String(getComputedStyle(document.querySelector("input[data-fill-textarea=cert-add]")).display)`); got == "none" {
		t.Error("the file picker is hidden although JavaScript runs")
	}
	screenshot("domains-upload.png")
	step("back to managed", chromedp.SetValue(chromedp.ID("domain-mode"), "managed"))
	js(`document.querySelector('li[data-domain="shop.test"] details.domain-tls > summary').click(), ""`)
	step("change TLS form", chromedp.WaitVisible(chromedp.CSS(`li[data-domain="shop.test"] .domain-tls-form`)))
	step("choose custom in the row", chromedp.Click(chromedp.CSS(`li[data-domain="shop.test"] input[name=tls_mode][value=custom]`)))
	if got := uploadShown(`.upload-fields[data-upload-for="shop.test"]`); got == "none" {
		t.Error("the row's upload fields stay hidden with custom chosen")
	}
	js(`document.querySelector('li[data-domain="shop.test"]').scrollIntoView(), ""`)
	screenshot("domains-change-tls.png", true)
	step("choose managed in the row", chromedp.Click(chromedp.CSS(`li[data-domain="shop.test"] input[name=tls_mode][value=managed]`)))
	step("open remove modal", chromedp.Click(chromedp.CSS(`li[data-domain="shop.test"] [data-open-dialog]`)), chromedp.WaitVisible(chromedp.ID("remove-domain-dialog")))
	if got := text(`#remove-domain-title`); got != "Remove shop.test?" {
		t.Errorf("remove modal title: %q", got)
	}
	screenshot("domains-remove-modal.png", true)
	clickAndLoad("confirm remove", `#remove-domain-submit`)
	if got := text(".flash-success"); !strings.Contains(got, "Removed shop.test") {
		t.Errorf("flash after remove: %q", got)
	}
	if _, err := e.db.DomainByName(context.Background(), "shop.test"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("shop.test still stored after remove: %v", err)
	}
	step("back to the service", chromedp.Navigate(srv.URL+"/services/blog"), chromedp.WaitVisible(chromedp.ID("tab-overview")))

	// What the edge did with a configuration shows on the Overview: the
	// routes reconciler runs against an edge that refuses one service.
	if _, err := e.app.Services.Create(context.Background(), app.OperatorActor(), rampart.ServiceInput{Name: "broken", Upstreams: []string{"http://127.0.0.1:8081"}}); err != nil {
		t.Fatal(err)
	}
	routesCtx, stopRoutes := context.WithCancel(context.Background())
	defer stopRoutes()
	go (&agent.Loop{Store: e.db, Poll: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(routesCtx,
		&agent.Routes{Store: e.db, Edge: refusingEdge{"broken"}, PlatformDomain: testDomain, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	step("blog applied", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#tab-overview [data-field=status]`)))
	for deadline := time.Now().Add(5 * time.Second); text(`#tab-overview [data-field=status]`) != "Applied" && time.Now().Before(deadline); {
		step("reload until applied", chromedp.Sleep(100*time.Millisecond), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("tab-overview")))
	}
	if got := text(`#tab-overview [data-field=status]`); got != "Applied" {
		t.Errorf("blog's status shows %q, want Applied", got)
	}
	if got := js(`String(document.getElementById("status-error") === null)`); got != "true" {
		t.Error("a service the edge took shows a refusal")
	}
	step("refused service", chromedp.Navigate(srv.URL+"/services/broken"), chromedp.WaitVisible(chromedp.ID("tab-overview")))
	for deadline := time.Now().Add(5 * time.Second); text(`#tab-overview [data-field=status]`) != "Refused" && time.Now().Before(deadline); {
		step("reload until refused", chromedp.Sleep(100*time.Millisecond), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("tab-overview")))
	}
	if got := text(`#tab-overview [data-field=status]`); got != "Refused" {
		t.Errorf("broken's status shows %q, want Refused", got)
	}
	if got := text(`#status-error [data-field=status-message]`); !strings.Contains(got, "TTL 5h0m0s is out of range") {
		t.Errorf("the refusal's reason shows %q", got)
	}
	screenshot("overview-refused.png")
	stopRoutes()
	if err := e.app.Services.Delete(context.Background(), app.OperatorActor(), "broken"); err != nil {
		t.Fatal(err)
	}
	step("back to blog", chromedp.Navigate(srv.URL+"/services/blog"), chromedp.WaitVisible(chromedp.ID("tab-overview")))

	// The list shows the new service.
	step("list", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-service=blog]`)))
	if got := text(`tr[data-service=blog]`); !strings.Contains(got, "Active") || !strings.Contains(got, "http://127.0.0.1:8080") {
		t.Errorf("services row: %q", got)
	}
	screenshot("services.png")
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload())
	screenshot("services-phone.png")
	step("desktop viewport", clearViewport, chromedp.Reload())

	// Delete through the modal: the button stays disabled until the name is typed.
	clickAndLoad("open service", `a[href="/services/blog"]`)
	step("open delete modal", chromedp.Click(chromedp.ID("delete-button")), chromedp.WaitVisible(chromedp.ID("delete-dialog")))
	if got := js(`String(document.getElementById("delete-dialog").open)`); got != "true" {
		t.Fatal("delete dialog did not open")
	}
	submit := `#delete-dialog [data-confirm-submit]`
	if got := js(`String(document.querySelector(%q).disabled)`, submit); got != "true" {
		t.Error("delete button enabled before the name was typed")
	}
	step("type wrong name", chromedp.SendKeys(chromedp.CSS(`#delete-dialog input[name=confirm]`), "blo"))
	if got := js(`String(document.querySelector(%q).disabled)`, submit); got != "true" {
		t.Error("delete button enabled for a partial name")
	}
	step("type name", chromedp.SendKeys(chromedp.CSS(`#delete-dialog input[name=confirm]`), "g"))
	if got := js(`String(document.querySelector(%q).disabled)`, submit); got != "false" {
		t.Fatal("delete button still disabled after typing the name")
	}
	screenshot("delete-modal.png", true)
	clickAndLoad("confirm delete", submit)
	if got := text(".flash-success"); !strings.HasPrefix(got, "Service blog deleted. A final backup was taken") {
		t.Errorf("flash after delete: %q", got)
	}
	if got := js(`String(document.querySelector("tr[data-service=blog]") === null)`); got != "true" {
		t.Error("deleted service still listed among the live ones")
	}
	if got := js(`String(document.querySelector("tr[data-deleted-service=blog]") !== null)`); got != "true" {
		t.Error("deleted service not listed under Deleted services")
	}
	if got := e.state("blog"); got != rampart.StateDeleted {
		t.Errorf("service is %s in the store after delete", got)
	}
	clickAndLoad("open audit log", `a[href="/audit"]`)
	if got := text("#audit"); !strings.Contains(got, "service.delete") || !strings.Contains(got, "session.login") {
		t.Errorf("audit log lacks the delete and the login: %q", got)
	}
	screenshot("audit.png")
	// A deleted service's page offers its restore; a name that never
	// existed is not found.
	step("deleted service's page", chromedp.Navigate(srv.URL+"/services/blog"), chromedp.WaitVisible(chromedp.ID("deleted-banner")))
	step("missing service's page", chromedp.Navigate(srv.URL+"/services/nosuch"), chromedp.WaitVisible(chromedp.ID("error-message")))
	if got := text("#error-message"); got != `service "nosuch" not found` {
		t.Errorf("404 page says %q", got)
	}
	screenshot("not-found.png")

	// The SSL/TLS row names the issuer each custom domain gets: the
	// internal CA for an internal name, the ACME CA for the others.
	shop := e.createService(adminEmail, "shop")
	admin := app.UserActor(e.users[adminEmail], "192.0.2.1")
	for _, name := range []string{"shop.test", "shop.example.org"} {
		if _, err := e.app.Domains.Add(context.Background(), admin, rampart.DomainInput{Service: shop.Name, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	step("shop's security tab", chromedp.Navigate(srv.URL+"/services/shop?tab=security"), chromedp.WaitVisible(chromedp.ID("tab-security")))
	if got := text("#tab-security .settings li:first-child"); !strings.Contains(got, "From Let's Encrypt for shop.example.org") || !strings.Contains(got, "From rampart's internal CA for shop.test") {
		t.Errorf("SSL/TLS row says %q", got)
	}
	screenshot("security-ssl.png", true)

	// A fresh server's login page says how to make the first account.
	fresh := httptest.NewServer(newEnvAccounts(t, edge{}, nil).h)
	defer fresh.Close()
	step("fresh server's login", chromedp.Navigate(fresh.URL+"/login"), chromedp.WaitVisible(chromedp.ID("first-admin")))
	if got := text("[data-field=first-admin-command]"); got != testFirstAdmin {
		t.Errorf("first-admin command shows %q", got)
	}
	screenshot("login-first-admin.png")

	c.checkNoJSErrors()
}

// demoStats is a plausible half hour of traffic for the screenshots: a
// steady load with a scraper's burst that the rate limiter cut off, a cache
// that answers most GETs, and two quiet minutes with nothing cacheable.
func demoStats(int64) rampart.TrafficStats {
	end := time.Now().UTC().Truncate(time.Minute)
	st := rampart.TrafficStats{BucketWidth: time.Minute}
	for i := range 30 {
		wave := math.Sin(float64(i) / 4)
		c := rampart.TrafficCount{
			Start:    end.Add(time.Duration(i-29) * time.Minute),
			Requests: int64(1100 + 350*wave),
			Bypassed: int64(120 + 40*math.Cos(float64(i)/3)),
		}
		if i >= 11 && i <= 17 {
			burst := []int64{40, 180, 320, 410, 260, 90, 25}[i-11]
			c.Requests += burst + 150
			c.Limited = burst
		} else if i%4 == 1 {
			c.Limited = int64(3 + i%5)
		}
		if i != 7 && i != 8 && i != 22 {
			cacheable := c.Requests - c.Bypassed - c.Limited
			c.Hits = int64(float64(cacheable) * (0.78 + 0.15*math.Sin(float64(i)/2.5)))
			c.Misses = cacheable - c.Hits
		} else {
			c.Bypassed = c.Requests - c.Limited
		}
		st.Buckets = append(st.Buckets, c)
	}
	st.TopLimited = []rampart.ClientCount{
		{Client: "198.51.100.23", Limited: 912},
		{Client: "2001:db8:4a7:1c00::/64", Limited: 233},
		{Client: "203.0.113.140", Limited: 101},
		{Client: "192.0.2.77", Limited: 36},
		{Client: "198.51.100.4", Limited: 12},
		{Client: "203.0.113.9", Limited: 5},
	}
	st.TopLimitedWindow = 5 * time.Minute
	return st
}

// demoLogEntry is one request of blog, as the edge logs it.
func demoLogEntry(at time.Time, method, host, path string, status int, bytes int64, took time.Duration, client, cache string, limited bool, err string) edgepkg.LogEntry {
	return edgepkg.LogEntry{
		Time: at, Service: "blog", Host: host, Method: method, Path: path, Status: status, Bytes: bytes,
		Duration: took, ClientIP: netip.MustParseAddr(client), Upstream: "http://127.0.0.1:8080",
		RequestID: strconv.FormatInt(at.UnixNano()%1e9, 16), Cache: cache, Limited: limited, Error: err,
	}
}

// refreshLogEntry is the entry of a stale-while-revalidate refresh the
// edge made in the background: no client, cache REFRESH.
func refreshLogEntry(at time.Time, host, path string, status int, bytes int64, took time.Duration) edgepkg.LogEntry {
	e := demoLogEntry(at, "GET", host, path, status, bytes, took, "192.0.2.1", "REFRESH", false, "")
	e.ClientIP = netip.Addr{}
	return e
}

// demoLogEntries are a few seconds of plausible traffic for the
// screenshots, one of each status colour, oldest first, all after now-4s
// (the service is older: entries from before it are never shown).
func demoLogEntries(now time.Time) []edgepkg.LogEntry {
	h := "blog." + testDomain
	at := func(i int) time.Time { return now.Add(time.Duration(i-12) * 300 * time.Millisecond) }
	return []edgepkg.LogEntry{
		demoLogEntry(at(0), "GET", h, "/", 200, 14200, 18*time.Millisecond, "203.0.113.9", "MISS", false, ""),
		demoLogEntry(at(1), "GET", h, "/", 200, 14200, 310*time.Microsecond, "198.51.100.4", "HIT", false, ""),
		demoLogEntry(at(2), "GET", h, "/assets/app.css", 304, 0, 2100*time.Microsecond, "203.0.113.9", "BYPASS", false, ""),
		demoLogEntry(at(3), "GET", "www.example.com", "/posts/hello-world", 200, 22900, 26*time.Millisecond, "2001:db8:4a7:1c00::17", "MISS", false, ""),
		demoLogEntry(at(4), "GET", h, "/wp-login.php", 404, 1500, 4*time.Millisecond, "192.0.2.77", "MISS", false, ""),
		demoLogEntry(at(5), "POST", h, "/api/comments", 201, 310, 48*time.Millisecond, "203.0.113.9", "BYPASS", false, ""),
		demoLogEntry(at(6), "GET", h, "/search", 429, 140, 90*time.Microsecond, "198.51.100.23", "", true, ""),
		demoLogEntry(at(7), "GET", h, "/search", 429, 140, 85*time.Microsecond, "198.51.100.23", "", true, ""),
		demoLogEntry(at(8), "GET", h, "/api/orders", 502, 1800, 1200*time.Millisecond, "203.0.113.9", "MISS", false, "dial tcp 127.0.0.1:8080: connect: connection refused"),
		demoLogEntry(at(9), "GET", h, "/", 200, 14200, 1800*time.Microsecond, "198.51.100.4", "STALE", false, ""),
		refreshLogEntry(at(9).Add(40*time.Millisecond), h, "/", 200, 14200, 35*time.Millisecond),
		demoLogEntry(at(10), "GET", h, "/feed.xml", 200, 48100, 9*time.Millisecond, "192.0.2.140", "HIT", false, ""),
	}
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// refusingEdge installs every route but one service's, which it refuses as
// the edge refuses a configuration it cannot serve.
type refusingEdge struct{ refuse string }

func (r refusingEdge) SetRoutes(routes []edgepkg.Route) error {
	for _, rt := range routes {
		if rt.Service == r.refuse {
			return errors.Join(&edgepkg.RouteError{Service: rt.Service, Err: errors.New("cache: TTL 5h0m0s is out of range: give a TTL from 1s to 1h0m0s, or disable the cache")})
		}
	}
	return nil
}
