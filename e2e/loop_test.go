package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUpstreamLoop: a member points a service at the edge itself. One POST
// must cost the node two requests (the client's and the edge's own copy,
// answered 508), not thousands.
func TestUpstreamLoop(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	n.must("", "service", "create", "loop", "--upstream", "http://"+n.http)
	host := "loop." + domain
	eventually(t, "the loop to be routed", func() bool { code, _ := n.get(t, host, "/warm-up"); return code == 508 })

	req, _ := http.NewRequest(http.MethodPost, "http://"+n.http+"/once", strings.NewReader("payload"))
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusLoopDetected {
		t.Fatalf("POST: status %d, want 508", res.StatusCode)
	}

	var once []string
	eventually(t, "both passes in the log", func() bool {
		once = once[:0]
		for _, l := range strings.Split(strings.TrimSpace(n.must("", "logs", "--service", "loop", "-n", "1000", "-o", "json")), "\n") {
			var e struct {
				Path  string `json:"path"`
				Error string `json:"error"`
			}
			if json.Unmarshal([]byte(l), &e) == nil && e.Path == "/once" {
				once = append(once, e.Error)
			}
		}
		return len(once) >= 2
	})
	if len(once) != 2 {
		t.Fatalf("the edge logged %d requests for one POST, want 2: %q", len(once), once)
	}
	if !strings.Contains(once[0]+once[1], "loop detected") {
		t.Errorf("no log entry says it was a loop: %q", once)
	}
}
