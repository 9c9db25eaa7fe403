package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/agent"
)

// handshake connects to the node's HTTPS listener with SNI name, trusting
// only rampart's internal CA, and returns the served leaf (nil and the
// error when the handshake fails).
func (n *node) handshake(t *testing.T, name string) (*x509.Certificate, error) {
	t.Helper()
	root, err := os.ReadFile(filepath.Join(n.data, "certs", "internal-ca", "root.crt"))
	if err != nil {
		t.Fatalf("reading the internal CA root: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatal("the internal CA root does not parse")
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.https, &tls.Config{ServerName: name, RootCAs: pool})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

// domainOf reads one domain of service through `rampart domain list -o json`.
func (n *node) domainOf(t *testing.T, service, name string) (state, reason string) {
	t.Helper()
	var list []struct{ Name, State, Reason string }
	if err := json.Unmarshal([]byte(n.must("", "domain", "list", service, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.Name == name {
			return d.State, d.Reason
		}
	}
	t.Fatalf("%s is not in the domain list of %s", name, service)
	return "", ""
}

// TestCertificateTroubleshooting drives the seed's SSL troubleshooting as an
// operator would, with names the internal CA certifies: `rampart ssl reset`
// and a corrupt certificate file found at start each end with a working
// certificate; `domain update --tls off` stops serving one.
func TestCertificateTroubleshooting(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	app := upstream(t, "blog")
	n.must("", "service", "create", "blog", "--upstream", app.URL)
	n.must("", "domain", "add", "blog", "shop.test")

	var first *x509.Certificate
	eventually(t, "shop.test to be served over HTTPS", func() bool {
		c, err := n.handshake(t, "shop.test")
		first = c
		return err == nil
	})
	eventually(t, "shop.test to be active", func() bool { s, _ := n.domainOf(t, "blog", "shop.test"); return s == "active" })

	// ssl reset for one domain: the files move aside, a new certificate
	// follows by itself.
	out := n.must("", "ssl", "reset", "--domain", "shop.test")
	if !strings.Contains(out, "moved to "+filepath.Join(n.data, "certs")) || !strings.Contains(out, "Obtaining a new certificate for shop.test") {
		t.Errorf("ssl reset said:\n%s", out)
	}
	var second *x509.Certificate
	eventually(t, "a new certificate for shop.test after the reset", func() bool {
		c, err := n.handshake(t, "shop.test")
		second = c
		return err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0
	})
	if !strings.Contains(n.must("", "audit"), "ssl.reset") {
		t.Error("the reset is not in the audit log")
	}

	// A corrupt certificate file, found when rampart starts: quarantined,
	// replaced, and the domain says so.
	n.stop()
	var crt string
	err := filepath.WalkDir(filepath.Join(n.data, "certs", "storage"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "shop.test.crt" {
			crt = p
		}
		return err
	})
	if err != nil || crt == "" {
		t.Fatalf("no stored certificate file for shop.test (%v)", err)
	}
	if err := os.WriteFile(crt, []byte("-----BEGIN CERTIFICATE-----\ntruncated by a full disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.start()
	eventually(t, "shop.test served again after the corrupt file", func() bool {
		c, err := n.handshake(t, "shop.test")
		return err == nil && c.SerialNumber.Cmp(second.SerialNumber) != 0
	})
	eventually(t, "the domain to say its certificate was quarantined", func() bool {
		s, reason := n.domainOf(t, "blog", "shop.test")
		return s == "active" && reason == agent.QuarantinedReason
	})
	if q, _ := filepath.Glob(filepath.Join(n.data, "certs", "quarantine", "*shop.test*")); len(q) != 1 {
		t.Errorf("quarantine holds %v, want the corrupt files of shop.test", q)
	}
	// A bad --domain changes nothing and says why.
	if r := n.rampart("", "ssl", "reset", "--domain", "nope.example"); r.code != 1 || !strings.Contains(r.stderr, "not a domain of any service you can see") {
		t.Errorf("ssl reset of an unknown domain: %+v", r)
	}

	// TLS off: rampart stops serving a certificate for the name; HTTP
	// still routes it.
	out = n.must("", "domain", "update", "blog", "shop.test", "--tls", "off")
	if !strings.Contains(out, "TLS off, active") {
		t.Errorf("domain update said %q", out)
	}
	eventually(t, "no certificate for shop.test with TLS off", func() bool {
		_, err := n.handshake(t, "shop.test")
		return err != nil
	})
	if code, body := n.get(t, "shop.test", "/"); code != 200 || !strings.Contains(body, "hello from blog") {
		t.Errorf("shop.test over HTTP with TLS off: %d %q", code, body)
	}
	if r := n.rampart("", "ssl", "reset", "--domain", "shop.test"); r.code != 1 || !strings.Contains(r.stderr, "has TLS off") {
		t.Errorf("ssl reset of a TLS-off domain: %+v", r)
	}
}

// TestEnvCommands: the environment is set, merged, imported from a .env
// file, listed and unset through the CLI; bad input changes nothing.
func TestEnvCommands(t *testing.T) {
	n := startNode(t, "--platform-domain", domain)
	n.adminSetup()
	n.must("", "service", "create", "blog", "--upstream", "http://127.0.0.1:9")

	if out := n.must("", "env", "set", "blog", "APP_URL=https://shop.example.com", "EMPTY="); !strings.Contains(out, "Set APP_URL, EMPTY on blog.") {
		t.Errorf("env set said %q", out)
	}
	dotenv := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(dotenv, []byte("# from the app's repo\nexport SMTP_FROM=blog@mail.example.net\nKEY=\"a\\nb\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n.must("", "env", "set", "blog", "--file", dotenv)
	n.must("", "env", "unset", "blog", "EMPTY")
	want := "APP_URL=https://shop.example.com\nKEY=\"a\\nb\"\nSMTP_FROM=blog@mail.example.net\n"
	if out := n.must("", "env", "list", "blog"); out != want {
		t.Errorf("env list =\n%s\nwant\n%s", out, want)
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(n.must("", "env", "list", "blog", "-o", "json")), &env); err != nil || env["KEY"] != "a\nb" || len(env) != 3 {
		t.Errorf("env list -o json = %v (%v)", env, err)
	}
	for _, bad := range [][]string{
		{"env", "set", "blog", "BAD-NAME=1"},
		{"env", "set", "blog", "NOEQUALS"},
		{"env", "set", "blog"},
		{"env", "unset", "blog"},
	} {
		if r := n.rampart("", bad...); r.code != 2 {
			t.Errorf("rampart %v: exit %d (%s), want 2", bad, r.code, r.stderr)
		}
	}
	if r := n.rampart("", "env", "set", "blog", "BIG="+strings.Repeat("x", 40<<10)); r.code != 1 || !strings.Contains(r.stderr, "at most 32768") {
		t.Errorf("a value over the limit: %+v", r)
	}
	if out := n.must("", "env", "list", "blog"); out != want {
		t.Errorf("refused commands changed the environment:\n%s", out)
	}
}
