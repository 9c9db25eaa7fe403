package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// testMailDomain is mail.domain in these tests.
const testMailDomain = "mail.example.com"

// fakeRelay stands in for the SMTP relay (app.MailRelay): what it would
// observe is set by the test. The relay itself is tested with real SMTP
// clients in internal/mail and e2e; here only what the dashboard shows of
// it matters.
type fakeRelay struct {
	mu      sync.Mutex
	off     bool
	used    map[string]int
	resumes time.Time
	dns     []rampart.MailDNSRecord
	dnsErr  error
}

func (f *fakeRelay) Usage(service string) (int, int, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used[service], rampart.DefaultMailPerHour, f.resumes
}

func (f *fakeRelay) Endpoint() (string, int, bool) { return "10.8.0.1", 587, !f.off }

func (f *fakeRelay) DNS(context.Context) ([]rampart.MailDNSRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dns, f.dnsErr
}

func (f *fakeRelay) Flush() rampart.MailQueue { return rampart.MailQueue{} }

func (f *fakeRelay) setUsed(service string, n int, resumes time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used == nil {
		f.used = map[string]int{}
	}
	f.used[service], f.resumes = n, resumes
}

// newMailEnv is a dashboard whose process runs the relay f.
func newMailEnv(t *testing.T, f *fakeRelay) *env {
	t.Helper()
	return newEnvWith(t, edge{mailDomain: testMailDomain, mailRelay: f})
}

// mailState reads a service's mail settings straight from the store.
func (e *env) mailState(name string) *store.MailState {
	e.t.Helper()
	st, err := e.db.MailState(context.Background(), e.stored(name).ID)
	if err != nil {
		e.t.Fatalf("MailState(%s): %v", name, err)
	}
	return st
}

var passwordRE = regexp.MustCompile(`<code data-field="smtp-password">([^<]+)</code>`)

// shownPassword is the password a page shows, "" when none.
func shownPassword(body string) string {
	if m := passwordRE.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func hashOf(password string) []byte { h := sha256.Sum256([]byte(password)); return h[:] }

const smtpTab = "/services/shop?tab=security"

// TestMailMemberCredentials: an owner sees the SMTP row of their service,
// creates its credentials and sees the password once: not on a reload,
// not in a cookie, not in a redirect. A resubmitted rotation makes no
// second password behind their back.
func TestMailMemberCredentials(t *testing.T) {
	e := newMailEnv(t, &fakeRelay{})
	e.createService(memberEmail, "shop")
	b := e.browser()
	tok := b.login(memberEmail)

	page := b.get(smtpTab)
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, `id="smtp"`, "<h3>SMTP service</h3>", `data-field="smtp-mode">On<`,
		`data-field="smtp-address">shop@mail.example.com<`, `data-field="smtp-host">10.8.0.1<`, `data-field="smtp-port">587<`,
		"no SMTP password yet", `id="smtp-create"`, "Create credentials", "Transactional mail only",
		"Bulk mail is refused", "3 within 24 hours suspend", "No mail from shop yet", "rampart mail log shop -f",
		"0 of 300 recipients this hour", `data-field="smtp-limit">300<`)
	for _, admin := range []string{`id="smtp-quota-form"`, `id="smtp-suspend-form"`, "/mail/dns", "only admins see this", `id="smtp-resume"`} {
		if strings.Contains(page.Body, admin) {
			t.Errorf("a member's page has the admin control %s", admin)
		}
	}
	if strings.Contains(page.Body, `id="smtp-options" open`) {
		t.Error("the SMTP options are open before anything was done")
	}

	res := b.post("/services/shop/mail/credentials", url.Values{"csrf_token": {tok}})
	wantStatus(t, res, http.StatusOK)
	pw := shownPassword(res.Body)
	if len(pw) < 40 {
		t.Fatalf("no password shown after Create credentials (got %q):\n%s", pw, res.Body)
	}
	wantContains(t, res, "Copy it now: it will not be shown again.", `id="smtp-options" open`,
		`data-field="smtp-username">shop@mail.example.com<`, `data-replace-url="/services/shop?tab=security&amp;open=smtp#smtp"`)
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the password has Cache-Control %q", cc)
	}
	if len(res.Cookies()) != 0 || res.Header.Get("Location") != "" {
		t.Errorf("the password's response sets cookies %v or redirects to %q", res.Cookies(), res.Header.Get("Location"))
	}
	if got := e.mailState("shop").PasswordHash; string(got) != string(hashOf(pw)) {
		t.Error("the stored hash is not the shown password's")
	}
	if ev := e.lastAudit("shop"); ev.Action != "mail.credentials.create" || ev.Actor != memberEmail {
		t.Errorf("audit: %+v", ev)
	}

	// A reload is a GET of the tab: no password, only when it was set.
	page = b.get(smtpTab)
	if strings.Contains(page.Body, pw) || shownPassword(page.Body) != "" {
		t.Fatal("the password is shown again on a reload")
	}
	wantContains(t, page, `data-field="smtp-credentials">Set <time`, `id="smtp-rotate"`, "Rotate password…",
		`data-field="smtp-username">shop@mail.example.com<`)
	// The address bar after a POST without JavaScript leads back there.
	wantRedirect(t, b.get("/services/shop/mail/credentials"), "/services/shop?tab=security&open=smtp#smtp")

	// Posting Create again (a resubmitted form) makes no new password.
	res = b.post("/services/shop/mail/credentials", url.Values{"csrf_token": {tok}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="smtp-cred-info"`, "cannot be shown again")
	if shownPassword(res.Body) != "" || string(e.mailState("shop").PasswordHash) != string(hashOf(pw)) {
		t.Error("a second Create changed or showed the password")
	}

	// Rotate, through the confirmation's form: it carries the time of the
	// password it replaces.
	confirm := b.get("/services/shop/mail/rotate")
	wantStatus(t, confirm, http.StatusOK)
	wantContains(t, confirm, "Make a new SMTP password for shop?", `name="rotate" value="on"`, "stops working")
	setAt := regexp.MustCompile(`name="set_at" value="([^"]+)"`).FindStringSubmatch(confirm.Body)
	if setAt == nil {
		t.Fatalf("the rotation form lacks set_at:\n%s", confirm.Body)
	}
	rotate := url.Values{"csrf_token": {tok}, "rotate": {"on"}, "set_at": {html.UnescapeString(setAt[1])}}
	res = b.post("/services/shop/mail/credentials", rotate)
	wantStatus(t, res, http.StatusOK)
	pw2 := shownPassword(res.Body)
	if pw2 == "" || pw2 == pw {
		t.Fatalf("rotation showed %q (old %q)", pw2, pw)
	}
	wantContains(t, res, "New SMTP password for shop", "The old password stops working")
	if string(e.mailState("shop").PasswordHash) != string(hashOf(pw2)) {
		t.Error("the stored hash is not the new password's")
	}
	if ev := e.lastAudit("shop"); ev.Action != "mail.credentials.rotate" {
		t.Errorf("audit after rotating: %+v", ev)
	}
	// The same form again (a reload that resubmits): refused, nothing made.
	res = b.post("/services/shop/mail/credentials", rotate)
	wantStatus(t, res, http.StatusConflict)
	wantContains(t, res, `id="smtp-cred-err"`, "changed since this page was loaded", "no new one was made")
	if shownPassword(res.Body) != "" || string(e.mailState("shop").PasswordHash) != string(hashOf(pw2)) {
		t.Error("a resubmitted rotation made another password")
	}
}

// TestMailMemberCannotAdmin: quota, suspension and the DNS records are
// the admins'. A member's hand-made POST gets a 403 that says so and
// changes nothing; another owner's service is not found.
func TestMailMemberCannotAdmin(t *testing.T) {
	e := newMailEnv(t, &fakeRelay{})
	e.createService(memberEmail, "shop")
	e.createService(otherEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/services/shop/mail/quota", url.Values{"per_hour": {"5000"}}},
		{"/services/shop/mail/quota", url.Values{"per_hour": {"lots"}}},
		{"/services/shop/mail/suspend", url.Values{"reason": {"testing"}}},
		{"/services/shop/mail/resume", url.Values{}},
	} {
		tc.form.Set("csrf_token", tok)
		res := b.post(tc.path, tc.form)
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res, "Not allowed", "Only an admin of this server can change a service&#39;s mail quota")
	}
	res := b.get("/services/shop/mail/dns")
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res, "Only an admin of this server sees the DNS records")
	if st := e.mailState("shop"); st.PerHour != 0 || st.Suspended {
		t.Errorf("a member changed the mail settings: %+v", st)
	}

	// Someone else's service: the same 404 as a name that does not exist.
	for _, p := range []string{"/services/blog/mail/credentials", "/services/blog/mail/suspend", "/services/blog/mail/quota"} {
		wantStatus(t, b.post(p, url.Values{"csrf_token": {tok}, "per_hour": {"1"}}), http.StatusNotFound)
	}
	wantStatus(t, b.get("/services/blog/mail/rotate"), http.StatusNotFound)
	if st := e.mailState("blog"); st.PasswordHash != nil || st.Suspended {
		t.Errorf("a member changed another's mail: %+v", st)
	}
}

// TestMailAdmin: an admin sets the quota, suspends with a reason the owner
// then reads, and resumes; wrong input is shown next to its field.
func TestMailAdmin(t *testing.T) {
	e := newMailEnv(t, &fakeRelay{})
	e.createService(memberEmail, "shop")
	admin := e.browser()
	tok := admin.login(adminEmail)

	page := admin.get(smtpTab)
	wantContains(t, page, `id="smtp-quota-form"`, `name="per_hour" type="number"`, `value="0"`, "0 returns to the server's default, now 300",
		`id="smtp-suspend-form"`, `data-load-on-open="/services/shop/mail/dns"`, "only admins see this")

	wantRedirect(t, admin.post("/services/shop/mail/quota", url.Values{"csrf_token": {tok}, "per_hour": {"1000"}}), "/services/shop?tab=security&open=smtp#smtp")
	if st := e.mailState("shop"); st.PerHour != 1000 {
		t.Fatalf("quota stored as %d", st.PerHour)
	}
	page = admin.get("/services/shop?tab=security&open=smtp")
	wantContains(t, page, "shop may now send to 1000 recipients per hour.", `id="smtp-options" open`, `value="1000"`,
		"Set for this service by an admin", `data-field="smtp-limit">1,000<`)

	for _, tc := range []struct{ typed, msg string }{
		{"lots", `got &#34;lots&#34;`},
		{"-5", `got &#34;-5&#34;`},
		{"200000", "between 1 and 100000"},
	} {
		res := admin.post("/services/shop/mail/quota", url.Values{"csrf_token": {tok}, "per_hour": {tc.typed}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantContains(t, res, `id="smtp-per-hour-err"`, tc.msg, `value="`+tc.typed+`"`, `id="smtp-options" open`, `aria-invalid="true"`)
		if st := e.mailState("shop"); st.PerHour != 1000 {
			t.Errorf("an invalid quota %q changed it to %d", tc.typed, st.PerHour)
		}
	}
	wantRedirect(t, admin.post("/services/shop/mail/quota", url.Values{"csrf_token": {tok}, "per_hour": {"0"}}), "/services/shop?tab=security&open=smtp#smtp")
	if st := e.mailState("shop"); st.PerHour != 0 {
		t.Errorf("0 did not return to the default: %d", st.PerHour)
	}
	wantContains(t, admin.get(smtpTab), "shop is back to the default quota: 300 recipients per hour.")

	// A reason must be one line.
	res := admin.post("/services/shop/mail/suspend", url.Values{"csrf_token": {tok}, "reason": {"bad\x01reason"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="smtp-reason-err"`, "one line of text")
	if e.mailState("shop").Suspended {
		t.Fatal("suspended despite an invalid reason")
	}

	reason := `spam complaints <b>from</b> example.org`
	wantRedirect(t, admin.post("/services/shop/mail/suspend", url.Values{"csrf_token": {tok}, "reason": {reason}}), "/services/shop?tab=security&open=smtp#smtp")
	if st := e.mailState("shop"); !st.Suspended || st.SuspendedReason != reason {
		t.Fatalf("after suspending: %+v", st)
	}
	if ev := e.lastAudit("shop"); ev.Action != "mail.suspend" || ev.Actor != adminEmail {
		t.Errorf("audit: %+v", ev)
	}
	page = admin.get(smtpTab)
	wantContains(t, page, "Mail of shop is suspended", `id="smtp-suspended"`, `id="smtp-resume"`, `data-field="smtp-mode">Suspended<`)
	if strings.Contains(page.Body, `id="smtp-suspend-form"`) {
		t.Error("the suspend form is offered for a suspended service")
	}

	// The owner reads why, escaped, and how to get it lifted; no Resume.
	owner := e.browser()
	owner.login(memberEmail)
	page = owner.get(smtpTab)
	wantContains(t, page, `id="smtp-suspended"`, "Mail from shop is suspended since",
		`data-field="smtp-suspended-reason">spam complaints &lt;b&gt;from&lt;/b&gt; example.org<`, "ask an admin of this server to resume it")
	if strings.Contains(page.Body, `id="smtp-resume"`) {
		t.Error("the owner is offered Resume")
	}

	wantRedirect(t, admin.post("/services/shop/mail/resume", url.Values{"csrf_token": {tok}}), "/services/shop?tab=security&open=smtp#smtp")
	if st := e.mailState("shop"); st.Suspended {
		t.Fatal("still suspended after Resume")
	}
	page = admin.get(smtpTab)
	wantContains(t, page, "Mail of shop is resumed", `data-field="smtp-mode">On<`, `id="smtp-suspend-form"`)
	if strings.Contains(page.Body, `id="smtp-suspended"`) {
		t.Error("the suspended banner stays after Resume")
	}
}

// TestMailRelayOff: without the relay the row says so and how to turn it
// on, and offers nothing that cannot work; a hand-made POST gets a page
// that says why, not a 500.
func TestMailRelayOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		ed   edge
	}{
		{"no mail.domain", edge{}},
		{"relay not running", edge{mailDomain: testMailDomain, mailRelay: &fakeRelay{off: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, tc.ed)
			e.createService(memberEmail, "shop")
			for _, who := range []string{memberEmail, adminEmail} {
				b := e.browser()
				tok := b.login(who)
				page := b.get(smtpTab)
				wantContains(t, page, `id="smtp"`, `data-field="smtp-mode">Off on this server<`, `<span class="mono">mail.domain</span> in the server's configuration`,
					"rampart serve")
				for _, no := range []string{`id="smtp-options"`, `id="smtp-create"`, `id="smtp-rotate"`, `id="smtp-quota-form"`, `id="smtp-suspend-form"`, "mail/dns"} {
					if strings.Contains(page.Body, no) {
						t.Errorf("%s: the page offers %s while the relay is off", who, no)
					}
				}
				if who == adminEmail {
					res := b.get("/services/shop/mail/dns")
					wantStatus(t, res, http.StatusOK)
					wantContains(t, res, `id="smtp-dns-err"`, "the mail relay is off: set mail.domain")
				}
				res := b.post("/services/shop/mail/credentials", url.Values{"csrf_token": {tok}})
				wantStatus(t, res, http.StatusServiceUnavailable)
				wantContains(t, res, "The mail relay is off", "no SMTP password was made", "mail.domain")
				if st := e.mailState("shop"); st.PasswordHash != nil {
					t.Error("a password was made, and lost, while the relay is off")
				}
			}
		})
	}
}

// TestMailLogRows: the row shows the newest messages, newest first, with
// a badge per status; what receiving servers and tenants wrote is text,
// whatever they put in it.
func TestMailLogRows(t *testing.T) {
	e := newMailEnv(t, &fakeRelay{})
	svc := e.createService(memberEmail, "shop")
	ctx := context.Background()
	now := time.Now().UTC()
	add := func(m *rampart.MailMessage) {
		t.Helper()
		m.ServiceID, m.From = svc.ID, "shop@"+testMailDomain
		if m.QueueID == "" {
			m.QueueID = fmt.Sprintf("q%d", m.At.UnixNano())
		}
		if err := e.db.AddMailMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Older rows than the table shows.
	for i := range 25 {
		add(&rampart.MailMessage{At: now.Add(time.Duration(-60+i) * time.Minute), Size: 1200, Status: rampart.MailSent,
			Recipients: []rampart.MailRecipient{{Addr: fmt.Sprintf("old%d@example.org", i), Status: rampart.MailSent, Code: 250, Reply: "OK"}}})
	}
	add(&rampart.MailMessage{At: now.Add(-3 * time.Minute), Size: 2048, Status: rampart.MailBounced,
		Recipients: []rampart.MailRecipient{{Addr: "ada@example.org", Status: rampart.MailBounced, Code: 550,
			Reply: "5.1.1 <script>alert(1)</script> \x1b[31mno such user\x1b[0m \u202etxt.exe"}}})
	add(&rampart.MailMessage{At: now.Add(-2 * time.Minute), Size: 900, Status: rampart.MailDeferred,
		Recipients: []rampart.MailRecipient{
			{Addr: "a@example.net", Status: rampart.MailDeferred, Code: 451, Reply: "4.7.1 greylisted, try again"},
			{Addr: "b@example.net", Status: rampart.MailSent, Code: 250},
			{Addr: "c@example.net", Status: rampart.MailSent, Code: 250},
			{Addr: "d\"><img src=x>@example.net", Status: rampart.MailSent, Code: 250},
		}})
	add(&rampart.MailMessage{At: now.Add(-1 * time.Minute), Status: rampart.MailRefused,
		Reason:     "550 bulk mail is not permitted: the message has a List-Unsubscribe/List-Id header",
		Recipients: []rampart.MailRecipient{{Addr: "list@example.org", Status: rampart.MailRefused, Code: 550}}})

	b := e.browser()
	b.login(memberEmail)
	page := b.get(smtpTab)
	wantStatus(t, page, http.StatusOK)
	rows := regexp.MustCompile(`<tr data-status="(\w+)">`).FindAllStringSubmatch(page.Body, -1)
	if len(rows) != mailLogRows {
		t.Fatalf("%d log rows, want %d", len(rows), mailLogRows)
	}
	var statuses []string
	for _, r := range rows[:4] {
		statuses = append(statuses, r[1])
	}
	if got := strings.Join(statuses, " "); got != "refused deferred bounced sent" {
		t.Errorf("newest rows' statuses: %s", got)
	}
	wantContains(t, page, `<span class="badge badge-error" data-field="mail-status">refused</span>`,
		`<span class="badge badge-warn" data-field="mail-status">deferred</span>`,
		`<span class="badge badge-ok" data-field="mail-status">sent</span>`,
		"bulk mail is not permitted", "a@example.net: 451 4.7.1 greylisted, try again", "and 1 more",
		"550 5.1.1 &lt;script&gt;alert(1)&lt;/script&gt; \\x1b[31mno such user\\x1b[0m \\u202etxt.exe",
		"The newest 20 messages; new ones show here as they come.", "rampart mail log shop -f")
	for _, bad := range []string{"<script>alert", "\x1b", "\u202e", `<img src=x>`} {
		if strings.Contains(page.Body, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if strings.Contains(page.Body, "old0@example.org") {
		t.Error("the table shows more than the newest rows")
	}
}

// TestMailQuotaBar: the bar fills with the hour's use and says when
// sending resumes at the limit.
func TestMailQuotaBar(t *testing.T) {
	f := &fakeRelay{}
	e := newMailEnv(t, f)
	e.createService(memberEmail, "shop")
	b := e.browser()
	b.login(memberEmail)

	f.setUsed("shop", 120, time.Time{})
	wantContains(t, b.get(smtpTab), `data-level="ok"`, `width="40.0"`, `data-field="smtp-used">120<`, "120 of 300 recipients this hour")
	f.setUsed("shop", 270, time.Time{})
	wantContains(t, b.get(smtpTab), `data-level="high"`, `width="90.0"`)
	resumes := time.Now().Add(12 * time.Minute)
	f.setUsed("shop", 300, resumes)
	page := b.get(smtpTab)
	wantContains(t, page, `data-level="full"`, `width="100.0"`, `data-field="smtp-resumes">At the limit: sending resumes at `+datetime(resumes),
		"nothing is lost")
}

// TestMailDNS: an admin sees each record with its state; a failed lookup
// is shown as such, and so is a failure to gather the records at all.
func TestMailDNS(t *testing.T) {
	f := &fakeRelay{dns: []rampart.MailDNSRecord{
		{Purpose: "spf", Name: testMailDomain, Type: "TXT", Value: "v=spf1 ip4:203.0.113.7 ~all", Found: []string{"v=spf1 -all <script>"}},
		{Purpose: "dkim", Name: "rampart1._domainkey." + testMailDomain, Type: "TXT", Value: "v=DKIM1; k=ed25519; p=abc", Published: true},
		{Purpose: "dkim", Name: "rampart2._domainkey." + testMailDomain, Type: "TXT", Value: "v=DKIM1; k=rsa; p=def", Error: "lookup timed out\x1b[2J"},
	}}
	e := newMailEnv(t, f)
	e.createService(adminEmail, "shop")
	b := e.browser()
	b.login(adminEmail)

	page := b.get("/services/shop/mail/dns")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "DNS records of the mail domain", `data-field="dns-name">rampart1._domainkey.mail.example.com<`,
		`data-field="dns-value">v=DKIM1; k=ed25519; p=abc<`, "Published", "NOT published", "Found instead:",
		"v=spf1 -all &lt;script&gt;", "Lookup failed", `lookup timed out\x1b[2J`)
	if strings.Contains(page.Body, "\x1b") {
		t.Error("a lookup error's escape sequence reached the page")
	}
	if i, j := strings.Index(page.Body, `data-purpose="dkim"`), strings.Index(page.Body, `data-purpose="spf"`); i < 0 || j < i {
		t.Error("DKIM records do not come first")
	}
	frag := b.do("GET", "/services/shop/mail/dns", nil, http.Header{"HX-Request": {"true"}})
	wantStatus(t, frag, http.StatusOK)
	if strings.Contains(frag.Body, "<html") || !strings.Contains(frag.Body, `id="smtp-dns-records"`) {
		t.Errorf("the htmx answer is not the fragment:\n%s", frag.Body)
	}

	f.mu.Lock()
	f.dns, f.dnsErr = nil, errors.New("open the DKIM key: /var/lib/rampart secret")
	f.mu.Unlock()
	page = b.get("/services/shop/mail/dns")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "The records could not be gathered")
	if strings.Contains(page.Body, "/var/lib/rampart") {
		t.Error("an internal error's details reached the page")
	}
}

// TestMailPostsNeedCSRF: without the session's token no form of the row
// changes anything.
func TestMailPostsNeedCSRF(t *testing.T) {
	e := newMailEnv(t, &fakeRelay{})
	e.createService(memberEmail, "shop")
	b := e.browser()
	tok := b.login(adminEmail)
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/services/shop/mail/credentials", url.Values{}},
		{"/services/shop/mail/credentials", url.Values{"rotate": {"on"}}},
		{"/services/shop/mail/quota", url.Values{"per_hour": {"5"}}},
		{"/services/shop/mail/suspend", url.Values{"reason": {"x"}}},
		{"/services/shop/mail/resume", url.Values{}},
	} {
		for _, forged := range []string{"", "forged-token"} {
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			if forged != "" {
				form.Set("csrf_token", forged)
			}
			res := b.post(tc.path, form)
			wantStatus(t, res, http.StatusForbidden)
			wantContains(t, res, "Request refused")
			if shownPassword(res.Body) != "" {
				t.Errorf("%s without a token shows a password", tc.path)
			}
		}
		form := url.Values{"csrf_token": {tok}}
		for k, v := range tc.form {
			form[k] = v
		}
		wantStatus(t, b.do("POST", tc.path, form, http.Header{"Sec-Fetch-Site": {"cross-site"}}), http.StatusForbidden)
	}
	if st := e.mailState("shop"); st.PasswordHash != nil || st.PerHour != 0 || st.Suspended {
		t.Errorf("the mail settings changed without a CSRF token: %+v", st)
	}
}

// TestPrintable: outside text keeps its words and loses what could drive a
// terminal or reorder the page.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"250 OK", 100, "250 OK"},
		{"a\r\nb\tc", 100, "a  b c"},
		{"\x1b[31mred\x1b[0m", 100, `\x1b[31mred\x1b[0m`},
		{"x\u202ey", 100, `x\u202ey`},
		{"bad \xff utf8", 100, "bad \uFFFD utf8"},
		{"\u0085next", 100, `\u0085next`},
		{strings.Repeat("é", 10), 4, strings.Repeat("é", 4) + "…"},
	} {
		if got := printable(tc.in, tc.max); got != tc.want {
			t.Errorf("printable(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

// TestMailLive: the SMTP row's poll answers with the recent mail, the
// state and the quota (those two swapped in by id), so a message the
// service sends shows without a reload; it is the owner's and admins'
// only, and a relay that is off has nothing to swap (204).
func TestMailLive(t *testing.T) {
	f := &fakeRelay{}
	e := newMailEnv(t, f)
	svc := e.createService(memberEmail, "shop")
	e.createService(otherEmail, "theirs")
	b := e.browser()
	b.login(memberEmail)
	poll := http.Header{"HX-Request": {"true"}, pollHeader: {"1"}}

	page := b.get(smtpTab)
	wantContains(t, page, `id="smtp-log-box" hx-get="/services/shop/mail/live" hx-trigger="every 5s"`, `id="smtp-log-empty"`, `id="smtp-state"`)
	live := b.do("GET", "/services/shop/mail/live", nil, poll)
	wantStatus(t, live, http.StatusOK)
	wantContains(t, live, `id="smtp-log-empty"`)

	// The service sends: the next poll has the message and the count.
	if err := e.db.AddMailMessage(context.Background(), &rampart.MailMessage{QueueID: "q-live", ServiceID: svc.ID, From: "shop@" + testMailDomain,
		At: time.Now().UTC(), Size: 900, Status: rampart.MailQueued, Recipients: []rampart.MailRecipient{{Addr: "new@example.org", Status: rampart.MailQueued}}}); err != nil {
		t.Fatal(err)
	}
	f.setUsed("shop", 1, time.Time{})
	live = b.do("GET", "/services/shop/mail/live", nil, poll)
	wantStatus(t, live, http.StatusOK)
	wantContains(t, live, `id="smtp-log-box" hx-get="/services/shop/mail/live"`, "<span>new@example.org</span>",
		`<div id="smtp-state" hx-swap-oob="true">`, `data-field="smtp-summary">1 of`,
		`id="smtp-quota" hx-swap-oob="true"`, `data-field="smtp-used">1<`)
	for _, no := range []string{"<html", `id="smtp-options"`, "smtp-password"} {
		if strings.Contains(live.Body, no) {
			t.Errorf("the poll's answer has %s", no)
		}
	}

	wantStatus(t, b.do("GET", "/services/theirs/mail/live", nil, poll), http.StatusNotFound)
	f.mu.Lock()
	f.off = true
	f.mu.Unlock()
	wantStatus(t, b.do("GET", "/services/shop/mail/live", nil, poll), http.StatusNoContent)
}
