package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type backend struct{ r *Relay }

// NewSession runs at the first EHLO/HELO; the peer has already passed the
// guard listener.
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{r: b.r, conn: c, helo: c.Hostname()}
	nc := c.Conn()
	inner := nc
	if tc, ok := inner.(*tls.Conn); ok { // after STARTTLS, go-smtp starts a new session
		inner = tc.NetConn()
	}
	if gc, ok := inner.(*guardConn); ok {
		s.guard = gc
	}
	s.ip = peerAddr(nc.RemoteAddr())
	s.service = b.r.identifyByAddress(s.ip)
	if s.service != "" {
		s.byAddress = true
	}
	return s, nil
}

// identifyByAddress returns the service owning ip when ip is in a network
// configured for it and exactly one account claims it.
func (r *Relay) identifyByAddress(ip netip.Addr) string {
	in := false
	for _, p := range r.cfg.IdentifyByAddress {
		if p.Contains(ip) {
			in = true
			break
		}
	}
	if !in {
		return ""
	}
	if names := r.accounts.Load().byAddr[ip]; len(names) == 1 {
		return names[0]
	}
	return ""
}

type session struct {
	r         *Relay
	conn      *smtp.Conn
	guard     *guardConn
	ip        netip.Addr
	helo      string
	service   string // "" until identified
	byAddress bool
	authed    bool

	from string
	to   []string
}

func smtpErr(code int, enh [3]int, format string, a ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode(enh), Message: fmt.Sprintf(format, a...)}
}

func (s *session) sender() string { return s.service + "@" + s.r.cfg.Domain }

func (s *session) env() Envelope {
	return Envelope{Service: s.service, From: s.from, To: append([]string(nil), s.to...)}
}

// refuse reports a refusal to Events and returns it as the SMTP reply.
func (s *session) refuse(code int, enh [3]int, format string, a ...any) error {
	e := smtpErr(code, enh, format, a...)
	s.r.events.Refused(s.service, s.env(), code, e.Message)
	s.r.log.Info("mail: refused", "service", s.service, "peer", s.ip.String(), "code", code, "reason", e.Message)
	return e
}

func (s *session) AuthMechanisms() []string {
	if s.r.cfg.TLS == nil {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.r.authFail.blocked(s.ip.String(), s.r.cfg.Now()) {
		s.cutOff()
		return nil, smtpErr(421, [3]int{4, 7, 0}, "too many failed authentications from %s; try again later", s.ip)
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(s.authenticate), nil
	case sasl.Login:
		return newLoginServer(s.authenticate), nil
	}
	return nil, smtpErr(504, [3]int{5, 5, 4}, "unsupported authentication mechanism %q; use PLAIN or LOGIN", mech)
}

// cutOff closes the connection right after the next reply.
func (s *session) cutOff() {
	if s.guard != nil {
		s.guard.closeAfterWrite()
	}
}

// authenticate checks a service name and password; the identity (authzid), if
// any, must be the same service. Passwords are compared as SHA-256 hashes in
// constant time, and an unknown name costs the same as a wrong password.
func (s *session) authenticate(identity, username, password string) error {
	now := s.r.cfg.Now()
	// The login is the service's address, as the credentials show it, or
	// its bare name.
	username, identity = s.r.loginName(username), s.r.loginName(identity)
	acct := s.r.accounts.Load().byName[username]
	want := [32]byte{}
	if acct != nil {
		want = acct.PasswordHash
	}
	got := sha256.Sum256([]byte(password))
	ok := subtle.ConstantTimeCompare(got[:], want[:]) == 1 && acct != nil
	if ok && identity != "" && identity != username {
		ok = false
	}
	if !ok {
		s.r.authFail.add(s.ip.String(), now)
		s.r.events.Refused("", Envelope{}, 535, "authentication failed")
		s.r.log.Warn("mail: authentication failed", "peer", s.ip.String(), "user", truncate(username, 64))
		if s.r.authFail.blocked(s.ip.String(), now) {
			s.cutOff()
			return smtpErr(421, [3]int{4, 7, 0}, "too many failed authentications from %s; try again later", s.ip)
		}
		return smtpErr(535, [3]int{5, 7, 8}, "authentication failed: wrong service name or SMTP password")
	}
	s.service, s.authed, s.byAddress = username, true, false
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	if s.service == "" {
		hint := "use AUTH after STARTTLS with the service's SMTP credentials"
		if s.r.cfg.TLS == nil {
			hint = "connect from the service's own address"
		}
		return s.refuse(530, [3]int{5, 7, 0}, "authentication required: %s", hint)
	}
	acct := s.r.accounts.Load().byName[s.service]
	if acct == nil {
		return s.refuse(550, [3]int{5, 7, 1}, "service %q may no longer send mail (its account is gone)", s.service)
	}
	if acct.Suspended {
		reason := acct.SuspendedReason
		if reason == "" {
			reason = "no reason given"
		}
		return s.refuse(550, [3]int{5, 7, 1}, "mail for service %s is suspended (%s); an admin must lift the suspension", s.service, reason)
	}
	if !sameMailbox(from, s.sender()) {
		return s.refuse(550, [3]int{5, 7, 1}, "sender <%s> not allowed: service %s may only send as <%s>", truncate(from, 200), s.service, s.sender())
	}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.service == "" || s.from == "" {
		return s.refuse(503, [3]int{5, 5, 1}, "send MAIL FROM first")
	}
	now := s.r.cfg.Now()
	limit := s.r.limitFor(s.service)
	if at := s.r.quota.freeAt(s.service, now, limit, len(s.to)+1); at.After(now) {
		return s.refuse(451, [3]int{4, 7, 1}, "quota of %d recipients per hour reached; sending resumes at %s", limit, at.UTC().Format(time.RFC3339))
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(rd io.Reader) error {
	if !s.r.enterData() {
		return smtpErr(421, [3]int{4, 3, 2}, "mail relay is shutting down; try again shortly")
	}
	// The message is finished only when its reply is out: go-smtp writes it
	// after Data returns, so the guard conn calls leaveData on that write.
	if s.guard != nil {
		defer s.guard.afterNextWrite(s.r.leaveData)
	} else {
		defer s.r.leaveData()
	}
	raw, err := io.ReadAll(rd)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.r.events.Refused(s.service, s.env(), se.Code, se.Message)
			return se
		}
		if errors.Is(err, smtp.ErrTooLongLine) {
			return s.refuse(500, [3]int{5, 5, 2}, "a line of the message is longer than %d bytes; wrap long lines (RFC 5322 allows 998)", maxLineLength)
		}
		return err
	}
	if len(s.to) > s.r.cfg.BulkRecipients {
		return s.violation(fmt.Sprintf("bulk mail is not permitted: %d recipients in one message, at most %d; this relay is for transactional mail only", len(s.to), s.r.cfg.BulkRecipients))
	}
	msg := normalizeCRLF(raw)
	chk, ref := checkMessage(msg, s.sender())
	if ref != nil {
		if ref.bulk {
			return s.violation(ref.msg)
		}
		return s.refuse(ref.code, ref.enh, "%s", ref.msg)
	}
	now := s.r.cfg.Now()
	bodyKey := s.service + "\x00" + string(chk.bodyHash[:])
	if sent, _ := s.r.bodies.count(bodyKey, now); sent+len(s.to) > s.r.cfg.SameBodyLimit {
		return s.violation(fmt.Sprintf("bulk mail is not permitted: the same body went to %d recipients within the hour, at most %d; this relay is for transactional mail only", sent+len(s.to), s.r.cfg.SameBodyLimit))
	}
	// Reserve the recipients now (another session of the service may have
	// used the quota since RCPT) and give them back if the message fails.
	limit := s.r.limitFor(s.service)
	ok, at := s.r.quota.reserve(s.service, now, limit, len(s.to))
	if !ok {
		return s.refuse(451, [3]int{4, 7, 1}, "quota of %d recipients per hour reached; sending resumes at %s", limit, at.UTC().Format(time.RFC3339))
	}
	accepted := false
	defer func() {
		if !accepted {
			s.r.quota.undo(s.service, now, len(s.to))
		}
	}()

	// DKIM signing is not done here: the queue's deliverer signs as the
	// message leaves, off the path to the 250.
	out := s.trace(now, chk, msg)
	ctx, cancel := context.WithTimeout(context.Background(), s.r.cfg.Timeout)
	defer cancel()
	env := s.env()
	id, err := s.r.queue.Put(ctx, env, out)
	if err != nil {
		s.r.log.Error("mail: queueing failed", "service", s.service, "err", err)
		return s.refuse(451, [3]int{4, 3, 0}, "could not queue the message; nothing was accepted, try again later")
	}
	accepted = true
	s.r.bodies.add(bodyKey, now, len(s.to))
	s.r.events.Accepted(s.service, id, env, len(out), chk.subject)
	s.r.log.Info("mail: accepted", "service", s.service, "id", id, "recipients", len(s.to), "size", len(out))
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "queued as " + id}
}

// violation refuses a bulk message and reports it to the control plane.
func (s *session) violation(reason string) error {
	s.r.events.Violation(s.service, reason)
	return s.refuse(550, [3]int{5, 7, 1}, "%s", reason)
}

// trace prepends a Received header and adds Date and Message-ID when missing.
func (s *session) trace(now time.Time, chk *checkedMessage, msg []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(msg) + 512)
	with := "ESMTP"
	if _, isTLS := s.conn.TLSConnectionState(); isTLS {
		with += "S"
	}
	if s.authed {
		with += "A"
	}
	helo := strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '(' || r == ')' || r == ';' {
			return '_'
		}
		return r
	}, truncate(s.helo, 100))
	fmt.Fprintf(&b, "Received: from %s (%s [%s])\r\n\tby %s (rampart) with %s;\r\n\t%s\r\n",
		helo, s.service, ipLiteral(s.ip), s.r.cfg.Hostname, with, now.UTC().Format(time.RFC1123Z))
	if !chk.hasDate {
		fmt.Fprintf(&b, "Date: %s\r\n", now.UTC().Format(time.RFC1123Z))
	}
	if !chk.hasMsgID {
		var id [16]byte
		rand.Read(id[:])
		fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), s.r.cfg.Domain)
	}
	if chk.headerEnd == len(msg) && !bytes.HasSuffix(msg, []byte("\r\n\r\n")) {
		msg = append(msg, '\r', '\n') // a header-only message gets its empty line
	}
	b.Write(msg)
	return b.Bytes()
}

func ipLiteral(ip netip.Addr) string {
	if ip.Is6() {
		return "IPv6:" + ip.String()
	}
	return ip.String()
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

var _ net.Conn = (*guardConn)(nil)

// loginName is the service a login names: "shop" for "shop" and for
// "shop@<domain>" (the domain in any case).
func (r *Relay) loginName(login string) string {
	if at := strings.LastIndexByte(login, '@'); at >= 0 && strings.EqualFold(login[at+1:], r.cfg.Domain) {
		return login[:at]
	}
	return login
}
