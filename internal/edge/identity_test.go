package edge

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// TestClientIdentityHeadersDropped: whatever a client says about its
// address or scheme, the upstream sees only what the edge vouches for.
func TestClientIdentityHeadersDropped(t *testing.T) {
	up := echoUpstream(t, "blog")
	route := Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}}
	// Plain HTTP, so that a client's claim of https would show.
	_, srv := newEdge(t, Config{ViaName: "edge-1"}, route)

	const lie = "6.6.6.6"
	spoof := []string{
		"X-Real-IP", lie,
		"CF-Connecting-IP", lie,
		"True-Client-IP", lie,
		"X-Client-IP", lie,
		"X-Cluster-Client-IP", lie,
		"Fastly-Client-IP", lie,
		"Client-IP", lie,
		"X-Originating-IP", lie,
		"X-Original-Forwarded-For", lie,
		"Forwarded", "for=" + lie + ";proto=http",
		"X-Forwarded-For", lie,
		"X-Forwarded-Host", lie,
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Port", lie,
		"X-Forwarded-Scheme", "https",
		"X-Forwarded-Ssl", lie,
		"X-Forwarded-Server", lie,
		"X-Forwarded-Prefix", lie,
		"X-Forwarded-Client-IP", lie,
		"Front-End-Https", lie,
		"X-Url-Scheme", lie,
		// CGI and PHP read these as X-Real-IP and X-Forwarded-For.
		"X_Real_IP", lie,
		"x_forwarded_for", lie,
		"X-Something-Else", "kept",
	}
	res, body := get(t, srv, "blog.example.com", "/", spoof...)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	got := decode(t, body).Header
	for k, vs := range got {
		for _, v := range vs {
			if strings.Contains(v, lie) {
				t.Errorf("the client's %s: %s reached the upstream", k, v)
			}
		}
	}
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-Host":  "blog.example.com",
		"X-Forwarded-Proto": "http",
		"Via":               "1.1 edge-1",
		"X-Something-Else":  "kept",
	}
	for k, v := range want {
		if vs := got[k]; len(vs) != 1 || vs[0] != v {
			t.Errorf("upstream saw %s %q, want [%q]", k, vs, v)
		}
	}
	for k := range got {
		if isIdentityHeader(k) && want[k] == "" {
			t.Errorf("upstream saw %s, which the edge does not vouch for", k)
		}
	}
}

// TestIdentityHeadersClientIP: X-Real-IP follows Config.ClientIP,
// and a request without a client IP gets neither header.
func TestIdentityHeadersClientIP(t *testing.T) {
	up := echoUpstream(t, "blog")
	route := Route{Service: "blog", Hosts: []string{"blog.example.com"}, Upstreams: []string{up.URL}}
	for _, tt := range []struct {
		ip   netip.Addr
		want []string
	}{
		{netip.MustParseAddr("2001:db8::5"), []string{"2001:db8::5"}},
		{netip.Addr{}, nil},
	} {
		_, srv := newEdge(t, Config{ClientIP: func(*http.Request) netip.Addr { return tt.ip }}, route)
		_, body := get(t, srv, "blog.example.com", "/", "X-Real-IP", "6.6.6.6")
		h := decode(t, body).Header
		for _, k := range []string{"X-Forwarded-For", "X-Real-Ip"} {
			if g := h[k]; strings.Join(g, ",") != strings.Join(tt.want, ",") {
				t.Errorf("client IP %v: upstream saw %s %q, want %q", tt.ip, k, g, tt.want)
			}
		}
	}
}

func BenchmarkDropIdentity(b *testing.B) {
	base := http.Header{
		"Accept": {"*/*"}, "User-Agent": {"bench"}, "Accept-Encoding": {"gzip"},
		"Accept-Language": {"en"}, "Cookie": {"s=1"}, "Referer": {"https://x/"},
		"Sec-Fetch-Mode": {"navigate"}, "Upgrade-Insecure-Requests": {"1"},
	}
	h := make(http.Header, len(base))
	b.ReportAllocs()
	for b.Loop() {
		for k, v := range base {
			h[k] = v
		}
		dropIdentity(h)
	}
}
