package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestLoginLogout(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	wantRedirect(t, b.get("/"), "/login")

	page := b.get("/login")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, `name="email"`, `name="password"`, `name="csrf_token"`)
	tok := csrfOf(t, page.Body)

	// A wrong password and an unknown account get the same answer, and keep
	// the typed email.
	for _, email := range []string{adminEmail, "nobody@example.com"} {
		res := b.post("/login", url.Values{"email": {email}, "password": {"wrong password!"}, "csrf_token": {tok}})
		wantStatus(t, res, http.StatusUnauthorized)
		wantContains(t, res, "email or password is incorrect", `value="`+email+`"`)
		if _, ok := b.cookies[sessionCookie]; ok {
			t.Fatal("failed login set a session cookie")
		}
	}

	res := b.post("/login", url.Values{"email": {"  Alice@Example.com "}, "password": {testPassword}, "csrf_token": {tok}})
	wantRedirect(t, res, "/login/verify?next=%2F")
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Fatal("a password alone set a session cookie")
	}
	res = b.enterCode(adminEmail, res)
	wantRedirect(t, res, "/")
	c := b.cookies[sessionCookie]
	if c == nil {
		t.Fatal("no session cookie after login")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("session cookie = %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure without SecureCookies", c)
	}
	if _, ok := b.cookies[loginCSRFCookie]; ok {
		t.Error("login CSRF cookie was not cleared after login")
	}
	stolen := c.Value

	home := b.get("/")
	wantStatus(t, home, http.StatusOK)
	wantContains(t, home, adminEmail, "Log out")
	sessTok := csrfOf(t, home.Body)

	// Logged in, /login goes home.
	wantRedirect(t, b.get("/login"), "/")

	// Logging out without the token does nothing.
	wantStatus(t, b.post("/logout", url.Values{}), http.StatusForbidden)
	wantStatus(t, b.get("/"), http.StatusOK)

	wantRedirect(t, b.post("/logout", url.Values{"csrf_token": {sessTok}}), "/login")
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Error("session cookie kept after logout")
	}
	wantRedirect(t, b.get("/"), "/login")

	// The old cookie value is dead on the server too.
	b2 := e.browser()
	b2.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: stolen}
	wantRedirect(t, b2.get("/"), "/login")
}

func TestSecureCookies(t *testing.T) {
	e := newEnv(t)
	h, err := New(e.app, Config{PlatformDomain: testDomain, SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	b := e.browser()
	b.login(adminEmail)
	// Over HTTPS every cookie is Secure and prefixed, so that the browser
	// itself refuses one set by a plain-HTTP page or a subdomain.
	if c := b.cookies["__Host-"+sessionCookie]; c == nil || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie with SecureCookies: %+v, want __Host-%s, Secure, Path=/", c, sessionCookie)
	}
	if c := b.cookies["__Secure-"+deviceCookie]; c == nil || !c.Secure {
		t.Errorf("device cookie with SecureCookies: %+v", c)
	}
	for name, c := range b.cookies {
		if !c.Secure || (!strings.HasPrefix(name, "__Host-") && !strings.HasPrefix(name, "__Secure-")) {
			t.Errorf("cookie %s: Secure %v, want Secure and a __Host-/__Secure- name", name, c.Secure)
		}
	}
	res := b.get("/")
	if got := res.Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("no HSTS header with SecureCookies")
	}
}

func TestUnauthenticatedRedirectKeepsDestination(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()

	res := b.get("/services/blog?tab=security")
	wantRedirect(t, res, "/login?next="+url.QueryEscape("/services/blog?tab=security"))

	page := b.get(res.Header.Get("Location"))
	wantContains(t, page, `name="next" value="/services/blog?tab=security"`)
	res = b.post("/login", url.Values{
		"email": {memberEmail}, "password": {testPassword},
		"csrf_token": {csrfOf(t, page.Body)}, "next": {"/services/blog?tab=security"},
	})
	wantRedirect(t, b.enterCode(memberEmail, res), "/services/blog?tab=security")

	// A POST without a session changes nothing and asks to log in.
	anon := e.browser()
	wantRedirect(t, anon.post("/services/blog/delete", url.Values{"confirm": {"blog"}, "csrf_token": {"x"}}), "/login")
	if !e.serviceExists("blog") {
		t.Fatal("anonymous POST deleted the service")
	}

	// htmx requests are told to reload at the login page instead of getting
	// it swapped into a tab.
	res = anon.do("GET", "/services/blog?tab=logs", nil, http.Header{"Hx-Request": {"true"}})
	if res.Header.Get("HX-Redirect") == "" || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("htmx request without session: status %d HX-Redirect %q", res.StatusCode, res.Header.Get("HX-Redirect"))
	}
}

func TestOpenRedirectGuard(t *testing.T) {
	for _, next := range []string{
		"https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
		"http:/evil.example", "javascript:alert(1)", "/\t/evil.example", "evil.example",
		"/%0d%0aSet-Cookie:x=y", "/login", "/logout", "",
	} {
		got := safeNext(next)
		if next == "/%0d%0aSet-Cookie:x=y" {
			// Escaped, so harmless and local: it stays.
			if got != next {
				t.Errorf("safeNext(%q) = %q, want it kept", next, got)
			}
			continue
		}
		if got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	for _, next := range []string{"/", "/services/blog", "/services/blog?tab=logs", "/audit?before=10"} {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}

	// End to end: a hostile next sends the user home after login.
	e := newEnv(t)
	b := e.browser()
	page := b.get("/login?next=" + url.QueryEscape("//evil.example/phish"))
	wantContains(t, page, `name="next" value="/"`)
	res := b.post("/login", url.Values{
		"email": {adminEmail}, "password": {testPassword},
		"csrf_token": {csrfOf(t, page.Body)}, "next": {"https://evil.example/"},
	})
	wantRedirect(t, b.enterCode(adminEmail, res), "/")
}

func TestLoginCSRF(t *testing.T) {
	e := newEnv(t)
	form := func(tok string) url.Values {
		return url.Values{"email": {adminEmail}, "password": {testPassword}, "csrf_token": {tok}}
	}

	// No cookie at all: a form posted from another site.
	b := e.browser()
	res := b.post("/login", form("anything"))
	wantStatus(t, res, http.StatusForbidden)
	wantContains(t, res, "The form expired or came from another site: reload the page and try again.")

	// A cookie, but the field does not match it.
	b.get("/login")
	res = b.post("/login", form("wrong"))
	wantStatus(t, res, http.StatusForbidden)

	// Matching tokens, but the browser says the POST is cross-site.
	tok := csrfOf(t, b.get("/login").Body)
	res = b.do("POST", "/login", form(tok), http.Header{"Sec-Fetch-Site": {"cross-site"}})
	wantStatus(t, res, http.StatusForbidden)
	res = b.do("POST", "/login", form(tok), http.Header{"Origin": {"https://evil.example"}})
	wantStatus(t, res, http.StatusForbidden)
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Fatal("a rejected login set a session cookie")
	}

	// Same-origin with matching tokens works.
	res = b.do("POST", "/login", form(tok), http.Header{"Sec-Fetch-Site": {"same-origin"}})
	wantRedirect(t, res, "/login/verify?next=%2F")
}

func TestSessionCSRF(t *testing.T) {
	e := newEnv(t)
	e.createService(adminEmail, "keep")
	b := e.browser()
	tok := b.login(adminEmail)

	create := url.Values{"name": {"forged"}, "upstream": {"http://127.0.0.1:8080"}}
	del := url.Values{"confirm": {"keep"}}
	for _, tc := range []struct {
		name string
		tok  string
	}{{"missing", ""}, {"wrong", "not-the-token"}, {"other session's", e.otherSessionToken()}} {
		t.Run(tc.name, func(t *testing.T) {
			c, d := cloneWith(create, tc.tok), cloneWith(del, tc.tok)
			res := b.post("/new", c)
			wantStatus(t, res, http.StatusForbidden)
			wantContains(t, res, "The form expired or came from another site: reload the page and try again.")
			res = b.post("/services/keep/delete", d)
			wantStatus(t, res, http.StatusForbidden)
			res = b.do("POST", "/services/keep/delete", d, http.Header{csrfHeader: {tc.tok + "x"}})
			wantStatus(t, res, http.StatusForbidden)
		})
	}
	if e.serviceExists("forged") || !e.serviceExists("keep") {
		t.Fatal("a POST with a bad CSRF token changed something")
	}

	// A valid token in the htmx header is accepted.
	res := b.do("POST", "/new", create, http.Header{csrfHeader: {tok}})
	wantRedirect(t, res, "/services/forged")

	// A cross-site POST with a valid token is refused by fetch metadata.
	res = b.do("POST", "/services/keep/delete", cloneWith(del, tok), http.Header{"Sec-Fetch-Site": {"cross-site"}})
	wantStatus(t, res, http.StatusForbidden)
	if !e.serviceExists("keep") {
		t.Fatal("cross-site POST deleted the service")
	}
}

// otherSessionToken logs carol in and returns her CSRF token, which must not
// work in alice's session.
func (e *env) otherSessionToken() string {
	return e.browser().login(otherEmail)
}

func cloneWith(v url.Values, tok string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	if tok != "" {
		out.Set("csrf_token", tok)
	}
	return out
}

func TestExpiredSessionCookieIsIgnored(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: strings.Repeat("A", 43)}
	wantRedirect(t, b.get("/audit"), "/login?next=%2Faudit")
	wantStatus(t, b.get("/login"), http.StatusOK)
}

// TestLoginCode walks the second step as an attacker with the password
// would: no code, wrong codes, a forged form, a resend storm, a stale page.
func TestLoginCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	// The code page without a login in progress goes back to the start.
	wantRedirect(t, b.get("/login/verify"), "/login")

	page := b.get("/login")
	res := b.post("/login", url.Values{"email": {adminEmail}, "password": {testPassword}, "csrf_token": {csrfOf(t, page.Body)}})
	wantRedirect(t, res, "/login/verify?next=%2F")
	c := b.cookies[loginChallengeCookie]
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/login" {
		t.Fatalf("challenge cookie = %+v: want HttpOnly, SameSite=Strict, Path=/login", c)
	}
	mails := e.mail.All(adminEmail)
	if len(mails) != 1 || !strings.Contains(mails[0].Text, e.mail.Code(t, adminEmail)) {
		t.Fatalf("mails after the password: %+v", mails)
	}
	verify := b.get("/login/verify")
	wantStatus(t, verify, http.StatusOK)
	wantContains(t, verify, "Check your email", "a••••@example.com", `autocomplete="one-time-code"`)
	if strings.Contains(verify.Body, e.mail.Code(t, adminEmail)) {
		t.Fatal("the code page contains the code")
	}
	tok := csrfOf(t, verify.Body)

	// Without the CSRF token nothing is checked (no attempt is used up).
	wantStatus(t, b.post("/login/verify", url.Values{"code": {"000000"}}), http.StatusForbidden)

	// A wrong code: the page again, with a message, and no session.
	res = b.post("/login/verify", url.Values{"code": {"000000"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnauthorized)
	wantContains(t, res, `id="verify-error"`)
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Fatal("a wrong code set a session cookie")
	}

	// Resending at once is throttled; the mail count does not move.
	res = b.post("/login/verify", url.Values{"resend": {"1"}, "csrf_token": {tok}})
	wantStatus(t, res, http.StatusTooManyRequests)
	if n := len(e.mail.All(adminEmail)); n != 1 {
		t.Fatalf("%d mails after a throttled resend, want 1", n)
	}

	// Another browser cannot use this login's code: the challenge is in
	// this browser's cookie, not in the code.
	other := e.browser()
	otherPage := other.get("/login")
	wantRedirect(t, other.post("/login/verify", url.Values{"code": {e.mail.Code(t, adminEmail)}, "csrf_token": {csrfOf(t, otherPage.Body)}}), "/login")
	if _, ok := other.cookies[sessionCookie]; ok {
		t.Fatal("a code without its login's cookie set a session")
	}

	// The right code logs in, once.
	code := e.mail.Code(t, adminEmail)
	res = b.post("/login/verify", url.Values{"code": {code}, "csrf_token": {tok}})
	wantRedirect(t, res, "/")
	if b.cookies[sessionCookie] == nil {
		t.Fatal("no session after the right code")
	}
	if _, ok := b.cookies[loginChallengeCookie]; ok {
		t.Error("the challenge cookie outlived the login")
	}
	if d := b.cookies[deviceCookie]; d == nil || !d.HttpOnly || d.Path != "/login" {
		t.Errorf("device cookie = %+v: want one, HttpOnly, Path=/login", d)
	}
}
