package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/auth/totp"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/store"
)

// Multi-factor login. A password alone opens nothing: StartLogin checks
// it and opens a login challenge, a short-lived secret the client holds
// (a cookie in the dashboard) while the user supplies the second factor;
// FinishLogin checks that factor and spends the challenge. The same
// challenge, opened for a logged-in user by StartConfirm, is how a change
// that weakens the account (turning MFA off) is confirmed with the
// current factor.

// Sealer keeps TOTP seeds unreadable in the store: it encrypts with a key
// kept outside the database (package sealed). The associated data binds a
// ciphertext to its user, so a seed copied onto another row does not open.
type Sealer interface {
	Seal(plaintext, associatedData []byte) []byte
	Open(sealed, associatedData []byte) ([]byte, error)
}

// Second-factor throttling, beside the per-challenge attempt limit: one
// client guessing across many challenges, or many clients at one account.
const (
	CodeFailuresPerAccount = 20
	// CodeMailsPerAccount caps the codes emailed to one account per
	// LoginFailureWindow, whatever logins they belong to.
	CodeMailsPerAccount = 20
	CodeFailuresPerIP   = 40
)

// errLoginGone is the answer for a challenge that does not exist, has
// expired or was spent: start again. It does not say which.
var errLoginGone = rampart.Errorf(rampart.EUNAUTHORIZED, "this login has expired or was already used: log in again with your email and password")

// errBadCode is the answer to any wrong second factor.
var errBadCode = rampart.Errorf(rampart.EUNAUTHORIZED, "that code is not right: check it and try again")

// StartLogin checks a password login and begins its second step. When the
// account has MFA turned off it returns the user and a step of method
// none; otherwise no user, and a step whose Challenge continues the login
// in FinishLogin. For the emailed code, the code is sent now.
func (a *Accounts) StartLogin(ctx context.Context, in rampart.LoginInput) (*rampart.LoginStep, *rampart.User, error) {
	u, err := a.Login(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	if u.MFA == rampart.MFANone {
		return &rampart.LoginStep{Method: rampart.MFANone}, u, nil
	}
	step, err := a.openChallenge(ctx, u, in.IP)
	if err != nil {
		return nil, nil, err
	}
	return step, nil, nil
}

// StartConfirm opens a challenge for a logged-in user to prove their
// current second factor before a change that weakens the account: for
// email, a code is sent now. Users with MFA off have no factor to prove.
func (a *Accounts) StartConfirm(ctx context.Context, actor Actor) (*rampart.LoginStep, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	if actor.User == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "the operator has no second factor to confirm")
	}
	u, err := a.store.UserByID(ctx, actor.User.ID)
	if err != nil {
		return nil, err
	}
	if u.MFA == rampart.MFANone {
		return &rampart.LoginStep{Method: rampart.MFANone}, nil
	}
	return a.openChallenge(ctx, u, actor.IP)
}

// openChallenge creates a challenge for u's current method and, for
// email, sends its first code.
func (a *Accounts) openChallenge(ctx context.Context, u *rampart.User, ip string) (*rampart.LoginStep, error) {
	plain, hash := auth.NewSecret("")
	now := a.now().UTC()
	c := &rampart.LoginChallenge{UserID: u.ID, Hash: hash, Method: u.MFA, IP: ip, CreatedAt: now, ExpiresAt: now.Add(rampart.EmailCodeTTL)}
	if err := a.store.CreateLoginChallenge(ctx, c); err != nil {
		return nil, err
	}
	step := &rampart.LoginStep{Challenge: plain, Method: u.MFA, ExpiresAt: c.ExpiresAt}
	if u.MFA == rampart.MFAEmail {
		if err := a.sendCode(ctx, u, c, plain); err != nil {
			return nil, err
		}
		step.SentTo = MaskEmail(u.Email)
	}
	return step, nil
}

// ResendCode emails a new code for an email challenge (the old code stops
// working), at most every EmailCodeResend and EmailCodeSends times.
func (a *Accounts) ResendCode(ctx context.Context, challenge, ip string) (*rampart.LoginStep, error) {
	c, u, err := a.liveChallenge(ctx, challenge)
	if err != nil {
		return nil, err
	}
	if c.Method != rampart.MFAEmail {
		return nil, rampart.Errorf(rampart.EINVALID, "this login asks for a code from your authenticator app, not an emailed one")
	}
	if c.Sends >= rampart.EmailCodeSends {
		return nil, rampart.Errorf(rampart.ETOOMANY, "no more codes can be sent for this login: log in again with your email and password")
	}
	if wait := c.SentAt.Add(rampart.EmailCodeResend).Sub(a.now()); wait > 0 {
		return nil, rampart.Errorf(rampart.ETOOMANY, "a code was just sent: wait %s before asking for another", roundUp(wait))
	}
	if err := a.sendCode(ctx, u, c, challenge); err != nil {
		return nil, err
	}
	return &rampart.LoginStep{Challenge: challenge, Method: c.Method, SentTo: MaskEmail(u.Email), ExpiresAt: c.ExpiresAt}, nil
}

// sendCode makes a fresh 6-digit code for challenge c, stores only its MAC
// keyed by the challenge's secret, and mails it.
func (a *Accounts) sendCode(ctx context.Context, u *rampart.User, c *rampart.LoginChallenge, secret string) error {
	// Each login sends at most a few codes, but whoever has the password
	// could start logins without end and fill the owner's mailbox (and the
	// mail server's quota) with them: codes per account are capped too.
	key, now := strconv.FormatInt(u.ID, 10), a.now()
	if wait := a.codeMails.Blocked(key, now); wait > 0 {
		return rampart.Errorf(rampart.ETOOMANY, "too many login codes were sent to this account: use the last one, or try again in %s", roundUp(wait))
	}
	a.codeMails.Fail(key, now)
	code := randomDigits(6)
	if err := a.store.RecordCodeSent(ctx, c.ID, codeMAC(secret, code), a.now().UTC()); err != nil {
		return err
	}
	where := ""
	if c.IP != "" {
		where = " from " + c.IP
	}
	msg := mailer.Message{
		To:      u.Email,
		Subject: "Your rampart login code: " + code,
		Text: fmt.Sprintf("Your rampart login code is\n\n    %s\n\nIt works once, for the next %d minutes. It was asked for%s at %s.\n\n"+
			"If this was not you, someone knows your password: change it now. They cannot log in without this code.\n",
			code, int(rampart.EmailCodeTTL/time.Minute), where, a.now().UTC().Format("2006-01-02 15:04 MST")),
	}
	if err := a.mailer().Send(ctx, msg); err != nil {
		a.log.Error("sending login code", "user", u.Email, "err", err)
		return rampart.Errorf(rampart.EUNAVAILABLE, "the login code could not be emailed: try again in a minute, or ask an admin to check rampart's mail settings")
	}
	return nil
}

// FinishLogin checks the second factor of a login begun by StartLogin and
// returns the user it logs in. code is the emailed code, the app's code,
// or a recovery code, whichever the user has.
func (a *Accounts) FinishLogin(ctx context.Context, challenge, code, ip string) (*rampart.User, error) {
	u, how, err := a.verify(ctx, challenge, code, ip, 0)
	if err != nil {
		return nil, err
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		return a.audit(ctx, st, UserActor(u, ip), "login.success", nil, "second factor: "+how)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// verify checks code against challenge and spends it. userID, when not 0,
// is the only user the challenge may belong to (a confirmation by a
// logged-in user). It returns the user and which factor was used.
func (a *Accounts) verify(ctx context.Context, challenge, code, ip string, userID int64) (*rampart.User, string, error) {
	return a.verifyFactor(ctx, challenge, ip, userID, func(c *rampart.LoginChallenge, u *rampart.User) (string, error) {
		return a.checkFactor(ctx, c, u, challenge, code)
	})
}

// verifyFactor is verify with the factor's check as a function: the
// throttles, the attempt count, the audit of failures and the spending of
// the challenge are the same for every factor (passkeys.go has another).
func (a *Accounts) verifyFactor(ctx context.Context, challenge, ip string, userID int64, check func(*rampart.LoginChallenge, *rampart.User) (string, error)) (*rampart.User, string, error) {
	now := a.now()
	c, u, err := a.liveChallenge(ctx, challenge)
	if err != nil {
		return nil, "", err
	}
	if userID != 0 && c.UserID != userID {
		return nil, "", errLoginGone
	}
	acct := "code:" + strconv.FormatInt(u.ID, 10)
	if wait := max(a.codeByAccount.Blocked(acct, now), a.codeByIP.Blocked(auth.ClientKey(ip), now)); wait > 0 {
		return nil, "", rampart.Errorf(rampart.ETOOMANY, "too many wrong codes: try again in %s", roundUp(wait))
	}
	// Count the attempt before checking it, so that parallel guesses cannot
	// all slip under the limit; the attempt past the limit is refused even
	// when it is right, and spends the challenge.
	n, err := a.store.CountLoginAttempt(ctx, c.ID)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, "", errLoginGone
	} else if err != nil {
		return nil, "", err
	}
	if n > rampart.EmailCodeAttempts {
		_ = a.store.DeleteLoginChallenge(ctx, c.ID)
		a.failCode(ctx, u, ip, acct, now, "attempts exhausted")
		return nil, "", rampart.Errorf(rampart.ETOOMANY, "too many wrong codes for this login: log in again with your email and password")
	}
	how, err := check(c, u)
	if err != nil {
		a.failCode(ctx, u, ip, acct, now, err.Error())
		if errors.Is(err, totp.ErrReplay) {
			return nil, "", rampart.Errorf(rampart.EUNAUTHORIZED, "that code was already used: wait for your app to show the next one")
		}
		var r *factorRefusal
		if errors.As(err, &r) {
			return nil, "", r.answer
		}
		return nil, "", errBadCode
	}
	// Spending the challenge is the last word: of two requests racing with
	// the same right code, only one deletes it.
	if err := a.store.DeleteLoginChallenge(ctx, c.ID); rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, "", errLoginGone
	} else if err != nil {
		return nil, "", err
	}
	a.codeByAccount.Reset(acct)
	return u, how, nil
}

// failCode records a wrong second factor: throttles, log, audit.
func (a *Accounts) failCode(ctx context.Context, u *rampart.User, ip, acct string, now time.Time, reason string) {
	a.codeByAccount.Fail(acct, now)
	a.codeByIP.Fail(auth.ClientKey(ip), now)
	a.log.Info("second factor refused", "email", u.Email, "ip", ip, "reason", reason)
	err := a.store.InTx(ctx, func(st store.Store) error {
		return a.audit(ctx, st, UserActor(u, ip), "login.failure", nil, "second factor refused")
	})
	if err != nil {
		a.log.Warn("auditing a refused second factor", "err", err)
	}
}

// liveChallenge returns the unexpired challenge for secret and its user.
func (a *Accounts) liveChallenge(ctx context.Context, secret string) (*rampart.LoginChallenge, *rampart.User, error) {
	if secret == "" || len(secret) > 100 {
		return nil, nil, errLoginGone
	}
	c, err := a.store.LoginChallengeByHash(ctx, auth.HashSecret(secret))
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, nil, errLoginGone
	} else if err != nil {
		return nil, nil, err
	}
	if !a.now().Before(c.ExpiresAt) {
		_ = a.store.DeleteLoginChallenge(ctx, c.ID)
		return nil, nil, rampart.Errorf(rampart.EUNAUTHORIZED, "this code has expired (codes last %d minutes): log in again", int(rampart.EmailCodeTTL/time.Minute))
	}
	u, err := a.store.UserByID(ctx, c.UserID)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, nil, errLoginGone
	}
	if err != nil {
		return nil, nil, err
	}
	if u.DisabledAt != nil {
		_ = a.store.DeleteLoginChallenge(ctx, c.ID)
		return nil, nil, errDisabled
	}
	if u.MFA != c.Method {
		// The factor changed (reset by an admin, or enrolled elsewhere)
		// since this login began: what it waits for is stale.
		_ = a.store.DeleteLoginChallenge(ctx, c.ID)
		return nil, nil, errLoginGone
	}
	return c, u, nil
}

// checkFactor checks code against what challenge c asks for, or as a
// recovery code. It returns the factor's name for the audit log.
func (a *Accounts) checkFactor(ctx context.Context, c *rampart.LoginChallenge, u *rampart.User, secret, code string) (string, error) {
	if rc, ok := normalizeRecoveryCode(code); ok {
		if err := a.store.UseRecoveryCode(ctx, u.ID, auth.HashSecret(rc), a.now().UTC()); err != nil {
			return "", err
		}
		a.notify(ctx, u, "A recovery code was used to log in to rampart",
			"A one-time recovery code was just used to log in to your rampart account. If this was not you, change your password and your second factor now.")
		return "recovery code", nil
	}
	switch c.Method {
	case rampart.MFAEmail:
		digits := strings.Join(strings.Fields(code), "")
		if len(c.CodeMAC) == 0 || !hmac.Equal(codeMAC(secret, digits), c.CodeMAC) {
			return "", errors.New("wrong email code")
		}
		return "email code", nil
	case rampart.MFATOTP:
		if err := a.checkTOTP(ctx, u, code); err != nil {
			return "", err
		}
		return "authenticator app", nil
	}
	return "", fmt.Errorf("challenge of method %q", c.Method)
}

// checkTOTP checks an app code against u's enrolled seed and records its
// step, so that it never works again.
func (a *Accounts) checkTOTP(ctx context.Context, u *rampart.User, code string) error {
	secret, err := a.openSeed(u, u.TOTPSecret)
	if err != nil {
		return err
	}
	step, err := totp.Validate(secret, code, a.now(), u.TOTPLastStep)
	if err != nil {
		return err
	}
	ok, err := a.store.AdvanceTOTPStep(ctx, u.ID, step)
	if err != nil {
		return err
	}
	if !ok {
		return totp.ErrReplay
	}
	u.TOTPLastStep = step
	return nil
}

// TOTPEnrolment is what the Authenticator App tab shows while enrolling.
type TOTPEnrolment struct {
	Secret string // base32, to type in by hand and keep safe
	URL    string // otpauth://, what the QR code holds
	QRPNG  []byte
}

// BeginTOTP makes a new seed for actor's authenticator app and keeps it,
// sealed, as pending: it turns on only when ConfirmTOTP gets a valid code
// from it. Calling it again replaces the pending seed.
func (a *Accounts) BeginTOTP(ctx context.Context, actor Actor) (*TOTPEnrolment, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	if a.opts.Secrets == nil {
		return nil, rampart.Errorf(rampart.EUNAVAILABLE, "authenticator apps need rampart's secret key, which this process does not have")
	}
	k, err := totp.Generate(a.opts.Issuer, u.Email)
	if err != nil {
		return nil, err
	}
	u.TOTPPending = a.opts.Secrets.Seal([]byte(k.Secret), seedAD(u.ID))
	if err := a.store.SetUserMFA(ctx, u); err != nil {
		return nil, err
	}
	return &TOTPEnrolment{Secret: k.Secret, URL: k.URL, QRPNG: k.PNG}, nil
}

// PendingTOTP returns the enrolment BeginTOTP started and that is not yet
// confirmed, or nil: a page reloaded mid-enrolment shows the same seed.
func (a *Accounts) PendingTOTP(ctx context.Context, actor Actor) (*TOTPEnrolment, error) {
	u, err := a.self(ctx, actor)
	if err != nil || u.TOTPPending == nil {
		return nil, err
	}
	secret, err := a.openSeed(u, u.TOTPPending)
	if err != nil {
		return nil, err
	}
	k, err := totp.FromSecret(a.opts.Issuer, u.Email, secret)
	if err != nil {
		return nil, err
	}
	return &TOTPEnrolment{Secret: k.Secret, URL: k.URL, QRPNG: k.PNG}, nil
}

// ConfirmTOTP turns the authenticator app on once code, from the pending
// seed, is valid. From then on emailed codes are no longer accepted. When
// the user has no recovery codes yet it makes a set and returns them:
// shown once, never again.
func (a *Accounts) ConfirmTOTP(ctx context.Context, actor Actor, code string) ([]string, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	if u.TOTPPending == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "no authenticator app is being set up: start again with Configure")
	}
	secret, err := a.openSeed(u, u.TOTPPending)
	if err != nil {
		return nil, err
	}
	step, err := totp.Validate(secret, code, a.now(), 0)
	if errors.Is(err, totp.ErrMalformed) {
		return nil, rampart.Errorf(rampart.EINVALID, "type the 6 digits your authenticator app shows")
	} else if err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "that code does not match: check that the app shows rampart's entry, and that the phone sets its clock automatically")
	}
	var codes []string
	err = a.store.InTx(ctx, func(st store.Store) error {
		u.MFA, u.TOTPSecret, u.TOTPPending, u.TOTPLastStep = rampart.MFATOTP, u.TOTPPending, nil, step
		if err := st.SetUserMFA(ctx, u); err != nil {
			return err
		}
		if err := st.DeleteUserLoginChallenges(ctx, u.ID); err != nil {
			return err
		}
		if unused, _, err := st.CountRecoveryCodes(ctx, u.ID); err != nil {
			return err
		} else if unused == 0 {
			if codes, err = a.replaceRecoveryCodes(ctx, st, u.ID); err != nil {
				return err
			}
		}
		return a.audit(ctx, st, actor, "mfa.enable", nil, "second factor: authenticator app")
	})
	if err != nil {
		return nil, err
	}
	a.notify(ctx, u, "Authenticator app turned on for your rampart account",
		"Logins to your rampart account now ask for a code from your authenticator app; emailed codes no longer work. If this was not you, ask an admin to reset your second factor now.")
	return codes, nil
}

// UseEmailCodes makes emailed codes actor's second factor (the Email Based
// tab). Leaving an authenticator app needs a code from it: otherwise
// someone holding a session could move the second factor to a mailbox.
func (a *Accounts) UseEmailCodes(ctx context.Context, actor Actor, confirmChallenge, code string) error {
	u, err := a.self(ctx, actor)
	if err != nil {
		return err
	}
	if u.MFA == rampart.MFAEmail {
		return nil
	}
	if u.MFA == rampart.MFATOTP {
		if _, _, err := a.verify(ctx, confirmChallenge, code, actor.IP, u.ID); err != nil {
			return err
		}
	}
	return a.setMethod(ctx, actor, u, rampart.MFAEmail, "mfa.email",
		"Email codes turned on for your rampart account",
		"Logins to your rampart account now ask for a code sent to this address. If this was not you, change your password and ask an admin to reset your second factor.")
}

// DisableMFA turns actor's second factor off. It asks for the word
// "disable" typed out and the current factor (from a challenge opened by
// StartConfirm), so that neither a slip nor a stolen session does it.
func (a *Accounts) DisableMFA(ctx context.Context, actor Actor, typed, confirmChallenge, code string) error {
	u, err := a.self(ctx, actor)
	if err != nil {
		return err
	}
	if strings.TrimSpace(strings.ToLower(typed)) != "disable" {
		return rampart.Errorf(rampart.EINVALID, `type "disable" to confirm`)
	}
	if u.MFA == rampart.MFANone {
		return nil
	}
	if _, _, err := a.verify(ctx, confirmChallenge, code, actor.IP, u.ID); err != nil {
		return err
	}
	return a.setMethod(ctx, actor, u, rampart.MFANone, "mfa.disable",
		"Two-factor authentication turned off for your rampart account",
		"Logins to your rampart account now need only the password. If this was not you, change your password and turn two-factor authentication back on now.")
}

// setMethod switches u to method, drops any app seed and every login
// waiting for the old factor, audits and tells the user.
func (a *Accounts) setMethod(ctx context.Context, actor Actor, u *rampart.User, method rampart.MFAMethod, action, subject, text string) error {
	err := a.store.InTx(ctx, func(st store.Store) error {
		u.MFA, u.TOTPSecret, u.TOTPPending, u.TOTPLastStep = method, nil, nil, 0
		if err := st.SetUserMFA(ctx, u); err != nil {
			return err
		}
		if err := st.DeleteUserLoginChallenges(ctx, u.ID); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, action, nil, "user="+u.Email)
	})
	if err != nil {
		return err
	}
	a.notify(ctx, u, subject, text)
	return nil
}

// ResetMFA is for a user who lost every factor: back to emailed codes, app
// seed and recovery codes gone, logins in progress and sessions ended.
// Admins and the operator only; the user is emailed.
func (a *Accounts) ResetMFA(ctx context.Context, actor Actor, email string) (*rampart.User, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	u, err := a.store.UserByEmail(ctx, rampart.NormalizeEmail(email))
	if err != nil {
		return nil, err
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		u.MFA, u.TOTPSecret, u.TOTPPending, u.TOTPLastStep = rampart.MFAEmail, nil, nil, 0
		if err := st.SetUserMFA(ctx, u); err != nil {
			return err
		}
		if err := st.DeleteUserLoginChallenges(ctx, u.ID); err != nil {
			return err
		}
		if err := st.ReplaceRecoveryCodes(ctx, u.ID, nil); err != nil {
			return err
		}
		if err := st.DeleteUserPasskeys(ctx, u.ID); err != nil {
			return err
		}
		if _, err := st.DeleteUserSessions(ctx, u.ID, 0); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "mfa.reset", nil, "user="+u.Email)
	})
	if err != nil {
		return nil, err
	}
	a.notify(ctx, u, "Your rampart second factor was reset",
		fmt.Sprintf("An admin (%s) reset the second factor of your rampart account: logins now ask for a code sent to this address, and your passkeys and recovery codes no longer work. Set up an authenticator app again from Account → Security.", actor.name()))
	return u, nil
}

// RegenerateRecoveryCodes makes a new set of recovery codes for actor; the
// old set stops working. The codes are returned once and never again.
func (a *Accounts) RegenerateRecoveryCodes(ctx context.Context, actor Actor) ([]string, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	if u.MFA == rampart.MFANone {
		return nil, rampart.Errorf(rampart.EINVALID, "recovery codes stand in for a second factor: turn one on first")
	}
	var codes []string
	err = a.store.InTx(ctx, func(st store.Store) error {
		var err error
		if codes, err = a.replaceRecoveryCodes(ctx, st, u.ID); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "mfa.recovery-codes", nil, "new set of recovery codes")
	})
	if err != nil {
		return nil, err
	}
	a.notify(ctx, u, "New rampart recovery codes",
		"A new set of recovery codes was made for your rampart account; the old ones no longer work. If this was not you, change your password now.")
	return codes, nil
}

// MFAStatus is what the account's Security tab shows.
type MFAStatus struct {
	Method          rampart.MFAMethod
	RecoveryUnused  int
	RecoveryTotal   int
	EnrollingTOTP   bool
	SecretsAtRestOK bool // the process can seal app seeds
}

// MFAStatus reports actor's second factor.
func (a *Accounts) MFAStatus(ctx context.Context, actor Actor) (*MFAStatus, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return nil, err
	}
	unused, total, err := a.store.CountRecoveryCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &MFAStatus{Method: u.MFA, RecoveryUnused: unused, RecoveryTotal: total, EnrollingTOTP: u.TOTPPending != nil, SecretsAtRestOK: a.opts.Secrets != nil}, nil
}

// SignOutOthers ends every session of actor but keep (the caller's own).
func (a *Accounts) SignOutOthers(ctx context.Context, actor Actor, keep int64) (int64, error) {
	u, err := a.self(ctx, actor)
	if err != nil {
		return 0, err
	}
	var n int64
	err = a.store.InTx(ctx, func(st store.Store) error {
		var err error
		if n, err = st.DeleteUserSessions(ctx, u.ID, keep); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "session.sign-out-others", nil, fmt.Sprintf("%d sessions", n))
	})
	return n, err
}

// PruneChallenges deletes expired logins; serve runs it with PruneSessions.
func (a *Accounts) PruneChallenges(ctx context.Context) (int64, error) {
	return a.store.DeleteExpiredLoginChallenges(ctx, a.now().UTC())
}

// self returns actor's own, fresh user record: MFA settings are a user's
// own, not something an admin changes for them (ResetMFA aside).
func (a *Accounts) self(ctx context.Context, actor Actor) (*rampart.User, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	if actor.User == nil {
		return nil, rampart.Errorf(rampart.EINVALID, "the operator has no account of their own: use `rampart user reset-mfa` for someone else's")
	}
	return a.store.UserByID(ctx, actor.User.ID)
}

func (a *Accounts) openSeed(u *rampart.User, sealed []byte) (string, error) {
	if a.opts.Secrets == nil {
		return "", rampart.Errorf(rampart.EUNAVAILABLE, "authenticator apps need rampart's secret key, which this process does not have")
	}
	if len(sealed) == 0 {
		return "", rampart.Errorf(rampart.EINVALID, "no authenticator app is set up for %s", u.Email)
	}
	b, err := a.opts.Secrets.Open(sealed, seedAD(u.ID))
	if err != nil {
		return "", fmt.Errorf("open the app seed of user %d (is this the data directory's own secret key?): %w", u.ID, err)
	}
	return string(b), nil
}

// seedAD binds a sealed seed to its user's row.
func seedAD(userID int64) []byte { return []byte("totp-seed:user:" + strconv.FormatInt(userID, 10)) }

// replaceRecoveryCodes makes RecoveryCodeCount fresh codes for userID
// inside st's transaction and returns them in their printed form.
func (a *Accounts) replaceRecoveryCodes(ctx context.Context, st store.Store, userID int64) ([]string, error) {
	codes := make([]string, rampart.RecoveryCodeCount)
	hashes := make([][]byte, len(codes))
	for i := range codes {
		b := make([]byte, 10) // 80 bits: a SHA-256 of it cannot be searched
		_, _ = rand.Read(b)
		raw := strings.ToLower(recoveryEncoding.EncodeToString(b)) // 16 characters
		codes[i] = raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
		hashes[i] = auth.HashSecret(raw)
	}
	if err := st.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// normalizeRecoveryCode recognises a recovery code however it was typed
// (case, dashes, spaces) and returns its canonical form. Six digits are a
// one-time code, not a recovery code.
func normalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z' || r >= '2' && r <= '7':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != 16 {
		return "", false
	}
	return b.String(), true
}

// codeMAC is how an emailed code is stored: keyed by the challenge secret,
// which only the client holds, so the 10^6 possible codes cannot be tried
// against a copy of the database.
func codeMAC(secret, code string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(code))
	return m.Sum(nil)
}

// randomDigits returns n uniformly random decimal digits.
func randomDigits(n int) string {
	max := big.NewInt(1)
	for range n {
		max.Mul(max, big.NewInt(10))
	}
	v, _ := rand.Int(rand.Reader, max) // crypto/rand never fails on Linux
	return fmt.Sprintf("%0*d", n, v)
}

// MaskEmail shows enough of an address to recognise it and not enough to
// harvest it: "ada@example.com" → "a••@example.com".
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return "•••"
	}
	return email[:1] + strings.Repeat("•", min(max(at-1, 2), 6)) + email[at:]
}

// notify emails u about a change to their account. A mail that cannot be
// sent is logged, not fatal: the change itself is done and audited.
func (c *core) notify(ctx context.Context, u *rampart.User, subject, text string) {
	if err := c.mailer().Send(ctx, mailer.Message{To: u.Email, Subject: subject, Text: text + "\n"}); err != nil {
		c.log.Warn("emailing an account notice", "user", u.Email, "subject", subject, "err", err)
	}
}

// mailer is Options.Mailer, or one that refuses with a clear error.
func (c *core) mailer() mailer.Mailer {
	if c.opts.Mailer != nil {
		return c.opts.Mailer
	}
	return noMailer{}
}

type noMailer struct{}

func (noMailer) Send(context.Context, mailer.Message) error {
	return errors.New("this process has no mailer: set mail.smtp in the config")
}

// LoginState says what a login begun by StartLogin waits for, without
// counting as an attempt: what the code page shows.
func (a *Accounts) LoginState(ctx context.Context, challenge string) (*rampart.LoginStep, error) {
	c, u, err := a.liveChallenge(ctx, challenge)
	if err != nil {
		return nil, err
	}
	step := &rampart.LoginStep{Challenge: challenge, Method: c.Method, ExpiresAt: c.ExpiresAt}
	if c.Method == rampart.MFAEmail {
		step.SentTo = MaskEmail(u.Email)
	}
	return step, nil
}
