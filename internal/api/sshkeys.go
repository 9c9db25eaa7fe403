package api

import (
	"net/http"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// The SSH keys of the node's authorized_keys: admins only (the service
// layer says so to anyone else).

func (s *server) listSSHKeys(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	list, err := s.app.SSHKeys.List(r.Context(), actor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *server) addSSHKey(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	var in rampart.SSHKeyInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	k, err := s.app.SSHKeys.Add(r.Context(), actor, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

// removeSSHKey takes the key's ID or its fingerprint; a fingerprint's "/"
// arrives escaped as %2F, which PathValue decodes.
func (s *server) removeSSHKey(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if _, err := s.app.SSHKeys.Remove(r.Context(), actor, r.PathValue("key")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
