// Package deptest keeps packages from importing what they must not, in the
// spirit of Tailscale's tstest/deptest: the layering that
// /work/shared/ARCHITECTURE.md describes is checked by `go test`, not by
// review. Each rule names packages (a pattern `go list` understands) and
// what none of them may depend on, directly or through another package;
// test files do not count.
package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rampart-dev/rampart"

// A rule says what the packages matching Packages may depend on: only
// what Allow accepts (when set), and nothing that Deny accepts.
type rule struct {
	Packages string
	Why      string
	Allow    func(dep string) bool
	Deny     func(dep string) bool
}

var rules = []rule{
	{
		Packages: "./internal/client",
		Why:      "the API client is what the CLI (and other programs) link; it speaks the API's wire types from the root package and carries nothing of the server",
		Allow: func(dep string) bool {
			return isStd(dep) || under(dep, "golang.org/x") || dep == module || dep == module+"/internal/limits" || dep == module+"/internal/client"
		},
		Deny: anyOf(heavy...),
	},
	{
		Packages: "./internal/app",
		Why:      "the service layer declares what it needs from the data plane as interfaces (ARCHITECTURE.md: narrow interfaces where they are used); internal/server passes the real ones",
		Deny:     anyOf(append([]string{module + "/internal/edge", module + "/internal/certs", module + "/internal/dnscheck"}, heavy...)...),
	},
	{
		Packages: ".",
		Why:      "the root package holds the domain types every layer shares; it does no I/O and imports nothing of this module but the bounds in internal/limits",
		Allow: func(dep string) bool {
			return isStd(dep) || under(dep, "golang.org/x") || dep == module+"/internal/limits"
		},
	},
	{
		Packages: "./internal/edge/...",
		Why:      "enforcement packages take plain config structs and know nothing about the domain types, the store or the service layer",
		Deny: func(dep string) bool {
			return dep == module || under(dep, module+"/internal/store") || under(dep, module+"/internal/app")
		},
	},
	{
		Packages: "./internal/egress",
		Why:      "the service layer checks upstreams at save time and the edge at dial time with the same policy, so it must stay as light as the lighter of the two: the standard library only",
		Allow:    isStd,
	},
	{
		Packages: "./internal/firewall/rules",
		Why:      "the rule model and parser are shared by the service layer, the API client's callers and enforcement, so the bounds are defined once; the standard library only keeps it importable from all of them",
		Allow:    isStd,
	},
	{
		Packages: "./internal/app",
		Why:      "the service layer validates firewall rules with internal/firewall/rules and gets the nft text through an Options func; the nftables/netlink enforcement stays in serve's reconciler",
		Deny: func(dep string) bool {
			return dep == module+"/internal/firewall" || under(dep, "github.com/google/nftables") || under(dep, "github.com/mdlayher/netlink")
		},
	},
	{
		Packages: "./internal/store/...",
		Why:      "the store keeps passkeys as plain rows (rampart.Passkey); verifying them is the service layer's job (internal/app/passkeys.go)",
		Deny:     func(dep string) bool { return under(dep, "github.com/go-webauthn") },
	},
}

// heavy are the data plane's big dependencies.
var heavy = []string{"github.com/caddyserver/certmagic", "go.uber.org/zap", "github.com/prometheus"}

func TestDependencies(t *testing.T) {
	for _, r := range rules {
		name := strings.TrimPrefix(r.Packages, "./")
		if name == "." {
			name = "root"
		}
		t.Run(name, func(t *testing.T) {
			for _, p := range list(t, r.Packages) {
				for _, dep := range p.Deps {
					if r.Deny != nil && r.Deny(dep) || r.Allow != nil && !r.Allow(dep) {
						t.Errorf("%s depends on %s: it must not, because %s", p.ImportPath, dep, r.Why)
					}
				}
			}
		})
	}
}

// TestRules checks that the rules catch what they are for.
func TestRules(t *testing.T) {
	client, app, root, edge := rules[0], rules[1], rules[2], rules[3]
	fwRules, appFirewall := rules[5], rules[6]
	for _, tc := range []struct {
		r       rule
		dep     string
		allowed bool
	}{
		{client, "net/http", true},
		{client, "golang.org/x/net/idna", true},
		{client, module, true},
		{client, module + "/internal/limits", true},
		{client, module + "/internal/api", false},
		{client, module + "/internal/app", false},
		{client, module + "/internal/store", false},
		{client, module + "/internal/edge", false},
		{client, "github.com/caddyserver/certmagic", false},
		{client, "go.uber.org/zap/zapcore", false},
		{client, "github.com/prometheus/client_golang/prometheus", false},
		{app, module + "/internal/store", true},
		{app, module + "/internal/edge/logtail", false},
		{app, module + "/internal/certs", false},
		{app, module + "/internal/certs/internalca", false},
		{app, module + "/internal/dnscheck", false},
		{app, "github.com/caddyserver/certmagic", false},
		{app, module + "/internal/edgework", true}, // a prefix of the name, not a subpackage
		{root, "net/netip", true},
		{root, module + "/internal/limits", true},
		{root, module + "/internal/store", false},
		{root, "github.com/miekg/dns", false},
		{edge, module + "/internal/limits", true},
		{edge, module, false},
		{edge, module + "/internal/store/sqlite", false},
		{edge, module + "/internal/app", false},
		{fwRules, "net/netip", true},
		{fwRules, module, false},
		{fwRules, "golang.org/x/sys/unix", false},
		{appFirewall, module + "/internal/firewall/rules", true},
		{appFirewall, module + "/internal/firewall", false},
		{appFirewall, "github.com/google/nftables/expr", false},
		{appFirewall, "github.com/mdlayher/netlink", false},
	} {
		ok := (tc.r.Deny == nil || !tc.r.Deny(tc.dep)) && (tc.r.Allow == nil || tc.r.Allow(tc.dep))
		if ok != tc.allowed {
			t.Errorf("rule for %s: %s allowed = %v, want %v", tc.r.Packages, tc.dep, ok, tc.allowed)
		}
	}
}

type pkg struct {
	ImportPath string
	Deps       []string
}

// list runs `go list` on pattern and returns the packages with their
// dependencies (transitive, without test files).
func list(t *testing.T, pattern string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Deps", pattern)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, stderr.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list %s: %v", pattern, err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s: no packages", pattern)
	}
	return pkgs
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// under reports whether path is prefix or a package below it.
func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func anyOf(prefixes ...string) func(string) bool {
	return func(dep string) bool {
		for _, p := range prefixes {
			if under(dep, p) {
				return true
			}
		}
		return false
	}
}

// The SSH keys rule joins the list at init, after the literal, so that the
// rules above keep their indices (TestRules refers to them by index).
func init() {
	rules = append(rules, rule{
		Packages: "./internal/sshkeys",
		Why:      "the service layer parses pasted keys with it before anything is stored, so it must stay light, and as an enforcement package it knows nothing of the store or the domain types: the standard library and golang.org/x only",
		Allow: func(dep string) bool {
			return isStd(dep) || under(dep, "golang.org/x")
		},
	})
}

// TestSSHKeysRule checks that the rule for internal/sshkeys catches what it
// is for.
func TestSSHKeysRule(t *testing.T) {
	var r *rule
	for i := range rules {
		if rules[i].Packages == "./internal/sshkeys" {
			r = &rules[i]
		}
	}
	if r == nil {
		t.Fatal("no rule for ./internal/sshkeys")
	}
	for dep, allowed := range map[string]bool{
		"crypto/sha256":                true,
		"golang.org/x/crypto/ssh":      true,
		"golang.org/x/sys/unix":        true,
		module:                         false,
		module + "/internal/store":     false,
		"github.com/prometheus/common": false,
	} {
		ok := (r.Deny == nil || !r.Deny(dep)) && (r.Allow == nil || r.Allow(dep))
		if ok != allowed {
			t.Errorf("%s allowed = %v, want %v", dep, ok, allowed)
		}
	}
}

// authPrimitive is what the MFA building blocks (TOTP, sealed secrets) may
// depend on. They are tested alone and used by the service layer, so they
// know nothing of HTTP, the store or the domain types: the standard library
// without net/http, golang.org/x, and the TOTP library with its QR encoder.
func authPrimitive(dep string) bool {
	return isStd(dep) && !under(dep, "net/http") ||
		under(dep, "golang.org/x") ||
		under(dep, "github.com/pquerna/otp") ||
		under(dep, "github.com/boombuler/barcode") ||
		under(dep, module+"/internal/auth/totp") ||
		under(dep, module+"/internal/auth/sealed")
}

// The MFA primitives' rules join the list at init, like the SSH keys rule,
// one per package: internal/auth itself (sessions, later) may need net/http.
func init() {
	for _, p := range []string{"./internal/auth/totp", "./internal/auth/sealed"} {
		rules = append(rules, rule{
			Packages: p,
			Why:      "the MFA primitives are tested alone and know nothing of HTTP, the store or the domain types: the standard library without net/http, golang.org/x, and github.com/pquerna/otp with its QR encoder only",
			Allow:    authPrimitive,
		})
	}
}

// TestAuthPrimitivesRules checks that the rules for internal/auth/totp and
// internal/auth/sealed catch what they are for.
func TestAuthPrimitivesRules(t *testing.T) {
	for _, name := range []string{"./internal/auth/totp", "./internal/auth/sealed"} {
		var r *rule
		for i := range rules {
			if rules[i].Packages == name {
				r = &rules[i]
			}
		}
		if r == nil {
			t.Fatalf("no rule for %s", name)
		}
		for dep, allowed := range map[string]bool{
			"crypto/subtle":                        true,
			"image/png":                            true,
			"golang.org/x/crypto/chacha20poly1305": true,
			"github.com/pquerna/otp/hotp":          true,
			"github.com/boombuler/barcode/qr":      true,
			module + "/internal/auth/sealed":       true,
			"net/http":                             false,
			"net/http/httptest":                    false,
			module:                                 false,
			module + "/internal/store":             false,
			module + "/internal/app":               false,
			module + "/internal/auth":              false,
			"github.com/makiuchi-d/gozxing":        false, // tests only
			"github.com/pquerna/otpx":              false,
			"github.com/prometheus/client_golang":  false,
		} {
			ok := (r.Deny == nil || !r.Deny(dep)) && (r.Allow == nil || r.Allow(dep))
			if ok != allowed {
				t.Errorf("%s: %s allowed = %v, want %v", name, dep, ok, allowed)
			}
		}
	}
}
