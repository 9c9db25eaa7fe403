package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"
	"golang.org/x/net/idna"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/certs/internalca"
)

// LetsEncrypt and LetsEncryptStaging are the ACME directories of Let's
// Encrypt; the first is the default.
const (
	LetsEncrypt        = certmagic.LetsEncryptProductionCA
	LetsEncryptStaging = certmagic.LetsEncryptStagingCA
)

// Defaults for the zero values of Config.
const (
	DefaultRenewalWindowRatio = 1.0 / 3
	DefaultCheckInterval      = 10 * time.Minute
	DefaultHandshakeWait      = 10 * time.Second
)

// DefaultRetryBackoff is how long the manager waits after the first, second…
// failed attempt to obtain or renew a certificate; the last value repeats.
// It starts short so that a fixed DNS record or firewall rule is noticed
// quickly, and grows so that a CA outage or a persistent mistake does not
// burn the CA's rate limits (Let's Encrypt allows 5 failed validations per
// name per hour).
var DefaultRetryBackoff = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, time.Hour,
}

// Config configures a Manager. Only Dir is required.
type Config struct {
	// Dir holds certificates, keys, the ACME account and the internal CA,
	// e.g. <data>/certs. Created 0700 if missing.
	Dir string

	// ACME configures the CA for mode managed.
	ACME ACME

	// Logger receives the manager's own lines and certmagic's (one level
	// lower; see zapToSlog). Nil: slog.Default.
	Logger *slog.Logger

	// OnStatus, if set, is called after a domain's Status changes, with the
	// status as it is when the call is made (changes in quick succession
	// may be reported once). Calls come from one goroutine, one at a time;
	// OnStatus may call the Manager's methods.
	OnStatus func(Status)

	// RenewalWindowRatio is the part of a certificate's lifetime, counted
	// back from its expiry, in which it is renewed: 1/3 (the default)
	// renews a 90-day certificate 30 days before it expires.
	RenewalWindowRatio float64

	// RetryBackoff is the wait after each consecutive failure; the last
	// value repeats. Nil: DefaultRetryBackoff. Waits of a minute or more
	// get up to 10% random jitter so that many names failing together
	// (a CA outage) do not retry together.
	RetryBackoff []time.Duration

	// CheckInterval bounds how long a loaded certificate goes without
	// being looked at again; certificates are otherwise checked exactly
	// when their renewal window opens. It also sets certmagic's
	// "expiring imminently" threshold (five intervals). Default 10m.
	CheckInterval time.Duration

	// HandshakeWait is how long a handshake for a listed name whose first
	// certificate is being obtained right now waits for it before failing.
	// Default 10s; negative: do not wait.
	HandshakeWait time.Duration

	// InternalLeafLifetime is the validity of internal-CA leaves.
	// Default 7 days.
	InternalLeafLifetime time.Duration

	// RedirectPort is the HTTPS port put into HTTP→HTTPS redirects:
	// 0 or 443 leaves it out of the URL.
	RedirectPort int
}

// ACME configures the ACME CA used for mode managed.
type ACME struct {
	// Directory is the CA's ACME directory URL. Empty: Let's Encrypt
	// production. Let's Encrypt's staging directory, a private CA or
	// Pebble work the same way. With Let's Encrypt production, retries
	// after a failure first validate against staging, so that repeated
	// failures do not count against production's rate limits.
	Directory string

	// Email is the ACME account contact: where the CA sends expiry and
	// policy notices. Optional but recommended.
	Email string

	// EAB is the External Account Binding some CAs require (ZeroSSL,
	// Google Trust Services, many private CAs).
	EAB *EAB

	// Profile selects an ACME certificate profile the CA offers (Let's
	// Encrypt: "classic", "tlsserver", "shortlived"). Empty: the CA's
	// default.
	Profile string

	// TrustedRootsPEM are extra roots to trust for the CA's own HTTPS
	// endpoint (a private CA); the system roots stay trusted.
	TrustedRootsPEM []byte

	// AltHTTPPort and AltTLSALPNPort are the ports this process receives
	// the CA's HTTP-01 and TLS-ALPN-01 validation connections on, when
	// ports 80 and 443 are forwarded to other ports (or in tests). The CA
	// itself always connects to 80 and 443. If nothing listens on the port
	// when a challenge starts, certmagic briefly listens there itself.
	AltHTTPPort, AltTLSALPNPort int

	// DisableHTTP01 and DisableTLSALPN01 turn a challenge type off, e.g.
	// when port 80 is closed.
	DisableHTTP01, DisableTLSALPN01 bool
}

// EAB is an External Account Binding: a key ID and the base64url MAC key
// the CA handed out.
type EAB struct {
	KeyID  string
	MACKey string
}

// Mode is how a domain gets its certificate.
type Mode string

// Modes. The zero value is not a mode: a name with it is not served.
const (
	// ModeManaged obtains and renews a certificate from the ACME CA.
	ModeManaged Mode = "managed"
	// ModeInternal issues from the internal CA: for local names
	// (see IsInternalName) and the demo.
	ModeInternal Mode = "internal"
	// ModeCustom serves a certificate and key the user uploaded.
	ModeCustom Mode = "custom"
	// ModeOff: the domain is served over HTTP only; no certificate is
	// ever requested and a TLS handshake for it fails.
	ModeOff Mode = "off"
)

// Domain is one name the manager serves and how.
type Domain struct {
	// Name is a DNS name: lower-case ASCII (punycode for IDNs), no
	// trailing dot. A wildcard ("*.example.com") is accepted for
	// ModeCustom only; ACME wildcards need DNS-01. An IP address is
	// accepted for ModeInternal and ModeCustom.
	Name string
	Mode Mode
	// CertPEM and KeyPEM are the uploaded chain (leaf first) and key for
	// ModeCustom.
	CertPEM, KeyPEM []byte
}

// IsInternalName reports whether the internal CA can certify name: a name
// under .localhost, .test, .internal, .local or .home.arpa, or a loopback
// or private IP address. No public CA certifies these, so the caller
// usually gives them ModeInternal.
func IsInternalName(name string) bool { return rampart.IsInternalName(name) }

// State is where a domain's certificate stands.
type State string

// States.
const (
	// StateNone: no certificate and none being obtained (not listed,
	// mode off, or not yet looked at).
	StateNone State = "none"
	// StateIssuing: the first certificate is being obtained.
	StateIssuing State = "issuing"
	// StateActive: a valid certificate is being served. Error may still be
	// set: renewal is failing but the current certificate is still good.
	StateActive State = "active"
	// StateError: there is no certificate to serve; Error says why and
	// NextAttempt when the manager tries again.
	StateError State = "error"
)

// Status is what a person (the dashboard, `rampart domain list`) needs to
// know about one domain's certificate.
type Status struct {
	Name  string `json:"name"`
	Mode  Mode   `json:"mode,omitempty"`
	State State  `json:"state"`
	// Issuer names the CA that signed the certificate being served.
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// Error is the last failure, written for a person to act on; empty
	// after a success.
	Error string `json:"error,omitempty"`
	// NextAttempt is when the manager tries again after a failure.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Quarantined is set when a stored certificate or key was found
	// corrupt at load, moved to QuarantinePath and replaced. It stays set
	// (so the dashboard can say so) until the domain is reset or its mode
	// changes.
	Quarantined    bool   `json:"quarantined,omitempty"`
	QuarantinePath string `json:"quarantine_path,omitempty"`
	// Updated is when this status last changed.
	Updated time.Time `json:"updated"`
}

// Manager obtains, renews and serves certificates. Create it with New; its
// methods are safe for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	dir     string // storage root
	storage *certmagic.FileStorage
	cache   *certmagic.Cache
	acme    *certmagic.Config
	acmeIss *certmagic.ACMEIssuer
	local   *certmagic.Config
	// acmeLoad and localLoad load certificates into the cache without
	// fetching an OCSP staple first (see New).
	acmeLoad, localLoad *certmagic.Config
	ca                  *internalca.CA
	tlsConf             *tls.Config

	// table is what handshakes read: the current domains, replaced as a
	// whole by SetDomains, never mutated.
	table atomic.Pointer[map[string]*domain]

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}
	// Job slots: ACME jobs wait on the CA (and certmagic's rate limiter),
	// so local ones (internal CA, uploads) have slots of their own.
	sem, semLocal chan struct{}
	wg            sync.WaitGroup

	mu      sync.Mutex
	domains map[string]*domain // same map as *table
	paused  int                // > 0 while Reset moves files
	timerAt time.Time          // when the scheduler wakes next
	closed  bool

	notifyMu   sync.Mutex
	dirty      map[string]struct{} // names whose status changed, for OnStatus
	notifyWake chan struct{}

	defMu    sync.Mutex
	defaults map[string]*tls.Certificate // default certificates by local IP
}

// maxJobs bounds concurrent obtain/renew/load jobs. Issuance is throttled
// further by certmagic (10 orders per 10 s per account).
const maxJobs = 8

// New checks cfg, loads (or creates) the internal CA and starts the
// scheduler. It does not contact the ACME CA: nothing is requested until a
// domain is listed with SetDomains. Close releases it.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("certs: Config.Dir is required (the directory for certificates and keys, e.g. <data>/certs)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RenewalWindowRatio == 0 {
		cfg.RenewalWindowRatio = DefaultRenewalWindowRatio
	}
	if cfg.RenewalWindowRatio <= 0 || cfg.RenewalWindowRatio >= 1 {
		return nil, fmt.Errorf("certs: renewal window ratio %v must be between 0 and 1 (1/3 renews a 90-day certificate 30 days before it expires)", cfg.RenewalWindowRatio)
	}
	if len(cfg.RetryBackoff) == 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	if cfg.HandshakeWait == 0 {
		cfg.HandshakeWait = DefaultHandshakeWait
	}
	if cfg.ACME.Directory == "" {
		cfg.ACME.Directory = LetsEncrypt
	}
	if cfg.ACME.EAB != nil && (cfg.ACME.EAB.KeyID == "" || cfg.ACME.EAB.MACKey == "") {
		return nil, errors.New("certs: ACME external account binding needs both a key ID and a MAC key, as issued by the CA")
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(cfg.ACME.TrustedRootsPEM) > 0 && !roots.AppendCertsFromPEM(cfg.ACME.TrustedRootsPEM) {
		return nil, errors.New("certs: ACME trusted roots: no PEM certificate found in the configured CA roots")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	cfg.Dir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: creating %s: %w", dir, err)
	}

	m := &Manager{
		cfg:        cfg,
		log:        cfg.Logger,
		dir:        filepath.Join(dir, "storage"),
		wake:       make(chan struct{}, 1),
		sem:        make(chan struct{}, maxJobs),
		semLocal:   make(chan struct{}, maxJobs),
		domains:    map[string]*domain{},
		defaults:   map[string]*tls.Certificate{},
		dirty:      map[string]struct{}{},
		notifyWake: make(chan struct{}, 1),
	}
	m.storage = &certmagic.FileStorage{Path: m.dir}
	empty := map[string]*domain{}
	m.table.Store(&empty)

	if m.ca, err = internalca.Load(filepath.Join(dir, "internal-ca"), cfg.InternalLeafLifetime, m.log); err != nil {
		return nil, err
	}

	zl := zapToSlog(m.log.Handler())
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: m.configForCert,
		// Renewal is ours (see scheduler.go); this interval only sets
		// certmagic's "expires imminently" threshold.
		RenewCheckInterval: cfg.CheckInterval,
		// Certificates enter the cache without a staple; this is how
		// soon certmagic's maintenance loop staples them (and refreshes
		// staples half-way through their validity).
		OCSPCheckInterval: min(cfg.CheckInterval, DefaultCheckInterval),
		Logger:            zl,
	})
	base := certmagic.Config{
		RenewalWindowRatio: cfg.RenewalWindowRatio,
		Storage:            m.storage,
		Logger:             zl,
		// certmagic's maintenance loop skips on-demand configurations, so
		// marking ours on-demand leaves scheduling to the manager. The
		// decision function is never consulted for a normal handshake:
		// GetCertificate serves from the cache itself and hands certmagic
		// only TLS-ALPN challenge handshakes.
		OnDemand: &certmagic.OnDemandConfig{DecisionFunc: func(context.Context, string) error {
			return errors.New("certificates are obtained by rampart's scheduler, not during handshakes")
		}},
		// ACME Renewal Information needs polling that certmagic does only
		// in the loop we replace; without it, a stale ARI window would only
		// add "replaces" to renewal orders, which fails for good once the
		// CA has forgotten the old certificate (a reset CA). Renewal
		// timing follows RenewalWindowRatio.
		DisableARI: true,
		// OCSP stapling stays on (certmagic's default) for certificates
		// whose CA runs a responder. An HTTPProxy gives certmagic's OCSP
		// client a 30 s timeout; the default client has none.
		OCSP: certmagic.OCSPConfig{HTTPProxy: http.ProxyFromEnvironment},
	}

	acmeCfg := base
	m.acme = certmagic.New(m.cache, acmeCfg)
	tmpl := certmagic.ACMEIssuer{
		CA:                      cfg.ACME.Directory,
		Email:                   cfg.ACME.Email,
		Agreed:                  true,
		Profile:                 cfg.ACME.Profile,
		DisableHTTPChallenge:    cfg.ACME.DisableHTTP01,
		DisableTLSALPNChallenge: cfg.ACME.DisableTLSALPN01,
		AltHTTPPort:             cfg.ACME.AltHTTPPort,
		AltTLSALPNPort:          cfg.ACME.AltTLSALPNPort,
		TrustedRoots:            roots,
		Logger:                  zl,
	}
	if cfg.ACME.EAB != nil {
		tmpl.ExternalAccount = &acme.EAB{KeyID: cfg.ACME.EAB.KeyID, MACKey: cfg.ACME.EAB.MACKey}
	}
	m.acmeIss = certmagic.NewACMEIssuer(m.acme, tmpl)
	m.acme.Issuers = []certmagic.Issuer{quietIssuer{m.acmeIss}}

	localCfg := base
	localCfg.Issuers = []certmagic.Issuer{m.ca}
	m.local = certmagic.New(m.cache, localCfg)

	// Loading a certificate with stapling on fetches its OCSP response
	// first, up to 30 s per certificate when a responder hangs; at start-up
	// with many certificates that would keep sites dark for a long time.
	// So certificates are loaded without, served at once, and stapled by
	// certmagic's maintenance loop (OCSPCheckInterval), which uses the
	// stapling configurations above.
	noStaple := func(c *certmagic.Config) *certmagic.Config {
		cc := base
		cc.Issuers = c.Issuers
		cc.OCSP.DisableStapling = true
		return certmagic.New(m.cache, cc)
	}
	m.acmeLoad, m.localLoad = noStaple(m.acme), noStaple(m.local)

	m.tlsConf = m.newTLSConfig()
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.loop()
	if cfg.OnStatus != nil {
		m.wg.Add(1)
		go m.notifier()
	}
	m.log.Debug("certificate manager started", "dir", dir, "acme_directory", cfg.ACME.Directory,
		"internal_ca_sha256", m.ca.Fingerprint())
	return m, nil
}

// quietIssuer keeps certmagic from ever prompting on stdin: certmagic's
// synchronous obtain and renew ask the issuer's pre-check to be
// "interactive", which with no email configured reads an address from the
// terminal. The pre-check runs non-interactive instead; everything else is
// the ACMEIssuer's.
type quietIssuer struct{ *certmagic.ACMEIssuer }

func (q quietIssuer) PreCheck(ctx context.Context, names []string, _ bool) error {
	return q.ACMEIssuer.PreCheck(ctx, names, false)
}

// configForCert tells certmagic's background maintenance (OCSP staples)
// which configuration a cached certificate belongs to.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	if m.isInternal(c.Leaf) {
		return m.local, nil
	}
	return m.acme, nil
}

// isInternal reports whether leaf was issued by the internal CA. Comparing
// names is enough here (and cheap: certmagic asks for every cached
// certificate at every maintenance tick); handshakes never depend on it.
func (m *Manager) isInternal(leaf *x509.Certificate) bool {
	return leaf != nil && bytes.Equal(leaf.RawIssuer, m.ca.Root().RawSubject)
}

// Close stops the scheduler, cancels attempts in flight and waits for them.
// Handshakes keep working with what is in memory.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	// certmagic's maintenance loop finishes what it is doing before it
	// stops; an OCSP fetch from a hanging responder takes up to 30 s.
	// Shutdown does not wait for that.
	stopped := make(chan struct{})
	go func() { m.cache.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
	}
	return nil
}

// InternalRootPEM returns the internal CA's root certificate, for a person
// to trust in a browser (serve prints where it is and the dashboard offers
// it for download).
func (m *Manager) InternalRootPEM() []byte { return m.ca.RootPEM() }

// InternalRootPath is the file InternalRootPEM was read from.
func (m *Manager) InternalRootPath() string {
	return filepath.Join(m.cfg.Dir, "internal-ca", internalca.RootCertFile)
}

// InternalRootFingerprint is the SHA-256 fingerprint of the internal root.
func (m *Manager) InternalRootFingerprint() string { return m.ca.Fingerprint() }

// domain is one listed name. The fields above the line are fixed when it
// is created; a change of mode or of an uploaded certificate replaces the
// whole domain.
type domain struct {
	name      string
	mode      Mode
	cm        *certmagic.Config // obtains and renews
	load      *certmagic.Config // loads into the cache (no OCSP fetch)
	custom    *tls.Certificate
	customSum [32]byte
	customErr error

	// served identifies the certificate handshakes use, by certmagic's
	// cache hash; nil: none yet.
	served atomic.Pointer[served]
	// pending is closed when the running job that may produce the first
	// certificate ends; handshakes wait on it.
	pending atomic.Pointer[chan struct{}]

	// ---- guarded by Manager.mu
	st       Status
	failures int
	next     time.Time // zero: nothing scheduled
	running  bool
	cancel   context.CancelFunc
	done     chan struct{}
	retired  bool
}

type served struct {
	hash string
	leaf *x509.Certificate
}

// normalize lower-cases name, drops a trailing dot and converts an IDN to
// punycode.
func normalize(name string) (string, error) {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if name == "" {
		return "", errors.New("the name is empty; give a DNS name such as app.example.com")
	}
	if ip := net.ParseIP(name); ip != nil {
		return ip.String(), nil
	}
	wild := strings.HasPrefix(name, "*.")
	rest := strings.TrimPrefix(name, "*.")
	ascii, err := idna.Lookup.ToASCII(rest)
	if err != nil {
		return "", fmt.Errorf("not a valid domain name (%v); use a DNS name such as app.example.com", err)
	}
	if strings.Contains(ascii, "*") {
		return "", errors.New("a wildcard may only be the whole first label, as in *.example.com")
	}
	if wild {
		ascii = "*." + ascii
	}
	return ascii, nil
}

// SetDomains replaces the list of domains the manager serves. Names that
// are new, or whose mode or uploaded certificate changed, are scheduled at
// once; names that disappeared stop being served and any attempt in flight
// for them is cancelled. Unchanged names keep their certificate and state,
// so calling SetDomains with the same list is cheap.
//
// An entry that is unusable (bad name, unknown mode, a second entry for
// the same name) is skipped and reported as a *DomainError; the others are
// applied. Problems with an uploaded certificate are not errors here: the
// domain is listed and its Status explains.
func (m *Manager) SetDomains(list []Domain) error {
	var errs []error
	next := make(map[string]*domain, len(list))
	now := time.Now()

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("certs: manager is closed")
	}
	var changed []string
	for _, in := range list {
		name, err := normalize(in.Name)
		if err != nil {
			errs = append(errs, &DomainError{Name: in.Name, Err: err})
			continue
		}
		if _, dup := next[name]; dup {
			errs = append(errs, &DomainError{Name: name, Err: errDuplicate})
			continue
		}
		if err := checkMode(name, in.Mode); err != nil {
			errs = append(errs, &DomainError{Name: name, Err: err})
			continue
		}
		old := m.domains[name]
		if old != nil && old.mode == in.Mode && (in.Mode != ModeCustom || old.customSum == customSum(in)) {
			next[name] = old
			continue
		}
		d := m.newDomain(name, in)
		if old != nil {
			// A mode change or a new upload: the domain starts afresh.
			m.retireLocked(old)
		}
		d.st = Status{Name: name, Mode: d.mode, State: StateNone, Updated: now}
		switch d.mode {
		case ModeManaged, ModeInternal:
			d.expect()
			d.next = now
		case ModeCustom:
			d.next = now
		}
		next[name] = d
		changed = append(changed, name)
	}
	for name, old := range m.domains {
		if _, ok := next[name]; !ok {
			m.retireLocked(old)
			changed = append(changed, name)
		}
	}
	m.domains = next
	m.table.Store(&next)
	m.mu.Unlock()

	m.poke()
	m.notify(changed...)
	return errors.Join(errs...)
}

func checkMode(name string, mode Mode) error {
	wild := strings.HasPrefix(name, "*.")
	ip := net.ParseIP(name) != nil
	switch mode {
	case ModeManaged:
		if wild {
			return errors.New("a wildcard certificate from an ACME CA needs the DNS-01 challenge, which is not configured; list the names one by one or upload a wildcard certificate (mode custom)")
		}
		if ip {
			return errors.New("an IP address cannot have a managed certificate here; use mode internal or custom")
		}
	case ModeInternal:
		if wild {
			return errors.New("the internal CA does not issue wildcard certificates; list the names one by one")
		}
		if !internalca.Permitted(name) {
			return fmt.Errorf("the internal CA only certifies local names (under .%s) and private IP addresses; use mode managed or custom", strings.Join(internalca.PermittedDomains, ", ."))
		}
	case ModeCustom, ModeOff:
	case "":
		return errors.New("no TLS mode; give one of managed, internal, custom or off")
	default:
		return fmt.Errorf("unknown TLS mode %q; give one of managed, internal, custom or off", mode)
	}
	return nil
}

func customSum(in Domain) [32]byte {
	h := sha256.New()
	h.Write(in.CertPEM)
	h.Write([]byte{0})
	h.Write(in.KeyPEM)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

func (m *Manager) newDomain(name string, in Domain) *domain {
	d := &domain{name: name, mode: in.Mode}
	switch in.Mode {
	case ModeManaged:
		d.cm, d.load = m.acme, m.acmeLoad
	case ModeInternal:
		d.cm, d.load = m.local, m.localLoad
	case ModeCustom:
		d.cm, d.load = m.acme, m.acmeLoad
		d.customSum = customSum(in)
		d.custom, d.customErr = ParseCustom(name, in.CertPEM, in.KeyPEM)
	}
	return d
}

// retireLocked stops work on d and drops its certificate from memory
// (storage keeps it, in case the name comes back). m.mu is held.
func (m *Manager) retireLocked(d *domain) {
	d.retired = true
	d.next = time.Time{}
	if d.cancel != nil {
		d.cancel()
	} else {
		d.settle()
	}
	if s := d.served.Load(); s != nil && !m.hashInUseLocked(s.hash) {
		m.cache.Remove([]string{s.hash})
	}
}

// Status returns the status of name's certificate; a name that is not
// listed has State none.
func (m *Manager) Status(name string) Status {
	n, err := normalize(name)
	if err != nil {
		return Status{Name: name, State: StateNone}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := m.domains[n]; d != nil {
		return d.st
	}
	return Status{Name: n, State: StateNone}
}

// Statuses returns the status of every listed domain, sorted by name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	out := make([]Status, 0, len(m.domains))
	for _, d := range m.domains {
		out = append(out, d.st)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// notify queues OnStatus calls for names.
func (m *Manager) notify(names ...string) {
	if m.cfg.OnStatus == nil || len(names) == 0 {
		return
	}
	m.notifyMu.Lock()
	for _, n := range names {
		m.dirty[n] = struct{}{}
	}
	m.notifyMu.Unlock()
	select {
	case m.notifyWake <- struct{}{}:
	default:
	}
}

// notifier calls OnStatus for every name whose status changed, from one
// goroutine, so that OnStatus never runs under the manager's locks and
// may call back into it.
func (m *Manager) notifier() {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.notifyWake:
		}
		m.notifyMu.Lock()
		names := make([]string, 0, len(m.dirty))
		for n := range m.dirty {
			names = append(names, n)
		}
		clear(m.dirty)
		m.notifyMu.Unlock()
		slices.Sort(names)
		for _, n := range names {
			m.cfg.OnStatus(m.Status(n))
		}
	}
}

// expect marks d as about to get its first certificate: handshakes wait
// (up to HandshakeWait) until settle.
func (d *domain) expect() {
	if d.pending.Load() == nil {
		ch := make(chan struct{})
		d.pending.Store(&ch)
	}
}

// settle releases handshakes waiting on d.
func (d *domain) settle() {
	if p := d.pending.Swap(nil); p != nil {
		close(*p)
	}
}
