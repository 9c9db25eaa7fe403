package api

import (
	"net/http"

	"github.com/rampart-dev/rampart/internal/app"
)

// SSLResetInput is the body of POST /ssl/reset: {} resets everything
// (admins), {"domain": "…"} one name.
type SSLResetInput struct {
	Domain string `json:"domain,omitempty"`
}

func (s *server) resetSSL(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in SSLResetInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	res, err := s.app.ResetCertificates(r.Context(), actor, in.Domain)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
