// Package relay is the SMTP server every service submits its mail to.
//
// It accepts mail only from the private network, only from identified services
// (AUTH after STARTTLS, or by the service's own address), only with the
// service's own sender address, within a per-service hourly recipient quota,
// and only transactional mail: bulk markers are refused. Accepted mail is
// handed to a durable Queue before the 250 reply. The package knows nothing
// about the store, HTTP or how the queue is implemented.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Account is one service allowed to send mail.
type Account struct {
	Service         string   // service name; its address is Service+"@"+Config.Domain
	PasswordHash    [32]byte // SHA-256 of the SMTP password (long random strings, so a fast hash is right)
	PerHour         int      // recipients per sliding hour; 0: Config.DefaultPerHour
	Suspended       bool
	SuspendedReason string
	Addrs           []netip.Addr // the service's own addresses, for identification by address
}

// Config is the relay's configuration. Zero limits take the documented defaults.
type Config struct {
	Domain   string // mail domain: senders are <service>@Domain
	Hostname string // name in the greeting and Received header; default Domain
	// TLS is for STARTTLS; nil: no STARTTLS, hence no AUTH (only address identification).
	TLS *tls.Config
	// Allowed are the networks that may connect; peers outside get 554 5.7.1 at connect.
	Allowed []netip.Prefix
	// IdentifyByAddress: peers inside these networks whose address is exactly one
	// Account's Addrs are that service without AUTH.
	IdentifyByAddress []netip.Prefix
	DefaultPerHour    int   // recipients per service per sliding hour; default 300
	MaxMessageBytes   int64 // 552 beyond; default 10 MiB
	MaxRecipients     int   // per message, 452 beyond; default 100
	// BulkRecipients: a message with more recipients than this is bulk; default 50.
	BulkRecipients int
	// SameBodyLimit: the same body to more recipients than this within the hour is bulk; default 50.
	SameBodyLimit       int
	MaxConnections      int           // simultaneous connections; default 100
	MaxConnectionsPerIP int           // simultaneous connections per peer address; default 10
	Timeout             time.Duration // per command read/write, Queue.Put, and Close's grace; default 2 min
	Now                 func() time.Time
	Logger              *slog.Logger
}

// Envelope is the SMTP envelope of an accepted message.
type Envelope struct {
	Service, From string
	To            []string
}

// Queue stores accepted mail durably. A nil error means the message is on
// disk; only then does the relay answer 250 (with the id in the reply).
type Queue interface {
	Put(ctx context.Context, env Envelope, data []byte) (id string, err error)
}

// Events receives what the relay did, for the message log and the control plane.
type Events interface {
	Accepted(service, id string, env Envelope, size int, subject string)
	// Refused: service is "" when unknown (unauthenticated).
	Refused(service string, env Envelope, code int, reason string)
	// Violation is a bulk-mail refusal; the control plane counts them and may
	// suspend the service (then it calls SetAccounts).
	Violation(service, reason string)
}

// Defaults for zero Config fields.
const (
	DefaultPerHour        = 300
	DefaultMaxMessage     = 10 << 20
	DefaultMaxRecipients  = 100
	DefaultBulkRecipients = 50
	DefaultSameBodyLimit  = 50
	DefaultMaxConns       = 100
	DefaultMaxConnsPerIP  = 10
	DefaultTimeout        = 2 * time.Minute
)

// maxLineLength bounds one line of the dialogue or message: RFC 5321 says
// 1000 with CRLF; some clients are sloppy, so allow twice that.
const maxLineLength = 2000

// Authentication failures per peer address before it gets 421 and is cut off.
const (
	authFailLimit  = 10
	authFailWindow = 10 * time.Minute
)

// Relay is the SMTP submission server. Create it with New.
type Relay struct {
	cfg    Config
	queue  Queue
	events Events
	log    *slog.Logger
	srv    *smtp.Server

	accounts atomic.Pointer[accountSet]
	quota    *window   // recipients per service
	bodies   *window   // recipients per service+body hash
	authFail *failures // AUTH failures per peer address

	mu       sync.Mutex
	closing  bool
	inData   int
	dataDone *sync.Cond
	ln       *guardListener
}

type accountSet struct {
	byName map[string]*Account
	byAddr map[netip.Addr][]string
}

// New validates cfg and returns a relay; q must not be nil, s and ev may be.
func New(cfg Config, q Queue, ev Events) (*Relay, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if q == nil {
		return nil, errors.New("relay: a Queue is required: accepted mail must be stored durably before the 250 reply")
	}
	cfg.setDefaults()
	if ev == nil {
		ev = noEvents{}
	}
	r := &Relay{
		cfg: cfg, queue: q, events: ev, log: cfg.Logger,
		quota:    newWindow(time.Hour),
		bodies:   newWindow(time.Hour),
		authFail: newFailures(authFailWindow),
	}
	r.dataDone = sync.NewCond(&r.mu)
	r.accounts.Store(&accountSet{byName: map[string]*Account{}, byAddr: map[netip.Addr][]string{}})

	srv := smtp.NewServer(backend{r})
	srv.Domain = cfg.Hostname
	srv.TLSConfig = cfg.TLS
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = cfg.Timeout
	srv.WriteTimeout = cfg.Timeout
	srv.ErrorLog = slogLogger{cfg.Logger}
	r.srv = srv
	return r, nil
}

func (c *Config) validate() error {
	var errs []error
	if c.Domain == "" || strings.ContainsAny(c.Domain, "@ \t\r\n<>") {
		errs = append(errs, fmt.Errorf("relay: mail.domain %q is not a domain: set it to the domain services send from, e.g. example.org", c.Domain))
	}
	if len(c.Allowed) == 0 {
		errs = append(errs, errors.New("relay: mail.allowed_networks is empty: list the private networks services connect from (e.g. 10.0.0.0/8)"))
	}
	for _, p := range append(append([]netip.Prefix{}, c.Allowed...), c.IdentifyByAddress...) {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("relay: network %v is not a valid prefix", p))
		}
	}
	if c.TLS == nil && len(c.IdentifyByAddress) == 0 {
		errs = append(errs, errors.New("relay: no way to identify services: set a TLS config (for AUTH after STARTTLS) or mail networks to identify services by address"))
	}
	for name, v := range map[string]int64{
		"DefaultPerHour": int64(c.DefaultPerHour), "MaxMessageBytes": c.MaxMessageBytes,
		"MaxRecipients": int64(c.MaxRecipients), "BulkRecipients": int64(c.BulkRecipients),
		"SameBodyLimit": int64(c.SameBodyLimit), "MaxConnections": int64(c.MaxConnections),
		"MaxConnectionsPerIP": int64(c.MaxConnectionsPerIP), "Timeout": int64(c.Timeout),
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("relay: %s is negative (%d): use 0 for the default or a positive value", name, v))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.Hostname == "" {
		c.Hostname = c.Domain
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.DefaultPerHour, DefaultPerHour)
	def(&c.MaxRecipients, DefaultMaxRecipients)
	def(&c.BulkRecipients, DefaultBulkRecipients)
	def(&c.SameBodyLimit, DefaultSameBodyLimit)
	def(&c.MaxConnections, DefaultMaxConns)
	def(&c.MaxConnectionsPerIP, DefaultMaxConnsPerIP)
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessage
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// SetAccounts replaces the accounts atomically; sessions see the new set at
// their next command (a suspension takes effect at the next MAIL).
func (r *Relay) SetAccounts(accts []Account) {
	set := &accountSet{byName: make(map[string]*Account, len(accts)), byAddr: map[netip.Addr][]string{}}
	for i := range accts {
		a := accts[i]
		a.Addrs = append([]netip.Addr(nil), a.Addrs...)
		set.byName[a.Service] = &a
		for _, ip := range a.Addrs {
			set.byAddr[ip.Unmap()] = append(set.byAddr[ip.Unmap()], a.Service)
		}
	}
	r.accounts.Store(set)
}

// Serve accepts connections on ln until Close. Peers outside Config.Allowed
// and connections beyond the limits are refused before any command.
func (r *Relay) Serve(ln net.Listener) error {
	g := newGuardListener(ln, r)
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		ln.Close()
		return errors.New("relay: Serve after Close")
	}
	r.ln = g
	r.mu.Unlock()
	err := r.srv.Serve(g)
	r.mu.Lock()
	closing := r.closing
	r.mu.Unlock()
	if closing && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close stops accepting connections, lets messages in DATA finish (at most
// Config.Timeout), then closes every connection.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	ln := r.ln
	r.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	deadline := time.AfterFunc(r.cfg.Timeout, func() {
		r.mu.Lock()
		r.inData = 0
		r.dataDone.Broadcast()
		r.mu.Unlock()
	})
	r.mu.Lock()
	for r.inData > 0 {
		r.dataDone.Wait()
	}
	r.mu.Unlock()
	deadline.Stop()
	r.srv.Close() // closes the remaining (idle) connections
	return err
}

// Usage reports a service's recipients in the current hour, its limit, and
// when the oldest counted recipient leaves the window (zero when none).
func (r *Relay) Usage(service string) (used, limit int, resumesAt time.Time) {
	now := r.cfg.Now()
	limit = r.limitFor(service)
	used, oldest := r.quota.count(service, now)
	if used > 0 {
		resumesAt = oldest.Add(time.Hour)
	}
	return used, limit, resumesAt
}

// Seed primes a service's window after a restart: one entry per recipient
// already sent this hour.
func (r *Relay) Seed(service string, at []time.Time) {
	for _, t := range at {
		r.quota.add(service, t, 1)
	}
}

func (r *Relay) limitFor(service string) int {
	if a := r.accounts.Load().byName[service]; a != nil && a.PerHour > 0 {
		return a.PerHour
	}
	return r.cfg.DefaultPerHour
}

// enterData counts a message in DATA so Close can wait for it; false when closing.
func (r *Relay) enterData() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return false
	}
	r.inData++
	return true
}

func (r *Relay) leaveData() {
	r.mu.Lock()
	if r.inData > 0 {
		r.inData--
	}
	r.dataDone.Broadcast()
	r.mu.Unlock()
}

type noEvents struct{}

func (noEvents) Accepted(string, string, Envelope, int, string) {}
func (noEvents) Refused(string, Envelope, int, string)          {}
func (noEvents) Violation(string, string)                       {}

// slogLogger routes go-smtp's connection errors to the relay's logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Printf(format string, v ...any) { s.l.Debug("smtp: " + fmt.Sprintf(format, v...)) }
func (s slogLogger) Println(v ...any)               { s.l.Debug("smtp: " + strings.TrimSpace(fmt.Sprintln(v...))) }

var _ io.Closer = (*Relay)(nil)
