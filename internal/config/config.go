// Package config loads rampart's settings from, in rising precedence, built-in
// defaults, a YAML file, RAMPART_* environment variables and command-line
// flags. Every setting is declared once in the table in settings.go, which
// drives all four sources and the reference in the README, so a setting
// cannot exist in one place and be missing from another.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/connguard"
	"github.com/rampart-dev/rampart/internal/dnscheck"
	"github.com/rampart-dev/rampart/internal/edge/realip"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/limits"
	"github.com/rampart-dev/rampart/internal/mailer"
)

// Config is the whole of rampart serve's configuration.
type Config struct {
	Data      string `yaml:"data"`
	AdminAddr string `yaml:"admin_addr"`
	HTTPAddr  string `yaml:"http_addr"`
	HTTPSAddr string `yaml:"https_addr"`
	// DebugAddr serves Go's pprof profiles; empty (the default) disables it.
	DebugAddr string `yaml:"debug_addr"`
	Platform  struct {
		Domain string `yaml:"domain"`
	} `yaml:"platform"`
	Node struct {
		PublicIPs []string `yaml:"public_ips"`
		// Name is how the edge names itself in the Via header of what it
		// proxies, and how it knows a request that has already passed it
		// (a loop, answered 508). Empty: "rampart-" and a random token, new
		// at every start.
		Name string `yaml:"name"`
	} `yaml:"node"`
	// TrustedProxies are the peers whose X-Forwarded-For (and, for the
	// "cloudflare" preset, CF-Connecting-IP) name the real client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ACME configures the CA asked for certificates of custom domains with
	// TLS mode managed.
	ACME struct {
		Directory string `yaml:"directory"`
		Email     string `yaml:"email"`
		// TrustedRoots is a PEM file of extra roots to trust for the
		// directory's own HTTPS (a private CA, Pebble).
		TrustedRoots string `yaml:"trusted_roots"`
		EABKeyID     string `yaml:"eab_key_id"`
		EABMACKey    string `yaml:"eab_mac_key"`
		// AltHTTPPort and AltTLSALPNPort: where the CA's validation
		// connections to ports 80 and 443 arrive when they are forwarded
		// elsewhere (port forwarding, tests). 0: the ports of http_addr
		// and https_addr.
		AltHTTPPort    int `yaml:"alt_http_port"`
		AltTLSALPNPort int `yaml:"alt_tls_alpn_port"`
	} `yaml:"acme"`
	// DNS configures the check of where custom domains point.
	DNS struct {
		// Resolvers are asked in parallel ("ip" or "ip:port"); empty: the
		// system's resolvers (/etc/resolv.conf).
		Resolvers []string `yaml:"resolvers"`
	} `yaml:"dns"`
	// SSH configures the SSH Keys feature: whether rampart writes the
	// node's keys into a user's authorized_keys, and whose.
	SSH struct {
		// ManageAuthorizedKeys is the operator's explicit choice to let
		// rampart change a real account's authorized_keys; off by default
		// and always in --demo, so a demo or a test never does.
		ManageAuthorizedKeys bool `yaml:"manage_authorized_keys"`
		// User is the account whose ~/.ssh/authorized_keys holds the keys.
		User string `yaml:"user"`
	} `yaml:"ssh"`
	// Quotas bound what one member account may own (admins are exempt);
	// see limits.Quotas.
	Quotas struct {
		ServicesPerAccount int `yaml:"services_per_account"`
		DomainsPerService  int `yaml:"domains_per_service"`
		DomainsPerAccount  int `yaml:"domains_per_account"`
		TokensPerAccount   int `yaml:"tokens_per_account"`
	} `yaml:"quotas"`
	// Limits bound what one client may hold of the listeners (the edge's,
	// the dashboard and API's, the debug one): its connections, and how
	// slowly it may send a request or take a response. See connguard.
	Limits struct {
		ConnectionsPerClient int `yaml:"connections_per_client"`
		// ConnectionsTotal is the edge's total; 0 derives it from the
		// process's file descriptor limit.
		ConnectionsTotal int           `yaml:"connections_total"`
		HeaderTimeout    time.Duration `yaml:"header_timeout"`
		TransferWindow   time.Duration `yaml:"transfer_window"`
		TransferMinBytes int           `yaml:"transfer_min_bytes"`
	} `yaml:"limits"`
	// Upstreams restricts where members may point services (see package
	// egress).
	Upstreams struct {
		// AllowedNetworks, when set, are the only networks upstreams may
		// be in; empty: every address. Either way loopback, link-local,
		// metadata and similar addresses stay out unless a listed network
		// lies inside them, and rampart's own listeners always do.
		AllowedNetworks []string `yaml:"allowed_networks"`
	} `yaml:"upstreams"`
	// Firewall configures the host firewall (internal/firewall).
	Firewall struct {
		// Enforce applies the firewall rules to the host's nftables; off
		// (the default, and always in --demo) they are a plan: stored,
		// checked and shown, never applied, so a demo or a test run never
		// changes the host's ruleset.
		Enforce bool `yaml:"enforce"`
	} `yaml:"firewall"`
	// Admin serves the dashboard and the API on the edge's HTTPS listener.
	Admin struct {
		// Domain is the host name of the dashboard and API over HTTPS,
		// with a certificate from the certificate manager (ACME, or the
		// internal CA for .localhost and .test names). Empty: only the
		// plain admin listener (admin_addr), which should stay on
		// loopback.
		Domain string `yaml:"domain"`
	} `yaml:"admin"`
	// Mail is how the platform's own mail (login codes, account notices)
	// leaves: mail.from and mail.smtp.* (see package mailer).
	Mail struct {
		From string `yaml:"from"`
		// Domain turns the SMTP relay on: every service may send as
		// <service>@<domain>. Empty: no relay.
		Domain string `yaml:"domain"`
		// Hostname is the relay's name in its greeting and EHLO; empty:
		// admin.domain, else the machine's host name.
		Hostname string `yaml:"hostname"`
		// Listen holds the relay's addresses: IP:port, or interface:port
		// (docker0:587) for an interface's IPv4 address when it exists.
		Listen []string `yaml:"listen"`
		// AllowedNetworks may connect at all (CIDRs, IPs, or an interface
		// name for its networks); everyone else is refused at connect.
		AllowedNetworks []string `yaml:"allowed_networks"`
		// IdentifyByAddress are networks where a service may be known by
		// its own address instead of AUTH.
		IdentifyByAddress   []string `yaml:"identify_by_address"`
		PerHour             int      `yaml:"per_hour"`
		MaxMessageBytes     int      `yaml:"max_message_bytes"`
		MaxRecipients       int      `yaml:"max_recipients"`
		BulkRecipients      int      `yaml:"bulk_recipients"`
		SameBodyLimit       int      `yaml:"same_body_limit"`
		ViolationsToSuspend int      `yaml:"violations_to_suspend"`
		Queue               struct {
			Dir      string        `yaml:"dir"`
			Lifetime time.Duration `yaml:"lifetime"`
		} `yaml:"queue"`
		// Resolvers answer the MX lookups of direct delivery; empty: the
		// system's.
		Resolvers []string `yaml:"resolvers"`
		// MXPort is the port of recipients' mail servers: 25, except in
		// tests.
		MXPort int `yaml:"mx_port"`
		// AllowPrivateMX lets direct delivery reach MX hosts on loopback
		// and private networks (tests, an internal mail domain).
		AllowPrivateMX bool `yaml:"allow_private_mx"`
		SMTP           struct {
			Host         string        `yaml:"host"`
			Port         int           `yaml:"port"`
			TLS          string        `yaml:"tls"`
			Username     string        `yaml:"username"`
			Password     string        `yaml:"password"`
			PasswordFile string        `yaml:"password_file"`
			Timeout      time.Duration `yaml:"timeout"`
		} `yaml:"smtp"`
	} `yaml:"mail"`
	// Secrets is where the key that seals secrets at rest (authenticator
	// app seeds, device cookies) is kept: outside the database, so that a
	// copy of the database alone reveals none of them.
	Secrets struct {
		// KeyFile holds the 32-byte key (mode 0600), created at first
		// start; RAMPART_SECRET_KEY (base64) overrides it. Empty:
		// <data>/secret.key.
		KeyFile string `yaml:"key_file"`
	} `yaml:"secrets"`
	// Services is how rampart keeps the services it runs (exec, compose)
	// and how long a deleted service can be restored.
	Services struct {
		// Dir holds a directory per service: its data directory (what
		// backups copy) and its runtime's files. Empty: <data>/services.
		Dir string `yaml:"dir"`
		// DeleteGrace is how long a deleted service can be restored
		// before the purge; default 168h (the seed's 7 days).
		DeleteGrace time.Duration `yaml:"delete_grace"`
	} `yaml:"services"`
	// Backups is where services' backups are kept and how often they are
	// taken: a local directory by default, or S3-compatible object storage.
	Backups struct {
		// Dir is the local backup store; empty: <data>/backups. Not used
		// when s3.endpoint is set.
		Dir string `yaml:"dir"`
		// Interval is how often each service is backed up (default 24h);
		// Keep how many of these scheduled backups each keeps (default 7).
		Interval time.Duration `yaml:"interval"`
		Keep     int           `yaml:"keep"`
		S3       struct {
			Endpoint      string `yaml:"endpoint"` // host[:port]
			Bucket        string `yaml:"bucket"`
			Prefix        string `yaml:"prefix"`
			Region        string `yaml:"region"`
			AccessKey     string `yaml:"access_key"`
			SecretKey     string `yaml:"secret_key"`
			SecretKeyFile string `yaml:"secret_key_file"`
			// Insecure talks plain HTTP to the endpoint (a server on the
			// same host or private network); HTTPS otherwise.
			Insecure bool `yaml:"insecure"`
		} `yaml:"s3"`
	} `yaml:"backups"`
	Log struct {
		Level     string `yaml:"level"`
		Format    string `yaml:"format"`
		AccessLog bool   `yaml:"access_log"`
	} `yaml:"log"`
}

// LimitsQuotas returns the quotas in the form the service layer takes.
func (c *Config) LimitsQuotas() limits.Quotas {
	return limits.Quotas(c.Quotas)
}

// UpstreamNetworks parses upstreams.allowed_networks for egress.New.
func (c *Config) UpstreamNetworks() ([]netip.Prefix, error) {
	return egress.ParseNetworks(c.Upstreams.AllowedNetworks)
}

// Well-known ACME directories.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// Default returns the settings used when nothing else is said.
func Default() Config {
	var c Config
	c.Data = "/var/lib/rampart"
	c.AdminAddr = "127.0.0.1:7070"
	c.HTTPAddr = ":80"
	c.HTTPSAddr = ":443"
	c.Platform.Domain = "localhost"
	c.ACME.Directory = LetsEncryptProduction
	q := limits.DefaultQuotas()
	c.Quotas.ServicesPerAccount = q.ServicesPerAccount
	c.Quotas.DomainsPerService = q.DomainsPerService
	c.Quotas.DomainsPerAccount = q.DomainsPerAccount
	c.Quotas.TokensPerAccount = q.TokensPerAccount
	c.Limits.ConnectionsPerClient = connguard.DefaultPerClient
	c.Limits.HeaderTimeout = connguard.DefaultHeaderTimeout
	c.Limits.TransferWindow = connguard.DefaultWindow
	c.Limits.TransferMinBytes = connguard.DefaultMinBytes
	c.SSH.User = "root"
	c.Services.DeleteGrace = 7 * 24 * time.Hour
	c.Backups.Interval = 24 * time.Hour
	c.Backups.Keep = 7
	c.Mail.Listen = []string{"127.0.0.1:587", "docker0:587"}
	c.Mail.AllowedNetworks = []string{"127.0.0.0/8", "::1", "docker0"}
	c.Mail.PerHour = 300
	c.Mail.MaxMessageBytes = 10 << 20
	c.Mail.MaxRecipients = 100
	c.Mail.BulkRecipients = 50
	c.Mail.SameBodyLimit = 50
	c.Mail.ViolationsToSuspend = 3
	c.Mail.Queue.Lifetime = 5 * 24 * time.Hour
	c.Mail.MXPort = 25
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Log.AccessLog = true
	return c
}

// LoadFile merges the YAML file at path into c. Unknown keys are errors, so
// that a typo does not silently leave a default in place.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	if err := c.parseYAML(b); err != nil {
		return fmt.Errorf("config file %s: %v (see the configuration reference in the README)", path, err)
	}
	return nil
}

// parseYAML merges one YAML document into c. On error c may be partly
// changed; LoadFile's callers discard it.
func (c *Config) parseYAML(b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty config
		return err
	}
	return nil
}

// LoadEnv applies RAMPART_* variables from environ (os.Environ's form).
func (c *Config) LoadEnv(environ []string) error {
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "RAMPART_") {
			continue
		}
		s := settingByEnv(k)
		if s == nil {
			continue // RAMPART_SERVER and RAMPART_TOKEN belong to the CLI
		}
		if err := s.set(c, v); err != nil {
			return fmt.Errorf("environment variable %s: %w", k, err)
		}
	}
	return nil
}

// Validate checks the whole configuration and says which setting is wrong.
func (c *Config) Validate() error {
	if c.Data == "" {
		return fmt.Errorf("data: a data directory is required (--data)")
	}
	for _, a := range []struct{ key, addr string }{{"admin_addr", c.AdminAddr}, {"http_addr", c.HTTPAddr}, {"https_addr", c.HTTPSAddr}, {"debug_addr", c.DebugAddr}} {
		if a.addr == "" && (a.key == "admin_addr" || a.key == "http_addr") {
			return fmt.Errorf("%s: an address is required, e.g. 127.0.0.1:7070", a.key)
		}
		if a.addr == "" {
			continue
		}
		if err := validateAddr(a.addr); err != nil {
			return fmt.Errorf("%s: %v", a.key, err)
		}
	}
	if err := validateDomain(c.Platform.Domain); err != nil {
		return fmt.Errorf("platform.domain: %v", err)
	}
	if c.Admin.Domain != "" {
		if err := validateDomain(c.Admin.Domain); err != nil {
			return fmt.Errorf("admin.domain: %v", err)
		}
		if c.HTTPSAddr == "" {
			return fmt.Errorf("admin.domain: the dashboard is served on the edge's HTTPS listener, and https_addr is empty: set https_addr (e.g. :443) or leave admin.domain out")
		}
		if c.Admin.Domain == c.Platform.Domain {
			return fmt.Errorf("admin.domain: %s is the platform domain itself: use a name of its own, e.g. rampart.%s", c.Admin.Domain, c.Platform.Domain)
		}
	}
	if c.Mail.SMTP.Host != "" {
		if err := c.MailerConfig().Validate(); err != nil {
			return err
		}
	} else if c.Mail.SMTP.Username != "" || c.Mail.SMTP.Password != "" || c.Mail.SMTP.PasswordFile != "" {
		return fmt.Errorf("mail.smtp.host: the SMTP login is set but no server: set mail.smtp.host, or leave mail.smtp out (mail then goes to the log)")
	}
	if err := c.validateRelay(); err != nil {
		return err
	}
	if c.Services.DeleteGrace < 0 || c.Backups.Interval < 0 || c.Backups.Keep < 0 {
		return fmt.Errorf("services.delete_grace, backups.interval and backups.keep must not be negative")
	}
	if c.Services.DeleteGrace != 0 && c.Services.DeleteGrace < time.Minute {
		return fmt.Errorf("services.delete_grace: %s is too short to undo a mistaken delete: use at least 1m (the default is 168h)", c.Services.DeleteGrace)
	}
	if c.Backups.Interval != 0 && c.Backups.Interval < time.Minute {
		return fmt.Errorf("backups.interval: %s is shorter than a minute: use e.g. 24h", c.Backups.Interval)
	}
	if s3 := c.Backups.S3; s3.Endpoint != "" || s3.Bucket != "" {
		switch {
		case s3.Endpoint == "" || s3.Bucket == "":
			return fmt.Errorf("backups.s3: give both endpoint (host[:port]) and bucket")
		case strings.Contains(s3.Endpoint, "://"):
			return fmt.Errorf("backups.s3.endpoint: give host[:port] without a scheme (%q); set insecure: true for plain HTTP", s3.Endpoint)
		case s3.AccessKey == "" || (s3.SecretKey == "" && s3.SecretKeyFile == ""):
			return fmt.Errorf("backups.s3: access_key and secret_key (or secret_key_file) are required")
		}
	}
	if err := validateUserName(c.SSH.User); err != nil {
		return fmt.Errorf("ssh.user: %v", err)
	}
	for _, ip := range c.Node.PublicIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("node.public_ips: %q is not an IP address", ip)
		}
	}
	if _, err := realip.ParseTrusted(c.TrustedProxies); err != nil {
		return fmt.Errorf("trusted_proxies: %v", err)
	}
	if u, err := url.Parse(c.ACME.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("acme.directory: %q is not an https:// URL: use e.g. %s (Let's Encrypt staging)", c.ACME.Directory, LetsEncryptStaging)
	}
	if c.ACME.Email != "" {
		if _, err := mail.ParseAddress(c.ACME.Email); err != nil || strings.ContainsAny(c.ACME.Email, "<> ") {
			return fmt.Errorf("acme.email: %q is not an email address", c.ACME.Email)
		}
	}
	if c.ACME.TrustedRoots != "" {
		if _, err := os.Stat(c.ACME.TrustedRoots); err != nil {
			return fmt.Errorf("acme.trusted_roots: %v: give the path of a PEM file with the CA's root certificates", err)
		}
	}
	if (c.ACME.EABKeyID == "") != (c.ACME.EABMACKey == "") {
		return fmt.Errorf("acme.eab_key_id and acme.eab_mac_key: give both (the CA hands them out together) or neither")
	}
	for _, p := range []struct {
		key  string
		port int
	}{{"acme.alt_http_port", c.ACME.AltHTTPPort}, {"acme.alt_tls_alpn_port", c.ACME.AltTLSALPNPort}} {
		if p.port < 0 || p.port > 65535 {
			return fmt.Errorf("%s: %d is not a port from 1 to 65535 (0: the listener's own port)", p.key, p.port)
		}
	}
	for _, r := range c.DNS.Resolvers {
		if _, err := dnscheck.ParseResolver(r); err != nil {
			return fmt.Errorf("dns.resolvers: %v", err)
		}
	}
	for _, q := range []struct {
		key string
		n   int
	}{
		{"quotas.services_per_account", c.Quotas.ServicesPerAccount},
		{"quotas.domains_per_service", c.Quotas.DomainsPerService},
		{"quotas.domains_per_account", c.Quotas.DomainsPerAccount},
		{"quotas.tokens_per_account", c.Quotas.TokensPerAccount},
	} {
		if q.n < 1 {
			return fmt.Errorf("%s: %d is less than 1: a quota of 0 would lock members out (there is no \"unlimited\"; give a large number instead)", q.key, q.n)
		}
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	if _, err := c.UpstreamNetworks(); err != nil {
		return fmt.Errorf("upstreams.allowed_networks: %v", err)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is unknown: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is unknown: use text or json", c.Log.Format)
	}
	return nil
}

func (c *Config) validateLimits() error {
	l := &c.Limits
	if l.ConnectionsPerClient < 1 {
		return fmt.Errorf("limits.connections_per_client: %d is less than 1: every client needs a connection (there is no \"unlimited\"; give a large number instead)", l.ConnectionsPerClient)
	}
	if l.ConnectionsTotal < 0 {
		return fmt.Errorf("limits.connections_total: %d is negative: give a number of connections, or 0 to derive it from the file descriptor limit", l.ConnectionsTotal)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"limits.header_timeout", l.HeaderTimeout}, {"limits.transfer_window", l.TransferWindow}} {
		if d.d < time.Second || d.d > time.Hour {
			return fmt.Errorf("%s: %s is not between 1s and 1h (write it like 30s or 2m)", d.key, d.d)
		}
	}
	if l.TransferMinBytes < 1 || l.TransferMinBytes > 1<<20 {
		return fmt.Errorf("limits.transfer_min_bytes: %d is not between 1 and 1048576 (1 MiB)", l.TransferMinBytes)
	}
	return nil
}

func validateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080 or :80)", addr)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: listen on an IP address, not a name", addr)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

func validateDomain(d string) error {
	if d == "" {
		return fmt.Errorf("a platform domain is required, e.g. apps.example.com")
	}
	// The domain must be usable as the suffix of <service>.<domain>: reuse
	// the service-name rule for each label.
	if len(d) > 253-64 {
		return fmt.Errorf("%q is too long to leave room for service names", d)
	}
	for _, label := range strings.Split(d, ".") {
		if err := rampart.ValidateServiceName(label); err != nil {
			return fmt.Errorf("%q is not a valid lower-case domain name", d)
		}
	}
	return nil
}

// validateUserName checks ssh.user as a login name: present, and made of
// the characters useradd allows, so that a typo is caught at start rather
// than in the reconciler's status.
func validateUserName(name string) error {
	if name == "" {
		return fmt.Errorf("a user is required: the account whose authorized_keys holds the SSH keys, e.g. root")
	}
	if len(name) > 32 {
		return fmt.Errorf("%q is longer than 32 characters, which no login name is", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' && i > 0 || r == '$' && i == len(name)-1
		if !ok {
			return fmt.Errorf("%q is not a login name: use letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

// MailerConfig is the mail.* settings as the mailer takes them.
func (c Config) MailerConfig() mailer.Config {
	sm := c.Mail.SMTP
	return mailer.Config{From: c.Mail.From, SMTP: mailer.SMTPConfig{
		Host: sm.Host, Port: sm.Port, TLS: mailer.TLSMode(sm.TLS), Username: sm.Username,
		Password: sm.Password, PasswordFile: sm.PasswordFile, Timeout: sm.Timeout,
	}}
}
