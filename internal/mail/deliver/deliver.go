// Package deliver hands the relay's queued messages to the world: to a
// configured smarthost, or straight to each recipient domain's MX hosts.
// It reports one Result per recipient, telling what was delivered, what may
// be retried and what never will be, with the remote server's own words for
// the log.
//
// Everything a remote party controls is bounded: each conversation has a
// deadline, each command a shorter one, and a connection may not send more
// than maxReadBytes of replies. Direct delivery refuses MX addresses inside
// private networks unless AllowPrivate is set (see isPublic).
package deliver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/rampart-dev/rampart/internal/mailer"
)

const (
	// defaultTimeout bounds one conversation with one destination.
	defaultTimeout = 5 * time.Minute
	// commandTimeout bounds each command's reply, so that a server that
	// stalls is given up well before the conversation's deadline.
	commandTimeout = 2 * time.Minute
	// maxAddresses bounds how many MX addresses one delivery tries, as
	// Postfix's smtp_mx_address_limit does: a domain listing a hundred
	// dead hosts must not hold a queue runner for hours.
	maxAddresses = 5
	// maxParallel bounds how many destination domains are served at once.
	maxParallel = 8
)

// Result is the outcome for one recipient. OK: the destination accepted the
// message. !OK && Permanent: it never will (bounce). !OK && !Permanent: try
// again later.
type Result struct {
	Rcpt      string
	Code      int    // the SMTP reply code, 0 when no server answered
	Reply     string // the remote reply (or our reason), one line, bounded
	OK        bool
	Permanent bool
}

// Smarthost is a submission server that takes all outgoing mail. The
// operator names it, so unlike an MX it may be on a private address.
type Smarthost struct {
	Host string
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int
	// TLS defaults to mailer.TLSStartTLS. Its certificate is verified.
	TLS                mailer.TLSMode
	Username, Password string
}

// Config configures a Transport.
type Config struct {
	// Smarthost, when set, takes every message; nil delivers directly to
	// the recipients' MX hosts.
	Smarthost *Smarthost
	// Resolvers are DNS servers ("ip:port") for MX and address lookups;
	// empty uses /etc/resolv.conf's.
	Resolvers []string
	// MXPort is the port of MX hosts, 25 unless a test says otherwise.
	MXPort int
	// HELO is our host name in EHLO: the relay's public name, which
	// receivers compare with its reverse DNS.
	HELO string
	// Timeout bounds one conversation with one destination (default 5m).
	Timeout time.Duration
	// RootCAs verifies the smarthost's certificate; nil: the system's.
	RootCAs *x509.CertPool
	// Dial opens connections; nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AllowPrivate permits MX hosts at loopback, private and link-local
	// addresses. Only tests should set it: a tenant controls the DNS of
	// its recipient domains, and could otherwise make the relay speak
	// SMTP to services inside our network.
	AllowPrivate bool
}

// Transport delivers messages. It is safe for concurrent use.
type Transport struct {
	cfg Config
	res *resolver
}

// New checks c and fills in its defaults.
func New(c Config) (*Transport, error) {
	if c.HELO == "" || strings.ContainsAny(c.HELO, " \t\r\n") {
		return nil, fmt.Errorf("deliver: HELO %q must be this relay's public host name, such as mail.example.com", c.HELO)
	}
	if c.MXPort == 0 {
		c.MXPort = 25
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if sh := c.Smarthost; sh != nil {
		s := *sh
		if s.TLS == "" {
			s.TLS = mailer.TLSStartTLS
		}
		if s.Host == "" || strings.ContainsAny(s.Host, " \t\r\n/[]") {
			return nil, fmt.Errorf("deliver: smarthost host %q must be a bare host name or IP address", s.Host)
		}
		switch s.TLS {
		case mailer.TLSStartTLS, mailer.TLSImplicit, mailer.TLSNone:
		default:
			return nil, fmt.Errorf("deliver: smarthost TLS %q is unknown: use %q, %q or %q", s.TLS, mailer.TLSStartTLS, mailer.TLSImplicit, mailer.TLSNone)
		}
		if s.Port == 0 {
			s.Port = map[mailer.TLSMode]int{mailer.TLSStartTLS: 587, mailer.TLSImplicit: 465, mailer.TLSNone: 25}[s.TLS]
		}
		if s.Username != "" && s.TLS == mailer.TLSNone && !isLoopbackHost(s.Host) {
			return nil, fmt.Errorf("deliver: smarthost %s: refusing to send the password in clear text; use TLS %q or %q", s.Host, mailer.TLSStartTLS, mailer.TLSImplicit)
		}
		c.Smarthost = &s
	}
	r := &resolver{servers: c.Resolvers}
	if len(r.servers) == 0 && c.Smarthost == nil {
		var err error
		if r.servers, err = systemResolvers(); err != nil {
			return nil, err
		}
	}
	return &Transport{cfg: c, res: r}, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.IsLoopback()
}

// Deliver sends data from the envelope sender to rcpts and returns one
// Result per recipient, in the order given. It never returns early for a
// single failure: each recipient gets its own verdict.
func (t *Transport) Deliver(ctx context.Context, from string, rcpts []string, data []byte) []Result {
	results := make([]Result, len(rcpts))
	for i, r := range rcpts {
		results[i].Rcpt = r
	}
	if sh := t.cfg.Smarthost; sh != nil {
		idx := make([]int, len(rcpts))
		for i := range idx {
			idx[i] = i
		}
		tg := target{addr: net.JoinHostPort(sh.Host, strconv.Itoa(sh.Port)), name: sh.Host, mode: sh.TLS,
			tls: &tls.Config{ServerName: sh.Host, RootCAs: t.cfg.RootCAs, MinVersion: tls.VersionTLS12}}
		final, err := t.converse(ctx, tg, from, rcpts, idx, data, results)
		if err != nil {
			fail(results, idx, err)
		}
		if !final {
			// Trouble before MAIL FROM (a refused password, no STARTTLS,
			// a smarthost that is down) is ours to fix, not the
			// recipients': keep the mail queued rather than bounce it.
			for _, i := range idx {
				results[i].Permanent = false
			}
		}
		return results
	}

	// Group by domain, in the order domains first appear.
	var order []string
	byDomain := map[string][]int{}
	for i, r := range rcpts {
		d, err := domainOf(r)
		if err != nil {
			results[i].Reply, results[i].Permanent = err.Error(), true
			continue
		}
		if _, ok := byDomain[d]; !ok {
			order = append(order, d)
		}
		byDomain[d] = append(byDomain[d], i)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallel)
	for _, d := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Each goroutine writes only its own recipients' entries.
			t.direct(ctx, d, from, rcpts, byDomain[d], data, results)
		}()
	}
	wg.Wait()
	return results
}

// domainOf returns the lower-cased domain of a recipient address. Address
// literals ("user@[192.0.2.1]") are refused: they would bypass the MX
// lookup and with it the choice the domain's owner made.
func domainOf(rcpt string) (string, error) {
	at := strings.LastIndexByte(rcpt, '@')
	if at <= 0 || at == len(rcpt)-1 {
		return "", fmt.Errorf("recipient %q is not an address of the form user@domain", clean(rcpt))
	}
	d := strings.ToLower(strings.TrimSuffix(rcpt[at+1:], "."))
	if strings.HasPrefix(d, "[") {
		return "", fmt.Errorf("recipient %q: address literals are not delivered to", clean(rcpt))
	}
	if !isHostname(d) {
		return "", fmt.Errorf("recipient %q: %q is not a valid domain name (internationalized names must be given in their xn-- form)", clean(rcpt), clean(d))
	}
	return d, nil
}

// isHostname reports whether d is a lower-case DNS host name with at least
// two labels of letters, digits, hyphens and underscores.
func isHostname(d string) bool {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// direct delivers to one domain's MX hosts, trying them in preference
// order until one holds a conversation past MAIL FROM.
func (t *Transport) direct(ctx context.Context, domain, from string, rcpts []string, idx []int, data []byte, results []Result) {
	hosts, err := t.res.mxHosts(ctx, domain)
	if err != nil {
		fail(results, idx, err)
		return
	}
	// A temporary failure anywhere wins over permanent ones elsewhere: a
	// domain whose good MX is down for now must not bounce because its
	// other MX is misconfigured.
	var last, lastTemp error
	note := func(err error) {
		last = err
		if _, _, perm := classify(err); !perm {
			lastTemp = err
		}
	}
	tried := 0
	for _, host := range hosts {
		if tried == maxAddresses {
			break
		}
		ips, err := t.res.addrs(ctx, host)
		if err != nil {
			note(err)
			continue
		}
		for _, ip := range ips {
			if tried == maxAddresses {
				break
			}
			if !t.cfg.AllowPrivate && !isPublic(ip) {
				note(&permanentError{fmt.Sprintf("MX host %s is at %s, a private or special address this relay does not deliver to", host, ip)})
				continue
			}
			// Opportunistic TLS: an MX's certificate is rarely valid for
			// its name, and nothing tells us it should be (no DANE or
			// MTA-STS here), so it is not verified; the encryption still
			// defeats passive listeners.
			tried++
			tg := target{addr: net.JoinHostPort(ip.String(), strconv.Itoa(t.cfg.MXPort)), name: host, mode: modeOpportunistic,
				tls: &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
			final, err := t.converse(ctx, tg, from, rcpts, idx, data, results)
			if err != nil && !final {
				// A failed STARTTLS handshake: try the same host again in
				// clear text, never on the connection that failed.
				var te *tlsError
				if errors.As(err, &te) {
					tg.mode = mailer.TLSNone
					final, err = t.converse(ctx, tg, from, rcpts, idx, data, results)
				}
			}
			if final {
				if err != nil {
					fail(results, idx, err)
				}
				return
			}
			note(err)
			if ctx.Err() != nil {
				fail(results, idx, ctx.Err())
				return
			}
		}
	}
	switch {
	case lastTemp != nil:
		fail(results, idx, lastTemp)
	case last != nil:
		fail(results, idx, last)
	default:
		fail(results, idx, &permanentError{fmt.Sprintf("no usable MX host for %s", domain)})
	}
}

// fail gives each recipient in idx err's verdict.
func fail(results []Result, idx []int, err error) {
	code, reply, perm := classify(err)
	for _, i := range idx {
		results[i].Code, results[i].Reply, results[i].OK, results[i].Permanent = code, reply, false, perm
	}
}

// classify turns an error into a reply code, a log line and whether
// retrying is pointless.
func classify(err error) (code int, reply string, permanent bool) {
	var se *smtp.SMTPError
	var pe *permanentError
	switch {
	case errors.As(err, &se):
		return se.Code, formatReply(se), se.Code >= 500
	case errors.As(err, &pe):
		return 0, clean(pe.Error()), true
	default:
		return 0, clean(err.Error()), false
	}
}

// formatReply renders a server's reply as one bounded log line.
func formatReply(se *smtp.SMTPError) string {
	s := strconv.Itoa(se.Code)
	if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return clean(s + " " + se.Message)
}

// maxReply bounds a reply kept for the log.
const maxReply = 512

// clean makes remote text safe for a one-line log: control characters
// (newlines of a multi-line reply included) become spaces, invalid UTF-8
// is replaced, and the result is cut at maxReply bytes on a rune boundary.
func clean(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		if b.Len()+len(string(r)) > maxReply {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
