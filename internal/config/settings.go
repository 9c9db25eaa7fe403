package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// setting is one configuration knob, reachable as a YAML key, a RAMPART_*
// variable and a flag.
type setting struct {
	key  string // YAML path, e.g. "platform.domain"
	help string
	ptr  func(*Config) any // *string, *bool, *int, *time.Duration or *[]string inside the Config
}

var settings = []setting{
	{"data", "data directory: the SQLite store and everything rampart keeps", func(c *Config) any { return &c.Data }},
	{"admin_addr", "listen address of the dashboard and the REST API", func(c *Config) any { return &c.AdminAddr }},
	{"http_addr", "listen address of the edge's HTTP side", func(c *Config) any { return &c.HTTPAddr }},
	{"https_addr", "listen address of the edge's HTTPS side; empty: no HTTPS", func(c *Config) any { return &c.HTTPSAddr }},
	{"debug_addr", "listen address of Go's pprof profiles (/debug/pprof/); keep it on loopback; default: off", func(c *Config) any { return &c.DebugAddr }},
	{"platform.domain", "services are reached at <service>.<platform.domain>", func(c *Config) any { return &c.Platform.Domain }},
	{"node.public_ips", "this node's public IPs, shown as A-record targets (comma-separated); default: detected", func(c *Config) any { return &c.Node.PublicIPs }},
	{"node.name", "this node's name in the Via header of proxied requests (loop detection: it must differ between rampart nodes that proxy to each other); letters, digits, '-', '.', '_', up to 32; default: rampart-<random>", func(c *Config) any { return &c.Node.Name }},
	{"trusted_proxies", "proxies in front of rampart whose X-Forwarded-For is believed: CIDRs, IPs or the preset cloudflare (comma-separated); default: none", func(c *Config) any { return &c.TrustedProxies }},
	{"acme.directory", "ACME directory URL for certificates of custom domains (Let's Encrypt staging: " + LetsEncryptStaging + "; any RFC 8555 CA)", func(c *Config) any { return &c.ACME.Directory }},
	{"acme.email", "contact email for the ACME account: the CA's expiry and policy notices go there", func(c *Config) any { return &c.ACME.Email }},
	{"acme.trusted_roots", "PEM file of extra root certificates to trust for the ACME directory's own HTTPS (a private CA); default: system roots only", func(c *Config) any { return &c.ACME.TrustedRoots }},
	{"acme.eab_key_id", "External Account Binding key ID, for CAs that require one (ZeroSSL, many private CAs)", func(c *Config) any { return &c.ACME.EABKeyID }},
	{"acme.eab_mac_key", "External Account Binding MAC key (base64url), with acme.eab_key_id", func(c *Config) any { return &c.ACME.EABMACKey }},
	{"acme.alt_http_port", "port the CA's HTTP-01 validations arrive on when port 80 is forwarded elsewhere (port forwarding, tests); 0: the port of http_addr", func(c *Config) any { return &c.ACME.AltHTTPPort }},
	{"acme.alt_tls_alpn_port", "port the CA's TLS-ALPN-01 validations arrive on when port 443 is forwarded elsewhere (port forwarding, tests); 0: the port of https_addr", func(c *Config) any { return &c.ACME.AltTLSALPNPort }},
	{"dns.resolvers", "DNS resolvers asked where custom domains point, like a propagation checker (ip or ip:port, comma-separated); default: the system's", func(c *Config) any { return &c.DNS.Resolvers }},
	{"ssh.manage_authorized_keys", "write the SSH keys (rampart sshkey) into ssh.user's ~/.ssh/authorized_keys, in a block rampart manages (lines outside it are kept); off: keys are stored and shown, nothing on the machine changes; always off with --demo", func(c *Config) any { return &c.SSH.ManageAuthorizedKeys }},
	{"ssh.user", "the account whose authorized_keys holds the SSH keys", func(c *Config) any { return &c.SSH.User }},
	{"quotas.services_per_account", "most services one member account may own (admins are exempt); at least 1", func(c *Config) any { return &c.Quotas.ServicesPerAccount }},
	{"quotas.domains_per_service", "most custom domains on one service of a member; at least 1", func(c *Config) any { return &c.Quotas.DomainsPerService }},
	{"quotas.domains_per_account", "most custom domains across one member's services; at least 1", func(c *Config) any { return &c.Quotas.DomainsPerAccount }},
	{"quotas.tokens_per_account", "most API tokens one member may hold (expired ones count until deleted); at least 1", func(c *Config) any { return &c.Quotas.TokensPerAccount }},
	{"limits.connections_per_client", "most connections one client address (IPv6: one /64) may hold open, on the edge and, capped lower, on the admin listener; more are closed at once", func(c *Config) any { return &c.Limits.ConnectionsPerClient }},
	{"limits.connections_total", "most connections the edge holds open; past it only clients with fewer than 2 get in, up to a quarter more; 0: derived from the file descriptor limit (RLIMIT_NOFILE), leaving room for the admin listener and upstream connections", func(c *Config) any { return &c.Limits.ConnectionsTotal }},
	{"limits.header_timeout", "time a client has to send a request's headers (slowloris)", func(c *Config) any { return &c.Limits.HeaderTimeout }},
	{"limits.transfer_window", "a request body being received, or a response the client has stopped taking, must move at least limits.transfer_min_bytes in this time, else the connection is closed", func(c *Config) any { return &c.Limits.TransferWindow }},
	{"limits.transfer_min_bytes", "bytes a request body or a response must move per limits.transfer_window; slower clients are cut, however long a transfer that moves takes", func(c *Config) any { return &c.Limits.TransferMinBytes }},
	{"upstreams.allowed_networks", "networks members may point services at (CIDRs or IPs, comma-separated); default: every address except loopback, link-local, cloud metadata and rampart's own listeners, which stay refused unless a listed network lies inside them; admins can allow more per service (allow_private_upstreams)", func(c *Config) any { return &c.Upstreams.AllowedNetworks }},
	{"firewall.enforce", "apply the firewall rules to this host's nftables (rampart's own table; other tables are left alone); off: the rules are only a plan, nothing on the host changes", func(c *Config) any { return &c.Firewall.Enforce }},
	{"admin.domain", "host name that serves the dashboard and the API over HTTPS on https_addr, with a certificate from the certificate manager (ACME; the internal CA for .localhost and .test); point its DNS at this node; empty: only admin_addr, which then should stay on loopback", func(c *Config) any { return &c.Admin.Domain }},
	{"mail.from", "sender of the platform's own mail (login codes, account notices), one plain address, e.g. rampart@example.com", func(c *Config) any { return &c.Mail.From }},
	{"mail.smtp.host", "SMTP server (smarthost) that takes the platform's mail and, with the relay on, every relayed message; empty: with mail.domain, direct delivery to the recipients' MX hosts; without, the platform's mail is written to the log (fine for --demo, not for people: set one)", func(c *Config) any { return &c.Mail.SMTP.Host }},
	{"mail.smtp.port", "SMTP port; 0: 587 for starttls, 465 for tls, 25 for none", func(c *Config) any { return &c.Mail.SMTP.Port }},
	{"mail.smtp.tls", "starttls (required, never downgraded), tls (implicit, port 465) or none (no TLS: only without a password, or to a loopback server)", func(c *Config) any { return &c.Mail.SMTP.TLS }},
	{"mail.smtp.username", "SMTP login; empty: no AUTH", func(c *Config) any { return &c.Mail.SMTP.Username }},
	{"mail.smtp.password", "SMTP password (prefer mail.smtp.password_file)", func(c *Config) any { return &c.Mail.SMTP.Password }},
	{"mail.smtp.password_file", "file holding the SMTP password, so it stays out of the config", func(c *Config) any { return &c.Mail.SMTP.PasswordFile }},
	{"mail.smtp.timeout", "bound on one whole send; 0: 30s", func(c *Config) any { return &c.Mail.SMTP.Timeout }},
	{"mail.domain", "turns the SMTP relay on: every service may send transactional mail as <service>@<mail.domain> through the relay (publish the DKIM and SPF records `rampart mail dns` shows); empty: no relay", func(c *Config) any { return &c.Mail.Domain }},
	{"mail.hostname", "the relay's name in its greeting and when it delivers (EHLO); empty: admin.domain, else the machine's host name", func(c *Config) any { return &c.Mail.Hostname }},
	{"mail.listen", "the relay's addresses, ip:port or interface:port (docker0:587 is the Docker bridge's address, skipped when there is none); keep them on the private network: a public address requires AUTH (mail.identify_by_address must stay empty)", func(c *Config) any { return &c.Mail.Listen }},
	{"mail.allowed_networks", "who may connect to the relay at all (CIDRs, IPs, or an interface name for its networks); everyone else gets 554 at connect", func(c *Config) any { return &c.Mail.AllowedNetworks }},
	{"mail.identify_by_address", "networks where a service may send without AUTH, known by its own address (its upstream's IP); empty: every service logs in with its SMTP credentials", func(c *Config) any { return &c.Mail.IdentifyByAddress }},
	{"mail.per_hour", "recipients each service may send to per sliding hour (an admin can set another number per service); the seed's 300", func(c *Config) any { return &c.Mail.PerHour }},
	{"mail.max_message_bytes", "largest message the relay takes (552 beyond)", func(c *Config) any { return &c.Mail.MaxMessageBytes }},
	{"mail.max_recipients", "most recipients of one message (452 beyond: the client sends the rest in another message)", func(c *Config) any { return &c.Mail.MaxRecipients }},
	{"mail.bulk_recipients", "a message to more recipients than this is bulk mail: refused, and counted as a violation", func(c *Config) any { return &c.Mail.BulkRecipients }},
	{"mail.same_body_limit", "the same body sent to more recipients than this within an hour is bulk mail: refused, and counted as a violation", func(c *Config) any { return &c.Mail.SameBodyLimit }},
	{"mail.violations_to_suspend", "bulk-mail violations in 24 hours that suspend a service's mail until an admin lifts it (rampart mail resume)", func(c *Config) any { return &c.Mail.ViolationsToSuspend }},
	{"mail.queue.dir", "the relay's durable queue (every accepted message is fsynced here before the 250); empty: <data>/mail/queue", func(c *Config) any { return &c.Mail.Queue.Dir }},
	{"mail.queue.lifetime", "how long undeliverable mail is retried before it bounces (Postfix's default: 5 days)", func(c *Config) any { return &c.Mail.Queue.Lifetime }},
	{"mail.resolvers", "DNS resolvers for the MX lookups of direct delivery (ip or ip:port, comma-separated); default: the system's; not used when mail.smtp.host is set (everything goes through that smarthost)", func(c *Config) any { return &c.Mail.Resolvers }},
	{"mail.mx_port", "port of the recipients' mail servers in direct delivery; 25 except in tests", func(c *Config) any { return &c.Mail.MXPort }},
	{"mail.allow_private_mx", "let direct delivery reach MX hosts on loopback and private networks (tests, an internal mail domain); off: a recipient domain whose MX points inside is refused, so the relay cannot be used to reach internal servers", func(c *Config) any { return &c.Mail.AllowPrivateMX }},
	{"secrets.key_file", "file of the 32-byte key that seals authenticator-app seeds and device cookies (mode 0600, made at first start; back it up with the data directory, keep it out of database copies); RAMPART_SECRET_KEY (base64) overrides; empty: <data>/secret.key", func(c *Config) any { return &c.Secrets.KeyFile }},
	{"services.dir", "where each service rampart runs keeps its data directory (what backups copy, given to it as DATA_DIR) and its runtime's files; empty: <data>/services", func(c *Config) any { return &c.Services.Dir }},
	{"services.delete_grace", "how long a deleted service can be restored, with its data, before the purge removes it and its backups; at least 1m", func(c *Config) any { return &c.Services.DeleteGrace }},
	{"backups.dir", "the local backup store (one tar+zstd archive per backup, with a SHA-256 manifest); not used when backups.s3.endpoint is set; empty: <data>/backups", func(c *Config) any { return &c.Backups.Dir }},
	{"backups.interval", "how often each service is backed up (scheduled backups); at least 1m", func(c *Config) any { return &c.Backups.Interval }},
	{"backups.keep", "how many scheduled backups each service keeps (manual, pre-reset, pre-restore and final backups are not counted)", func(c *Config) any { return &c.Backups.Keep }},
	{"backups.s3.endpoint", "S3-compatible object storage for backups, host[:port] without a scheme; set: backups go there instead of backups.dir", func(c *Config) any { return &c.Backups.S3.Endpoint }},
	{"backups.s3.bucket", "the bucket (it must exist)", func(c *Config) any { return &c.Backups.S3.Bucket }},
	{"backups.s3.prefix", "key prefix inside the bucket, e.g. rampart/", func(c *Config) any { return &c.Backups.S3.Prefix }},
	{"backups.s3.region", "region, for servers that sign with one", func(c *Config) any { return &c.Backups.S3.Region }},
	{"backups.s3.access_key", "access key ID", func(c *Config) any { return &c.Backups.S3.AccessKey }},
	{"backups.s3.secret_key", "secret key (prefer backups.s3.secret_key_file)", func(c *Config) any { return &c.Backups.S3.SecretKey }},
	{"backups.s3.secret_key_file", "file holding the secret key, so it stays out of the config", func(c *Config) any { return &c.Backups.S3.SecretKeyFile }},
	{"backups.s3.insecure", "plain HTTP to the endpoint (a server on this host or a private network); off: HTTPS", func(c *Config) any { return &c.Backups.S3.Insecure }},
	{"log.level", "debug, info, warn or error", func(c *Config) any { return &c.Log.Level }},
	{"log.format", "text or json", func(c *Config) any { return &c.Log.Format }},
	{"log.access_log", "write one log line per edge request", func(c *Config) any { return &c.Log.AccessLog }},
}

// flagName turns "platform.domain" into "platform-domain" and "admin_addr"
// into "admin-addr".
func (s *setting) flagName() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(s.key)
}

// envName turns "platform.domain" into "RAMPART_PLATFORM_DOMAIN".
func (s *setting) envName() string {
	return "RAMPART_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(s.key))
}

func settingByEnv(name string) *setting {
	for i := range settings {
		if settings[i].envName() == name {
			return &settings[i]
		}
	}
	return nil
}

func (s *setting) set(c *Config, v string) error {
	switch p := s.ptr(c).(type) {
	case *string:
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s or 2m", v)
		}
		*p = d
	case *[]string:
		*p = nil
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				*p = append(*p, f)
			}
		}
	default:
		panic("config: unsupported setting type for " + s.key)
	}
	return nil
}

// FlagSet holds the flags of every setting. Register it on a command, then
// after parsing call Apply to copy the flags the user set onto a Config.
type FlagSet struct {
	fs    *pflag.FlagSet
	shown Config // holds the parsed flag values
}

// RegisterFlags adds a flag for every setting to fs, showing defaults from def.
func RegisterFlags(fs *pflag.FlagSet, def Config) *FlagSet {
	f := &FlagSet{fs: fs, shown: def}
	for i := range settings {
		s := &settings[i]
		help := s.help + " (" + s.envName() + ")"
		switch p := s.ptr(&f.shown).(type) {
		case *string:
			fs.StringVar(p, s.flagName(), *p, help)
		case *bool:
			fs.BoolVar(p, s.flagName(), *p, help)
		case *int:
			fs.IntVar(p, s.flagName(), *p, help)
		case *time.Duration:
			fs.DurationVar(p, s.flagName(), *p, help)
		case *[]string:
			fs.StringSliceVar(p, s.flagName(), *p, help)
		}
	}
	return f
}

// Apply copies the flags that were set on the command line onto c.
func (f *FlagSet) Apply(c *Config) {
	for i := range settings {
		s := &settings[i]
		if !f.fs.Changed(s.flagName()) {
			continue
		}
		switch p := s.ptr(c).(type) {
		case *string:
			*p = *s.ptr(&f.shown).(*string)
		case *bool:
			*p = *s.ptr(&f.shown).(*bool)
		case *int:
			*p = *s.ptr(&f.shown).(*int)
		case *time.Duration:
			*p = *s.ptr(&f.shown).(*time.Duration)
		case *[]string:
			*p = append([]string(nil), *s.ptr(&f.shown).(*[]string)...)
		}
	}
}

// Reference returns a Markdown table of every setting, for the README.
func Reference() string {
	var b strings.Builder
	b.WriteString("| YAML key | flag | environment | default | meaning |\n|---|---|---|---|---|\n")
	def := Default()
	for i := range settings {
		s := &settings[i]
		var dv string
		switch p := s.ptr(&def).(type) {
		case *string:
			dv = *p
		case *bool:
			dv = strconv.FormatBool(*p)
		case *int:
			dv = strconv.Itoa(*p)
		case *time.Duration:
			dv = p.String()
		case *[]string:
			dv = strings.Join(*p, ",")
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | `%s` | `%s` | %s |\n", s.key, s.flagName(), s.envName(), dv, s.help)
	}
	return b.String()
}
