package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestErrorPages(t *testing.T) {
	_, srv := newEdge(t, Config{}, Route{Service: "blog", Hosts: []string{"blog.example.com"}, Stopped: true})
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	tests := []struct {
		name, host, accept string
		wantStatus         int
		wantType           string
		wantText           string
	}{
		{"unknown host, browser", "nope.example.com", browser, 404, "text/html", "No service at <strong>nope.example.com</strong>."},
		{"unknown host, curl", "nope.example.com:8080", "*/*", 404, "text/plain", "No service at nope.example.com.\n"},
		{"unknown host, no accept", "Nope.Example.com.", "", 404, "text/plain", "No service at nope.example.com.\n"},
		{"stopped, browser", "blog.example.com", browser, 503, "text/html", "The service at <strong>blog.example.com</strong> is stopped."},
		{"stopped, curl", "blog.example.com", "*/*", 503, "text/plain", "The service at blog.example.com is stopped.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.accept != "" {
				hdr = []string{"Accept", tt.accept}
			}
			res, body := get(t, srv, tt.host, "/some/path?q=1", hdr...)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.wantStatus)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.wantType)
			}
			if !strings.Contains(body, tt.wantText) {
				t.Errorf("body does not contain %q:\n%s", tt.wantText, body)
			}
			id := res.Header.Get("X-Request-Id")
			if id == "" || !strings.Contains(body, "Request ID") || !strings.Contains(body, id) {
				t.Errorf("request ID %q missing from page", id)
			}
			for h, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if got := res.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestErrorPageHead(t *testing.T) {
	_, srv := newEdge(t, Config{})
	res, body := do(t, srv, http.MethodHead, "nope.example.com", "/")
	if res.StatusCode != 404 || body != "" {
		t.Fatalf("HEAD: %d %q", res.StatusCode, body)
	}
}

func TestErrorPageEscapesHost(t *testing.T) {
	tests := []struct{ host, accept, bad string }{
		{`<script>alert(1)</script>`, "text/html", "<script>"},
		{`"onmouseover="x`, "text/html", `"onmouseover`},
	}
	for _, tt := range tests {
		rr := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", tt.accept)
		writePage(rr, req, http.StatusNotFound, tt.host, "abc")
		if strings.Contains(rr.Body.String(), tt.bad) {
			t.Errorf("host %q not escaped:\n%s", tt.host, rr.Body.String())
		}
	}
}

func TestErrorPageLongHost(t *testing.T) {
	rr := httptest.NewRecorder()
	writePage(rr, httptest.NewRequest("GET", "/", nil), http.StatusNotFound, strings.Repeat("a", 5000), "abc")
	if rr.Body.Len() > 1000 {
		t.Errorf("plain page for a long host is %d bytes", rr.Body.Len())
	}
}
