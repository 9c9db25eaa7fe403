package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/app"
	"github.com/rampart-dev/rampart/internal/certs"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/mail/deliver"
	"github.com/rampart-dev/rampart/internal/mail/dkim"
	"github.com/rampart-dev/rampart/internal/mail/queue"
	"github.com/rampart-dev/rampart/internal/mail/relay"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/store"
)

// mailRelay is the SMTP relay as serve runs it: the SMTP server services
// submit to, the durable queue behind it, delivery (a smarthost, or the
// recipients' MX hosts), DKIM signing, and the per-service message log.
// Its parts know nothing of each other or of the store; this file joins
// them.
type mailRelay struct {
	cfg     config.Config
	log     *slog.Logger
	store   store.Store
	app     *app.App // set once the service layer exists
	queue   *queue.Queue
	relay   *relay.Relay
	deliver *deliver.Transport
	signer  *dkim.Signer
	keys    []dkim.Key
	nodeIPs []netip.Addr
	lns     []net.Listener
	host    string
	port    int

	ids    sync.Map // service name → ID, from the last accounts sync
	writer *mailLog
	events *prometheus.CounterVec
}

// newMailRelay opens the queue and binds the relay's listeners; the relay
// serves once Start is called, when the service layer and the certificate
// manager exist.
func newMailRelay(cfg config.Config, db store.Store, nodeIPs []netip.Addr, reg prometheus.Registerer, log *slog.Logger) (*mailRelay, error) {
	m := &mailRelay{cfg: cfg, log: log.With("log", "mail"), store: db, nodeIPs: nodeIPs}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rampart_mail_messages_total",
		Help: "Messages by outcome: accepted into the queue, refused by the relay, and, per recipient, sent, deferred or bounced.",
	}, []string{"outcome"})
	reg.MustRegister(m.events)
	m.writer = newMailLog(db, m.log)

	dc := deliver.Config{Resolvers: cfg.Mail.Resolvers, MXPort: cfg.Mail.MXPort, HELO: m.hostname(), AllowPrivate: cfg.Mail.AllowPrivateMX}
	if sm := cfg.Mail.SMTP; sm.Host != "" {
		mc := cfg.MailerConfig()
		password, err := mc.SMTP.ReadPassword()
		if err != nil {
			return nil, err
		}
		dc.Smarthost = &deliver.Smarthost{Host: sm.Host, Port: mc.SMTP.EffectivePort(), TLS: mailer.TLSMode(sm.TLS), Username: sm.Username, Password: password}
	}
	var err error
	if m.deliver, err = deliver.New(dc); err != nil {
		return nil, fmt.Errorf("mail delivery: %w", err)
	}
	dir := cfg.Mail.Queue.Dir
	if dir == "" {
		dir = filepath.Join(cfg.Data, "mail", "queue")
	}
	if m.queue, err = queue.Open(queue.Options{Dir: dir, Lifetime: cfg.Mail.Queue.Lifetime, MaxMessageBytes: int64(cfg.Mail.MaxMessageBytes) + 64<<10,
		OnEvent: m.queueEvent, Logger: m.log}); err != nil {
		return nil, fmt.Errorf("mail.queue.dir: %w", err)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rampart_mail_queue_depth", Help: "Messages in the relay's queue that still have recipients to deliver to."},
		func() float64 { return float64(m.queue.Stats().Depth) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rampart_mail_queue_oldest_seconds", Help: "Age of the oldest message in the relay's queue; 0 when it is empty."},
		func() float64 {
			if o := m.queue.Stats().Oldest; !o.IsZero() {
				return time.Since(o).Seconds()
			}
			return 0
		}))

	addrs, skipped := cfg.RelayListen()
	for _, s := range skipped {
		m.log.Info("the relay does not listen on an interface this host lacks", "listen", s)
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("mail.listen: cannot listen on %s: %w (is another mail server using the port? ports below 1024 need root or CAP_NET_BIND_SERVICE)", a, err)
		}
		m.lns = append(m.lns, ln)
	}
	if len(m.lns) == 0 {
		m.close()
		return nil, fmt.Errorf("mail.listen: none of %s exists on this host: give an address the services can reach, e.g. 127.0.0.1:587", strings.Join(cfg.Mail.Listen, ", "))
	}
	tcp := m.lns[0].Addr().(*net.TCPAddr)
	m.host, m.port = tcp.IP.String(), tcp.Port
	return m, nil
}

// hostname is the relay's name in its greeting and EHLO.
func (m *mailRelay) hostname() string {
	if m.cfg.Mail.Hostname != "" {
		return m.cfg.Mail.Hostname
	}
	if m.cfg.Admin.Domain != "" {
		return m.cfg.Admin.Domain
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// certDomain is the relay's name as the certificate manager should serve
// it, when it is a name the manager can get a certificate for.
func (m *mailRelay) certDomain() (certs.Domain, bool) {
	h := m.cfg.Mail.Hostname
	if h == "" || h == m.cfg.Admin.Domain {
		return certs.Domain{}, false // admin.domain is already served
	}
	mode := certs.ModeManaged
	if certs.IsInternalName(h) {
		mode = certs.ModeInternal
	}
	return certs.Domain{Name: h, Mode: mode}, true
}

// start makes the DKIM keys (once per mail domain, kept sealed in the
// store), builds the SMTP server and the account list, and serves.
func (m *mailRelay) start(ctx context.Context, a *app.App, cm *certs.Manager) error {
	m.app = a
	keys, err := a.Mail.DKIMKeys(ctx, m.cfg.Mail.Domain, func() ([]rampart.DKIMKey, error) {
		ks, err := dkim.Generate(time.Now())
		if err != nil {
			return nil, err
		}
		out := make([]rampart.DKIMKey, len(ks))
		for i, k := range ks {
			out[i] = rampart.DKIMKey{Domain: m.cfg.Mail.Domain, Selector: k.Selector, Algorithm: k.Algorithm, PrivatePEM: k.PrivatePEM}
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("the mail domain's DKIM keys: %w", err)
	}
	for _, k := range keys {
		m.keys = append(m.keys, dkim.Key{Selector: k.Selector, Algorithm: k.Algorithm, PrivatePEM: k.PrivatePEM})
	}
	if m.signer, err = dkim.NewSigner(m.cfg.Mail.Domain, m.keys); err != nil {
		return fmt.Errorf("the mail domain's DKIM keys: %w", err)
	}
	allowed, identify, err := m.cfg.RelayNetworks()
	if err != nil {
		return err
	}
	rc := relay.Config{
		Domain: m.cfg.Mail.Domain, Hostname: m.hostname(), TLS: m.tlsConfig(cm),
		Allowed: allowed, IdentifyByAddress: identify,
		DefaultPerHour: m.cfg.Mail.PerHour, MaxMessageBytes: int64(m.cfg.Mail.MaxMessageBytes),
		MaxRecipients: m.cfg.Mail.MaxRecipients, BulkRecipients: m.cfg.Mail.BulkRecipients, SameBodyLimit: m.cfg.Mail.SameBodyLimit,
		Logger: m.log,
	}
	// The relay does not sign: messages are signed as they leave (see
	// transport), which keeps RSA signing, the costliest step, off the
	// path to the 250 and lets a new key apply to what is still queued.
	if m.relay, err = relay.New(rc, relayQueue{m}, relayEvents{m}); err != nil {
		return fmt.Errorf("the SMTP relay: %w", err)
	}
	if err := m.syncAccounts(ctx); err != nil {
		return fmt.Errorf("the SMTP relay's accounts: %w", err)
	}
	m.seed(ctx)
	return nil
}

// tlsConfig serves STARTTLS with the certificate manager's certificate for
// mail.hostname; a client that names no host (or an IP) gets the internal
// CA's certificate for the address it dialed, as on the edge.
func (m *mailRelay) tlsConfig(cm *certs.Manager) *tls.Config {
	name := m.hostname()
	_, listed := m.certDomain()
	listed = listed || name == m.cfg.Admin.Domain && name != ""
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		h := *hello
		if listed && h.ServerName != "" && net.ParseIP(h.ServerName) == nil {
			h.ServerName = name
			if c, err := cm.GetCertificate(&h); err == nil {
				return c, nil
			}
		}
		h.ServerName = ""
		return cm.GetCertificate(&h)
	}}
}

// run serves the listeners and delivers the queue until ctx ends.
func (m *mailRelay) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ln := range m.lns {
		wg.Go(func() {
			if err := m.relay.Serve(ln); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				m.log.Error("the SMTP relay stopped serving", "listen", ln.Addr().String(), "err", err)
			}
		})
	}
	// The log's writer outlives the relay and the queue, so that the
	// outcomes they report while stopping are stored.
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		m.writer.run(wctx)
	}()
	// What waited for a retry when rampart stopped is tried at once: the
	// receiver may have recovered meanwhile.
	m.queue.Kick()
	wg.Go(func() {
		if err := m.queue.Run(ctx, transport{t: m.deliver, signer: m.signer, domain: m.cfg.Mail.Domain, log: m.log}); err != nil && ctx.Err() == nil {
			m.log.Error("the mail queue stopped", "err", err)
		}
	})
	m.log.Info("the SMTP relay is serving", "listen", m.listenAddrs(), "domain", m.cfg.Mail.Domain, "delivery", m.deliveryMode())
	<-ctx.Done()
	m.relay.Close()
	wg.Wait()
	stopWriter()
	<-writerDone
}

func (m *mailRelay) listenAddrs() string {
	var out []string
	for _, ln := range m.lns {
		out = append(out, ln.Addr().String())
	}
	return strings.Join(out, ",")
}

func (m *mailRelay) deliveryMode() string {
	if m.cfg.Mail.SMTP.Host != "" {
		return "smarthost " + m.cfg.Mail.SMTP.Host
	}
	return "direct to the recipients' MX hosts"
}

// close releases what newMailRelay took, for a start that fails.
func (m *mailRelay) close() error {
	for _, ln := range m.lns {
		ln.Close()
	}
	if m.queue != nil {
		return m.queue.Close()
	}
	return nil
}

// syncAccounts hands the relay every service's credentials, quota and
// suspension. It runs as a reconciler, and at once after a violation
// suspends a service.
func (m *mailRelay) syncAccounts(ctx context.Context) error {
	accts, err := m.store.ListMailAccounts(ctx)
	if err != nil {
		return err
	}
	addrs := map[string][]netip.Addr{}
	if len(m.cfg.Mail.IdentifyByAddress) > 0 {
		svcs, err := m.store.ListServices(ctx, store.ServiceFilter{})
		if err != nil {
			return err
		}
		for _, s := range svcs {
			addrs[s.Name] = upstreamAddrs(s)
		}
	}
	out := make([]relay.Account, 0, len(accts))
	for _, a := range accts {
		m.ids.Store(a.Service, a.ServiceID)
		ra := relay.Account{Service: a.Service, PerHour: a.PerHour, Suspended: a.Suspended, SuspendedReason: a.SuspendedReason, Addrs: addrs[a.Service]}
		copy(ra.PasswordHash[:], a.PasswordHash)
		out = append(out, ra)
	}
	m.relay.SetAccounts(out)
	return nil
}

// upstreamAddrs is a service's own address on the private network: its
// upstream's host when that is an IP literal.
func upstreamAddrs(s *rampart.Service) []netip.Addr {
	var out []netip.Addr
	for _, raw := range s.Upstreams {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && !a.IsLoopback() {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// seed primes each service's sliding hour with what it sent before a
// restart, so that a restart does not hand out a fresh quota. It reads the
// newest page of each log, which covers the hour unless a quota was raised
// far above the default.
func (m *mailRelay) seed(ctx context.Context) {
	since := time.Now().Add(-time.Hour)
	m.ids.Range(func(k, v any) bool {
		name := k.(string)
		msgs, err := m.store.ListMailMessages(ctx, v.(int64), 0, store.MaxMailLogPage)
		if err != nil {
			m.log.Warn("reading the mail log to restore the quota window", "service", name, "err", err)
			return true
		}
		var at []time.Time
		for _, msg := range msgs {
			if msg.Status == rampart.MailRefused || msg.At.Before(since) {
				continue
			}
			for range msg.Recipients {
				at = append(at, msg.At)
			}
		}
		if len(at) > 0 {
			m.relay.Seed(name, at)
		}
		return true
	})
}

// mailRelay is s.mail as the service layer sees it: a nil interface,
// not a nil pointer, when the relay is off.
func (s *Server) mailRelay() app.MailRelay {
	if s.mail == nil {
		return nil
	}
	return s.mail
}

// mailAccounts hands the relay every change to services and their mail
// settings (a new service, a rotated password, a quota, a suspension).
type mailAccounts struct{ m *mailRelay }

func (mailAccounts) Name() string        { return "mail" }
func (mailAccounts) Kinds() []store.Kind { return []store.Kind{store.KindServices, store.KindMail} }
func (a mailAccounts) Sync(ctx context.Context, _ agent.Trigger) error {
	return a.m.syncAccounts(ctx)
}

// Usage implements app.MailRelay.
func (m *mailRelay) Usage(service string) (used, limit int, resumesAt time.Time) {
	if m.relay == nil {
		return 0, 0, time.Time{}
	}
	return m.relay.Usage(service)
}

// Endpoint implements app.MailRelay.
func (m *mailRelay) Endpoint() (string, int, bool) { return m.host, m.port, true }

// Flush implements app.MailRelay: every deferred message is retried now.
func (m *mailRelay) Flush() rampart.MailQueue {
	m.queue.Kick()
	st := m.queue.Stats()
	q := rampart.MailQueue{Depth: st.Depth}
	if !st.Oldest.IsZero() {
		o := st.Oldest.UTC()
		q.Oldest = &o
	}
	return q
}

// DNS implements app.MailRelay: the records to publish for the mail
// domain, and whether the resolvers see them.
func (m *mailRelay) DNS(ctx context.Context) ([]rampart.MailDNSRecord, error) {
	recs, err := dkim.Records(m.cfg.Mail.Domain, m.keys)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	for _, ip := range m.nodeIPs {
		if !ip.IsLoopback() && !ip.IsPrivate() {
			ips = append(ips, ip)
		}
	}
	purpose := map[string]string{}
	for _, r := range recs {
		purpose[r.Name] = "dkim"
	}
	if len(ips) > 0 {
		spf := dkim.SPF(m.cfg.Mail.Domain, ips)
		recs = append(recs, spf)
		purpose[spf.Name+" "+spf.Value] = "spf"
	}
	checks := dkim.CheckRecords(ctx, m.cfg.DNS.Resolvers, recs)
	out := make([]rampart.MailDNSRecord, len(checks))
	for i, c := range checks {
		p := purpose[c.Record.Name]
		if p == "" || strings.HasPrefix(c.Record.Value, "v=spf1") {
			p = "spf"
		}
		out[i] = rampart.MailDNSRecord{Purpose: p, Name: c.Record.Name, Type: c.Record.Type, Value: c.Record.Value,
			Published: c.Published, Found: c.Found, Error: c.Error}
	}
	return out, nil
}

// relayQueue puts what the relay accepted on the durable queue.
type relayQueue struct{ m *mailRelay }

func (q relayQueue) Put(ctx context.Context, env relay.Envelope, data []byte) (string, error) {
	return q.m.queue.Put(ctx, queue.Envelope{Service: env.Service, From: env.From, To: env.To}, data)
}

// relayEvents turns the relay's decisions into log rows and metrics.
type relayEvents struct{ m *mailRelay }

func (e relayEvents) Accepted(service, id string, env relay.Envelope, size int, subject string) {
	e.m.events.WithLabelValues("accepted").Inc()
	e.m.writer.accepted(e.m.serviceID(service), service, id, env, int64(size), subjectHash(subject))
}

func (e relayEvents) Refused(service string, env relay.Envelope, code int, reason string) {
	e.m.events.WithLabelValues("refused").Inc()
	if service == "" {
		return // nobody's log: a stranger or a failed login
	}
	e.m.writer.refused(e.m.serviceID(service), service, env, code, reason)
}

func (e relayEvents) Violation(service, reason string) {
	m := e.m
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		suspended, err := m.app.Mail.RecordViolation(ctx, service, reason)
		if err != nil {
			m.log.Warn("recording a bulk-mail violation", "service", service, "err", err)
			return
		}
		if suspended {
			m.log.Warn("a service's mail is suspended after repeated bulk-mail violations: `rampart mail resume` lifts it", "service", service, "reason", reason)
			if err := m.syncAccounts(ctx); err != nil {
				m.log.Warn("handing the suspension to the relay", "service", service, "err", err)
			}
		}
	}()
}

func (m *mailRelay) serviceID(name string) int64 {
	if v, ok := m.ids.Load(name); ok {
		return v.(int64)
	}
	return 0
}

// subjectHash keeps a message's subject out of the log while letting the
// same subject be recognised: the first 16 hex digits of its SHA-256.
func subjectHash(subject string) string {
	if subject == "" {
		return ""
	}
	h := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(h[:8])
}

// queueEvent records a delivery outcome in the service's log.
func (m *mailRelay) queueEvent(ev queue.Event) {
	for _, r := range ev.Recipients {
		switch r.State {
		case queue.Sent:
			m.events.WithLabelValues("sent").Inc()
		case queue.Failed:
			m.events.WithLabelValues("bounced").Inc()
		default:
			if ev.Kind == queue.EventDeferred {
				m.events.WithLabelValues("deferred").Inc()
			}
		}
	}
	if ev.Service == "" {
		// The platform's own mail (login codes, notices) has no service
		// log: its outcome goes to rampart's log, without the recipient.
		if ev.Kind == queue.EventBounced || ev.Kind == queue.EventDeferred {
			m.log.Warn("platform mail not delivered", "id", ev.ID, "outcome", string(ev.Kind), "reason", ev.Reason)
		}
		return
	}
	m.writer.delivery(m.serviceID(ev.Service), ev)
}

// transport adapts the delivery package to the queue, and signs each
// message from the mail domain with its DKIM keys on the way out.
type transport struct {
	t      *deliver.Transport
	signer *dkim.Signer
	domain string
	log    *slog.Logger
}

func (t transport) Deliver(ctx context.Context, msg *queue.Message, data []byte, rcpts []string) []queue.Result {
	from := msg.Envelope.From
	if at := strings.LastIndexByte(from, '@'); t.signer != nil && at >= 0 && strings.EqualFold(from[at+1:], t.domain) {
		signed, err := t.signer.Sign(data)
		if err != nil {
			// Unsigned mail from the domain would be judged forged:
			// wait and try again rather than send it.
			t.log.Error("signing a message with the mail domain's DKIM keys", "id", msg.ID, "err", err)
			out := make([]queue.Result, len(rcpts))
			for i, r := range rcpts {
				out[i] = queue.Result{Rcpt: r, Code: 451, Reply: "451 4.3.0 rampart could not sign the message (DKIM); it will try again"}
			}
			return out
		}
		data = signed
	}
	res := t.t.Deliver(ctx, from, rcpts, data)
	out := make([]queue.Result, len(res))
	for i, r := range res {
		out[i] = queue.Result{Rcpt: r.Rcpt, Code: r.Code, Reply: r.Reply, OK: r.OK, Permanent: r.Permanent}
	}
	return out
}

// queueMailer sends the platform's own mail (login codes, notices) through
// the relay's queue: durable, retried, and DKIM-signed on the way out when
// it is from the mail domain.
type queueMailer struct {
	m    *mailRelay
	conf mailer.Config
}

func (q queueMailer) Send(ctx context.Context, msg mailer.Message) error {
	if err := msg.Check(); err != nil {
		return err
	}
	data, err := q.conf.Compose(msg, time.Now())
	if err != nil {
		return err
	}
	_, err = q.m.queue.Put(ctx, queue.Envelope{From: q.conf.From, To: []string{msg.To}}, data)
	return err
}

// platformFrom is the sender of the platform's mail through the relay:
// mail.from, or rampart@<mail.domain>.
func platformFrom(cfg config.Config) string {
	if cfg.Mail.From != "" {
		return cfg.Mail.From
	}
	return "rampart@" + cfg.Mail.Domain
}

// mailLog writes the relay's and the queue's events into the services'
// message logs, in order, batching what arrives together so that a burst
// of accepted mail costs one transaction, not one per message.
type mailLog struct {
	db  store.Store
	log *slog.Logger
	in  chan func(map[string]*rampart.MailMessage) *rampart.MailMessage

	// live holds the rows of messages still in the queue, so that an
	// outcome merges into its row (a delivery can even be reported before
	// the relay's own "accepted").
	live map[string]*rampart.MailMessage
}

func newMailLog(db store.Store, log *slog.Logger) *mailLog {
	return &mailLog{db: db, log: log, in: make(chan func(map[string]*rampart.MailMessage) *rampart.MailMessage, 4096), live: map[string]*rampart.MailMessage{}}
}

// push queues one change; when the writer is far behind, the change is
// dropped with a warning rather than slowing the SMTP conversation.
func (l *mailLog) push(f func(map[string]*rampart.MailMessage) *rampart.MailMessage) {
	select {
	case l.in <- f:
	default:
		l.log.Warn("the mail log is behind: an entry was dropped")
	}
}

func (l *mailLog) accepted(serviceID int64, service, id string, env relay.Envelope, size int64, subject string) {
	now := time.Now()
	l.push(func(live map[string]*rampart.MailMessage) *rampart.MailMessage {
		row := live[id]
		if row == nil {
			row = &rampart.MailMessage{QueueID: id, At: now, Status: rampart.MailQueued}
			for _, to := range env.To {
				row.Recipients = append(row.Recipients, rampart.MailRecipient{Addr: to, Status: rampart.MailQueued})
			}
			live[id] = row
		}
		row.ServiceID, row.Service, row.From, row.Size, row.SubjectHash, row.UpdatedAt = serviceID, service, env.From, size, subject, now
		return row
	})
}

func (l *mailLog) refused(serviceID int64, service string, env relay.Envelope, code int, reason string) {
	now := time.Now()
	l.push(func(map[string]*rampart.MailMessage) *rampart.MailMessage {
		// A refused message never had a queue ID; its row gets its own,
		// so that the log's rows stay unique.
		row := &rampart.MailMessage{QueueID: refusedID(), ServiceID: serviceID, Service: service, At: now, UpdatedAt: now, From: env.From,
			Status: rampart.MailRefused, Reason: strconv.Itoa(code) + " " + reason}
		for _, to := range env.To {
			row.Recipients = append(row.Recipients, rampart.MailRecipient{Addr: to, Status: rampart.MailRefused, Code: code})
		}
		return row
	})
}

// refusedID names a refused message's log row: "r" and 16 random hex
// digits, apart from the queue's IDs.
func refusedID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "r" + hex.EncodeToString(b[:])
}

func (l *mailLog) delivery(serviceID int64, ev queue.Event) {
	l.push(func(live map[string]*rampart.MailMessage) *rampart.MailMessage {
		row := live[ev.ID]
		if row == nil {
			row = &rampart.MailMessage{QueueID: ev.ID, ServiceID: serviceID, Service: ev.Service, At: ev.At, From: ev.From, Size: ev.Size, Status: rampart.MailQueued}
			live[ev.ID] = row
		}
		row.UpdatedAt = ev.At
		for _, r := range ev.Recipients {
			st := rampart.MailQueued
			switch {
			case r.State == queue.Sent:
				st = rampart.MailSent
			case r.State == queue.Failed:
				st = rampart.MailBounced
			case ev.Kind == queue.EventDeferred:
				st = rampart.MailDeferred
			}
			i := -1
			for j := range row.Recipients {
				if row.Recipients[j].Addr == r.Addr {
					i = j
				}
			}
			if i < 0 {
				row.Recipients = append(row.Recipients, rampart.MailRecipient{Addr: r.Addr})
				i = len(row.Recipients) - 1
			}
			row.Recipients[i].Status, row.Recipients[i].Code, row.Recipients[i].Reply = st, r.Code, r.Reply
		}
		row.Status, row.Reason = summarize(row.Recipients), ev.Reason
		if row.Status == rampart.MailSent || row.Status == rampart.MailBounced {
			delete(live, ev.ID) // final: no more outcomes will come
		}
		return row
	})
}

// summarize is a message's status from its recipients': deferred while
// any waits for a retry, queued while any waits for its first attempt,
// bounced if any bounced, else sent.
func summarize(rs []rampart.MailRecipient) rampart.MailStatus {
	has := map[rampart.MailStatus]bool{}
	for _, r := range rs {
		has[r.Status] = true
	}
	switch {
	case has[rampart.MailDeferred]:
		return rampart.MailDeferred
	case has[rampart.MailQueued]:
		return rampart.MailQueued
	case has[rampart.MailBounced]:
		return rampart.MailBounced
	}
	return rampart.MailSent
}

// run writes batches until ctx ends, then what is left. The writes
// themselves are not cancelled with ctx: what was pushed before the end is
// stored.
func (l *mailLog) run(ctx context.Context) {
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			l.drain(wctx)
			return
		case f := <-l.in:
			batch := map[*rampart.MailMessage]bool{f(l.live): true}
		more:
			for len(batch) < 512 {
				select {
				case f := <-l.in:
					batch[f(l.live)] = true
				default:
					break more
				}
			}
			l.write(wctx, batch)
		}
	}
}

func (l *mailLog) drain(ctx context.Context) {
	batch := map[*rampart.MailMessage]bool{}
	for {
		select {
		case f := <-l.in:
			batch[f(l.live)] = true
		default:
			l.write(ctx, batch)
			return
		}
	}
}

// write stores a batch: new rows in one transaction, outcomes as updates.
func (l *mailLog) write(ctx context.Context, batch map[*rampart.MailMessage]bool) {
	var fresh, known []*rampart.MailMessage
	for r := range batch {
		switch {
		case r.ServiceID == 0: // the platform's own mail, or a service gone
		case r.ID == 0:
			fresh = append(fresh, r)
		default:
			known = append(known, r)
		}
	}
	if len(fresh) > 0 {
		if cs := copyRows(fresh); l.db.AddMailMessages(ctx, cs) == nil {
			for i, c := range cs {
				fresh[i].ID = c.ID
			}
		} else {
			// One row clashed or its service is gone: store the others
			// one by one. A clash is a message accepted before a restart
			// whose outcome arrives now; it merges into the stored row.
			for _, r := range fresh {
				l.addOne(ctx, r)
			}
		}
	}
	for _, r := range known {
		l.update(ctx, r)
	}
}

func copyRows(rows []*rampart.MailMessage) []*rampart.MailMessage {
	out := make([]*rampart.MailMessage, len(rows))
	for i, r := range rows {
		c := *r
		c.Recipients = append([]rampart.MailRecipient(nil), r.Recipients...)
		out[i] = &c
	}
	return out
}

func (l *mailLog) addOne(ctx context.Context, r *rampart.MailMessage) {
	c := copyRows([]*rampart.MailMessage{r})[0]
	err := l.db.AddMailMessage(ctx, c)
	switch {
	case err == nil:
		r.ID = c.ID
	case rampart.ErrorCode(err) == rampart.ECONFLICT && r.QueueID != "":
		l.mergeStored(ctx, r)
		r.ID = -1
		l.update(ctx, r)
	default:
		l.log.Warn("writing the mail log", "service", r.Service, "err", err)
		r.ID = -1 // do not try again with every outcome
	}
}

// mergeStored completes r, built from an outcome alone, with the stored
// row of the same message: its recipients that this outcome is not about
// keep their stored status.
func (l *mailLog) mergeStored(ctx context.Context, r *rampart.MailMessage) {
	stored, err := l.db.MailMessage(ctx, r.QueueID)
	if err != nil {
		return
	}
	for _, sr := range stored.Recipients {
		if !slices.ContainsFunc(r.Recipients, func(rr rampart.MailRecipient) bool { return rr.Addr == sr.Addr }) {
			r.Recipients = append(r.Recipients, sr)
		}
	}
	r.Status = summarize(r.Recipients)
}

func (l *mailLog) update(ctx context.Context, r *rampart.MailMessage) {
	if r.QueueID == "" {
		return
	}
	rcpts := append([]rampart.MailRecipient(nil), r.Recipients...)
	if err := l.db.UpdateMailMessage(ctx, r.QueueID, r.Status, r.Reason, rcpts, r.UpdatedAt); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
		l.log.Warn("writing the mail log", "service", r.Service, "err", err)
	}
}
