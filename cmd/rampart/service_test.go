package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-dev/rampart"
)

// TestServiceURLPrinted: create and show print the URL the server gives,
// port included, not one the CLI makes up from the hostname.
func TestServiceURLPrinted(t *testing.T) {
	view := rampart.ServiceView{
		Service:  rampart.Service{Name: "blog", Upstreams: []string{"http://127.0.0.1:3000"}, State: rampart.StateActive},
		Hostname: "blog.localhost",
		URL:      "http://blog.localhost:8080",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_ = json.NewEncoder(w).Encode(view)
	}))
	defer srv.Close()
	t.Setenv("RAMPART_CLI_CONFIG", t.TempDir()+"/cli.json")
	flags := []string{"--server", srv.URL, "--token", "rt_test"}

	code, out, errOut := runArgs(t, append([]string{"service", "create", "blog", "--upstream", "http://127.0.0.1:3000"}, flags...)...)
	if code != 0 || !strings.Contains(out, "Created service blog: http://blog.localhost:8080 → http://127.0.0.1:3000") {
		t.Errorf("create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runArgs(t, append([]string{"service", "show", "blog"}, flags...)...)
	if code != 0 || !strings.Contains(out, "http://blog.localhost:8080") {
		t.Errorf("show: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A server too old to send the URL: the hostname on port 80.
	view.URL = ""
	if _, out, _ := runArgs(t, append([]string{"service", "create", "blog", "--upstream", "http://127.0.0.1:3000"}, flags...)...); !strings.Contains(out, "Created service blog: http://blog.localhost →") {
		t.Errorf("create without url: %q", out)
	}
}
