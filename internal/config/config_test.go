package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/rampart-dev/rampart/internal/limits"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rampart.yaml")
	os.WriteFile(file, []byte("data: /from/file\nadmin_addr: 127.0.0.1:1000\nplatform:\n  domain: file.example\nnode:\n  public_ips: [198.51.100.7]\nlog:\n  access_log: false\n"), 0o600)

	c := Default()
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv([]string{"RAMPART_ADMIN_ADDR=127.0.0.1:2000", "RAMPART_PLATFORM_DOMAIN=env.example", "RAMPART_TOKEN=ignored", "PATH=/bin"}); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	flags := RegisterFlags(fs, Default())
	if err := fs.Parse([]string{"--platform-domain", "flag.example", "--node-public-ips", "203.0.113.1,2001:db8::1", "--trusted-proxies", "cloudflare,10.0.0.0/8"}); err != nil {
		t.Fatal(err)
	}
	flags.Apply(&c)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Data = "/from/file"                                     // file only
	want.AdminAddr = "127.0.0.1:2000"                            // env beats file
	want.Platform.Domain = "flag.example"                        // flag beats env and file
	want.Node.PublicIPs = []string{"203.0.113.1", "2001:db8::1"} // flag beats file
	want.Log.AccessLog = false                                   // file beats default
	want.TrustedProxies = []string{"cloudflare", "10.0.0.0/8"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestUpstreamNetworks(t *testing.T) {
	c := Default()
	if err := c.LoadEnv([]string{"RAMPART_UPSTREAMS_ALLOWED_NETWORKS=10.0.0.0/8, 127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	nets, err := c.UpstreamNetworks()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err != nil || len(nets) != 2 || nets[0].String() != "10.0.0.0/8" || nets[1].String() != "127.0.0.1/32" {
		t.Errorf("UpstreamNetworks = %v, %v", nets, err)
	}
	// The default: none listed (every address but the forbidden ones).
	d := Default()
	if nets, err := d.UpstreamNetworks(); err != nil || len(nets) != 0 {
		t.Errorf("default UpstreamNetworks = %v, %v", nets, err)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"unknown key", "platfrom:\n  domain: x\n", "field platfrom not found"},
		{"bad admin addr", "admin_addr: nonsense\n", "admin_addr"},
		{"hostname addr", "admin_addr: example.com:80\n", "listen on an IP address"},
		{"bad port", "http_addr: ':99999'\n", "port"},
		{"bad domain", "platform:\n  domain: Example.COM\n", "platform.domain"},
		{"bad ip", "node:\n  public_ips: [not-an-ip]\n", "node.public_ips"},
		{"bad proxy", "trusted_proxies: [cloudflair]\n", "trusted_proxies"},
		{"trust all", "trusted_proxies: [0.0.0.0/0]\n", "trusted_proxies"},
		{"bad level", "log:\n  level: loud\n", "log.level"},
		{"bad format", "log:\n  format: xml\n", "log.format"},
		{"acme http", "acme:\n  directory: http://ca.example/dir\n", "acme.directory"},
		{"acme email", "acme:\n  email: nobody\n", "acme.email"},
		{"acme roots", "acme:\n  trusted_roots: /does/not/exist.pem\n", "acme.trusted_roots"},
		{"half eab", "acme:\n  eab_key_id: kid\n", "acme.eab_key_id"},
		{"bad resolver", "dns:\n  resolvers: [dns.google]\n", "dns.resolvers"},
		{"bad upstream network", "upstreams:\n  allowed_networks: [10.0.0.0/8, intranet]\n", `upstreams.allowed_networks: "intranet" is not a network`},
		{"zero quota", "quotas:\n  services_per_account: 0\n", "quotas.services_per_account: 0 is less than 1: a quota of 0 would lock members out"},
		{"negative quota", "quotas:\n  tokens_per_account: -1\n", "quotas.tokens_per_account"},
		{"unknown quota", "quotas:\n  services: 5\n", "field services not found"},
		{"zero per-client cap", "limits:\n  connections_per_client: 0\n", "limits.connections_per_client"},
		{"negative total", "limits:\n  connections_total: -5\n", "limits.connections_total"},
		{"duration without unit", "limits:\n  transfer_window: 30\n", "cannot unmarshal !!int `30` into time.Duration"},
		{"tiny header timeout", "limits:\n  header_timeout: 10ms\n", "limits.header_timeout: 10ms is not between 1s and 1h"},
		{"not a duration", "limits:\n  header_timeout: soon\n", "config file"},
		{"zero min bytes", "limits:\n  transfer_min_bytes: 0\n", "limits.transfer_min_bytes"},
		{"not yaml", "data: [unclosed\n", "config file"},
		{"admin domain without https", "https_addr: ''\nadmin:\n  domain: rampart.example.com\n", "admin.domain: the dashboard is served on the edge's HTTPS listener"},
		{"bad admin domain", "admin:\n  domain: Rampart.Example.com\n", "admin.domain"},
		{"admin domain is the platform's", "platform:\n  domain: apps.example.com\nadmin:\n  domain: apps.example.com\n", "admin.domain: apps.example.com is the platform domain itself"},
		{"bad smtp tls", "mail:\n  from: a@example.com\n  smtp:\n    host: mail.example.com\n    tls: ssl\n", "mail.smtp.tls"},
		{"smtp without from", "mail:\n  smtp:\n    host: mail.example.com\n", "mail.from"},
		{"smtp port", "mail:\n  from: a@example.com\n  smtp:\n    host: mail.example.com\n    port: 70000\n", "mail.smtp.port"},
		{"bad mail domain", "mail:\n  domain: Mail.Example.com\n", "mail.domain"},
		{"relay without listen", "mail:\n  domain: mail.example.com\n  listen: []\n", "mail.listen: the relay needs an address"},
		{"relay listen not an address", "mail:\n  domain: mail.example.com\n  listen: [relay]\n", "mail.listen"},
		{"public relay without auth", "mail:\n  domain: mail.example.com\n  listen: [':587']\n  identify_by_address: [10.0.0.0/8]\n", "mail.identify_by_address: the relay listens on :587"},
		{"relay network", "mail:\n  domain: mail.example.com\n  allowed_networks: [10.0.0.0/8, 'my lan']\n", "mail.allowed_networks"},
		{"relay open to nobody", "mail:\n  domain: mail.example.com\n  allowed_networks: []\n", "mail.allowed_networks: empty would refuse every client"},
		{"zero mail quota", "mail:\n  domain: mail.example.com\n  per_hour: 0\n", "mail.per_hour"},
		{"short queue lifetime", "mail:\n  domain: mail.example.com\n  queue:\n    lifetime: 5s\n", "mail.queue.lifetime"},
		{"bad mail resolver", "mail:\n  resolvers: [dns.google]\n", "mail.resolvers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(file, []byte(tc.yaml), 0o600)
			c := Default()
			err := c.LoadFile(file)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	c := Default()
	if err := c.LoadEnv([]string{"RAMPART_LOG_ACCESS_LOG=maybe"}); err == nil || !strings.Contains(err.Error(), "RAMPART_LOG_ACCESS_LOG") {
		t.Errorf("bad bool env: %v", err)
	}
}

func TestEmptyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, nil, 0o600)
	c := Default()
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Error("an empty file changed settings")
	}
}

func TestReferenceListsEverySetting(t *testing.T) {
	ref := Reference()
	for _, s := range settings {
		for _, want := range []string{s.key, "--" + s.flagName(), s.envName()} {
			if !strings.Contains(ref, want) {
				t.Errorf("reference lacks %q", want)
			}
		}
	}
}

func FuzzParseYAML(f *testing.F) {
	f.Add([]byte("data: /x\nplatform:\n  domain: a.b\n"))
	f.Add([]byte("node:\n  public_ips: [1.2.3.4]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if c.parseYAML(b) == nil {
			_ = c.Validate() // must not panic
		}
	})
}

func TestACMEAndDNSSettings(t *testing.T) {
	c := Default()
	if c.ACME.Directory != LetsEncryptProduction {
		t.Errorf("default acme.directory = %q", c.ACME.Directory)
	}
	if err := c.LoadEnv([]string{"RAMPART_ACME_DIRECTORY=https://localhost:14000/dir", "RAMPART_ACME_EMAIL=ops@example.com",
		"RAMPART_DNS_RESOLVERS=127.0.0.1:8053, 9.9.9.9", "RAMPART_ACME_ALT_HTTP_PORT=5002"}); err != nil {
		t.Fatal(err)
	}
	applyFlagsAndValidate(t, &c, "--acme-alt-tls-alpn-port", "5001")
	if c.ACME.Directory != "https://localhost:14000/dir" || c.ACME.Email != "ops@example.com" || c.ACME.AltHTTPPort != 5002 || c.ACME.AltTLSALPNPort != 5001 ||
		!reflect.DeepEqual(c.DNS.Resolvers, []string{"127.0.0.1:8053", "9.9.9.9"}) {
		t.Errorf("got %+v %+v", c.ACME, c.DNS)
	}
	if err := c.LoadEnv([]string{"RAMPART_ACME_ALT_HTTP_PORT=x"}); err == nil {
		t.Error("a non-numeric port was accepted")
	}
}

func TestQuotaSettings(t *testing.T) {
	c := Default()
	if got, want := c.LimitsQuotas(), limits.DefaultQuotas(); got != want || want.ServicesPerAccount != 20 || want.DomainsPerService != 20 || want.DomainsPerAccount != 100 || want.TokensPerAccount != 20 {
		t.Errorf("default quotas = %+v, limits.DefaultQuotas = %+v, want 20/20/100/20", got, want)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("quotas:\n  services_per_account: 5\n  domains_per_service: 6\n"), 0o600)
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv([]string{"RAMPART_QUOTAS_DOMAINS_PER_SERVICE=7", "RAMPART_QUOTAS_DOMAINS_PER_ACCOUNT=8"}); err != nil {
		t.Fatal(err)
	}
	applyFlagsAndValidate(t, &c, "--quotas-tokens-per-account", "9")
	want := limits.Quotas{ServicesPerAccount: 5, DomainsPerService: 7, DomainsPerAccount: 8, TokensPerAccount: 9}
	if got := c.LimitsQuotas(); got != want {
		t.Errorf("quotas = %+v, want %+v", got, want)
	}
	if err := c.LoadEnv([]string{"RAMPART_QUOTAS_SERVICES_PER_ACCOUNT=many"}); err == nil || !strings.Contains(err.Error(), "RAMPART_QUOTAS_SERVICES_PER_ACCOUNT") {
		t.Errorf("a non-numeric quota: %v", err)
	}
}

// applyFlagsAndValidate parses args as serve's flags onto c and fails the
// test if the result is not a valid configuration.
func applyFlagsAndValidate(t *testing.T, c *Config, args ...string) {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	flags := RegisterFlags(fs, Default())
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	flags.Apply(c)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLimitSettings(t *testing.T) {
	c := Default()
	l := c.Limits
	if l.ConnectionsPerClient != 256 || l.ConnectionsTotal != 0 || l.HeaderTimeout != 10*time.Second || l.TransferWindow != 30*time.Second || l.TransferMinBytes != 4096 {
		t.Errorf("default limits = %+v", l)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("limits:\n  connections_per_client: 12\n  transfer_window: 2m\n"), 0o600)
	if err := c.LoadFile(file); err != nil {
		t.Fatal(err)
	}
	if err := c.LoadEnv([]string{"RAMPART_LIMITS_HEADER_TIMEOUT=3s", "RAMPART_LIMITS_CONNECTIONS_TOTAL=900"}); err != nil {
		t.Fatal(err)
	}
	applyFlagsAndValidate(t, &c, "--limits-transfer-min-bytes", "100", "--limits-header-timeout", "4s")
	l = c.Limits
	if l.ConnectionsPerClient != 12 || l.TransferWindow != 2*time.Minute || l.HeaderTimeout != 4*time.Second || l.ConnectionsTotal != 900 || l.TransferMinBytes != 100 {
		t.Errorf("limits = %+v", l)
	}
	if err := c.LoadEnv([]string{"RAMPART_LIMITS_TRANSFER_WINDOW=a while"}); err == nil || !strings.Contains(err.Error(), "RAMPART_LIMITS_TRANSFER_WINDOW") || !strings.Contains(err.Error(), "30s") {
		t.Errorf("a bad duration: %v", err)
	}
	if !strings.Contains(Reference(), "| `limits.transfer_window` | `--limits-transfer-window` | `RAMPART_LIMITS_TRANSFER_WINDOW` | `30s` |") {
		t.Error("the reference does not show the duration default as 30s")
	}
}

// TestREADMEHasTheReference: the README's configuration table is Reference()
// as it is now, so a setting cannot be added without being documented.
func TestREADMEHasTheReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), Reference()) {
		t.Error("README.md's configuration table is not config.Reference(): paste the output of Reference() into the README's Configuration section")
	}
}

func TestRelayAddresses(t *testing.T) {
	saved := interfaceNets
	defer func() { interfaceNets = saved }()
	interfaceNets = func(name string) ([]netip.Prefix, bool) {
		if name == "docker0" {
			return []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("172.17.0.1/16")}, true
		}
		return nil, false
	}
	c := Default()
	c.Mail.Domain = "mail.example.com"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	addrs, skipped := c.RelayListen()
	if !slices.Equal(addrs, []string{"127.0.0.1:587", "172.17.0.1:587"}) || skipped != nil {
		t.Errorf("listen %v, skipped %v", addrs, skipped)
	}
	allowed, identify, err := c.RelayNetworks()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fe80::/64"), netip.MustParsePrefix("172.17.0.0/16")}
	if !slices.Equal(allowed, want) || identify != nil {
		t.Errorf("allowed %v, identify %v", allowed, identify)
	}

	// No Docker on this host: the bridge is skipped, not an error.
	interfaceNets = func(string) ([]netip.Prefix, bool) { return nil, false }
	addrs, skipped = c.RelayListen()
	if !slices.Equal(addrs, []string{"127.0.0.1:587"}) || !slices.Equal(skipped, []string{"docker0:587"}) {
		t.Errorf("without docker0: listen %v, skipped %v", addrs, skipped)
	}
	if !c.RelayOn() {
		t.Error("mail.domain set, relay off")
	}
}
