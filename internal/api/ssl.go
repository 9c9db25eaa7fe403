package api

import (
	"net/http"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

func (s *server) resetSSL(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.SSLResetInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	res, err := s.app.SSL.Reset(r.Context(), actor, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
