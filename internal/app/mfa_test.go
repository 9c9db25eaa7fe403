package app

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/auth/sealed"
	"github.com/rampart-dev/rampart/internal/auth/totp"
	"github.com/rampart-dev/rampart/internal/mailer/mailertest"
)

type mfaFixture struct {
	*fixture
	mail *mailertest.Outbox
	dir  string
}

func newMFAFixture(t *testing.T) *mfaFixture {
	t.Helper()
	dir := t.TempDir()
	box, err := sealed.LoadOrCreateKey(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	mail := &mailertest.Outbox{}
	return &mfaFixture{fixture: newFixtureWith(t, Options{Mailer: mail, Secrets: box}), mail: mail, dir: dir}
}

// start begins a member login and returns its challenge.
func (f *mfaFixture) start(t *testing.T) *rampart.LoginStep {
	t.Helper()
	step, u, err := f.app.Accounts.StartLogin(t.Context(), rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "192.0.2.9"})
	if err != nil || u != nil || step.Challenge == "" {
		t.Fatalf("StartLogin = %+v, %v, %v; want a challenge", step, u, err)
	}
	return step
}

func TestEmailCodeLogin(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	step := f.start(t)
	if step.Method != rampart.MFAEmail || step.SentTo != "m••@example.com" || !step.ExpiresAt.Equal(f.clock.now().Add(10*time.Minute)) {
		t.Fatalf("step = %+v", step)
	}
	code := f.mail.Code(t, "mia@example.com")
	if !strings.Contains(f.mail.Last(t, "mia@example.com").Subject, code) {
		t.Errorf("subject %q does not carry the code", f.mail.Last(t, "mia@example.com").Subject)
	}
	wrong := "123456"
	if code == wrong {
		wrong = "654321"
	}
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, wrong, "192.0.2.9"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("wrong code: %v", err)
	}
	u, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code[:3]+" "+code[3:], "192.0.2.9")
	if err != nil || u.ID != f.member.ID {
		t.Fatalf("right code: %v, %v", u, err)
	}
	// Single use.
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code, "192.0.2.9"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED || !strings.Contains(err.Error(), "log in again") {
		t.Fatalf("second use: %v", err)
	}
	// Another login's code does not open this one.
	a, b := f.start(t), f.start(t)
	codeB := f.mail.Code(t, "mia@example.com")
	if _, err := f.app.Accounts.FinishLogin(ctx, a.Challenge, codeB, "192.0.2.9"); err == nil {
		t.Fatal("login A accepted login B's code")
	}
	if _, err := f.app.Accounts.FinishLogin(ctx, b.Challenge, codeB, "192.0.2.9"); err != nil {
		t.Fatalf("login B: %v", err)
	}
}

func TestEmailCodeExpires(t *testing.T) {
	f := newMFAFixture(t)
	step := f.start(t)
	code := f.mail.Code(t, "mia@example.com")
	f.clock.add(rampart.EmailCodeTTL)
	_, err := f.app.Accounts.FinishLogin(t.Context(), step.Challenge, code, "192.0.2.9")
	if rampart.ErrorCode(err) != rampart.EUNAUTHORIZED || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired code: %v", err)
	}
}

func TestEmailCodeAttempts(t *testing.T) {
	f := newMFAFixture(t)
	step := f.start(t)
	code := f.mail.Code(t, "mia@example.com")
	wrong := "123456"
	if code == wrong {
		wrong = "654321"
	}
	for i := range rampart.EmailCodeAttempts {
		if _, err := f.app.Accounts.FinishLogin(t.Context(), step.Challenge, wrong, "192.0.2.9"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
		// Past the growing delay, which is the throttle's business: this
		// test is about the code's own limit.
		f.clock.add(10 * time.Second)
	}
	// The 6th attempt is refused even with the right code, and ends the login.
	if _, err := f.app.Accounts.FinishLogin(t.Context(), step.Challenge, code, "192.0.2.9"); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Fatalf("6th attempt with the right code: %v", err)
	}
	if _, err := f.app.Accounts.FinishLogin(t.Context(), step.Challenge, code, "192.0.2.9"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("after the login ended: %v", err)
	}
}

func TestEmailCodeResend(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	step := f.start(t)
	first := f.mail.Code(t, "mia@example.com")
	if _, err := f.app.Accounts.ResendCode(ctx, step.Challenge, "192.0.2.9"); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Fatalf("immediate resend: %v", err)
	}
	sent := f.mail.Count()
	f.clock.add(rampart.EmailCodeResend)
	if _, err := f.app.Accounts.ResendCode(ctx, step.Challenge, "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	if f.mail.Count() != sent+1 {
		t.Fatal("resend sent no mail")
	}
	second := f.mail.Code(t, "mia@example.com")
	if first != second {
		if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, first, "192.0.2.9"); err == nil {
			t.Fatal("the replaced code still works")
		}
	}
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, second, "192.0.2.9"); err != nil {
		t.Fatalf("new code: %v", err)
	}
	// At most EmailCodeSends per login.
	step = f.start(t)
	for range rampart.EmailCodeSends - 1 {
		f.clock.add(rampart.EmailCodeResend)
		if _, err := f.app.Accounts.ResendCode(ctx, step.Challenge, "192.0.2.9"); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.add(rampart.EmailCodeResend)
	if _, err := f.app.Accounts.ResendCode(ctx, step.Challenge, "192.0.2.9"); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Fatalf("send %d: %v", rampart.EmailCodeSends+1, err)
	}
}

// enrol turns the member's authenticator app on and returns its secret and
// recovery codes.
func (f *mfaFixture) enrol(t *testing.T) (string, []string) {
	t.Helper()
	ctx := t.Context()
	mia := UserActor(f.member, "192.0.2.9")
	k, err := f.app.Accounts.BeginTOTP(ctx, mia)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.URL, "otpauth://totp/") || len(k.QRPNG) == 0 || len(k.Secret) < 26 {
		t.Fatalf("enrolment = %q %q (%d bytes of PNG)", k.Secret, k.URL, len(k.QRPNG))
	}
	// A reload mid-enrolment shows the same seed.
	again, err := f.app.Accounts.PendingTOTP(ctx, mia)
	if err != nil || again.Secret != k.Secret {
		t.Fatalf("PendingTOTP = %v, %v", again, err)
	}
	if _, err := f.app.Accounts.ConfirmTOTP(ctx, mia, "12345"); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Fatalf("malformed code: %v", err)
	}
	code, _ := totp.Code(k.Secret, f.clock.now().Add(-time.Hour))
	if _, err := f.app.Accounts.ConfirmTOTP(ctx, mia, code); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Fatalf("stale code: %v", err)
	}
	code, _ = totp.Code(k.Secret, f.clock.now())
	codes, err := f.app.Accounts.ConfirmTOTP(ctx, mia, code)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != rampart.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if !strings.Contains(f.mail.Last(t, "mia@example.com").Subject, "Authenticator app turned on") {
		t.Errorf("no notice mail: %q", f.mail.Last(t, "mia@example.com").Subject)
	}
	return k.Secret, codes
}

func TestTOTPEnrolAndLogin(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	secret, _ := f.enrol(t)

	sent := f.mail.Count()
	step := f.start(t)
	if step.Method != rampart.MFATOTP || f.mail.Count() != sent {
		t.Fatalf("login after enrolment: %+v, %d new mails", step, f.mail.Count()-sent)
	}
	// The code that confirmed the enrolment was spent with it.
	code, _ := totp.Code(secret, f.clock.now())
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code, "192.0.2.9"); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replayed code: %v", err)
	}
	f.clock.add(30 * time.Second)
	code, _ = totp.Code(secret, f.clock.now())
	if u, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code, "192.0.2.9"); err != nil || u.ID != f.member.ID {
		t.Fatalf("fresh code: %v, %v", u, err)
	}
	// The same code on another login is a replay.
	step = f.start(t)
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code, "192.0.2.9"); err == nil {
		t.Fatal("a code worked twice")
	}
	// One step of skew either way is fine.
	f.clock.add(30 * time.Second)
	code, _ = totp.Code(secret, f.clock.now().Add(30*time.Second))
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, code, "192.0.2.9"); err != nil {
		t.Fatalf("code one step ahead: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	_, codes := f.enrol(t)
	step := f.start(t)
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, strings.ToUpper(codes[3]), "192.0.2.9"); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	step = f.start(t)
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, codes[3], "192.0.2.9"); err == nil {
		t.Fatal("a recovery code worked twice")
	}
	st, err := f.app.Accounts.MFAStatus(ctx, UserActor(f.member, ""))
	if err != nil || st.RecoveryUnused != rampart.RecoveryCodeCount-1 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	// A new set replaces the old one.
	fresh, err := f.app.Accounts.RegenerateRecoveryCodes(ctx, UserActor(f.member, ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, codes[4], "192.0.2.9"); err == nil {
		t.Fatal("an old recovery code works after regenerating")
	}
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, fresh[0], "192.0.2.9"); err != nil {
		t.Fatalf("new recovery code: %v", err)
	}
}

func TestDisableMFA(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	mia := UserActor(f.member, "192.0.2.9")
	c, err := f.app.Accounts.StartConfirm(ctx, mia)
	if err != nil || c.Method != rampart.MFAEmail {
		t.Fatalf("StartConfirm = %+v, %v", c, err)
	}
	code := f.mail.Code(t, "mia@example.com")
	if err := f.app.Accounts.DisableMFA(ctx, mia, "disabl", c.Challenge, code); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Fatalf("without typing disable: %v", err)
	}
	// Another user's challenge does not confirm for mia.
	other, _, err := f.app.Accounts.StartLogin(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "correct horse battery", IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.Accounts.DisableMFA(ctx, mia, "disable", other.Challenge, f.mail.Code(t, "admin@example.com")); err == nil {
		t.Fatal("the admin's login code turned mia's MFA off")
	}
	if err := f.app.Accounts.DisableMFA(ctx, mia, "disable", c.Challenge, code); err != nil {
		t.Fatal(err)
	}
	step, u, err := f.app.Accounts.StartLogin(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "192.0.2.9"})
	if err != nil || u == nil || step.Method != rampart.MFANone {
		t.Fatalf("login without MFA: %+v, %v, %v", step, u, err)
	}
}

func TestLeavingTheAppNeedsItsCode(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	mia := UserActor(f.member, "192.0.2.9")
	secret, _ := f.enrol(t)
	if err := f.app.Accounts.UseEmailCodes(ctx, mia, "", ""); err == nil {
		t.Fatal("switched from the app to email without its code")
	}
	c, err := f.app.Accounts.StartConfirm(ctx, mia)
	if err != nil || c.Method != rampart.MFATOTP {
		t.Fatalf("StartConfirm = %+v, %v", c, err)
	}
	f.clock.add(30 * time.Second)
	code, _ := totp.Code(secret, f.clock.now())
	if err := f.app.Accounts.UseEmailCodes(ctx, mia, c.Challenge, code); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.app.Accounts.MFAStatus(ctx, mia); st.Method != rampart.MFAEmail {
		t.Fatalf("method = %q", st.Method)
	}
}

func TestResetMFA(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	f.enrol(t)
	if _, err := f.app.Accounts.ResetMFA(ctx, UserActor(f.member, ""), "admin@example.com"); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Fatalf("member resetting: %v", err)
	}
	if _, err := f.app.Accounts.ResetMFA(ctx, OperatorActor(), "mia@example.com"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.mail.Last(t, "mia@example.com").Subject, "reset") {
		t.Errorf("user not told: %q", f.mail.Last(t, "mia@example.com").Subject)
	}
	step := f.start(t)
	if step.Method != rampart.MFAEmail {
		t.Fatalf("after reset: %+v", step)
	}
	if _, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, f.mail.Code(t, "mia@example.com"), "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	evs, err := f.app.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range evs {
		found = found || e.Action == "mfa.reset" && e.Actor == "operator" && strings.Contains(e.Detail, "mia@example.com")
	}
	if !found {
		t.Error("no mfa.reset audit event")
	}
}

func TestKnownDeviceKeepsItsOwnBudget(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	device := f.app.Accounts.DeviceToken(f.member)
	// A stranger uses up the account's budget from many addresses.
	for i := 0; i < LoginFailuresPerAccount; i++ {
		_, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "guess guess", IP: "203.0.113." + string(rune('1'+i%9))})
		if rampart.ErrorCode(err) == rampart.ETOOMANY {
			f.clock.add(f.app.Accounts.byAccount.Blocked("mia@example.com", f.clock.now()))
			i--
		}
	}
	if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "192.0.2.9"}); rampart.ErrorCode(err) != rampart.ETOOMANY {
		t.Fatalf("a new browser during the attack: %v", err)
	}
	if !strings.Contains(f.mail.Last(t, "mia@example.com").Subject, "Failed logins") {
		t.Errorf("owner not told of the attack: %q", f.mail.Last(t, "mia@example.com").Subject)
	}
	// The owner's browser still gets in.
	if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "192.0.2.9", Device: device}); err != nil {
		t.Fatalf("known browser during the attack: %v", err)
	}
	// A device token for someone else, or tampered with, is no help.
	for _, tok := range []string{f.app.Accounts.DeviceToken(f.admin), device[:len(device)-2] + "AA", "garbage"} {
		if _, err := f.app.Accounts.Login(ctx, rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "192.0.2.9", Device: tok}); rampart.ErrorCode(err) != rampart.ETOOMANY {
			t.Errorf("device %q: %v", tok, err)
		}
	}
}

// TestDatabaseRevealsNoSecret: a copy of the SQLite file alone does not
// give away an app seed, an API token, a login code or a recovery code.
func TestDatabaseRevealsNoSecret(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	secret, recovery := f.enrol(t)
	token, _, err := f.app.Accounts.CreateToken(ctx, OperatorActor(), rampart.TokenInput{Email: "admin@example.com", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	f.start(t) // a pending app login
	step, _, err := f.app.Accounts.StartLogin(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "correct horse battery", IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	code := f.mail.Code(t, "admin@example.com")
	// The stored form of the emailed code is a MAC keyed by the challenge
	// secret: neither the code nor a plain hash of it.
	c, err := f.st.LoginChallengeByHash(ctx, auth.HashSecret(step.Challenge))
	if err != nil {
		t.Fatal(err)
	}
	if plain := sha256.Sum256([]byte(code)); len(c.CodeMAC) != 32 || bytes.Equal(c.CodeMAC, plain[:]) || bytes.Contains(c.CodeMAC, []byte(code)) {
		t.Errorf("code stored as %x", c.CodeMAC)
	}
	// Everything on disk: the database, its WAL and shared memory.
	var all []byte
	files, _ := filepath.Glob(f.dbPath + "*")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(files) == 0 || len(all) == 0 {
		t.Fatalf("no database files at %s", f.dbPath)
	}
	upper := bytes.ToUpper(all)
	for what, s := range map[string]string{
		"app seed":        secret,
		"API token":       token,
		"login challenge": step.Challenge,
		"recovery code":   strings.ReplaceAll(recovery[0], "-", ""),
		"login mail":      "Your rampart login code",
	} {
		if bytes.Contains(all, []byte(s)) || bytes.Contains(upper, bytes.ToUpper([]byte(s))) {
			t.Errorf("the database files hold the %s", what)
		}
	}
}

// TestCodeGuessingIsThrottled: wrong second factors are throttled per
// account (whatever the address) and per client (IPv6 by /64, across
// logins), with a wait that grows, not only by each code's own limit.
func TestCodeGuessingIsThrottled(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	guess := func(step *rampart.LoginStep, ip string) error {
		_, err := f.app.Accounts.FinishLogin(ctx, step.Challenge, "000000", ip)
		return err
	}
	// Per account: the first wrong codes are free, each from another
	// address; then each must wait, and the wait grows.
	step := f.start(t)
	for i := range LoginFreeFailures + 1 {
		if err := guess(step, fmt.Sprintf("192.0.2.%d", i+1)); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	if err := guess(step, "192.0.2.10"); rampart.ErrorCode(err) != rampart.ETOOMANY || !strings.Contains(err.Error(), "try again in 2s") {
		t.Fatalf("a guess at once, from yet another address (a 1s wait, said rounded up): %v", err)
	}
	f.clock.add(time.Second)
	if err := guess(step, "192.0.2.11"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("the guess after the wait: %v", err)
	}
	if err := guess(step, "192.0.2.12"); rampart.ErrorCode(err) != rampart.ETOOMANY || !strings.Contains(err.Error(), "try again in 3s") {
		t.Fatalf("the wait does not grow (2s, said rounded up): %v", err)
	}
	f.clock.add(time.Hour) // past every window

	// Per client: one /64 guessing across several accounts' logins.
	admin, _, err := f.app.Accounts.StartLogin(ctx, rampart.LoginInput{Email: "admin@example.com", Password: "correct horse battery", IP: "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	mia := f.start(t)
	var last error
	for i := range 8 {
		s := admin
		if i%2 == 1 {
			s = mia
		}
		last = guess(s, fmt.Sprintf("2001:db8::%x", i+2))
		if rampart.ErrorCode(last) == rampart.ETOOMANY {
			break
		}
	}
	if rampart.ErrorCode(last) != rampart.ETOOMANY {
		t.Fatalf("one /64 guessing codes across two accounts was never slowed down: %v", last)
	}
}

// TestCodeMailsAreCapped: whoever has the password cannot fill the owner's
// mailbox by starting logins without end.
func TestCodeMailsAreCapped(t *testing.T) {
	f := newMFAFixture(t)
	for i := range CodeMailsPerAccount {
		f.clock.add(time.Second)
		if _, _, err := f.app.Accounts.StartLogin(t.Context(), rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: fmt.Sprintf("192.0.2.%d", i+1)}); err != nil {
			t.Fatalf("login %d: %v", i+1, err)
		}
	}
	_, _, err := f.app.Accounts.StartLogin(t.Context(), rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "198.51.100.1"})
	if rampart.ErrorCode(err) != rampart.ETOOMANY || !strings.Contains(err.Error(), "too many login codes") {
		t.Fatalf("one login more: %v", err)
	}
	if n := len(f.mail.All("mia@example.com")); n != CodeMailsPerAccount {
		t.Errorf("%d mails, want %d", n, CodeMailsPerAccount)
	}
	f.clock.add(LoginFailureWindow)
	if _, _, err := f.app.Accounts.StartLogin(t.Context(), rampart.LoginInput{Email: "mia@example.com", Password: "member password", IP: "198.51.100.1"}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
