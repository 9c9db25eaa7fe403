package api

import (
	"net/http"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// Logging in through the API: the same two steps, throttles and audit
// entries as the dashboard's form, ending in an API token instead of a
// session cookie. A password alone never gets a token when the account
// has a second factor.

func (s *server) login(w http.ResponseWriter, r *http.Request, _ app.Actor) error {
	var in rampart.LoginRequest
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	ip := s.clientIP(r)
	step, u, err := s.app.Accounts.StartLogin(r.Context(), rampart.LoginInput{Email: in.Email, Password: in.Password, IP: ip})
	if err != nil {
		return err
	}
	if u != nil { // the account has no second factor
		return s.loginToken(w, r, u, ip, "")
	}
	writeJSON(w, http.StatusOK, rampart.LoginResponse{Step: step})
	return nil
}

func (s *server) loginCode(w http.ResponseWriter, r *http.Request, _ app.Actor) error {
	var in rampart.LoginCodeRequest
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	ip := s.clientIP(r)
	u, err := s.app.Accounts.FinishLogin(r.Context(), in.Challenge, in.Code, ip)
	if err != nil {
		return err
	}
	return s.loginToken(w, r, u, ip, in.TokenName)
}

func (s *server) loginResend(w http.ResponseWriter, r *http.Request, _ app.Actor) error {
	var in rampart.LoginResendRequest
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	step, err := s.app.Accounts.ResendCode(r.Context(), in.Challenge, s.clientIP(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.LoginResponse{Step: step})
	return nil
}

// loginToken answers a completed login with a new token of u's.
func (s *server) loginToken(w http.ResponseWriter, r *http.Request, u *rampart.User, ip, name string) error {
	if name == "" {
		name = "cli"
	}
	plain, t, err := s.app.Accounts.CreateToken(r.Context(), app.UserActor(u, ip), rampart.TokenInput{Email: u.Email, Name: name, TTL: rampart.LoginTokenTTL})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rampart.LoginResponse{Token: plain, TokenInfo: t})
	return nil
}

// resetMFA is the admin's way back in for a user who lost every factor.
func (s *server) resetMFA(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	u, err := s.app.Accounts.ResetMFA(r.Context(), actor, r.PathValue("email"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}
