package server

import (
	"testing"

	"github.com/rampart-dev/rampart/internal/config"
)

// TestPublicURL: emailed links point at the dashboard on admin.domain, with
// the HTTPS port when it is not 443, and nowhere without admin.domain.
func TestPublicURL(t *testing.T) {
	for _, tc := range []struct{ domain, https, want string }{
		{"rampart.example.com", ":443", "https://rampart.example.com"},
		{"rampart.localhost", "127.0.0.1:8443", "https://rampart.localhost:8443"},
		{"rampart.example.com", "", "https://rampart.example.com"},
		{"", ":443", ""},
	} {
		cfg := config.Default()
		cfg.Admin.Domain, cfg.HTTPSAddr = tc.domain, tc.https
		if got := publicURL(cfg); got != tc.want {
			t.Errorf("publicURL(%q, %q) = %q, want %q", tc.domain, tc.https, got, tc.want)
		}
	}
}
