package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/mailer/smtptest"
	_ "modernc.org/sqlite" // to age a login in the node's database
)

// TestLoginOverHTTPSWithEmailedCode: the dashboard at admin.domain over
// HTTPS, its login code sent through a real SMTP server (with AUTH) that the
// test runs: the code works once; five wrong codes end the login, and the
// right one after them is refused.
func TestLoginOverHTTPSWithEmailedCode(t *testing.T) {
	smtp := smtptest.New(t, smtptest.Options{TLS: mailer.TLSNone, Username: "rampart", Password: "relay secret"})
	n := startNode(t, "--platform-domain", domain, "--admin-domain", "rampart.test",
		"--mail-from", "rampart@example.com", "--mail-smtp-host", "127.0.0.1", "--mail-smtp-port", strconv.Itoa(smtp.Port()),
		"--mail-smtp-tls", "none", "--mail-smtp-username", "rampart", "--mail-smtp-password", "relay secret")
	n.must("correct horse battery staple\n", "user", "create", "--data", n.data, "--email", "ada@example.com", "--admin", "--password-stdin")

	// The browser trusts the node's internal CA, as the demo tells people to.
	resp, err := http.Get("http://" + n.admin + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("/ca.pem: %q", pemBytes)
	}
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, n.https)
				}}}
	}
	const base = "https://rampart.test"
	csrfRE := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	page := func(c *http.Client, path string) (string, *http.Response) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp
	}
	post := func(c *http.Client, path string, form url.Values) (string, *http.Response) {
		t.Helper()
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp
	}
	csrf := func(body string) string {
		t.Helper()
		m := csrfRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no csrf_token in:\n%s", body)
		}
		return m[1]
	}
	mails := 0
	nextCode := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		mails++
		got, err := smtp.Wait(ctx, mails)
		if err != nil {
			t.Fatalf("waiting for mail %d: %v", mails, err)
		}
		m := got[mails-1]
		if len(m.To) != 1 || m.To[0] != "ada@example.com" || m.From != "rampart@example.com" {
			t.Fatalf("mail %d: from %s to %v", mails, m.From, m.To)
		}
		return smtptest.Code(m.Text)
	}
	// password starts a login in c and returns the code page's token.
	password := func(c *http.Client) string {
		t.Helper()
		var body string
		eventually(t, "the dashboard on https://rampart.test", func() bool {
			resp, err := c.Get(base + "/login")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == 200
		})
		_, resp := post(c, "/login", url.Values{"email": {"ada@example.com"}, "password": {"correct horse battery staple"}, "csrf_token": {csrf(body)}})
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/verify") {
			t.Fatalf("password: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		for _, ck := range resp.Cookies() {
			if !ck.Secure {
				t.Errorf("cookie %s is not Secure over HTTPS", ck.Name)
			}
		}
		body, _ = page(c, "/login/verify")
		return csrf(body)
	}

	// The first login: the code works once.
	b := browser()
	tok := password(b)
	code := nextCode()
	_, resp = post(b, "/login/verify", url.Values{"code": {code}, "csrf_token": {tok}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("right code: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, "rampart_session") {
			session = ck
		}
	}
	if session == nil || session.Name != "__Host-rampart_session" || !session.Secure || !session.HttpOnly || session.Path != "/" {
		t.Fatalf("session cookie over HTTPS = %+v, want __Host-rampart_session, Secure, HttpOnly, Path=/", session)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on the dashboard")
	}
	if body, _ := page(b, "/"); !strings.Contains(body, "ada@example.com") {
		t.Fatalf("not logged in after the code:\n%s", body)
	}
	// Replaying the same code from another browser that has the same
	// challenge is not possible: the challenge is spent. A second login
	// cannot use the first login's code either.
	other := browser()
	tok2 := password(other)
	second := nextCode()
	if second == code {
		t.Log("two logins drew the same code (1 in a million); the check below still holds")
	}
	if _, resp := post(other, "/login/verify", url.Values{"code": {code}, "csrf_token": {tok2}}); resp.StatusCode == http.StatusSeeOther && second != code {
		t.Fatal("the first login's code logged in a second time")
	}

	// A third login: five wrong codes, then the right one is refused and
	// the login is over.
	c := browser()
	tok3 := password(c)
	right := nextCode()
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	// A throttled try (429, the growing delay between wrong codes) is not
	// counted against the code: wait it out as a person would.
	for counted, tries := 0, 0; counted < 5; tries++ {
		if tries > 30 {
			t.Fatal("30 tries did not make 5 counted wrong codes")
		}
		body, resp := post(c, "/login/verify", url.Values{"code": {wrong}, "csrf_token": {tok3}})
		switch resp.StatusCode {
		case http.StatusSeeOther:
			t.Fatalf("wrong code accepted after %d", counted)
		case http.StatusTooManyRequests:
			t.Logf("throttled: %s", firstLine(body))
			time.Sleep(time.Second)
		case http.StatusUnauthorized:
			counted++
		default:
			t.Fatalf("wrong code: %d\n%s", resp.StatusCode, body)
		}
	}
	var body string
	for tries := 0; ; tries++ {
		var resp *http.Response
		body, resp = post(c, "/login/verify", url.Values{"code": {right}, "csrf_token": {tok3}})
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatal("the right code after five wrong ones logged in")
		}
		if !strings.Contains(body, "try again in") || tries > 10 {
			break
		}
		time.Sleep(time.Second) // the throttle's delay, not the code's limit
	}
	if !strings.Contains(body, "log in again") {
		t.Errorf("the sixth try does not end the login:\n%s", body)
	}

	// A fourth login whose code expires before it is typed: the test ages
	// the login in the database, as ten minutes would.
	d := browser()
	tok4 := password(d)
	late := nextCode()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(n.data, "rampart.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE login_challenges SET expires_at = ?`, time.Now().Add(-time.Second).UnixNano()); err != nil {
		t.Fatal(err)
	}
	body, resp = post(d, "/login/verify", url.Values{"code": {late}, "csrf_token": {tok4}})
	if resp.StatusCode == http.StatusSeeOther {
		t.Fatal("an expired code logged in")
	}
	if !strings.Contains(body, "expired") {
		t.Errorf("an expired code is not said to be expired:\n%s", body)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
