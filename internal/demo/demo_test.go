package demo

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestDemoApp(t *testing.T) {
	url, stop, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	req, _ := http.NewRequest("GET", url+"/some/path?x=1", nil)
	req.Host = "demo.localhost"
	req.Header.Set("X-Forwarded-For", "203.0.113.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Hello from the demo app", "demo.localhost", "GET /some/path?x=1", "203.0.113.5"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	resp, _ = http.Post(url+"/", "text/plain", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
}
