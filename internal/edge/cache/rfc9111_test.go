package cache

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Conformance tests for the RFC 9111 (HTTP Caching, shared cache) and
// RFC 9213 (CDN-Cache-Control) rules the cache follows. The policy rules
// alone are in TestJudge; these go through a handler.

// TestRevalidateDirectivesForbidStale: RFC 9111 §5.2.2.2 (must-revalidate),
// §5.2.2.8 (proxy-revalidate) and §5.2.2.10 (s-maxage, which implies
// proxy-revalidate in a shared cache): once stale, the response is not
// served, not even when the refresh fails (no stale-if-error).
func TestRevalidateDirectivesForbidStale(t *testing.T) {
	for _, cc := range []string{"must-revalidate", "max-age=60, proxy-revalidate", "s-maxage=1", "max-age=60, s-maxage=600"} {
		t.Run(cc, func(t *testing.T) {
			f := &failing{mode: cc}
			_, h, clk := setup(t, Config{TTL: time.Second, StaleIfError: time.Hour}, f)
			expect(t, get(h, "GET", "/"), 200, "MISS", "good 1")
			expect(t, get(h, "GET", "/"), 200, "HIT", "good 1")
			clk.Advance(2 * time.Second)
			for _, mode := range []string{"500", "down"} {
				f.mode = mode
				if w := get(h, "GET", "/"); w.Code < 500 || w.Header().Get("X-Cache") != "MISS" {
					t.Fatalf("%s: served %d %q, want the upstream's error", mode, w.Code, w.Header().Get("X-Cache"))
				}
			}
		})
	}
	// Control: max-age alone leaves stale-if-error on.
	f := &failing{mode: "max-age=60"}
	_, h, clk := setup(t, Config{TTL: time.Second, StaleIfError: time.Hour}, f)
	get(h, "GET", "/")
	clk.Advance(2 * time.Second)
	f.mode = "500"
	expect(t, get(h, "GET", "/"), 200, "STALE", "good 1")
}

// TestAgeCountsAgainstExpires: RFC 9111 §4.2.3: the Age a response arrives
// with counts against its freshness lifetime, Expires included; and §5.3:
// an Expires that is not an HTTP-date (RFC 9110 §5.6.7) means already
// expired.
func TestAgeCountsAgainstExpires(t *testing.T) {
	var expires, date, age string
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Expires", expires)
		w.Header().Set("Date", date)
		w.Header().Set("Age", age)
		_, _ = w.Write([]byte("x" + strconv.FormatInt(n, 10)))
	}}
	_, h, clk := setup(t, Config{TTL: time.Minute}, o)
	now := clk.Now()
	expires, date, age = now.Add(10*time.Second).Format(http.TimeFormat), now.Format(http.TimeFormat), "8"
	expect(t, get(h, "GET", "/"), 200, "MISS", "x1")
	clk.Advance(time.Second)
	w := get(h, "GET", "/")
	expect(t, w, 200, "HIT", "x1")
	if w.Header().Get("Age") != "9" {
		t.Fatalf("Age %q, want 9", w.Header().Get("Age"))
	}
	clk.Advance(time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "x2")

	// Invalid dates: not stored at all.
	for _, bad := range []string{"0", "-1", "tomorrow", now.Add(time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC1123Z)} {
		expires, date, age = bad, clk.Now().Format(http.TimeFormat), "0"
		get(h, "GET", "/bad")
		if w := get(h, "GET", "/bad"); w.Header().Get("X-Cache") != "MISS" {
			t.Fatalf("Expires %q: stored (%q)", bad, w.Header().Get("X-Cache"))
		}
	}
}

// TestCDNCacheControl: RFC 9213: CDN-Cache-Control decides freshness for
// this cache in place of Cache-Control; both headers reach the client
// unchanged.
func TestCDNCacheControl(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("CDN-Cache-Control", "max-age=5")
		_, _ = w.Write([]byte("x" + strconv.FormatInt(n, 10)))
	}}
	_, h, clk := setup(t, Config{TTL: time.Minute}, o)
	for i, xc := range []string{"MISS", "HIT"} {
		w := get(h, "GET", "/")
		expect(t, w, 200, xc, "x1")
		if w.Header().Get("Cache-Control") != "no-cache" || w.Header().Get("CDN-Cache-Control") != "max-age=5" {
			t.Fatalf("request %d: Cache-Control %q, CDN-Cache-Control %q; want both unchanged", i, w.Header().Get("Cache-Control"), w.Header().Get("CDN-Cache-Control"))
		}
	}
	clk.Advance(5 * time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "x2")
}

// TestUnsafeMethodInvalidates: RFC 9111 §4.4: a 2xx or 3xx answer to an
// unsafe request drops what is stored for its URL and for the same-host
// URLs in its Location and Content-Location; an error answer, a safe
// method or another host's URL drops nothing.
func TestUnsafeMethodInvalidates(t *testing.T) {
	var status int
	var loc, cloc string
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(r.URL.Path + " " + strconv.FormatInt(n, 10)))
			return
		}
		if loc != "" {
			w.Header().Set("Location", loc)
		}
		if cloc != "" {
			w.Header().Set("Content-Location", cloc)
		}
		w.WriteHeader(status)
	}}
	c, h, _ := setup(t, Config{TTL: time.Minute}, o)
	// cached fills /a, /b, /c and /d (if not stored) and reports which
	// were stored before the call, i.e. are HITs now.
	cached := func() map[string]bool {
		hits := map[string]bool{}
		for _, p := range []string{"/a", "/b?x=1", "/c", "/d"} {
			if get(h, "GET", p).Header().Get("X-Cache") == "HIT" {
				hits[p] = true
			}
		}
		return hits
	}
	cached()
	tests := []struct {
		method    string
		target    string
		status    int
		loc, cloc string
		dropped   []string
	}{
		{"POST", "/a", 200, "", "", []string{"/a"}},
		{"PUT", "/a", 204, "", "", []string{"/a"}},
		{"DELETE", "/a", 200, "", "", []string{"/a"}},
		{"PATCH", "/a", 200, "", "", []string{"/a"}},
		{"PURGEX", "/a", 200, "", "", []string{"/a"}}, // unknown methods are unsafe
		{"POST", "/a", 303, "/b?x=1", "", []string{"/a", "/b?x=1"}},
		{"POST", "/a", 201, "c", "http://EXAMPLE.com/d", []string{"/a", "/c", "/d"}},
		{"POST", "/a/", 201, "../c", "", []string{"/c"}},
		{"POST", "/x", 201, "http://other.example/a", "//other.example/c", nil},
		{"POST", "/x", 201, "mailto:a@example.com", "", nil},
		{"POST", "/a", 400, "/b?x=1", "", nil},
		{"POST", "/a", 500, "", "", nil},
		{"OPTIONS", "/a", 200, "", "", nil},
	}
	for _, tt := range tests {
		status, loc, cloc = tt.status, tt.loc, tt.cloc
		w := get(h, tt.method, tt.target)
		if w.Code != tt.status || w.Header().Get("X-Cache") != "BYPASS" {
			t.Fatalf("%s %s: %d %q", tt.method, tt.target, w.Code, w.Header().Get("X-Cache"))
		}
		hits := cached()
		for _, p := range []string{"/a", "/b?x=1", "/c", "/d"} {
			want := true
			for _, d := range tt.dropped {
				if d == p {
					want = false
				}
			}
			if hits[p] != want {
				t.Errorf("%s %s → %d (Location %q, Content-Location %q): %s stored %v, want %v", tt.method, tt.target, tt.status, tt.loc, tt.cloc, p, hits[p], want)
			}
		}
	}

	// Another service's entries for the same URL stay.
	other := c.Handler("other", Config{TTL: time.Minute}, o)
	get(other, "GET", "/a")
	status, loc, cloc = 200, "", ""
	get(h, "POST", "/a")
	expect(t, get(other, "GET", "/a"), 200, "HIT", get(other, "GET", "/a").Body.String())
}

// TestUnsafeMethodInvalidatesVariants: RFC 9111 §4.4 applies to every
// stored variant of the URL, including those stored again under a new Vary
// marker after the invalidation.
func TestUnsafeMethodInvalidatesVariants(t *testing.T) {
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Vary", "Accept-Language")
		_, _ = w.Write([]byte(r.Header.Get("Accept-Language") + " " + strconv.FormatInt(n, 10)))
	}}
	_, h, _ := setup(t, Config{TTL: time.Minute}, o)
	expect(t, get(h, "GET", "/v", "Accept-Language", "en"), 200, "MISS", "en 1")
	expect(t, get(h, "GET", "/v", "Accept-Language", "de"), 200, "MISS", "de 2")
	expect(t, get(h, "GET", "/v", "Accept-Language", "en"), 200, "HIT", "en 1")
	get(h, "DELETE", "/v")
	expect(t, get(h, "GET", "/v", "Accept-Language", "de"), 200, "MISS", "de 4")
	expect(t, get(h, "GET", "/v", "Accept-Language", "en"), 200, "MISS", "en 5")
	expect(t, get(h, "GET", "/v", "Accept-Language", "de"), 200, "HIT", "de 4")
	expect(t, get(h, "GET", "/v", "Accept-Language", "en"), 200, "HIT", "en 5")
	if !Fresh(h, func() *http.Request {
		r := newReq("GET", "/v")
		r.Header.Set("Accept-Language", "en")
		return r
	}()) {
		t.Fatal("Fresh: the new variant is not fresh")
	}
}

// TestUnsafeMethodDuringFill: RFC 9111 §4.4: a response that was on its
// way from the upstream when an unsafe request changed the resource is not
// stored: it may be the old version.
func TestUnsafeMethodDuringFill(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if n == 1 {
			started <- struct{}{}
			<-release
		}
		_, _ = w.Write([]byte("x" + strconv.FormatInt(n, 10)))
	}}
	_, h, _ := setup(t, Config{TTL: time.Minute}, o)
	done := make(chan struct{})
	go func() {
		defer close(done)
		get(h, "GET", "/")
	}()
	<-started
	get(h, "POST", "/")
	close(release)
	<-done
	expect(t, get(h, "GET", "/"), 200, "MISS", "x3")
	expect(t, get(h, "GET", "/"), 200, "HIT", "x3")
}

// revalOrigin answers GETs with a validator and max-age=1, and
// conditional GETs that match it with a 304 carrying new header fields.
type revalOrigin struct {
	origin
	etag, lastMod string
	ccFull        string   // Cache-Control of full responses
	cc304         string   // Cache-Control of 304s
	cookie304     string   // Set-Cookie of 304s, if any
	conds         []string // the conditional headers of each request
}

func newRevalOrigin(etag, lastMod string) *revalOrigin {
	o := &revalOrigin{etag: etag, lastMod: lastMod, ccFull: "max-age=1", cc304: "max-age=5"}
	o.respond = func(n int64, w http.ResponseWriter, r *http.Request) {
		inm, ims := r.Header.Get("If-None-Match"), r.Header.Get("If-Modified-Since")
		o.mu.Lock()
		o.conds = append(o.conds, inm+"|"+ims)
		o.mu.Unlock()
		if o.etag != "" {
			w.Header().Set("ETag", o.etag)
		}
		if o.lastMod != "" {
			w.Header().Set("Last-Modified", o.lastMod)
		}
		w.Header().Set("X-Version", strconv.FormatInt(n, 10))
		if (inm != "" && inm == o.etag) || (inm == "" && ims != "" && ims == o.lastMod) {
			w.Header().Set("Cache-Control", o.cc304)
			if o.cookie304 != "" {
				w.Header().Set("Set-Cookie", o.cookie304)
			}
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Cache-Control", o.ccFull)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("body " + strconv.FormatInt(n, 10)))
	}
	return o
}

func (o *revalOrigin) lastConds() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conds[len(o.conds)-1]
}

// TestRevalidation: RFC 9111 §4.3: a stale response with a validator is
// revalidated with a conditional request (§4.3.1: If-None-Match for an
// ETag, If-Modified-Since for a Last-Modified); a 304 refreshes its stored
// header and freshness and its stored body is served (§4.3.3, §4.3.4); a
// full 200 replaces it.
func TestRevalidation(t *testing.T) {
	lm := "Fri, 02 Jan 2026 00:00:00 GMT"
	for _, tc := range []struct {
		name, etag, lastMod, conds string
	}{
		{"etag", `"v1"`, "", `"v1"|`},
		{"last-modified", "", lm, "|" + lm},
		{"both", `"v1"`, lm, `"v1"|` + lm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newRevalOrigin(tc.etag, tc.lastMod)
			c, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
			expect(t, get(h, "GET", "/", "If-None-Match", `"client"`), 200, "MISS", "body 1")
			if got := o.lastConds(); got != "|" {
				t.Fatalf("first request sent conditionals %q", got)
			}
			expect(t, get(h, "GET", "/"), 200, "HIT", "body 1")
			clk.Advance(2 * time.Second)

			// Stale: revalidated; the 304's fields replace the stored ones.
			w := get(h, "GET", "/")
			expect(t, w, 200, "MISS", "body 1")
			if got := o.lastConds(); got != tc.conds {
				t.Fatalf("revalidation sent %q, want %q", got, tc.conds)
			}
			if w.Header().Get("X-Version") != "2" || w.Header().Get("Cache-Control") != "max-age=5" || w.Header().Get("Content-Type") != "text/plain" {
				t.Fatalf("refreshed header: %v", w.Header())
			}
			// Fresh again for the 304's max-age=5, with the new header.
			clk.Advance(4 * time.Second)
			w = get(h, "GET", "/")
			expect(t, w, 200, "HIT", "body 1")
			if w.Header().Get("X-Version") != "2" || w.Header().Get("Age") != "4" {
				t.Fatalf("hit after refresh: X-Version %q Age %q", w.Header().Get("X-Version"), w.Header().Get("Age"))
			}
			expect(t, get(h, "HEAD", "/"), 200, "HIT", "")
			clk.Advance(2 * time.Second)

			// A changed resource: the full 200 replaces the entry.
			o.etag, o.lastMod = `"v2"`, ""
			if tc.etag == "" {
				o.lastMod = "Sat, 03 Jan 2026 00:00:00 GMT"
			}
			expect(t, get(h, "GET", "/"), 200, "MISS", "body 3")
			expect(t, get(h, "GET", "/"), 200, "HIT", "body 3")
			if s := c.Stats("svc"); s.Misses != 3 || s.Stale != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// TestRevalidationForbiddenStale: RFC 9111 §4.3 with §5.2.2.2 and
// §5.2.2.10: a response that may not be served stale (must-revalidate,
// s-maxage) is still revalidated once expired, and a client's conditional
// request and HEAD are answered from the refreshed entry.
func TestRevalidationForbiddenStale(t *testing.T) {
	for _, cc := range []string{"max-age=1, must-revalidate", "s-maxage=1"} {
		t.Run(cc, func(t *testing.T) {
			o := newRevalOrigin(`"v1"`, "")
			o.ccFull, o.cc304 = cc, cc
			_, h, clk := setup(t, Config{TTL: time.Minute}, o)
			expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
			clk.Advance(2 * time.Second)
			expect(t, get(h, "GET", "/", "If-None-Match", `"v1"`), 304, "MISS", "")
			if got := o.lastConds(); got != `"v1"|` {
				t.Fatalf("revalidation sent %q", got)
			}
			expect(t, get(h, "GET", "/"), 200, "HIT", "body 1")
			clk.Advance(2 * time.Second)
			expect(t, get(h, "HEAD", "/"), 200, "MISS", "")
			expect(t, get(h, "GET", "/"), 200, "HIT", "body 1")
			if o.calls.Load() != 3 {
				t.Fatalf("%d upstream requests, want 3", o.calls.Load())
			}
		})
	}
}

// TestRevalidationNoValidator: RFC 9111 §4.3.1: without an ETag or
// Last-Modified, an expired response is fetched again unconditionally.
func TestRevalidationNoValidator(t *testing.T) {
	o := newRevalOrigin("", "")
	_, h, clk := setup(t, Config{TTL: time.Minute}, o)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
	clk.Advance(2 * time.Second)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 2")
	if got := o.lastConds(); got != "|" {
		t.Fatalf("sent conditionals %q", got)
	}
}

// TestRevalidationNotModifiedNoStore: RFC 9111 §4.3.4: a 304 that makes
// the response unstorable (no-store) still answers its request from the
// stored body, and the entry is not kept.
func TestRevalidationNotModifiedNoStore(t *testing.T) {
	o := newRevalOrigin(`"v1"`, "")
	o.cc304 = "no-store"
	_, h, clk := setup(t, Config{TTL: time.Minute}, o)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
	clk.Advance(2 * time.Second)
	w := get(h, "GET", "/")
	expect(t, w, 200, "MISS", "body 1")
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", w.Header().Get("Cache-Control"))
	}
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 3")
}

// TestRevalidationNotModifiedSetsCookie: RFC 9111 §4.3.4 with §3 (and the
// cache's rule that a response setting a cookie is not shared): a 304 to a
// revalidation that sets a cookie answers its client from the stored body
// with that cookie; the entry is dropped, and no later client gets the
// cookie.
func TestRevalidationNotModifiedSetsCookie(t *testing.T) {
	o := newRevalOrigin(`"v1"`, "")
	o.cookie304 = "session=alice"
	c, h, clk := setup(t, Config{TTL: time.Minute, StaleIfError: -1}, o)
	expect(t, get(h, "GET", "/"), 200, "MISS", "body 1")
	clk.Advance(2 * time.Second)
	w := get(h, "GET", "/")
	expect(t, w, 200, "MISS", "body 1")
	if got := w.Header()["Set-Cookie"]; len(got) != 1 || got[0] != "session=alice" {
		t.Fatalf("the revalidating client got Set-Cookie %q, want the 304's", got)
	}
	if o.lastConds() != `"v1"|` {
		t.Fatalf("revalidation sent %q", o.lastConds())
	}
	// The entry is gone: the next client goes upstream (unconditionally,
	// nothing is stored to validate) and gets no one's cookie.
	w = get(h, "GET", "/")
	expect(t, w, 200, "MISS", "body 3")
	if got := w.Header()["Set-Cookie"]; len(got) != 0 {
		t.Fatalf("a later client got Set-Cookie %q", got)
	}
	if o.lastConds() != "|" {
		t.Fatalf("after the dropped entry the request sent %q", o.lastConds())
	}
	if s := c.Stats("svc"); s.Hits != 0 {
		t.Fatalf("stats %+v: nothing may be served from the cache", s)
	}
}

// FuzzParseHTTPDate: RFC 9110 §5.6.7: whatever parses is a GMT time that
// reads back the same in the preferred form (IMF-fixdate).
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sunday, 06-Nov-94 08:49:37 PST", "0", "-1", "", "Sun, 06 Nov 1994 08:49:37 +0000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseHTTPDate(s)
		if !ok {
			return
		}
		if d.Location() != time.UTC {
			t.Fatalf("%q: parsed in %v", s, d.Location())
		}
		back, ok := parseHTTPDate(d.Format(imfFixdate))
		if !ok || !back.Equal(d.Truncate(time.Second)) {
			t.Fatalf("%q: %v does not read back (%v, %v)", s, d, back, ok)
		}
	})
}
