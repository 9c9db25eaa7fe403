package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/auth"
	"github.com/rampart-dev/rampart/internal/mailer"
	"github.com/rampart-dev/rampart/internal/store"
)

// People management: admins invite, disable, delete and change the role
// of users, and send them a link to choose a new password; a user changes
// their own password and manages their own API tokens.
//
// Two rules hold throughout. The server always keeps an active admin (one
// who can log in), so nobody can lock everyone out by mistake. And a
// password is never chosen by anyone but its owner: invitations and resets
// send a one-time link to the user's mailbox, where they choose it.

// List returns every account, ordered by email. Admins only.
func (a *Accounts) List(ctx context.Context, actor Actor) ([]*rampart.User, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	return a.store.ListUsers(ctx)
}

// Get returns the account of email. Admins only.
func (a *Accounts) Get(ctx context.Context, actor Actor, email string) (*rampart.User, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	return a.userByEmail(ctx, a.store, rampart.NormalizeEmail(email))
}

// Invite creates an account without a password and emails its owner a link,
// valid rampart.InviteLinkTTL, to choose one. Inviting someone who has not
// used their link yet sends a new one (the old stops working) and sets the
// role given now. Admins only.
func (a *Accounts) Invite(ctx context.Context, actor Actor, in rampart.InviteInput) (*rampart.User, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	email := rampart.NormalizeEmail(in.Email)
	if err := rampart.ValidateEmail(email); err != nil {
		return nil, onField("email", err)
	}
	if err := rampart.ValidateRole(in.Role); err != nil {
		return nil, onField("role", err)
	}
	if err := a.canSendLinks(); err != nil {
		return nil, err
	}
	var (
		u      *rampart.User
		secret string
	)
	err := a.store.InTx(ctx, func(st store.Store) error {
		var err error
		u, err = st.UserByEmail(ctx, email)
		switch {
		case rampart.ErrorCode(err) == rampart.ENOTFOUND:
			u = &rampart.User{Email: email, Role: in.Role}
			if err := st.CreateUser(ctx, u); err != nil {
				return err
			}
		case err != nil:
			return err
		case u.Status != rampart.UserInvited:
			return rampart.Errorf(rampart.ECONFLICT, "%s already has an account (%s): to let them choose a new password, use reset-password", email, u.Status)
		default: // invited before and not there yet: a new link, the role given now
			if u.Role != in.Role {
				u.Role = in.Role
				if err := st.UpdateUser(ctx, u); err != nil {
					return err
				}
			}
		}
		if secret, err = a.newLink(ctx, st, actor, u, rampart.LinkInvite); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "user.invite", nil, fmt.Sprintf("email=%s role=%s", u.Email, u.Role))
	})
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("%s invited you to rampart as %s %s.\n\nChoose your password here (the link works once, for %d days):\n\n    %s\n\n"+
		"Each login will then also ask for a code sent to this address; you can set up an authenticator app instead from Account → Security.\n\n"+
		"If you did not expect this, ignore this mail: nothing happens without the link.",
		actor.name(), article(u.Role), u.Role, int(rampart.InviteLinkTTL/(24*time.Hour)), a.linkURL(rampart.LinkInvite, secret))
	if err := a.mailer().Send(ctx, mailer.Message{To: u.Email, Subject: "You are invited to rampart", Text: text + "\n"}); err != nil {
		a.log.Error("sending an invitation", "user", u.Email, "err", err)
		return nil, rampart.Errorf(rampart.EUNAVAILABLE, "%s was added but the invitation could not be emailed: check rampart's mail settings, then invite them again (a new link is sent)", u.Email)
	}
	return u, nil
}

// onField marks a validation error as being about the input field name,
// so that a form shows it beside that field.
func onField(name string, err error) error {
	var e *rampart.Error
	if errors.As(err, &e) {
		return rampart.FieldError(name, e)
	}
	return err
}

// article is "an" before "admin", "a" before "member".
func article(r rampart.Role) string {
	if r == rampart.RoleAdmin {
		return "an"
	}
	return "a"
}

// canSendLinks says what is missing when this process cannot email links.
func (a *Accounts) canSendLinks() error {
	if a.opts.Mailer == nil {
		return rampart.Errorf(rampart.EUNAVAILABLE, "links are sent by email and this server has no mail server: set mail.smtp in its config")
	}
	if a.opts.PublicURL == "" {
		return rampart.Errorf(rampart.EUNAVAILABLE, "the emailed link needs the dashboard's address and this server has none: set admin.domain in its config")
	}
	return nil
}

// newLink voids u's earlier links and makes a new one of kind, inside st's
// transaction; it returns the secret, which only the email carries.
func (a *Accounts) newLink(ctx context.Context, st store.Store, actor Actor, u *rampart.User, kind rampart.LinkKind) (string, error) {
	if err := st.DeleteUserAccountLinks(ctx, u.ID); err != nil {
		return "", err
	}
	ttl := rampart.InviteLinkTTL
	if kind == rampart.LinkReset {
		ttl = rampart.ResetLinkTTL
	}
	secret, hash := auth.NewSecret("")
	now := a.now().UTC()
	l := &rampart.AccountLink{Kind: kind, UserID: u.ID, Hash: hash, CreatedBy: actor.name(), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	return secret, st.CreateAccountLink(ctx, l)
}

// linkURL is the address of the dashboard page that takes a link's secret.
func (a *Accounts) linkURL(kind rampart.LinkKind, secret string) string {
	page := "invite"
	if kind == rampart.LinkReset {
		page = "reset"
	}
	return strings.TrimRight(a.opts.PublicURL, "/") + "/" + page + "/" + secret
}

// errLinkGone answers a link that is unknown, spent or replaced: the
// secret has 256 bits, so saying which would help nobody guess.
var errLinkGone = rampart.Errorf(rampart.ENOTFOUND, "this link was already used or replaced by a newer one: ask an admin to send a new one")

// liveLink returns the unexpired link for secret and its user.
func (a *Accounts) liveLink(ctx context.Context, secret string) (*rampart.AccountLink, *rampart.User, error) {
	if secret == "" || len(secret) > 100 {
		return nil, nil, errLinkGone
	}
	l, err := a.store.AccountLinkByHash(ctx, auth.HashSecret(secret))
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, nil, errLinkGone
	} else if err != nil {
		return nil, nil, err
	}
	if !a.now().Before(l.ExpiresAt) {
		return nil, nil, rampart.Errorf(rampart.ENOTFOUND, "this link expired at %s: ask an admin to send a new one", l.ExpiresAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	u, err := a.store.UserByID(ctx, l.UserID)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, nil, errLinkGone
	} else if err != nil {
		return nil, nil, err
	}
	if u.DisabledAt != nil {
		return nil, nil, errDisabled
	}
	return l, u, nil
}

// LinkState says whom an emailed link is for, what it does and until when,
// without spending it: what the page behind the link shows.
func (a *Accounts) LinkState(ctx context.Context, secret string) (email string, kind rampart.LinkKind, expires time.Time, err error) {
	l, u, err := a.liveLink(ctx, secret)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return u.Email, l.Kind, l.ExpiresAt, nil
}

// AcceptLink sets the password of the link's user and spends the link. A
// reset also ends the user's sessions and logins in progress: whoever knew
// the old password is out.
func (a *Accounts) AcceptLink(ctx context.Context, secret, password, ip string) (*rampart.User, error) {
	l, u, err := a.liveLink(ctx, secret)
	if err != nil {
		return nil, err
	}
	if err := rampart.ValidatePassword(password); err != nil {
		return nil, onField("password", err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return nil, err
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		// Spending the link is the first word: of two requests racing with
		// it, only one sets a password.
		if err := st.DeleteAccountLink(ctx, l.ID); rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return errLinkGone
		} else if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := st.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := st.DeleteUserAccountLinks(ctx, u.ID); err != nil {
			return err
		}
		if l.Kind == rampart.LinkReset {
			if _, err := st.DeleteUserSessions(ctx, u.ID, 0); err != nil {
				return err
			}
			if err := st.DeleteUserLoginChallenges(ctx, u.ID); err != nil {
				return err
			}
		}
		return a.audit(ctx, st, UserActor(u, ip), "password.set", nil, fmt.Sprintf("user=%s through the %s link sent by %s", u.Email, l.Kind, l.CreatedBy))
	})
	if err != nil {
		return nil, err
	}
	if l.Kind == rampart.LinkReset {
		a.notify(ctx, u, "Your rampart password was changed",
			fmt.Sprintf("The password of your rampart account was just set through a reset link, from %s. Your other sessions were signed out. If this was not you, ask an admin to disable your account now.", orUnknown(ip)))
	}
	return u, nil
}

func orUnknown(ip string) string {
	if ip == "" {
		return "an unknown address"
	}
	return ip
}

// errDisabled is said to a disabled user only once they proved who they
// are (the right password, a live token or link).
var errDisabled = rampart.Errorf(rampart.EFORBIDDEN, "this account is disabled: ask an admin")

// SetRole makes email's account an admin or a member. Admins only; nobody
// changes their own role, and the last active admin stays one.
func (a *Accounts) SetRole(ctx context.Context, actor Actor, email string, role rampart.Role) (*rampart.User, error) {
	if err := rampart.ValidateRole(role); err != nil {
		return nil, onField("role", err)
	}
	return a.change(ctx, actor, email, "change the role of", func(st store.Store, u *rampart.User) (bool, error) {
		if u.Role == role {
			return false, nil
		}
		if role != rampart.RoleAdmin {
			if err := a.keepAnAdmin(ctx, st, u, "demote"); err != nil {
				return false, err
			}
		}
		u.Role = role
		if err := st.UpdateUser(ctx, u); err != nil {
			return false, err
		}
		return true, a.audit(ctx, st, actor, "user.role", nil, fmt.Sprintf("email=%s role=%s", u.Email, role))
	}, func(u *rampart.User) (string, string) {
		return "Your rampart role changed", fmt.Sprintf("%s made you %s %s on rampart.", actor.name(), article(role), role)
	})
}

// Disable stops an account at once: its sessions end, and its tokens and
// logins are refused from the next request, until Enable. Its services
// keep running. Admins only; nobody disables themselves, and the last
// active admin stays.
func (a *Accounts) Disable(ctx context.Context, actor Actor, email string) (*rampart.User, error) {
	return a.change(ctx, actor, email, "disable", func(st store.Store, u *rampart.User) (bool, error) {
		if u.DisabledAt != nil {
			return false, nil
		}
		if err := a.keepAnAdmin(ctx, st, u, "disable"); err != nil {
			return false, err
		}
		now := a.now().UTC()
		u.DisabledAt = &now
		if err := st.UpdateUser(ctx, u); err != nil {
			return false, err
		}
		if _, err := st.DeleteUserSessions(ctx, u.ID, 0); err != nil {
			return false, err
		}
		if err := st.DeleteUserLoginChallenges(ctx, u.ID); err != nil {
			return false, err
		}
		if err := st.DeleteUserAccountLinks(ctx, u.ID); err != nil {
			return false, err
		}
		return true, a.audit(ctx, st, actor, "user.disable", nil, "email="+u.Email)
	}, func(u *rampart.User) (string, string) {
		return "Your rampart account was disabled", fmt.Sprintf("%s disabled your rampart account: you cannot log in, and your API tokens no longer work. Your services keep running. Ask an admin if you need it back.", actor.name())
	})
}

// Enable lets a disabled account log in again; its API tokens work again.
// Admins only.
func (a *Accounts) Enable(ctx context.Context, actor Actor, email string) (*rampart.User, error) {
	return a.change(ctx, actor, email, "enable", func(st store.Store, u *rampart.User) (bool, error) {
		if u.DisabledAt == nil {
			return false, nil
		}
		u.DisabledAt = nil
		if err := st.UpdateUser(ctx, u); err != nil {
			return false, err
		}
		return true, a.audit(ctx, st, actor, "user.enable", nil, "email="+u.Email)
	}, func(u *rampart.User) (string, string) {
		return "Your rampart account was enabled", fmt.Sprintf("%s enabled your rampart account again: you can log in, and your API tokens work again.", actor.name())
	})
}

// Delete removes an account with its tokens, sessions and links; its audit
// history stays. It refuses while the user owns services, naming them:
// handing them on (Services.Transfer) or deleting them is a decision of
// its own (termination protection,
// backups), not a side effect. Admins only; nobody deletes themselves, and
// the last active admin stays.
func (a *Accounts) Delete(ctx context.Context, actor Actor, email string) error {
	_, err := a.change(ctx, actor, email, "delete", func(st store.Store, u *rampart.User) (bool, error) {
		if err := a.keepAnAdmin(ctx, st, u, "delete"); err != nil {
			return false, err
		}
		svcs, err := st.ListServices(ctx, store.ServiceFilter{OwnerID: u.ID})
		if err != nil {
			return false, err
		}
		var live, deleted []string
		for _, s := range svcs {
			if s.State == rampart.StateDeleted {
				deleted = append(deleted, s.Name)
			} else {
				live = append(live, s.Name)
			}
		}
		if len(live) > 0 {
			return false, rampart.Errorf(rampart.ECONFLICT, "%s owns %s (%s): hand them to another account (rampart service transfer NAME --to EMAIL) or delete them first, or disable the account instead", u.Email, countOf(len(live), "service"), strings.Join(live, ", "))
		}
		if len(deleted) > 0 {
			// Their owner can restore them until the purge; deleting the
			// owner would take that away, so the account waits for it.
			return false, rampart.Errorf(rampart.ECONFLICT, "%s owns %s in the grace period before the purge (%s): hand them to another account (rampart service transfer NAME --to EMAIL), or disable the account now and delete it after the purge", u.Email, countOf(len(deleted), "deleted service"), strings.Join(deleted, ", "))
		}
		if err := st.DeleteUser(ctx, u.ID); err != nil {
			return false, err
		}
		return true, a.audit(ctx, st, actor, "user.delete", nil, fmt.Sprintf("email=%s role=%s", u.Email, u.Role))
	}, func(u *rampart.User) (string, string) {
		return "Your rampart account was deleted", fmt.Sprintf("%s deleted your rampart account and its API tokens.", actor.name())
	})
	return err
}

// change runs fn on email's account in one transaction, for an admin; when
// fn changed something, the user is emailed what notice says.
func (a *Accounts) change(ctx context.Context, actor Actor, email, doing string, fn func(store.Store, *rampart.User) (bool, error), notice func(*rampart.User) (string, string)) (*rampart.User, error) {
	if err := actor.requireAdmin(); err != nil {
		return nil, err
	}
	email = rampart.NormalizeEmail(email)
	var (
		u       *rampart.User
		changed bool
	)
	err := a.store.InTx(ctx, func(st store.Store) error {
		var err error
		if u, err = a.userByEmail(ctx, st, email); err != nil {
			return err
		}
		if actor.User != nil && actor.User.ID == u.ID && doing != "enable" {
			return rampart.Errorf(rampart.EFORBIDDEN, "you cannot %s your own account: ask another admin", doing)
		}
		changed, err = fn(st, u)
		return err
	})
	if err != nil {
		return nil, err
	}
	if changed {
		subject, text := notice(u)
		a.notify(ctx, u, subject, text)
	}
	return u, nil
}

// userByEmail looks an account up for an admin, with a message that helps.
func (a *Accounts) userByEmail(ctx context.Context, st store.Store, email string) (*rampart.User, error) {
	u, err := st.UserByEmail(ctx, email)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "no user with email %q: see the list with `rampart user list`", email)
	}
	return u, err
}

// keepAnAdmin refuses to take u out of the active admins (demote, disable,
// delete) when u is the last one: the server would have nobody left to
// manage it.
func (a *Accounts) keepAnAdmin(ctx context.Context, st store.Store, u *rampart.User, doing string) error {
	if u.Role != rampart.RoleAdmin || u.Status != rampart.UserActive {
		return nil
	}
	users, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.ID != u.ID && o.Role == rampart.RoleAdmin && o.Status == rampart.UserActive {
			return nil
		}
	}
	return rampart.Errorf(rampart.ECONFLICT, "%s is the last active admin: make another user an admin first, then %s this one", u.Email, doing)
}

// ResetPassword emails email's owner a link, valid rampart.ResetLinkTTL,
// to choose a new password. The old password keeps working until the link
// is used: a reset asked for by mistake locks nobody out. Admins only.
func (a *Accounts) ResetPassword(ctx context.Context, actor Actor, email string) error {
	if err := actor.requireAdmin(); err != nil {
		return err
	}
	if err := a.canSendLinks(); err != nil {
		return err
	}
	email = rampart.NormalizeEmail(email)
	var (
		u      *rampart.User
		secret string
	)
	err := a.store.InTx(ctx, func(st store.Store) error {
		var err error
		if u, err = a.userByEmail(ctx, st, email); err != nil {
			return err
		}
		switch u.Status {
		case rampart.UserInvited:
			return rampart.Errorf(rampart.ECONFLICT, "%s has not used their invitation yet: invite them again to send a new link", u.Email)
		case rampart.UserDisabled:
			return rampart.Errorf(rampart.ECONFLICT, "%s is disabled: enable the account first", u.Email)
		}
		if secret, err = a.newLink(ctx, st, actor, u, rampart.LinkReset); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "password.reset", nil, "email="+u.Email)
	})
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s asked for a new password for your rampart account. Choose it here (the link works once, for the next %d minutes):\n\n    %s\n\n"+
		"Until you do, your current password keeps working. Choosing a new one signs out your sessions everywhere.\n\n"+
		"If you did not expect this, ignore this mail and tell an admin.",
		actor.name(), int(rampart.ResetLinkTTL/time.Minute), a.linkURL(rampart.LinkReset, secret))
	if err := a.mailer().Send(ctx, mailer.Message{To: u.Email, Subject: "Choose a new rampart password", Text: text + "\n"}); err != nil {
		a.log.Error("sending a password reset link", "user", u.Email, "err", err)
		return rampart.Errorf(rampart.EUNAVAILABLE, "the reset link could not be emailed to %s: check rampart's mail settings, then try again", u.Email)
	}
	return nil
}

// ChangePassword changes actor's own password. It asks for the current
// password and the current second factor (a challenge opened by
// StartConfirm; nothing when MFA is off), so that neither a stolen session
// nor a stolen password alone takes the account over. Every other session
// but keepSession (the caller's, 0: none) ends.
func (a *Accounts) ChangePassword(ctx context.Context, actor Actor, current, next, confirmChallenge, code string, keepSession int64) error {
	u, err := a.self(ctx, actor)
	if err != nil {
		return err
	}
	// Check everything that costs nothing before spending the code.
	if err := rampart.ValidatePassword(next); err != nil {
		return onField("new_password", err)
	}
	if next == current {
		return rampart.FieldError("new_password", rampart.Errorf(rampart.EINVALID, "the new password is the same as the current one: choose another"))
	}
	now := a.now()
	if wait := a.byAccount.Blocked(u.Email, now); wait > 0 {
		return rampart.Errorf(rampart.ETOOMANY, "too many wrong passwords: try again in %s", roundUp(wait))
	}
	if ok, err := auth.VerifyPassword(u.PasswordHash, current); err != nil {
		return fmt.Errorf("user %d: %w", u.ID, err)
	} else if !ok {
		a.byAccount.Fail(u.Email, now)
		return rampart.FieldError("current_password", rampart.Errorf(rampart.EUNAUTHORIZED, "your current password is not right: check it and try again"))
	}
	if u.MFA != rampart.MFANone {
		if _, _, err := a.verify(ctx, confirmChallenge, code, actor.IP, u.ID); err != nil {
			return err
		}
	}
	hash, err := auth.HashPassword(next)
	if err != nil {
		return err
	}
	var ended int64
	err = a.store.InTx(ctx, func(st store.Store) error {
		u.PasswordHash = hash
		if err := st.UpdateUser(ctx, u); err != nil {
			return err
		}
		if ended, err = st.DeleteUserSessions(ctx, u.ID, keepSession); err != nil {
			return err
		}
		if err := st.DeleteUserAccountLinks(ctx, u.ID); err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "password.change", nil, fmt.Sprintf("%d other sessions ended", ended))
	})
	if err != nil {
		return err
	}
	a.notify(ctx, u, "Your rampart password was changed",
		fmt.Sprintf("The password of your rampart account was just changed, from %s; your other sessions were signed out. If this was not you, ask an admin to disable your account now.", orUnknown(actor.IP)))
	return nil
}

// ListTokens returns the API tokens of email's account, oldest first:
// one's own (email empty or one's own address), or anyone's for admins.
// Only names and times: the secrets are not kept.
func (a *Accounts) ListTokens(ctx context.Context, actor Actor, email string) ([]*rampart.APIToken, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	email = rampart.NormalizeEmail(email)
	if email == "" {
		if actor.User == nil {
			return nil, rampart.Errorf(rampart.EINVALID, "the operator has no tokens of their own: name the account whose tokens to list")
		}
		email = actor.User.Email
	}
	if !actor.isAdmin() && email != actor.User.Email {
		return nil, rampart.Errorf(rampart.EFORBIDDEN, "you can only list your own tokens")
	}
	u, err := a.userByEmail(ctx, a.store, email)
	if err != nil {
		return nil, err
	}
	return a.store.ListTokens(ctx, u.ID)
}

// RevokeToken deletes an API token: the next request with it is refused.
// One's own, or anyone's for admins; the owner is emailed when someone
// else revoked it.
func (a *Accounts) RevokeToken(ctx context.Context, actor Actor, id int64) error {
	if err := actor.check(); err != nil {
		return err
	}
	notFound := rampart.Errorf(rampart.ENOTFOUND, "API token %d not found: see yours with `rampart token list`", id)
	t, err := a.store.TokenByID(ctx, id)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return notFound
	} else if err != nil {
		return err
	}
	if !actor.isAdmin() && t.UserID != actor.User.ID {
		return notFound // a member does not learn which IDs others hold
	}
	owner, err := a.store.UserByID(ctx, t.UserID)
	if err != nil {
		return err
	}
	err = a.store.InTx(ctx, func(st store.Store) error {
		if err := st.DeleteToken(ctx, t.ID); rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return notFound
		} else if err != nil {
			return err
		}
		return a.audit(ctx, st, actor, "token.revoke", nil, fmt.Sprintf("user=%s name=%q id=%d", owner.Email, t.Name, t.ID))
	})
	if err != nil {
		return err
	}
	if actor.id() != owner.ID {
		a.notify(ctx, owner, "A rampart API token of yours was revoked",
			fmt.Sprintf("%s revoked your API token %q (id %d): programs using it are refused from now on.", actor.name(), t.Name, t.ID))
	}
	return nil
}

// PruneLinks deletes expired invitation and reset links; serve runs it with
// PruneSessions.
func (a *Accounts) PruneLinks(ctx context.Context) (int64, error) {
	return a.store.DeleteExpiredAccountLinks(ctx, a.now().UTC())
}
