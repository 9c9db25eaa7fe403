package web

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-dev/rampart"
)

// The Backups tab and the restore of deleted services. What a backup holds,
// when they are taken and how a restore is made safe are the lifecycle's
// business (internal/lifecycle); these handlers list, ask and stream.

// backupsView is the Backups tab.
type backupsView struct {
	List []backupRow
	// Restore is the modal's form; its action is filled in per row.
	Restore confirmForm
}

// backupRow is one backup as the table shows it.
type backupRow struct {
	*rampart.Backup
	Size, DataSize string
	ShortSum       string
	Kind           string // in words
	RestorePath    string
	DownloadPath   string
}

// backupKindWords is a backup's kind as the table says it.
func backupKindWords(k rampart.BackupKind) string {
	switch k {
	case rampart.BackupScheduled:
		return "Daily"
	case rampart.BackupManual:
		return "Manual"
	case rampart.BackupFinal:
		return "Final (at delete)"
	case rampart.BackupPreReset:
		return "Before reinstall"
	case rampart.BackupPreRestore:
		return "Before restore"
	}
	return string(k)
}

func backupPath(service string, id int64, what string) string {
	return servicePath(service, "") + "/backups/" + strconv.FormatInt(id, 10) + "/" + what
}

func (s *server) backupsFor(r *http.Request, rc *reqCtx, svc *rampart.Service) (*backupsView, error) {
	list, err := s.app.Services.Backups(r.Context(), rc.actor, svc.Name)
	if err != nil {
		return nil, err
	}
	v := &backupsView{Restore: restoreConfirm(rc.sess.CSRFToken, svc, nil)}
	for _, b := range list {
		short := b.SHA256
		if len(short) > 12 {
			short = short[:12]
		}
		v.List = append(v.List, backupRow{
			Backup: b, Size: byteSize(b.Size), DataSize: byteSize(b.DataBytes), ShortSum: short,
			Kind:        backupKindWords(b.Kind),
			RestorePath: backupPath(svc.Name, b.ID, "restore"), DownloadPath: backupPath(svc.Name, b.ID, "download"),
		})
	}
	return v, nil
}

// restoreConfirm is the confirmation of a restore from backup b; nil b is
// the modal shared by every row, whose action the opener fills in.
func restoreConfirm(csrf string, svc *rampart.Service, b *rampart.Backup) confirmForm {
	// The shared modal's title ends in the row's date, filled in by the
	// button that opens it.
	f := confirmForm{CSRF: csrf, ID: "restore", Submit: "Restore this backup", Cancel: servicePath(svc.Name, "backups"),
		Title: "Restore " + svc.Name + " from the backup of"}
	if b != nil {
		f.Action = backupPath(svc.Name, b.ID, "restore")
		f.Title = "Restore " + svc.Name + " from the backup of " + datetime(b.CreatedAt) + "?"
	}
	every := "Every file's checksum is verified first: a damaged archive changes nothing."
	if svc.State == rampart.StateDeleted {
		f.Body = []string{"The service comes back with this backup's data and is routed again.", every}
	} else {
		replace := "The current data is backed up first (pre-restore) and replaced by this backup's."
		if svc.Runtime.Runs() {
			replace += " Its process is stopped for the swap and started again."
		}
		f.Body = []string{replace, every}
	}
	return f
}

// createBackup is the Backups tab's "Back up now".
func (s *server) createBackup(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	b, err := s.app.Services.CreateBackup(r.Context(), rc.actor, r.PathValue("name"))
	s.afterAction(w, r, rc, "backups", err, func() string {
		return "Backed up " + b.Service + ": " + byteSize(b.Size) + ", " + plural(b.Files, "file") + "."
	})
}

// backupID reads the {id} of the path; a malformed one is a backup that
// does not exist.
func backupID(r *http.Request) int64 {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return -1
	}
	return id
}

// restoreBackupPage confirms a restore without JavaScript.
func (s *server) restoreBackupPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Get(r.Context(), rc.actor, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	id := backupID(r)
	list, err := s.app.Services.Backups(r.Context(), rc.actor, svc.Name)
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	for _, b := range list {
		if b.ID == id {
			d := serviceConfirmPage{base: rc.base("Restore "+svc.Name, "services"), Service: svc, Crumb: "Restore a backup",
				Form: restoreConfirm(rc.sess.CSRFToken, svc, b)}
			s.render(w, r, http.StatusOK, "service_confirm", d)
			return
		}
	}
	s.fail(w, r, rc, rampart.Errorf(rampart.ENOTFOUND, "service %q has no backup %s", svc.Name, r.PathValue("id")))
}

// restoreBackup restores one backup's data.
func (s *server) restoreBackup(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Restore(r.Context(), rc.actor, r.PathValue("name"), backupID(r))
	s.afterAction(w, r, rc, "backups", err, func() string {
		return "Restored " + svc.Name + " from backup " + r.PathValue("id") + ". The data it had before is in a pre-restore backup."
	})
}

// restoreService brings a deleted service back, with the data of its
// final backup: the Restore button of the deleted services list.
func (s *server) restoreService(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	svc, err := s.app.Services.Restore(r.Context(), rc.actor, r.PathValue("name"), 0)
	if err != nil {
		if pageError(err) {
			s.fail(w, r, rc, err)
			return
		}
		s.setFlash(w, rc.sess, "error", rampart.ErrorMessage(err))
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.setFlash(w, rc.sess, "success", "Restored "+svc.Name+" with the data of its final backup. The edge routes it again.")
	http.Redirect(w, r, servicePath(svc.Name, ""), http.StatusSeeOther)
}

// downloadBackup streams a backup's archive. Whoever may see the service
// may download its backups, as on the page.
func (s *server) downloadBackup(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	b, body, err := s.app.Services.OpenBackup(r.Context(), rc.actor, r.PathValue("name"), backupID(r))
	if err != nil {
		s.fail(w, r, rc, err)
		return
	}
	defer body.Close()
	name := b.Service + "-" + b.CreatedAt.UTC().Format("20060102T150405Z") + "-" + string(b.Kind) + ".tar.zst"
	h := w.Header()
	h.Set("Content-Type", "application/zstd")
	// The name is a service name (a DNS label), a time and a kind: no
	// quoting is needed, but it is quoted all the same.
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if b.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(b.Size, 10))
	}
	if _, err := io.Copy(w, body); err != nil {
		s.log.Warn("dashboard: backup download ended early", "service", b.Service, "backup", b.ID, "err", err)
	}
}

// deletedRow is a deleted service in the list, with the time left to
// restore it.
type deletedRow struct {
	*rampart.Service
	Left  string
	Until time.Time
}

func deletedRows(svcs []*rampart.Service, now time.Time) []deletedRow {
	var out []deletedRow
	for _, svc := range svcs {
		if svc.State != rampart.StateDeleted {
			continue
		}
		row := deletedRow{Service: svc}
		if svc.PurgeAfter != nil {
			row.Until = *svc.PurgeAfter
			row.Left = timeLeft(*svc.PurgeAfter, now)
		}
		out = append(out, row)
	}
	return out
}
