package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// serviceAction answers POST /api/v1/services/{name}/{start,stop,kill,
// restart,reset}: the action is the last segment of the path.
func (s *server) serviceAction(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	actions := map[string]func(context.Context, app.Actor, string) (*rampart.Service, error){
		"start":   s.app.Services.Start,
		"stop":    s.app.Services.Stop,
		"kill":    s.app.Services.Kill,
		"restart": s.app.Services.Restart,
		"reset":   s.app.Services.Reset,
	}
	do, ok := actions[path.Base(r.URL.Path)]
	if !ok {
		return rampart.Errorf(rampart.ENOTFOUND, "no such action: use start, stop, kill, restart or reset")
	}
	svc, err := do(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) setVersion(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if _, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	var in rampart.VersionInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	svc, err := s.app.Services.SetVersion(r.Context(), actor, r.PathValue("name"), in.Version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) transferService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if _, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	var in rampart.TransferInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	svc, err := s.app.Services.Transfer(r.Context(), actor, r.PathValue("name"), in.Owner)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) restoreService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if _, err := s.app.Services.Get(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	var in rampart.RestoreInput
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &in); err != nil {
			return err
		}
	}
	svc, err := s.app.Services.Restore(r.Context(), actor, r.PathValue("name"), in.BackupID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.service(svc))
	return nil
}

func (s *server) listBackups(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	list, err := s.app.Services.Backups(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rampart.BackupList{Backups: list})
	return nil
}

func (s *server) createBackup(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	b, err := s.app.Services.CreateBackup(r.Context(), actor, r.PathValue("name"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", servicePath(r.PathValue("name"))+"/backups/"+strconv.FormatInt(b.ID, 10))
	writeJSON(w, http.StatusCreated, b)
	return nil
}

// downloadBackup streams a backup's archive (tar + zstd, with its
// MANIFEST.json of SHA-256 sums), with the archive's SHA-256 in a header so
// that a client can check what it got.
func (s *server) downloadBackup(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "backup %q not found: backups are named by their number (rampart backup list)", r.PathValue("id"))
	}
	b, rc, err := s.app.Services.OpenBackup(r.Context(), actor, r.PathValue("name"), id)
	if err != nil {
		return err
	}
	defer rc.Close()
	name := fmt.Sprintf("%s-%s-%d.tar.zst", b.Service, b.CreatedAt.UTC().Format("20060102T150405Z"), b.ID)
	name = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 {
			return '_'
		}
		return r
	}, name)
	h := w.Header()
	h.Set("Content-Type", "application/zstd")
	h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("X-Rampart-SHA256", b.SHA256)
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, rc)
	return nil
}

func (s *server) purgeService(w http.ResponseWriter, r *http.Request, actor app.Actor) error {
	if err := s.app.Services.Purge(r.Context(), actor, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
