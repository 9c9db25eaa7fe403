package h2lane

import (
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// h2specBin finds h2spec v2.2.1 (scripts/test-deps.sh installs it). With
// CI=true a missing h2spec fails the test rather than skipping it.
func h2specBin(t *testing.T) string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "h2spec missing: run scripts/test-deps.sh (go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

type junit struct {
	Suites []struct {
		Package string `xml:"package,attr"`
		Cases   []struct {
			Package   string    `xml:"package,attr"`
			Classname string    `xml:"classname,attr"`
			Failure   *struct{} `xml:"failure"`
			Error     *struct{} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// h2specFailures runs h2spec against addr and returns the failing tests.
// It may run on another goroutine than the test's, so it returns its
// trouble rather than failing the test.
func h2specFailures(bin, dir, addr string) (map[string]bool, error) {
	host, port, _ := net.SplitHostPort(addr)
	report := filepath.Join(dir, "report.xml")
	out, _ := exec.Command(bin, "-t", "-k", "-h", host, "-p", port, "-o", "1", "-j", report).CombinedOutput()
	b, err := os.ReadFile(report)
	if err != nil {
		return nil, fmt.Errorf("h2spec wrote no report: %v\n%s", err, out)
	}
	var r junit
	if err := xml.Unmarshal(xmlText(b), &r); err != nil {
		return nil, fmt.Errorf("h2spec's report: %v", err)
	}
	failed := map[string]bool{}
	n := 0
	for _, s := range r.Suites {
		for _, c := range s.Cases {
			n++
			if c.Failure != nil || c.Error != nil {
				failed[c.Package+" "+c.Classname] = true
			}
		}
	}
	if n < 100 {
		return nil, fmt.Errorf("h2spec ran only %d tests:\n%s", n, out)
	}
	return failed, nil
}

// xmlText replaces the control characters XML 1.0 does not allow with
// spaces: h2spec copies what a server sent (a GOAWAY's debug data, say)
// into its report's messages as it came, NUL bytes included.
func xmlText(b []byte) []byte {
	for i, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			b[i] = ' '
		}
	}
	return b
}

// TestH2Spec runs the h2spec conformance suite against the server and
// against net/http's HTTP/2 server with the same handler: the server may
// fail only what net/http fails too.
func TestH2Spec(t *testing.T) {
	bin := h2specBin(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello from h2spec's target\n")
	})
	// As rampart serve runs it: extended CONNECT on.
	ours := startH2(t, &Server{Handler: h, Eligible: func(r *http.Request) bool { return r.URL.Path == "/" }, ExtendedConnect: true})
	theirs := startNetHTTP(t, h)
	var theirsF map[string]bool
	var theirsErr error
	done := make(chan struct{})
	go func() { defer close(done); theirsF, theirsErr = h2specFailures(bin, t.TempDir(), theirs) }()
	oursF, oursErr := h2specFailures(bin, t.TempDir(), ours.addr)
	<-done // both servers stay up until both runs are over
	if oursErr != nil {
		t.Fatalf("against h2lane: %v", oursErr)
	}
	if theirsErr != nil {
		t.Fatalf("against net/http: %v", theirsErr)
	}
	var worse, list []string
	for id := range oursF {
		list = append(list, id)
		if !theirsF[id] {
			worse = append(worse, id)
		}
	}
	sort.Strings(worse)
	sort.Strings(list)
	t.Logf("h2spec failures: ours %d, net/http %d", len(oursF), len(theirsF))
	for _, id := range list {
		t.Logf("ours fails: %s", id)
	}
	for id := range theirsF {
		t.Logf("net/http fails: %s", id)
	}
	if len(worse) > 0 {
		t.Fatalf("failing h2spec tests that net/http passes:\n%s", strings.Join(worse, "\n"))
	}
}
