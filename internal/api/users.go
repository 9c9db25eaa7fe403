package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// People and API tokens. The service layer decides who may do what
// (admins manage people; everyone their own password and tokens): these
// handlers only translate.

func (s *server) listUsers(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	users, err := s.app.Accounts.List(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.UserList{Users: users})
	return nil
}

func (s *server) inviteUser(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.InviteInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	u, err := s.app.Accounts.Invite(r.Context(), actor, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// updateUser applies the role first, then the disabled flag: each is its
// own audited change, and a request that fails halfway says which.
func (s *server) updateUser(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.UserPatch
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Role == nil && in.Disabled == nil {
		return invalid("nothing to change: send role, disabled, or both")
	}
	email := r.PathValue("email")
	var (
		u   *rampart.User
		err error
	)
	if in.Role != nil {
		if u, err = s.app.Accounts.SetRole(r.Context(), actor, email, *in.Role); err != nil {
			return err
		}
	}
	switch {
	case in.Disabled == nil:
	case *in.Disabled:
		u, err = s.app.Accounts.Disable(r.Context(), actor, email)
	default:
		u, err = s.app.Accounts.Enable(r.Context(), actor, email)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Accounts.Delete(r.Context(), actor, r.PathValue("email")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) resetPassword(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Accounts.ResetPassword(r.Context(), actor, r.PathValue("email")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// confirm opens a challenge for the caller's second factor (emailing a
// code when that is theirs), which a change such as a new password then
// carries.
func (s *server) confirm(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	step, err := s.app.Accounts.StartConfirm(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, step)
	return nil
}

// changePassword keeps no session: a token-holder has none, so every
// dashboard session of the account ends.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.PasswordChange
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if err := s.app.Accounts.ChangePassword(r.Context(), actor, in.CurrentPassword, in.NewPassword, in.Challenge, in.Code, 0); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	q := r.URL.Query()
	if err := checkQuery(q, []string{"email"}); err != nil {
		return err
	}
	list, err := s.app.Accounts.ListTokens(r.Context(), actor, q.Get("email"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.TokenList{Tokens: list})
	return nil
}

// createToken makes a token for the caller (or, for admins, anyone) that
// expires after rampart.DefaultTokenTTL unless the request says otherwise.
func (s *server) createToken(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.TokenRequest
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Email == "" && actor.User != nil {
		in.Email = actor.User.Email
	}
	ttl := rampart.DefaultTokenTTL
	if in.TTL != nil && *in.TTL != 0 {
		ttl = time.Duration(*in.TTL)
	}
	if in.Name == "" {
		return rampart.FieldError("name", rampart.Errorf(rampart.EINVALID, "name is required: say what the token is for, e.g. \"ci\""))
	}
	plain, t, err := s.app.Accounts.CreateToken(r.Context(), actor, rampart.TokenInput{Email: in.Email, Name: in.Name, TTL: ttl})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rampart.TokenCreated{Token: plain, TokenInfo: t})
	return nil
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "API token %q not found: tokens are named by their number (rampart token list)", r.PathValue("id"))
	}
	if err := s.app.Accounts.RevokeToken(r.Context(), actor, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
