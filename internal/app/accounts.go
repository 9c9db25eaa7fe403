package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/store"
)

// Accounts are the people who use rampart and their credentials: users,
// password logins, API tokens and dashboard sessions.
type Accounts struct {
	*core
	// Failed logins are throttled per account and per client IP, and so
	// are wrong second factors, on budgets of their own.
	byAccount, byIP, byDevice *auth.Throttle
	codeByAccount, codeByIP   *auth.Throttle
	codeMails                 *auth.Throttle // emailed codes per account
	// ceremonies holds passkey ceremonies between begin and finish.
	ceremonies ceremonies
}

// Create adds an account. Only admins and the operator may.
func (a *Accounts) Create(ctx context.Context, actor Actor, in rampart.UserInput) (*rampart.User, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	email, password, role := rampart.NormalizeEmail(in.Email), in.Password, in.Role
	if err := rampart.ValidateEmail(email); err != nil {
		return nil, err
	}
	if err := rampart.ValidateRole(role); err != nil {
		return nil, err
	}
	if err := rampart.ValidatePassword(password); err != nil {
		return nil, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, err
	}
	u := &rampart.User{Email: email, Role: role, PasswordHash: hash}
	err = a.store.InTx(ctx, func(st store.Store) error {
		if err := st.CreateUser(ctx, u); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "user.create", nil, fmt.Sprintf("email=%s role=%s", u.Email, u.Role))
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// errBadLogin is the one answer to every failed password login, so that the
// response does not tell whether the account exists.
var errBadLogin = rampart.Errorf(rampart.EUNAUTHORIZED, "email or password is incorrect")

// Login checks a password login. An unknown email costs the same time
// as a wrong password, and both give the same answer. Failures are
// throttled per account and per client (IPv6 by /64), with a wait that
// doubles after a few failures and a lockout at the limit (see
// LoginFailuresPerAccount); a throttled attempt is refused before the
// password is even checked.
//
// A stranger guessing passwords must not lock the owner out: a browser
// that completed a login to this account before (in.Device, a token from
// DeviceToken) counts its failures on a budget of its own, untouched by
// the account's. When an account's budget runs out its owner is emailed.
func (a *Accounts) Login(ctx context.Context, in rampart.LoginInput) (*rampart.User, error) {
	email, password, ip := rampart.NormalizeEmail(in.Email), in.Password, in.IP
	ipKey := auth.ClientKey(ip)
	now := a.now()
	u, err := a.store.UserByEmail(ctx, email)
	if err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
		return nil, err
	}
	if err != nil {
		u = nil
	}
	budget, key := a.byAccount, email
	if u != nil && a.deviceUser(in.Device, now) == u.ID {
		budget, key = a.byDevice, in.Device
	}
	wait := max(budget.Blocked(key, now), a.byIP.Blocked(ipKey, now))
	if wait > 0 {
		a.log.Warn("login throttled", "email", email, "ip", ip, "retry_in", wait.Round(time.Second))
		return nil, rampart.Errorf(rampart.ETOOMANY, "too many failed logins: try again in %s", roundUp(wait))
	}
	fail := func(reason string) (*rampart.User, error) {
		budget.Fail(key, now)
		a.byIP.Fail(ipKey, now)
		a.log.Info("login failed", "email", email, "ip", ip, "reason", reason)
		if u != nil {
			a.loginFailed(ctx, u, ip, reason, budget == a.byAccount && budget.Fails(key, now) == budget.Limit)
		}
		return nil, errBadLogin
	}
	if u == nil {
		auth.BurnVerify(password)
		return fail("no such user")
	}
	if u.PasswordHash == "" {
		// Invited, and the link not used yet: no password is right.
		auth.BurnVerify(password)
		return fail("no password yet (invited)")
	}
	ok, err := auth.VerifyPassword(u.PasswordHash, password)
	if err != nil {
		return nil, fmt.Errorf("user %d: %w", u.ID, err)
	}
	if !ok {
		return fail("wrong password")
	}
	budget.Reset(key)
	if u.DisabledAt != nil {
		// Said only after the right password: a stranger does not learn
		// which accounts exist, or which are disabled.
		a.loginFailed(ctx, u, ip, "account disabled", false)
		return nil, errDisabled
	}
	return u, nil
}

// loginFailed audits a failed login to an existing account (unknown
// emails are only logged: anyone could fill the audit log with them) and,
// when the failure used up the account's budget, emails the owner.
func (a *Accounts) loginFailed(ctx context.Context, u *rampart.User, ip, reason string, lockedOut bool) {
	err := a.store.InTx(ctx, func(st store.Store) error {
		return a.audit(ctx, st, Actor{IP: ip}, "login.failure", nil, fmt.Sprintf("email=%s reason=%s", u.Email, reason))
	})
	if err != nil {
		a.log.Warn("auditing a failed login", "err", err)
	}
	if lockedOut {
		a.notify(ctx, u, "Failed logins to your rampart account",
			fmt.Sprintf("Someone tried %d wrong passwords for your rampart account in the last %s, the last from %s. "+
				"New logins to it are paused for up to %s; a browser you logged in with before still gets in.\n\n"+
				"If this was not you, nothing is lost: they would still need your second factor. Consider a longer password.",
				LoginFailuresPerAccount, LoginFailureWindow, ip, LoginFailureWindow))
	}
}

// deviceLifetime is how long a browser counts as one that logged in before.
const deviceLifetime = 180 * 24 * time.Hour

// DeviceToken is the value of the device cookie a browser gets when it
// completes a login as u: proof, sealed with the secret key, that it did,
// which gives it its own failed-login budget (see Login). "" when this
// process has no secret key.
func (a *Accounts) DeviceToken(u *rampart.User) string {
	if a.opts.Secrets == nil {
		return ""
	}
	plain := fmt.Sprintf("%d:%d", u.ID, a.now().Unix())
	return base64.RawURLEncoding.EncodeToString(a.opts.Secrets.Seal([]byte(plain), deviceAD))
}

var deviceAD = []byte("device-cookie")

// deviceUser returns the user a device token was issued to, or 0.
func (a *Accounts) deviceUser(tok string, now time.Time) int64 {
	if tok == "" || len(tok) > 200 || a.opts.Secrets == nil {
		return 0
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0
	}
	plain, err := a.opts.Secrets.Open(raw, deviceAD)
	if err != nil {
		return 0
	}
	var id, issued int64
	if _, err := fmt.Sscanf(string(plain), "%d:%d", &id, &issued); err != nil {
		return 0
	}
	if now.Sub(time.Unix(issued, 0)) > deviceLifetime {
		return 0
	}
	return id
}

// roundUp renders a wait for people: "4m0s" rather than "3m41.2s".
func roundUp(d time.Duration) time.Duration {
	if d <= time.Minute {
		return d.Round(time.Second) + time.Second
	}
	return d.Truncate(time.Minute) + time.Minute
}

// CreateToken makes a new API token for the user in.Email and returns its
// plaintext, which is shown once and never stored. Users may create tokens
// for themselves; admins for anyone.
func (a *Accounts) CreateToken(ctx context.Context, actor Actor, in rampart.TokenInput) (string, *rampart.APIToken, error) {
	if err := actor.check(); err != nil {
		return "", nil, err
	}
	name, ttl := in.Name, in.TTL
	if ttl < 0 {
		return "", nil, rampart.Errorf(rampart.EINVALID, "token lifetime must not be negative")
	}
	if len(name) > 100 {
		return "", nil, rampart.Errorf(rampart.EINVALID, "token name is longer than 100 characters")
	}
	email := rampart.NormalizeEmail(in.Email)
	u, err := a.store.UserByEmail(ctx, email)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return "", nil, rampart.Errorf(rampart.ENOTFOUND, "no user with email %q: create it with `rampart user create`", email)
	} else if err != nil {
		return "", nil, err
	}
	if !actor.isAdmin() && actor.User.ID != u.ID {
		return "", nil, rampart.Errorf(rampart.EFORBIDDEN, "you can only create tokens for yourself")
	}
	plain, hash := auth.NewSecret(auth.TokenPrefix)
	now := a.now().UTC()
	t := &rampart.APIToken{UserID: u.ID, Name: name, Hash: hash, CreatedAt: now}
	if ttl > 0 {
		exp := now.Add(ttl)
		t.ExpiresAt = &exp
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		if err := a.checkTokenQuota(ctx, st, actor, u.ID); err != nil {
			return err
		}
		if err := st.CreateToken(ctx, t); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "token.create", nil, fmt.Sprintf("user=%s name=%q", u.Email, name))
	})
	if err != nil {
		return "", nil, err
	}
	return plain, t, nil
}

// tokenTouchEvery limits last-used writes to one per token per minute, so
// that a busy API client does not turn every read into a write.
const tokenTouchEvery = time.Minute

// Authenticate returns the user an API token (a bearer token) belongs to.
func (a *Accounts) Authenticate(ctx context.Context, plaintext string) (*rampart.User, error) {
	if plaintext == "" {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "no API token given: pass one with --token or RAMPART_TOKEN, or run `rampart login`")
	}
	if !auth.LooksLikeToken(plaintext) {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "that is not a rampart API token (they start with %q): create one with `rampart token create`", auth.TokenPrefix)
	}
	t, err := a.store.TokenByHash(ctx, auth.HashSecret(plaintext))
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "API token is not valid (revoked or never issued): create a new one with `rampart token create`")
	} else if err != nil {
		return nil, err
	}
	now := a.now()
	if t.Expired(now) {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "API token expired at %s: create a new one with `rampart token create`", t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > tokenTouchEvery {
		if err := a.store.TouchToken(ctx, t.ID, now.UTC()); err != nil {
			a.log.Warn("recording token use", "token", t.ID, "err", err)
		}
	}
	u, err := a.store.UserByID(ctx, t.UserID)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "API token belongs to an account that no longer exists")
	} else if err != nil {
		return nil, err
	}
	if u.DisabledAt != nil {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "API token belongs to a disabled account: ask an admin")
	}
	return u, nil
}

// StartSession logs u in to the dashboard and returns the cookie value.
func (a *Accounts) StartSession(ctx context.Context, u *rampart.User, ip string) (string, *rampart.Session, error) {
	plain, hash := auth.NewSecret("")
	csrf, _ := auth.NewSecret("")
	now := a.now().UTC()
	s := &rampart.Session{UserID: u.ID, Hash: hash, CSRFToken: csrf, IP: ip, CreatedAt: now, SeenAt: now, ExpiresAt: now.Add(a.opts.SessionMax)}
	err := a.store.InTx(ctx, func(st store.Store) error {
		if err := st.CreateSession(ctx, s); err != nil {
			return err
		}
		return a.audit(ctx, st, UserActor(u, ip), "session.login", nil, "")
	})
	if err != nil {
		return "", nil, err
	}
	return plain, s, nil
}

// errNoSession is returned for any cookie that does not lead to a live session.
var errNoSession = rampart.Errorf(rampart.EUNAUTHORIZED, "your session has ended: log in again")

// Session returns the live session and its user for a cookie value, and
// records the request for idle expiry.
func (a *Accounts) Session(ctx context.Context, cookie string) (*rampart.Session, *rampart.User, error) {
	return a.session(ctx, cookie, true)
}

// CheckSession is Session for what a page does by itself: a poll of a
// live part, a log stream's check that its credential still holds. It
// does not count as use, so that a tab left open ends its session after
// the idle time like any other.
func (a *Accounts) CheckSession(ctx context.Context, cookie string) (*rampart.Session, *rampart.User, error) {
	return a.session(ctx, cookie, false)
}

func (a *Accounts) session(ctx context.Context, cookie string, use bool) (*rampart.Session, *rampart.User, error) {
	if cookie == "" || len(cookie) > 100 {
		return nil, nil, errNoSession
	}
	s, err := a.store.SessionByHash(ctx, auth.HashSecret(cookie))
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, nil, errNoSession
	} else if err != nil {
		return nil, nil, err
	}
	now := a.now().UTC()
	if !now.Before(s.ExpiresAt) || now.Sub(s.SeenAt) > a.opts.SessionIdle {
		if err := a.store.DeleteSession(ctx, s.ID); err != nil {
			a.log.Warn("deleting expired session", "err", err)
		}
		return nil, nil, errNoSession
	}
	if use && now.Sub(s.SeenAt) > time.Minute {
		if err := a.store.TouchSession(ctx, s.ID, now); err != nil {
			a.log.Warn("recording session use", "err", err)
		}
	}
	u, err := a.store.UserByID(ctx, s.UserID)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, nil, errNoSession
	} else if err != nil {
		return nil, nil, err
	}
	if u.DisabledAt != nil {
		// Disable ends the sessions too; this covers one that raced it.
		return nil, nil, errNoSession
	}
	return s, u, nil
}

// EndSession logs a session out.
func (a *Accounts) EndSession(ctx context.Context, s *rampart.Session, u *rampart.User, ip string) error {
	return a.store.InTx(ctx, func(st store.Store) error {
		if err := st.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, context.Canceled) && rampart.ErrorCode(err) != rampart.ENOTFOUND {
			return err
		}
		return a.audit(ctx, st, UserActor(u, ip), "session.logout", nil, "")
	})
}

// PruneSessions deletes expired sessions; serve runs it periodically.
func (a *Accounts) PruneSessions(ctx context.Context) (int64, error) {
	now := a.now().UTC()
	return a.store.DeleteExpiredSessions(ctx, now, now.Add(-a.opts.SessionIdle))
}

// Count reports how many accounts exist.
func (a *Accounts) Count(ctx context.Context) (int, error) { return a.store.CountUsers(ctx) }
