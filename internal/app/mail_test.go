package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth/sealed"
	"github.com/rampart-dev/rampart/internal/egress"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
)

// fakeRelay is the relay as the app sees it.
type fakeRelay struct {
	used, limit int
	resumes     time.Time
	off         bool
	records     []rampart.MailDNSRecord
	dnsErr      error
	flushed     int
}

func (r *fakeRelay) Usage(string) (int, int, time.Time) { return r.used, r.limit, r.resumes }
func (r *fakeRelay) Endpoint() (string, int, bool)      { return "10.0.0.1", 587, !r.off }
func (r *fakeRelay) Flush() rampart.MailQueue {
	r.flushed++
	return rampart.MailQueue{Depth: 1}
}
func (r *fakeRelay) DNS(context.Context) ([]rampart.MailDNSRecord, error) {
	return r.records, r.dnsErr
}

type mailFixture struct {
	*fixture
	relay         *fakeRelay
	outbox        *mailertest.Outbox
	admin, member Actor
}

func newMailFixture(t *testing.T, opts Options) *mailFixture {
	t.Helper()
	nets, err := egress.ParseNetworks([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	box, err := sealed.LoadOrCreateKey(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	relay, outbox := &fakeRelay{limit: 300}, &mailertest.Outbox{}
	opts.Upstreams, opts.Secrets, opts.Mailer = egress.New(nets), box, outbox
	if opts.MailDomain == "" {
		opts.MailDomain = "mail.example.com"
	}
	if opts.MailRelay == nil {
		opts.MailRelay = relay
	}
	f := &mailFixture{fixture: newFixtureWith(t, opts), relay: relay, outbox: outbox}
	f.admin, f.member = UserActor(f.fixture.admin, "192.0.2.1"), UserActor(f.fixture.member, "192.0.2.2")
	ctx := t.Context()
	if err := createService(ctx, f.fixture, f.member, "shop", ""); err != nil {
		t.Fatal(err)
	}
	if err := createService(ctx, f.fixture, f.admin, "blog", ""); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMailCredentials(t *testing.T) {
	f := newMailFixture(t, Options{})
	ctx := t.Context()
	n := f.auditCount(t)

	s, err := f.app.Mail.Settings(ctx, f.member, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if s.CredentialsSetAt != nil || s.Username != "" || s.Address != "shop@mail.example.com" || !s.Enabled || s.Host != "10.0.0.1" || s.Port != 587 {
		t.Errorf("settings before credentials = %+v", s)
	}

	creds, isNew, err := f.app.Mail.Credentials(ctx, f.member, "shop", false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(creds.Password)
	if !isNew || err != nil || len(raw) != 32 || creds.Username != "shop@mail.example.com" || creds.Host != "10.0.0.1" || creds.Port != 587 {
		t.Fatalf("first credentials = %+v new=%v (%v)", creds, isNew, err)
	}
	svc, _ := f.st.ServiceByName(ctx, "shop")
	st, _ := f.st.MailState(ctx, svc.ID)
	if h := sha256.Sum256([]byte(creds.Password)); string(st.PasswordHash) != string(h[:]) {
		t.Error("the stored hash is not the SHA-256 of the password")
	}

	// Asking again shows the login, not the password.
	again, isNew, err := f.app.Mail.Credentials(ctx, f.member, "shop", false)
	if err != nil || isNew || again.Password != "" || again.Username != creds.Username {
		t.Errorf("second call = %+v new=%v %v, want the login without a password", again, isNew, err)
	}
	rotated, isNew, err := f.app.Mail.Credentials(ctx, f.admin, "shop", true)
	if err != nil || !isNew || rotated.Password == "" || rotated.Password == creds.Password {
		t.Errorf("rotate = %+v new=%v %v", rotated, isNew, err)
	}
	if got := f.auditCount(t); got != n+2 {
		t.Errorf("create and rotate wrote %d audit events, want 2", got-n)
	}
	s, _ = f.app.Mail.Settings(ctx, f.member, "shop")
	if s.CredentialsSetAt == nil || s.Username != "shop@mail.example.com" {
		t.Errorf("settings after credentials = %+v", s)
	}

	// Not the member's service; nobody; a deleted service; the relay off.
	tests := []struct {
		name  string
		actor Actor
		svc   string
		code  string
	}{
		{"another's service", f.member, "blog", rampart.ENOTFOUND},
		{"nobody", Actor{}, "shop", rampart.EUNAUTHORIZED},
		{"no such service", f.admin, "nope", rampart.ENOTFOUND},
	}
	for _, tt := range tests {
		if _, _, err := f.app.Mail.Credentials(ctx, tt.actor, tt.svc, true); rampart.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if err := f.app.Services.Delete(ctx, f.member, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.app.Mail.Credentials(ctx, f.member, "shop", true); rampart.ErrorCode(err) != rampart.ECONFLICT || !strings.Contains(err.Error(), "restore it first") {
		t.Errorf("credentials of a deleted service: %v", err)
	}

	off := newMailFixture(t, Options{})
	off.app.core.opts.MailDomain = ""
	if _, _, err := off.app.Mail.Credentials(ctx, off.member, "shop", false); rampart.ErrorCode(err) != rampart.EUNAVAILABLE || !strings.Contains(err.Error(), "mail.domain") {
		t.Errorf("credentials with the relay off: %v", err)
	}
}

// TestMailPasswordNoLeadingDash: a password that would start with '-' is
// drawn again, so that command-line tools (swaks) do not read it as an
// option. 0xF8 encodes to '-' as the first character.
func TestMailPasswordNoLeadingDash(t *testing.T) {
	dash := bytes.Repeat([]byte{0xF8}, mailPasswordBytes)
	plain := bytes.Repeat([]byte{0x04}, mailPasswordBytes)
	if !strings.HasPrefix(base64.RawURLEncoding.EncodeToString(dash), "-") {
		t.Fatal("the test's first draws do not start with '-'")
	}
	random := bytes.NewReader(append(append(append([]byte{}, dash...), dash...), plain...))
	p := newMailPassword(random)
	if want := base64.RawURLEncoding.EncodeToString(plain); p != want {
		t.Fatalf("password %q, want the third draw %q", p, want)
	}
}

func TestMailAdminOnly(t *testing.T) {
	f := newMailFixture(t, Options{})
	ctx := t.Context()
	n := f.auditCount(t)

	// The owner, a member, can neither suspend, lift nor change the quota.
	for name, err := range map[string]error{
		"suspend": f.app.Mail.Suspend(ctx, f.member, "shop", "x"),
		"resume":  f.app.Mail.Resume(ctx, f.member, "shop"),
		"quota":   f.app.Mail.SetQuota(ctx, f.member, "shop", 5000),
	} {
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN {
			t.Errorf("member %s: %v, want forbidden", name, err)
		}
	}
	if _, err := f.app.Mail.DNS(ctx, f.member); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Errorf("member DNS: %v, want forbidden", err)
	}
	if _, err := f.app.Mail.Flush(ctx, f.member); rampart.ErrorCode(err) != rampart.EFORBIDDEN || f.relay.flushed != 0 {
		t.Errorf("member flush: %v (flushed %d), want forbidden", err, f.relay.flushed)
	}
	if got := f.auditCount(t); got != n {
		t.Errorf("refused calls wrote %d audit events", got-n)
	}

	if err := f.app.Mail.SetQuota(ctx, f.admin, "shop", 50); err != nil {
		t.Fatal(err)
	}
	s, _ := f.app.Mail.Settings(ctx, f.member, "shop")
	if s.PerHour != 50 || s.PerHourDefault {
		t.Errorf("after quota 50: %d default=%v", s.PerHour, s.PerHourDefault)
	}
	if err := f.app.Mail.SetQuota(ctx, f.admin, "shop", 0); err != nil {
		t.Fatal(err)
	}
	s, _ = f.app.Mail.Settings(ctx, f.member, "shop")
	if s.PerHour != rampart.DefaultMailPerHour || !s.PerHourDefault {
		t.Errorf("after quota 0: %d default=%v", s.PerHour, s.PerHourDefault)
	}
	for _, bad := range []int{-1, rampart.MaxMailPerHour + 1} {
		err := f.app.Mail.SetQuota(ctx, f.admin, "shop", bad)
		if rampart.ErrorCode(err) != rampart.EINVALID || rampart.ErrorField(err) != "per_hour" {
			t.Errorf("quota %d: %v, want invalid per_hour", bad, err)
		}
	}

	if err := f.app.Mail.Suspend(ctx, f.admin, "shop", "bad\nline"); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("a reason with a line break: %v", err)
	}
	if err := f.app.Mail.Suspend(ctx, f.admin, "shop", strings.Repeat("x", rampart.MaxMailSuspendReason+1)); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("a huge reason: %v", err)
	}
	if err := f.app.Mail.Suspend(ctx, f.admin, "shop", ""); err != nil {
		t.Fatal(err)
	}
	s, _ = f.app.Mail.Settings(ctx, f.member, "shop")
	if !s.Suspended || s.SuspendedReason != "suspended by an admin" || s.SuspendedAt == nil {
		t.Errorf("after suspend: %+v", s)
	}
	if err := f.app.Mail.Resume(ctx, f.admin, "shop"); err != nil {
		t.Fatal(err)
	}
	if s, _ = f.app.Mail.Settings(ctx, f.member, "shop"); s.Suspended {
		t.Error("still suspended after resume")
	}
	if got := f.auditCount(t); got != n+4 {
		t.Errorf("quota twice, suspend and resume wrote %d audit events, want 4", got-n)
	}
}

func TestMailDesiredStateWithRelayOff(t *testing.T) {
	f := newMailFixture(t, Options{})
	f.relay.off = true
	ctx := t.Context()
	if err := f.app.Mail.SetQuota(ctx, f.admin, "shop", 10); err != nil {
		t.Errorf("quota with the relay off: %v", err)
	}
	if err := f.app.Mail.Suspend(ctx, f.admin, "shop", "hold"); err != nil {
		t.Errorf("suspend with the relay off: %v", err)
	}
	s, err := f.app.Mail.Settings(ctx, f.member, "shop")
	if err != nil || s.Enabled || s.PerHour != 10 || !s.Suspended || s.Used != 0 {
		t.Errorf("settings with the relay off = %+v, %v", s, err)
	}
	if _, err := f.app.Mail.DNS(ctx, f.admin); rampart.ErrorCode(err) != rampart.EUNAVAILABLE || !strings.Contains(err.Error(), "set mail.domain") {
		t.Errorf("DNS with the relay off: %v", err)
	}
	if _, err := f.app.Mail.Flush(ctx, f.admin); rampart.ErrorCode(err) != rampart.EUNAVAILABLE {
		t.Errorf("flush with the relay off: %v", err)
	}
	if err := f.app.Mail.Resume(ctx, f.admin, "shop"); err != nil {
		t.Errorf("resume with the relay off: %v", err)
	}
}

func TestMailDeletedServiceRefused(t *testing.T) {
	f := newMailFixture(t, Options{})
	ctx := t.Context()
	if err := f.app.Services.Delete(ctx, f.admin, "shop"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"suspend": f.app.Mail.Suspend(ctx, f.admin, "shop", ""),
		"resume":  f.app.Mail.Resume(ctx, f.admin, "shop"),
		"quota":   f.app.Mail.SetQuota(ctx, f.admin, "shop", 10),
	} {
		if rampart.ErrorCode(err) != rampart.ECONFLICT {
			t.Errorf("%s on a deleted service: %v, want conflict", name, err)
		}
	}
	// Reading what it did stays possible.
	if _, err := f.app.Mail.Log(ctx, f.admin, "shop", 0, 0); err != nil {
		t.Errorf("log of a deleted service: %v", err)
	}
}

func TestMailUsageAndDNS(t *testing.T) {
	f := newMailFixture(t, Options{})
	ctx := t.Context()
	resumes := time.Date(2026, 11, 25, 12, 30, 0, 0, time.UTC)
	f.relay.used, f.relay.limit, f.relay.resumes = 300, 300, resumes
	s, _ := f.app.Mail.Settings(ctx, f.member, "shop")
	if s.Used != 300 || s.ResumesAt == nil || !s.ResumesAt.Equal(resumes) {
		t.Errorf("at the limit: %+v", s)
	}
	f.relay.used = 12
	if s, _ = f.app.Mail.Settings(ctx, f.member, "shop"); s.Used != 12 || s.ResumesAt != nil {
		t.Errorf("under the limit: used %d resumes %v", s.Used, s.ResumesAt)
	}

	recs, err := f.app.Mail.DNS(ctx, f.admin)
	if err != nil || recs == nil || len(recs) != 0 {
		t.Errorf("DNS with no records = %v, %v; want an empty list", recs, err)
	}
	f.relay.records = []rampart.MailDNSRecord{{Purpose: "spf", Name: "mail.example.com", Type: "TXT", Value: "v=spf1 ip4:192.0.2.1 -all"}}
	if recs, err = f.app.Mail.DNS(ctx, f.admin); err != nil || len(recs) != 1 || recs[0].Purpose != "spf" {
		t.Errorf("DNS = %v, %v", recs, err)
	}
	if q, err := f.app.Mail.Flush(ctx, f.admin); err != nil || q.Depth != 1 || f.relay.flushed != 1 {
		t.Errorf("flush = %+v, %v (flushed %d)", q, err, f.relay.flushed)
	}
	f.relay.dnsErr = errors.New("resolver down")
	if _, err := f.app.Mail.DNS(ctx, f.admin); err == nil {
		t.Error("a failing DNS check returned no error")
	}
}

func TestMailViolationsSuspend(t *testing.T) {
	f := newMailFixture(t, Options{MailViolationsToSuspend: 2})
	ctx := t.Context()
	n := f.auditCount(t)

	suspended, err := f.app.Mail.RecordViolation(ctx, "shop", "sender other@mail.example.com")
	if err != nil || suspended {
		t.Fatalf("first violation: suspended=%v %v", suspended, err)
	}
	// One outside the window does not count toward the next.
	f.clock.add(MailViolationWindow + time.Minute)
	if suspended, _ := f.app.Mail.RecordViolation(ctx, "shop", "List-Unsubscribe header"); suspended {
		t.Fatal("a violation a day after the first suspended")
	}
	if f.outbox.Count() != 0 {
		t.Error("mail went out before a suspension")
	}
	suspended, err = f.app.Mail.RecordViolation(ctx, "shop", "Precedence: bulk")
	if err != nil || !suspended {
		t.Fatalf("second violation in the window: suspended=%v %v", suspended, err)
	}
	s, _ := f.app.Mail.Settings(ctx, f.member, "shop")
	if !s.Suspended || s.Violations24h != 2 || !strings.Contains(s.SuspendedReason, "Precedence: bulk") {
		t.Errorf("after suspension: %+v", s)
	}
	msg := f.outbox.Last(t, "mia@example.com")
	for _, want := range []string{"shop", "suspended", "Precedence: bulk", "an admin", "rampart mail resume shop"} {
		if !strings.Contains(msg.Subject+msg.Text, want) {
			t.Errorf("the notice does not say %q:\n%s\n%s", want, msg.Subject, msg.Text)
		}
	}
	// Further violations while suspended neither re-suspend nor re-mail.
	if suspended, _ := f.app.Mail.RecordViolation(ctx, "shop", "again"); suspended || f.outbox.Count() != 1 {
		t.Errorf("a violation while suspended: suspended=%v, %d mails", suspended, f.outbox.Count())
	}
	if got := f.auditCount(t); got != n+1 {
		t.Errorf("the suspension wrote %d audit events, want 1", got-n)
	}

	// Resume clears the count: the next violation is the first again.
	if err := f.app.Mail.Resume(ctx, f.admin, "shop"); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.app.Mail.Settings(ctx, f.member, "shop"); s.Violations24h != 0 {
		t.Errorf("violations after resume = %d", s.Violations24h)
	}
	if suspended, _ := f.app.Mail.RecordViolation(ctx, "shop", "x"); suspended {
		t.Error("the first violation after a resume suspended again")
	}
	if _, err := f.app.Mail.RecordViolation(ctx, "nope", "x"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("a violation of no service: %v", err)
	}
	// A reason from outside is made one bounded line of valid UTF-8
	// before it is stored or mailed.
	if _, err := f.app.Mail.RecordViolation(ctx, "shop", "From: x\r\nBcc: all@example.org \xff"+strings.Repeat("é", 10_000)); err != nil {
		t.Errorf("a hostile reason: %v", err)
	}
	msg = f.outbox.Last(t, "mia@example.com")
	s, _ = f.app.Mail.Settings(ctx, f.member, "shop")
	if r := s.SuspendedReason; len(r) > 2*rampart.MaxMailSuspendReason || strings.ContainsAny(r, "\r\n") || !utf8.ValidString(r) {
		t.Errorf("the suspension reason is %d bytes: %q", len(r), r)
	}
	if strings.Contains(msg.Text, "\r\nBcc") {
		t.Errorf("the notice carries the raw reason: %q", msg.Text)
	}
}

func TestMailLog(t *testing.T) {
	f := newMailFixture(t, Options{})
	ctx := t.Context()
	svc, _ := f.st.ServiceByName(ctx, "shop")
	for _, q := range []string{"a", "b", "c"} {
		m := &rampart.MailMessage{QueueID: q, ServiceID: svc.ID, From: "shop@mail.example.com", Status: rampart.MailQueued}
		if err := f.st.AddMailMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	list, err := f.app.Mail.Log(ctx, f.member, "shop", 0, 2)
	if err != nil || len(list) != 2 || list[0].QueueID != "b" || list[1].QueueID != "c" {
		t.Fatalf("last 2 = %v, %v", list, err)
	}
	if rest, _ := f.app.Mail.Log(ctx, f.member, "shop", list[1].ID, 0); len(rest) != 0 {
		t.Errorf("after the newest: %d rows", len(rest))
	}
	tests := []struct {
		name        string
		actor       Actor
		svc         string
		after       int64
		limit       int
		code, field string
	}{
		{"another's service", f.member, "blog", 0, 0, rampart.ENOTFOUND, ""},
		{"negative after", f.member, "shop", -1, 0, rampart.EINVALID, "after"},
		{"negative limit", f.member, "shop", 0, -1, rampart.EINVALID, "limit"},
		{"huge limit", f.member, "shop", 0, 1 << 30, rampart.EINVALID, "limit"},
		{"nobody", Actor{}, "shop", 0, 0, rampart.EUNAUTHORIZED, ""},
	}
	for _, tt := range tests {
		_, err := f.app.Mail.Log(ctx, tt.actor, tt.svc, tt.after, tt.limit)
		if rampart.ErrorCode(err) != tt.code || rampart.ErrorField(err) != tt.field {
			t.Errorf("%s: %v, want %s on %q", tt.name, err, tt.code, tt.field)
		}
	}
}

func TestDKIMKeys(t *testing.T) {
	f := newMailFixture(t, Options{})
	ctx := t.Context()
	calls := 0
	gen := func() ([]rampart.DKIMKey, error) {
		calls++
		return []rampart.DKIMKey{{Selector: "rampart1", Algorithm: "ed25519", PrivatePEM: []byte("-----BEGIN PRIVATE KEY-----\nkey\n")}}, nil
	}
	keys, err := f.app.Mail.DKIMKeys(ctx, "mail.example.com", gen)
	if err != nil || len(keys) != 1 || keys[0].Domain != "mail.example.com" || !strings.HasPrefix(string(keys[0].PrivatePEM), "-----BEGIN") {
		t.Fatalf("first DKIMKeys = %+v, %v", keys, err)
	}
	stored, _ := f.st.DKIMKeys(ctx, "mail.example.com")
	if len(stored) != 1 || strings.Contains(string(stored[0].PrivatePEM), "PRIVATE KEY") {
		t.Error("the private key is stored in the clear")
	}
	again, err := f.app.Mail.DKIMKeys(ctx, "mail.example.com", gen)
	if err != nil || calls != 1 || string(again[0].PrivatePEM) != string(keys[0].PrivatePEM) {
		t.Errorf("second DKIMKeys generated again (%d calls) or differs: %v", calls, err)
	}
	if _, err := f.app.Mail.DKIMKeys(ctx, "other.example.com", func() ([]rampart.DKIMKey, error) { return nil, errors.New("no entropy") }); err == nil || !strings.Contains(err.Error(), "no entropy") {
		t.Errorf("a failing generator: %v", err)
	}
	f.app.core.opts.Secrets = nil
	if _, err := f.app.Mail.DKIMKeys(ctx, "mail.example.com", gen); rampart.ErrorCode(err) != rampart.EUNAVAILABLE {
		t.Errorf("without the secret key: %v", err)
	}
}

// FuzzOneLine: whatever the relay quotes, what is stored and mailed is
// one line of valid UTF-8 within the bound.
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"", "spam", "a\r\nb", "\xff\xfe", "é" + strings.Repeat("x", 600), "\u2028\x1b[2J"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := oneLine(s, 100)
		if len(got) > 100 || !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\x00\x1b") {
			t.Fatalf("oneLine(%q) = %q", s, got)
		}
	})
}
