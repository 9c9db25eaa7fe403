package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestClientGoneIsNotAnUpstreamError: through the real server (the fast
// lane in front of the edge), an upload the client cuts short is the
// client's doing. It used to read as the app's failure: 502, "readfrom
// tcp …: unexpected EOF". Now the client gets no answer that looks like
// success, `rampart logs` says 499 and why, and the upstream-errors
// metric stays at zero.
func TestClientGoneIsNotAnUpstreamError(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	arrived := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			arrived <- struct{}{}
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(up.Close)
	n.must("", "service", "create", "shop", "--upstream", up.URL)
	eventually(t, "shop to be routed", func() bool {
		code, _ := n.get(t, "shop."+domain, "/warm-up")
		return code == 200
	})

	conn, err := net.Dial("tcp", n.http)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: shop."+domain+"\r\nContent-Length: 100000\r\n\r\nonly a few bytes")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload never reached the upstream")
	}
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(conn); len(got) != 0 || err != nil {
		t.Errorf("client read %q, %v; want the connection closed", got, err)
	}

	var logged struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	eventually(t, "the upload in the log", func() bool {
		for _, l := range strings.Split(n.must("", "logs", "--service", "shop", "-n", "5", "-o", "json"), "\n") {
			if strings.Contains(l, `"/upload"`) {
				return json.Unmarshal([]byte(l), &logged) == nil
			}
		}
		return false
	})
	if logged.Status != 499 || !strings.HasPrefix(logged.Error, "the client went away before the answer (its request body broke off") {
		t.Errorf("logged %d %q", logged.Status, logged.Error)
	}

	resp, err := http.Get("http://" + n.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `rampart_edge_requests_total{code="499",service="shop"} 1`) {
		t.Error("metrics do not count the upload as 499")
	}
	for _, l := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(l, `rampart_edge_upstream_errors_total{service="shop"}`) && !strings.HasSuffix(l, " 0") ||
			strings.HasPrefix(l, `rampart_edge_requests_total{code="502",service="shop"}`) {
			t.Errorf("metrics blame the upstream: %s", l)
		}
	}
}
