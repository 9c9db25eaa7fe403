package edge

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/certs/certstest"
	"github.com/rampart-dev/rampart/internal/edge/cache"
	"github.com/rampart-dev/rampart/internal/edge/fastlane"
)

// TestHSTS: a service with HSTS gets exactly its configured header on HTTPS
// responses, on a miss and on a cache hit answered by the fast lane, in
// place of the upstream's; nothing over plain HTTP; other services pass
// the upstream's own header through; a change of setting is seen at once,
// cached copies included.
func TestHSTS(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=5")
		_, _ = io.WriteString(w, "page "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	routes := func(h *HSTS) []Route {
		return []Route{
			{ID: "1", Service: "secure", Hosts: []string{"secure.apps.test"}, Upstreams: []string{up.URL}, Cache: &cache.Config{TTL: time.Hour}, HSTS: h},
			{ID: "2", Service: "other", Hosts: []string{"other.apps.test"}, Upstreams: []string{up.URL}, Cache: &cache.Config{TTL: time.Hour}},
			{ID: "3", Service: "down", Hosts: []string{"down.apps.test"}, Stopped: true, HSTS: h},
		}
	}
	e, plain := newEdge(t, Config{}, routes(&HSTS{MaxAge: 31536000, IncludeSubDomains: true})...)

	// HTTPS as serve runs it: the edge's server with the fast lane in front.
	certPEM, keyPEM := certstest.SelfSigned(t, "secure.apps.test", time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("127.0.0.1:0", e, nil, SlowClients{})
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	lane := fastlane.Install(srv, e.Fresh)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := srv.Serve(lane.TLSListener(ln, srv.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	secure := &httptest.Server{URL: "https://" + ln.Addr().String(), Config: srv}
	secureClient := &http.Client{Transport: tr}

	fetch := func(srv *httptest.Server, c *http.Client, host, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s: %v", host, path, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	check := func(what string, res *http.Response, cacheResult string, want ...string) {
		t.Helper()
		if got := res.Header.Values("Strict-Transport-Security"); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", what, got, want)
		}
		if got := res.Header.Get("X-Cache"); got != cacheResult {
			t.Errorf("%s: X-Cache %q, want %q", what, got, cacheResult)
		}
	}
	const year = "max-age=31536000; includeSubDomains"

	check("HTTPS miss", fetch(secure, secureClient, "secure.apps.test", "/a"), "MISS", year)
	before := lane.Answered()
	check("HTTPS hit", fetch(secure, secureClient, "secure.apps.test", "/a"), "HIT", year)
	if lane.Answered() == before {
		t.Error("the fast lane did not answer the HTTPS hit")
	}
	// The cache keeps HTTP and HTTPS copies apart; neither has the header.
	check("HTTP miss", fetch(plain, plain.Client(), "secure.apps.test", "/a"), "MISS")
	check("HTTP hit", fetch(plain, plain.Client(), "secure.apps.test", "/a"), "HIT")
	check("HTTPS 503 of a stopped service", fetch(secure, secureClient, "down.apps.test", "/"), "", year)
	check("HTTP 503 of a stopped service", fetch(plain, plain.Client(), "down.apps.test", "/"), "")

	// Another service: the upstream's header, untouched, on HTTPS and HTTP.
	check("other service, HTTPS miss", fetch(secure, secureClient, "other.apps.test", "/a"), "MISS", "max-age=5")
	check("other service, HTTPS hit", fetch(secure, secureClient, "other.apps.test", "/a"), "HIT", "max-age=5")
	check("other service, HTTP", fetch(plain, plain.Client(), "other.apps.test", "/a"), "MISS", "max-age=5")
	check("unknown host", fetch(secure, secureClient, "nobody.apps.test", "/"), "")

	// A new value reaches hits at once: the copies stored under the old
	// setting are gone.
	if err := e.SetRoutes(routes(&HSTS{MaxAge: 63072000, IncludeSubDomains: true, Preload: true})); err != nil {
		t.Fatal(err)
	}
	check("HTTPS after a change", fetch(secure, secureClient, "secure.apps.test", "/a"), "MISS", "max-age=63072000; includeSubDomains; preload")
	check("HTTPS hit after a change", fetch(secure, secureClient, "secure.apps.test", "/a"), "HIT", "max-age=63072000; includeSubDomains; preload")
	// Off: the upstream's header passes through again, on hits too.
	if err := e.SetRoutes(routes(nil)); err != nil {
		t.Fatal(err)
	}
	check("HTTPS with HSTS off", fetch(secure, secureClient, "secure.apps.test", "/a"), "MISS", "max-age=5")
	check("HTTPS hit with HSTS off", fetch(secure, secureClient, "secure.apps.test", "/a"), "HIT", "max-age=5")
}

func TestHSTSValidate(t *testing.T) {
	e, err := New(Config{ErrorLog: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []HSTS{{MaxAge: -1}, {MaxAge: 63072001}, {MaxAge: 86400, IncludeSubDomains: true, Preload: true}, {MaxAge: 31536000, Preload: true}} {
		err := e.SetRoutes([]Route{{Service: "x", Hosts: []string{"x.apps.test"}, Upstreams: []string{"http://127.0.0.1:1"}, HSTS: &h}})
		if err == nil || !strings.Contains(err.Error(), "hsts:") {
			t.Errorf("%+v: %v", h, err)
		}
	}
}
