package web

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// stored reads a service straight from the store.
func (e *env) stored(name string) *rampart.Service {
	e.t.Helper()
	svc, err := e.db.ServiceByName(context.Background(), name)
	if err != nil {
		e.t.Fatalf("ServiceByName(%q): %v", name, err)
	}
	return svc
}

// lastAudit is the newest audit event of a service.
func (e *env) lastAudit(service string) *rampart.AuditEvent {
	e.t.Helper()
	evs, err := e.app.Audit.List(context.Background(), app.OperatorActor(), rampart.AuditFilter{Service: service, Limit: 1})
	if err != nil || len(evs) == 0 {
		e.t.Fatalf("audit of %s: %v, %d events", service, err, len(evs))
	}
	return evs[0]
}

func TestRateLimitForm(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, `data-field="ratelimit">150 requests per minute per client IP<`,
		`action="/services/blog/ratelimit"`, `name="requests"`, `value="150"`, `<option value="minute" selected>`,
		`id="rl-enabled" name="enabled" value="on" checked`)
	if strings.Contains(sec.Body, `id="rate-limiter-options" open`) {
		t.Error("rate limiter options open before anything was submitted")
	}

	form := url.Values{"csrf_token": {tok}, "enabled": {"on"}, "requests": {"300"}, "per": {"second"},
		"allow": {"203.0.113.7\r\n\r\n2001:db8::/48, 10.1.2.3/8\r\n"}}
	wantRedirect(t, b.post("/services/blog/ratelimit", form), "/services/blog?tab=security")
	want := rampart.RateLimit{Enabled: true, Requests: 300, Per: "second", Allow: []string{"203.0.113.7/32", "2001:db8::/48", "10.0.0.0/8"}}
	if got := e.stored("blog").RateLimit; !reflect.DeepEqual(got, want) {
		t.Fatalf("stored rate limit = %+v, want %+v", got, want)
	}
	if ev := e.lastAudit("blog"); ev.Action != "service.update" || ev.Actor != memberEmail || !strings.Contains(ev.Detail, "300/second") {
		t.Errorf("audit: %+v", ev)
	}
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, "Rate limit saved: applies at once.", `data-field="ratelimit">300 requests per second per client IP<`,
		"203.0.113.7/32, 2001:db8::/48, 10.0.0.0/8", "203.0.113.7/32\n2001:db8::/48\n10.0.0.0/8</textarea>")

	// Invalid input: the app's message next to the field, what was typed
	// kept, the options open, and nothing stored.
	for _, tc := range []struct {
		name             string
		requests, per    string
		allow            string
		errID, msg, kept string
	}{
		{"zero", "0", "minute", "", "rl-requests-err", "requests must be between 1 and 1000000, got 0", `value="0"`},
		{"too many", "2000000", "second", "", "rl-requests-err", "requests must be between 1 and 1000000", `value="2000000"`},
		{"not a number", "lots", "second", "", "rl-requests-err", `requests must be a whole number between 1 and 1000000, got &#34;lots&#34;`, `value="lots"`},
		{"bad period", "10", "hour", "", "rl-per-err", `per must be &#34;second&#34; or &#34;minute&#34;, got &#34;hour&#34;`, `value="10"`},
		{"bad network", "10", "minute", "192.0.2.1\nnot-an-ip", "rl-allow-err", `allow-list entry &#34;not-an-ip&#34; is not an IP address`, ">192.0.2.1\nnot-an-ip</textarea>"},
		{"twice", "10", "minute", "192.0.2.1\n192.0.2.1/32", "rl-allow-err", "listed twice", ">192.0.2.1\n192.0.2.1/32</textarea>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := b.post("/services/blog/ratelimit", url.Values{"csrf_token": {tok}, "enabled": {"on"},
				"requests": {tc.requests}, "per": {tc.per}, "allow": {tc.allow}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantContains(t, res, `id="`+tc.errID+`"`, tc.msg, tc.kept, `id="rate-limiter-options" open`,
				`data-tab="security" aria-current="page"`, `aria-invalid="true"`)
			// The row still states what is in force.
			wantContains(t, res, `data-field="ratelimit">300 requests per second per client IP<`)
			if got := e.stored("blog").RateLimit; !reflect.DeepEqual(got, want) {
				t.Errorf("an invalid form changed the rate limit to %+v", got)
			}
		})
	}

	// Off: the checkbox is absent from the form. The amount is kept.
	wantRedirect(t, b.post("/services/blog/ratelimit", url.Values{"csrf_token": {tok}, "requests": {"300"}, "per": {"second"}}),
		"/services/blog?tab=security")
	if got := e.stored("blog").RateLimit; got.Enabled || got.Requests != 300 || len(got.Allow) != 0 {
		t.Errorf("after turning off: %+v", got)
	}
	sec = b.get("/services/blog?tab=security")
	wantContains(t, sec, `data-field="ratelimit">Off<`, `id="rl-enabled" name="enabled" value="on">`)
}

func TestCacheForm(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	sec := b.get("/services/blog?tab=security")
	wantContains(t, sec, `data-field="cache">GET/HEAD responses cached for 3s<`, "Stale copies served for up to 1m",
		`action="/services/blog/cache"`, `name="ttl" type="text" value="3s"`, `name="stale_if_error" type="text" value="1m"`)

	form := url.Values{"csrf_token": {tok}, "enabled": {"on"}, "ttl": {" 10s "}, "stale_if_error": {"5m"}}
	wantRedirect(t, b.post("/services/blog/cache", form), "/services/blog?tab=security")
	want := rampart.Cache{Enabled: true, TTL: rampart.Duration(10 * time.Second), StaleIfError: rampart.Duration(5 * time.Minute)}
	if got := e.stored("blog").Cache; got != want {
		t.Fatalf("stored cache = %+v, want %+v", got, want)
	}
	if ev := e.lastAudit("blog"); ev.Action != "service.update" || !strings.Contains(ev.Detail, "ttl=10s") {
		t.Errorf("audit: %+v", ev)
	}
	wantContains(t, b.get("/services/blog?tab=security"), "Output cache saved: applies at once.",
		`data-field="cache">GET/HEAD responses cached for 10s<`, "Stale copies served for up to 5m", `value="10s"`)

	for _, tc := range []struct {
		name, ttl, stale string
		errID, msg       string
	}{
		{"not a duration", "soon", "1m", "cache-ttl-err", `ttl &#34;soon&#34; is not a duration`},
		{"empty", "", "1m", "cache-ttl-err", "ttl is required"},
		{"too long", "2h", "1m", "cache-ttl-err", "ttl must be between 1s and 1h0m0s, got 2h0m0s"},
		{"too short", "500ms", "1m", "cache-ttl-err", "ttl must be between"},
		{"stale too long", "3s", "48h", "cache-stale-err", "stale_if_error must be between 0s and 24h0m0s"},
		{"stale garbage", "3s", "1 minute", "cache-stale-err", `stale_if_error &#34;1 minute&#34; is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := b.post("/services/blog/cache", url.Values{"csrf_token": {tok}, "enabled": {"on"}, "ttl": {tc.ttl}, "stale_if_error": {tc.stale}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantContains(t, res, `id="`+tc.errID+`"`, tc.msg, `id="output-cache-options" open`,
				`name="ttl" type="text" value="`+tc.ttl+`"`, `name="stale_if_error" type="text" value="`+tc.stale+`"`)
			if got := e.stored("blog").Cache; got != want {
				t.Errorf("an invalid form changed the cache to %+v", got)
			}
		})
	}

	// A bare number is seconds, as in the API; off keeps the TTL.
	wantRedirect(t, b.post("/services/blog/cache", url.Values{"csrf_token": {tok}, "ttl": {"7"}, "stale_if_error": {"0"}}),
		"/services/blog?tab=security")
	want = rampart.Cache{TTL: rampart.Duration(7 * time.Second)}
	if got := e.stored("blog").Cache; got != want {
		t.Fatalf("stored cache = %+v, want %+v", got, want)
	}
	wantContains(t, b.get("/services/blog?tab=security"), `data-field="cache">Off<`)
}

// TestSecurityPostsNeedCSRF: without the session's token nothing
// changes and nothing is purged.
func TestSecurityPostsNeedCSRF(t *testing.T) {
	var purges int
	e := newEnvWith(t, edge{purge: func(int64) int { purges++; return 1 }})
	e.createService(memberEmail, "blog")
	b := e.browser()
	realTok := b.login(memberEmail)
	before := e.stored("blog")

	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/services/blog/ratelimit", url.Values{"enabled": {"on"}, "requests": {"1"}, "per": {"second"}}},
		{"/services/blog/cache", url.Values{"ttl": {"1h"}, "stale_if_error": {"0s"}}},
		{"/services/blog/cache/purge", url.Values{}},
	} {
		for _, tok := range []string{"", "forged-token"} {
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			if tok != "" {
				form.Set("csrf_token", tok)
			}
			res := b.post(tc.path, form)
			wantStatus(t, res, http.StatusForbidden)
			wantContains(t, res, "Request refused")
		}
		// A cross-site POST is refused even with the right token.
		form := url.Values{"csrf_token": {realTok}}
		for k, v := range tc.form {
			form[k] = v
		}
		res := b.do("POST", tc.path, form, http.Header{"Sec-Fetch-Site": {"cross-site"}})
		wantStatus(t, res, http.StatusForbidden)
	}
	after := e.stored("blog")
	if !reflect.DeepEqual(before.RateLimit, after.RateLimit) || before.Cache != after.Cache {
		t.Errorf("settings changed without a CSRF token: %+v %+v", after.RateLimit, after.Cache)
	}
	if purges != 0 {
		t.Errorf("cache purged %d times without a CSRF token", purges)
	}
}

// TestSecurityOfOthersServices: a member gets the same 404 as for a
// service that does not exist, and changes nothing.
func TestSecurityOfOthersServices(t *testing.T) {
	var purges int
	e := newEnvWith(t, edge{purge: func(int64) int { purges++; return 1 }})
	e.createService(memberEmail, "bobs")
	before := e.stored("bobs")
	b := e.browser()
	tok := b.login(otherEmail)

	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/services/bobs/ratelimit", url.Values{"enabled": {"on"}, "requests": {"1"}, "per": {"second"}}},
		{"/services/bobs/ratelimit", url.Values{"requests": {"not a number"}}},
		{"/services/bobs/cache", url.Values{"ttl": {"1h"}, "stale_if_error": {"0s"}}},
		{"/services/bobs/cache", url.Values{"ttl": {"garbage"}}},
		{"/services/bobs/cache/purge", url.Values{}},
		{"/services/nosuch/ratelimit", url.Values{"requests": {"1"}, "per": {"second"}}},
		{"/services/nosuch/cache/purge", url.Values{}},
	} {
		tc.form.Set("csrf_token", tok)
		res := b.post(tc.path, tc.form)
		wantStatus(t, res, http.StatusNotFound)
		if strings.Contains(res.Body, "127.0.0.1:9000") || strings.Contains(res.Body, "requests per minute") {
			t.Errorf("POST %s leaks bob's service", tc.path)
		}
	}
	wantStatus(t, b.get("/services/bobs/cache/purge"), http.StatusNotFound)
	after := e.stored("bobs")
	if !reflect.DeepEqual(before.RateLimit, after.RateLimit) || before.Cache != after.Cache {
		t.Errorf("carol changed bob's settings: %+v %+v", after.RateLimit, after.Cache)
	}
	if purges != 0 {
		t.Errorf("carol purged bob's cache")
	}

	// An admin may change them.
	a := e.browser()
	atok := a.login(adminEmail)
	wantRedirect(t, a.post("/services/bobs/ratelimit", url.Values{"csrf_token": {atok}, "enabled": {"on"}, "requests": {"5"}, "per": {"second"}}),
		"/services/bobs?tab=security")
	if got := e.stored("bobs").RateLimit; got.Requests != 5 {
		t.Errorf("admin's change not stored: %+v", got)
	}
}

func TestPurgeCache(t *testing.T) {
	var (
		mu     sync.Mutex
		purged []int64
		n      = 3
	)
	e := newEnvWith(t, edge{purge: func(id int64) int {
		mu.Lock()
		defer mu.Unlock()
		purged = append(purged, id)
		return n
	}})
	blog := e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)

	// The modal's form is on the tab; the page works without JavaScript.
	wantContains(t, b.get("/services/blog?tab=security"), `id="purge-dialog"`, `action="/services/blog/cache/purge"`,
		`href="/services/blog/cache/purge" data-open-dialog="purge-dialog"`)
	page := b.get("/services/blog/cache/purge")
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, "Purge the cache of blog?", `action="/services/blog/cache/purge"`)
	if len(purged) != 0 {
		t.Fatal("showing the confirmation purged the cache")
	}

	wantRedirect(t, b.post("/services/blog/cache/purge", url.Values{"csrf_token": {tok}}), "/services/blog?tab=security")
	wantContains(t, b.get("/services/blog?tab=security"), "Purged 3 cached responses.")
	if !reflect.DeepEqual(purged, []int64{blog.ID}) {
		t.Errorf("purged %v, want [%d] (blog's ID)", purged, blog.ID)
	}
	if ev := e.lastAudit("blog"); ev.Action != "service.cache_purge" || ev.Detail != "entries=3" || ev.IP != "192.0.2.10" {
		t.Errorf("audit: %+v", ev)
	}
	n = 1
	wantRedirect(t, b.post("/services/blog/cache/purge", url.Values{"csrf_token": {tok}}), "/services/blog?tab=security")
	wantContains(t, b.get("/services/blog?tab=security"), "Purged 1 cached response.")
}

func TestPurgeCacheWithoutEdge(t *testing.T) {
	e := newEnv(t)
	e.createService(memberEmail, "blog")
	b := e.browser()
	tok := b.login(memberEmail)
	res := b.post("/services/blog/cache/purge", url.Values{"csrf_token": {tok}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, `id="purge-err"`, "this rampart process has no cache to purge")
}

// fakeStats is n one-minute buckets ending now: traffic every minute, some
// of it limited, cacheable requests in all but every fifth minute.
func fakeStats(n int) rampart.TrafficStats {
	start := time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)
	st := rampart.TrafficStats{BucketWidth: time.Minute}
	for i := range n {
		c := rampart.TrafficCount{Start: start.Add(time.Duration(i) * time.Minute), Requests: int64(200 + 13*i)}
		if i%3 == 0 {
			c.Limited = int64(i * 2)
		}
		if i%5 != 4 {
			c.Hits, c.Misses = int64(40+i), int64(10)
		}
		c.Bypassed = 7
		st.Buckets = append(st.Buckets, c)
	}
	for i := range 12 {
		st.TopLimited = append(st.TopLimited, rampart.ClientCount{Client: "198.51.100." + string(rune('0'+i%10)), Limited: int64(100 - i)})
	}
	return st
}

func TestSecurityTabTraffic(t *testing.T) {
	var blogID int64 // the service each case creates
	for _, tc := range []struct {
		name  string
		stats func(int64) rampart.TrafficStats
		want  []string
		not   []string
	}{
		{"no edge", nil, []string{"No traffic data in this process."}, []string{"<svg class=\"chart\"", `id="top-limited"`}},
		{"no traffic yet", func(int64) rampart.TrafficStats { return rampart.TrafficStats{} },
			[]string{"No traffic yet."}, []string{"<svg class=\"chart\"", "NaN"}},
		{"all zero", func(int64) rampart.TrafficStats {
			return rampart.TrafficStats{BucketWidth: time.Minute, Buckets: make([]rampart.TrafficCount, 30)}
		}, []string{`data-bars="0"`, `data-points="0"`, "No client was limited recently.", `data-field="hit-ratio">—<`}, []string{"NaN", "Inf"}},
		{"traffic", func(id int64) rampart.TrafficStats {
			if id != blogID {
				t.Errorf("Stats asked for service %d, want blog's ID %d", id, blogID)
			}
			return fakeStats(30)
		}, []string{"Limited requests per minute", "30 minutes ago", `id="top-limited"`, "198.51.100.0", ">100<",
			`data-field="hits">1,296<`, `data-field="misses">240<`, `data-field="bypassed">210<`, `data-field="limited-total">270<`,
			`data-field="hit-ratio">84%<`},
			[]string{"NaN", "Inf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, edge{stats: tc.stats})
			blogID = e.createService(memberEmail, "blog").ID
			b := e.browser()
			b.login(memberEmail)
			res := b.get("/services/blog?tab=security")
			wantStatus(t, res, http.StatusOK)
			wantContains(t, res, tc.want...)
			for _, s := range tc.not {
				if strings.Contains(res.Body, s) {
					t.Errorf("page contains %q", s)
				}
			}
			// The CSP forbids inline styles and scripts; the charts use none.
			if strings.Contains(res.Body, " style=") || strings.Count(res.Body, "<script") != strings.Count(res.Body, "<script src=") {
				t.Error("the security tab has an inline style or script")
			}
		})
	}
}

func TestSecurityTabCharts(t *testing.T) {
	st := fakeStats(30)
	e := newEnvWith(t, edge{stats: func(int64) rampart.TrafficStats { return st }})
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)
	body := b.get("/services/blog?tab=security").Body

	if got := strings.Count(body, `data-field="limited-client"`); got != maxTopLimited {
		t.Errorf("top-limited table has %d rows, want %d", got, maxTopLimited)
	}
	bars, points := 0, 0
	for _, c := range st.Buckets {
		if c.Limited > 0 {
			bars++
		}
		if c.HitRatio() >= 0 {
			points++
		}
	}
	limited := svgOf(t, body, "limited-chart")
	if got := strings.Count(limited, `class="chart-bar"`); got != bars {
		t.Errorf("limited chart has %d bars, want %d", got, bars)
	}
	if got := strings.Count(limited, "<title>"); got != len(st.Buckets) {
		t.Errorf("limited chart has %d tooltips, want one per bucket (%d)", got, len(st.Buckets))
	}
	wantIn(t, limited, "10:27 UTC · 54 of 551 requests limited", "10:29 UTC (so far) · 0 of 577 requests limited")

	hits := svgOf(t, body, "hit-chart")
	line := attrOf(t, hits, `class="chart-line" d="`)
	got := strings.Count(line, "M") + strings.Count(line, "L") + strings.Count(hits, `class="chart-dot"`)
	if got != points {
		t.Errorf("hit chart draws %d points, want %d (%s)", got, points, line)
	}
	// Every fifth minute had nothing cacheable: the line breaks there.
	if runs := strings.Count(line, "M"); runs != 6 {
		t.Errorf("hit line has %d runs, want 6 separated by gaps: %s", runs, line)
	}
	wantIn(t, hits, "10:04 UTC · nothing cacheable", "10:00 UTC · 80% from the cache (40 hits, 10 misses)")
	for _, s := range []string{limited, hits} {
		if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") || strings.Contains(s, "style=") {
			t.Errorf("bad SVG: %s", s)
		}
	}
}

// svgOf returns the <svg> inside the figure with the given id.
func svgOf(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no #%s on the page", id)
	}
	rest := body[i:]
	start := strings.Index(rest, "<svg")
	end := strings.Index(rest, "</svg>")
	if start < 0 || end < start {
		t.Fatalf("#%s has no <svg>", id)
	}
	return rest[start : end+len("</svg>")]
}

// attrOf returns the attribute value that follows prefix.
func attrOf(t *testing.T, s, prefix string) string {
	t.Helper()
	_, v, ok := strings.Cut(s, prefix)
	if !ok {
		t.Fatalf("no %s in %s", prefix, s)
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}

func wantIn(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("lacks %q", sub)
		}
	}
}

// TestTopLimitedIsEscaped: client keys come from the network (an edge bug
// or a future key format could carry anything), so they are text, never
// markup.
func TestTopLimitedIsEscaped(t *testing.T) {
	evil := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(2)>`, `2001:db8::/64' onmouseover='alert(3)`}
	e := newEnvWith(t, edge{stats: func(int64) rampart.TrafficStats {
		st := fakeStats(5)
		st.TopLimited = nil
		for _, c := range evil {
			st.TopLimited = append(st.TopLimited, rampart.ClientCount{Client: c, Limited: 9})
		}
		return st
	}})
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)
	res := b.get("/services/blog?tab=security")
	wantContains(t, res, "&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;", "&#39; onmouseover=&#39;alert(3)")
	for _, raw := range []string{"<script>alert", "<img src=x", "' onmouseover='"} {
		if strings.Contains(res.Body, raw) {
			t.Errorf("raw %q on the page", raw)
		}
	}
	if got := strings.Count(res.Body, `data-field="limited-client"`); got != len(evil) {
		t.Errorf("%d rows in the top-limited table, want %d", got, len(evil))
	}
}

// TestLimitedTotalAndTopAgree: the Limited total counts every refusal of
// the charts' half hour, the table the limiter's estimates over its own,
// shorter window. The page says which is which, and no client shows more
// refusals than the total (the estimates may run high).
func TestLimitedTotalAndTopAgree(t *testing.T) {
	st := rampart.TrafficStats{BucketWidth: time.Minute, Buckets: make([]rampart.TrafficCount, 30), TopLimitedWindow: 5 * time.Minute,
		TopLimited: []rampart.ClientCount{{Client: "203.0.113.9", Limited: 13}, {Client: "203.0.113.10", Limited: 2}}}
	st.Buckets[29] = rampart.TrafficCount{Requests: 40, Limited: 12}
	e := newEnvWith(t, edge{stats: func(int64) rampart.TrafficStats { return st }})
	e.createService(memberEmail, "blog")
	b := e.browser()
	b.login(memberEmail)
	res := b.get("/services/blog?tab=security")
	wantContains(t, res, `data-field="limited-total">12<`,
		`id="top-limited-heading">Most limited clients, last 5 minutes<`,
		"Estimated by the rate limiter over about the last 5 minutes, so these counts need not add up to the Limited total above, which counts every refusal of the last 30 minutes.",
		`data-field="limited-client">203.0.113.9</td><td class="num" data-field="limited-count">12<`,
		`data-field="limited-client">203.0.113.10</td><td class="num" data-field="limited-count">2<`)
}
