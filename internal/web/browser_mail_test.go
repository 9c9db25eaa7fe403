package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rampart-dev/rampart"
)

// TestBrowserMail drives the Security tab's SMTP service row in a real
// headless Chromium: the owner opens it, creates credentials and copies
// the password that is shown once (a reload does not show it), reads the
// quota bar and the log, and rotates the password through the modal; an
// admin then sees the DNS records, suspends the service's mail with a
// reason and resumes it. Screenshots go to $RAMPART_ARTIFACTS.
func TestBrowserMail(t *testing.T) {
	c := newChrome(t)
	relay := &fakeRelay{dns: []rampart.MailDNSRecord{
		{Purpose: "dkim", Name: "rampart1._domainkey." + testMailDomain, Type: "TXT", Published: true,
			Value: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="},
		{Purpose: "dkim", Name: "rampart2._domainkey." + testMailDomain, Type: "TXT",
			Value: "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAz4k8rHq0" + strings.Repeat("Qm9yZW0", 40) + "IDAQAB"},
		{Purpose: "spf", Name: testMailDomain, Type: "TXT", Value: "v=spf1 ip4:203.0.113.7 ip6:2001:db8::7 ~all", Found: []string{"v=spf1 include:_spf.example.net -all"}},
	}}
	relay.setUsed("shop", 212, time.Time{})
	e := newMailEnv(t, relay)
	svc := e.createService(memberEmail, "shop")
	now := time.Now().UTC()
	for i, m := range []*rampart.MailMessage{
		{At: now.Add(-48 * time.Minute), Size: 5321, Status: rampart.MailSent, Recipients: []rampart.MailRecipient{{Addr: "ada@example.org", Status: rampart.MailSent, Code: 250}}},
		{At: now.Add(-31 * time.Minute), Size: 18400, Status: rampart.MailSent, Recipients: []rampart.MailRecipient{
			{Addr: "grace@example.org", Status: rampart.MailSent, Code: 250}, {Addr: "alan@example.net", Status: rampart.MailSent, Code: 250},
			{Addr: "edsger@example.com", Status: rampart.MailSent, Code: 250}, {Addr: "barbara@example.com", Status: rampart.MailSent, Code: 250}}},
		{At: now.Add(-12 * time.Minute), Size: 4096, Status: rampart.MailBounced, Recipients: []rampart.MailRecipient{
			{Addr: "nobody@example.org", Status: rampart.MailBounced, Code: 550, Reply: "5.1.1 <nobody@example.org>: Recipient address rejected: User unknown \x1b[31m<script>alert(1)</script>"}}},
		{At: now.Add(-6 * time.Minute), Size: 3900, Status: rampart.MailDeferred, Recipients: []rampart.MailRecipient{
			{Addr: "linus@example.net", Status: rampart.MailDeferred, Code: 451, Reply: "4.7.1 Greylisted, please try again in 300 seconds"}}},
		{At: now.Add(-2 * time.Minute), Status: rampart.MailRefused, Reason: "550 bulk mail is not permitted: the message has a List-Unsubscribe/List-Id header; this relay is for transactional mail only",
			Recipients: []rampart.MailRecipient{{Addr: "list@example.org", Status: rampart.MailRefused, Code: 550}}},
		{At: now.Add(-40 * time.Second), Size: 2210, Status: rampart.MailQueued, Recipients: []rampart.MailRecipient{{Addr: "margaret@example.com", Status: rampart.MailQueued}}},
	} {
		m.ServiceID, m.From, m.QueueID = svc.ID, "shop@"+testMailDomain, fmt.Sprintf("demo%d", i)
		if err := e.db.AddMailMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	step, clickAndLoad, text, js, screenshot, scrollTo := c.step, c.clickAndLoad, c.text, c.js, c.screenshot, c.scrollTo
	flash := func() string { return text(".flash") }
	password := func() string {
		return js(`(document.querySelector("[data-field=smtp-password]")||{textContent:""}).textContent`)
	}

	// The owner: the row, then its options.
	c.login(e, srv.URL, memberEmail, testPassword)
	step("security tab", chromedp.Navigate(srv.URL+"/services/shop?tab=security"), chromedp.WaitVisible(chromedp.ID("smtp")))
	if got := text("[data-field=smtp-mode]"); got != "On" {
		t.Errorf("the row's state shows %q", got)
	}
	scrollTo("#smtp")
	screenshot("smtp-row.png", true)
	step("show the options", chromedp.Click(chromedp.CSS(`#smtp-options > summary`)), chromedp.WaitVisible(chromedp.ID("smtp-create")))
	if got := text("#smtp-quota .quota-text"); !strings.Contains(got, "212") || !strings.Contains(got, "of 300 recipients") {
		t.Errorf("the quota shows %q", got)
	}
	if got := js(`document.querySelector("#smtp-quota .quota-fill").getBoundingClientRect().width / document.querySelector("#smtp-quota .quota-bar").getBoundingClientRect().width > 0.6 ? "ok" : "short"`); got != "ok" {
		t.Error("the quota bar is not filled to about 70%")
	}
	if got := js(`String(document.querySelectorAll("#smtp-log tbody tr").length)`); got != "6" {
		t.Errorf("%s log rows, want 6", got)
	}
	if got := text(`#smtp-log tr[data-status=bounced] [data-field=mail-detail]`); !strings.Contains(got, `\x1b[31m<script>alert(1)</script>`) {
		t.Errorf("the hostile reply shows as %q", got)
	}
	// Live: a message the service sends now shows within a poll, with
	// the hour's count, while the options stay open.
	if err := e.db.AddMailMessage(context.Background(), &rampart.MailMessage{ServiceID: svc.ID, From: "shop@" + testMailDomain, QueueID: "demo-live",
		At: time.Now().UTC(), Size: 1500, Status: rampart.MailQueued, Recipients: []rampart.MailRecipient{{Addr: "katherine@example.com", Status: rampart.MailQueued}}}); err != nil {
		t.Fatal(err)
	}
	relay.setUsed("shop", 213, time.Time{})
	c.waitFor("the new message shows", `document.querySelectorAll("#smtp-log tbody tr").length === 7 && document.querySelector("#smtp-log tbody tr").textContent.includes("katherine@example.com")`, 15*time.Second)
	c.waitFor("the count follows", `document.querySelector("#smtp-quota .quota-text").textContent.includes("213") && document.querySelector("[data-field=smtp-summary]").textContent.startsWith("213 of")`, 10*time.Second)
	if got := js(`String(document.getElementById("smtp-options").open)`); got != "true" {
		t.Error("a poll closed the options")
	}
	if got := js(`String(document.querySelectorAll("#smtp-log script").length)`); got != "0" {
		t.Error("a remote reply became a script element")
	}
	scrollTo("#smtp")
	screenshot("smtp-options.png")

	// Create credentials: the password, once.
	clickAndLoad("create credentials", "#smtp-create")
	pw := password()
	if len(pw) < 40 {
		t.Fatalf("no password shown after Create credentials: %q", pw)
	}
	if got := text("#smtp-password-box"); !strings.Contains(got, "Copy it now: it will not be shown again.") {
		t.Errorf("the password box says %q", got)
	}
	if loc := c.location(); !strings.HasSuffix(loc, "/services/shop?tab=security&open=smtp#smtp") {
		t.Errorf("the address after creating is %s, not the tab's", loc)
	}
	scrollTo("#smtp-password-box")
	js(`window.scrollBy(0, -90), ""`)
	screenshot("smtp-password.png", true)
	step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("smtp-rotate")))
	if password() != "" || strings.Contains(js(`document.documentElement.outerHTML`), pw) {
		t.Fatal("a reload shows the password again")
	}
	if got := text("[data-field=smtp-credentials]"); !strings.HasPrefix(got, "Set ") {
		t.Errorf("the password row shows %q", got)
	}

	// Rotate through the modal.
	step("open the rotate modal", chromedp.Click(chromedp.ID("smtp-rotate")), chromedp.WaitVisible(chromedp.ID("mail-rotate-dialog")))
	if got := text("#mail-rotate-title"); got != "Make a new SMTP password for shop?" {
		t.Errorf("rotate modal title: %q", got)
	}
	screenshot("smtp-rotate-modal.png", true)
	clickAndLoad("rotate", "#mail-rotate-submit")
	pw2 := password()
	if pw2 == "" || pw2 == pw {
		t.Fatalf("rotation shows %q", pw2)
	}
	if got := text("#smtp-password-box h4"); got != "New SMTP password for shop" {
		t.Errorf("the rotated password's heading: %q", got)
	}
	step("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("smtp-options")))
	scrollTo("#smtp")
	screenshot("smtp-phone.png", true)
	scrollTo("#smtp-log")
	screenshot("smtp-phone-log.png", true)
	step("desktop viewport", clearViewport, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("smtp")))

	// At the limit the bar is full and says when sending resumes.
	relay.setUsed("shop", 300, time.Now().Add(9*time.Minute))
	step("at the limit", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("[data-field=smtp-resumes]")))
	if got := text("[data-field=smtp-resumes]"); !strings.Contains(got, "sending resumes at") {
		t.Errorf("at the limit the row says %q", got)
	}
	scrollTo("#smtp-usage-heading")
	js(`window.scrollBy(0, -120), ""`)
	screenshot("smtp-quota-full.png", true)
	relay.setUsed("shop", 212, time.Time{})

	// An admin: DNS records, suspend, resume.
	clickAndLoad("log out", `.account form button[type=submit]`)
	c.login(e, srv.URL, adminEmail, testPassword)
	step("admin's security tab", chromedp.Navigate(srv.URL+"/services/shop?tab=security&open=smtp#smtp"), chromedp.WaitVisible(chromedp.ID("smtp-quota-form")))
	step("open the DNS records", chromedp.Click(chromedp.CSS(`#smtp-dns > summary`)), chromedp.WaitVisible(chromedp.ID("smtp-dns-records")))
	if got := text("#smtp-dns-records"); !strings.Contains(got, "Published") || !strings.Contains(got, "NOT published") {
		t.Errorf("the DNS records show %q", got)
	}
	scrollTo("#smtp-admin-heading")
	screenshot("smtp-admin.png", true)
	step("reason", chromedp.SetValue(chromedp.ID("smtp-reason"), "spam complaints from example.org"))
	clickAndLoad("suspend", "#smtp-suspend")
	if got := flash(); !strings.Contains(got, "Mail of shop is suspended") {
		t.Errorf("flash after suspending: %q", got)
	}
	if got := text("#smtp-suspended"); !strings.Contains(got, "spam complaints from example.org") {
		t.Errorf("the banner says %q", got)
	}
	if !e.mailState("shop").Suspended {
		t.Error("not suspended in the store")
	}
	scrollTo("#smtp")
	screenshot("smtp-suspended.png", true)
	step("dark mode", colorScheme("dark"))
	screenshot("smtp-suspended-dark.png", true)
	step("light mode", colorScheme("light"))
	clickAndLoad("resume", "#smtp-resume")
	if got := flash(); !strings.Contains(got, "Mail of shop is resumed") {
		t.Errorf("flash after resuming: %q", got)
	}
	if got := js(`String(document.getElementById("smtp-suspended") === null)`); got != "true" {
		t.Error("the suspended banner stays after Resume")
	}
	if e.mailState("shop").Suspended {
		t.Error("still suspended in the store")
	}
	step("the options stay open", chromedp.WaitVisible(chromedp.ID("smtp-quota-form")))
	screenshot("smtp-admin-full.png")

	c.checkNoJSErrors()
}
