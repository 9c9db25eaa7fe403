package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Lifecycle is what the service layer needs of the data plane for the
// actions that move a service's data. Each method takes the service as
// read before the action and a commit function: the transaction that
// records the action's desired state. The implementation runs commit only
// once the data is safe (the backup whole and recorded, the archive
// verified), so that a crash at any point leaves either the old state or
// the new one.
type Lifecycle interface {
	// Backup archives the service's data directory and configuration (the
	// runtime paused for a consistent copy) and records the backup.
	Backup(ctx context.Context, svc *rampart.Service, kind rampart.BackupKind) (*rampart.Backup, error)
	// Delete takes the final backup with the runtime paused, runs commit
	// with it, then kills the runtime and removes the data directory. When
	// the backup or commit fails the runtime resumes and nothing changed.
	Delete(ctx context.Context, svc *rampart.Service, commit func(final *rampart.Backup) error) error
	// Restore verifies every checksum of backup b, then puts its data in
	// place of the service's (a running service is paused, backed up as
	// pre-restore and killed first) and runs commit. A bad archive changes
	// nothing.
	Restore(ctx context.Context, svc *rampart.Service, b *rampart.Backup, commit func() error) error
	// Reset takes a pre-reset backup with the runtime paused, kills it,
	// empties the data directory and runs commit.
	Reset(ctx context.Context, svc *rampart.Service, commit func(saved *rampart.Backup) error) error
	// Kill kills the service's runtime at once (the "power off").
	Kill(ctx context.Context, svc *rampart.Service) error
	// Open reads a backup's archive, for a download.
	Open(ctx context.Context, b *rampart.Backup) (io.ReadCloser, error)
	// PurgeNow removes a deleted service's backups, data and record at
	// once, with an audit event, as the purge after the grace period does.
	PurgeNow(ctx context.Context, svc *rampart.Service, by rampart.AuditEvent) error
}

// Purge removes a deleted service for good before its grace period ends:
// its backups, its data and its record; its name becomes free. Only an
// admin may, and only for a deleted service: it cannot be undone.
func (s *Services) Purge(ctx context.Context, actor Actor, name string) error {
	if err := actor.requireAdmin(); err != nil {
		return err
	}
	svc, err := s.visibleService(ctx, s.store, actor, name)
	if err != nil {
		return err
	}
	if svc.State != rampart.StateDeleted {
		return rampart.Errorf(rampart.ECONFLICT, "service %q is not deleted: only a deleted service can be purged (delete it first, which takes a final backup)", name)
	}
	if s.opts.Lifecycle != nil {
		return s.opts.Lifecycle.PurgeNow(ctx, svc, rampart.AuditEvent{ActorID: actor.id(), Actor: actor.name(), IP: actor.IP})
	}
	return s.store.InTx(ctx, func(st store.Store) error {
		if err := st.DeleteService(ctx, svc.ID); err != nil {
			return err
		}
		return s.audit(ctx, st, actor, "service.purge", svc, "before the end of the grace period")
	})
}

// Start starts a stopped service: routed again, and run again when
// rampart runs it. Starting is never protected.
func (s *Services) Start(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	return s.setRunning(ctx, actor, name, "service.start", "", func(svc *rampart.Service) bool {
		if svc.State == rampart.StateActive {
			return false
		}
		svc.State = rampart.StateActive
		return true
	})
}

// Stop is the seed's "shut down": the service stops gracefully and the
// edge answers 503 for it until it is started again.
func (s *Services) Stop(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	return s.setRunning(ctx, actor, name, "service.stop", actionStop, func(svc *rampart.Service) bool {
		if svc.State == rampart.StateStopped {
			return false
		}
		svc.State = rampart.StateStopped
		return true
	})
}

// Restart is the seed's "reboot": a new process (or new containers) with
// the same configuration. A stopped service starts.
func (s *Services) Restart(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	return s.setRunning(ctx, actor, name, "service.restart", actionRestart, func(svc *rampart.Service) bool {
		svc.State = rampart.StateActive
		svc.Generation++
		return true
	})
}

// Kill is the seed's "power off": the service's processes are killed at
// once, without the graceful stop, and it stays stopped.
func (s *Services) Kill(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	svc, err := s.setRunning(ctx, actor, name, "service.kill", actionKill, func(svc *rampart.Service) bool {
		svc.State = rampart.StateStopped
		return true
	})
	if err != nil {
		return nil, err
	}
	if s.opts.Lifecycle != nil {
		// Desired state says stopped already; the reconciler would stop it
		// gracefully, which is not what "power off" asks.
		if err := s.opts.Lifecycle.Kill(ctx, svc); err != nil {
			return nil, fmt.Errorf("service %s is marked stopped, but killing its process failed: %w", svc.Name, err)
		}
	}
	return svc, nil
}

// SetVersion is the seed's "change software version": the runtime runs
// version next (the ${VERSION} of the command, or the image tag).
func (s *Services) SetVersion(ctx context.Context, actor Actor, name, version string) (*rampart.Service, error) {
	version = strings.TrimSpace(version)
	if version == "" {
		return nil, rampart.FieldError("version", rampart.Errorf(rampart.EINVALID, "give the version to run, e.g. 1.4.2"))
	}
	return s.setRunning(ctx, actor, name, "service.set-version", actionSetVersion, func(svc *rampart.Service) bool {
		if svc.Runtime.Version == version {
			return false
		}
		svc.Runtime.Version = version
		return true
	})
}

// setRunning is the shape of the runtime actions: the caller may change
// the service, it must run (or be a proxy service for start and stop), it
// must not be deleted, protection is checked before and inside the
// transaction, and the change is audited. change reports whether it
// changed anything; when it did not, nothing is written.
func (s *Services) setRunning(ctx context.Context, actor Actor, name, event, protected string, change func(*rampart.Service) bool) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	var svc *rampart.Service
	err := s.store.InTx(ctx, func(st store.Store) error {
		var err error
		if svc, err = s.liveService(ctx, st, actor, name); err != nil {
			return err
		}
		if err := refuseIfProtected(svc, protected); err != nil {
			return err
		}
		if !svc.Runtime.Runs() && protected != "" && protected != actionStop {
			return rampart.Errorf(rampart.EINVALID, "%s runs elsewhere (runtime proxy): rampart cannot %s it; only start and stop, which turn its routing on and off, apply", svc.Name, protected)
		}
		before := svc.Runtime.Version
		if !change(svc) {
			return nil
		}
		if err := svc.Validate(); err != nil {
			return err
		}
		if err := st.UpdateService(ctx, svc); err != nil {
			return err
		}
		detail := fmt.Sprintf("state=%s generation=%d", svc.State, svc.Generation)
		if svc.Runtime.Version != before {
			detail = fmt.Sprintf("version=%s from=%s", svc.Runtime.Version, before)
		}
		return s.audit(ctx, st, actor, event, svc, detail)
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// Reset is the seed's "reinstall": a backup of the data as it is, then the
// service starts afresh, at the same version, with an empty data
// directory.
func (s *Services) Reset(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := s.liveService(ctx, s.store, actor, name)
	if err != nil {
		return nil, err
	}
	if err := refuseIfProtected(svc, actionReset); err != nil {
		return nil, err
	}
	if !svc.Runtime.Runs() {
		return nil, rampart.Errorf(rampart.EINVALID, "%s runs elsewhere (runtime proxy): rampart keeps no data for it to reset", svc.Name)
	}
	lc, err := s.lifecycle()
	if err != nil {
		return nil, err
	}
	err = lc.Reset(ctx, svc, func(saved *rampart.Backup) error {
		return s.store.InTx(ctx, func(st store.Store) error {
			cur, err := s.liveService(ctx, st, actor, name)
			if err != nil {
				return err
			}
			if cur.ID != svc.ID {
				return rampart.Errorf(rampart.ECONFLICT, "service %q changed during the reset: try again", name)
			}
			if err := refuseIfProtected(cur, actionReset); err != nil {
				return err
			}
			cur.State = rampart.StateActive
			cur.Generation++
			if err := st.UpdateService(ctx, cur); err != nil {
				return err
			}
			svc = cur
			return s.audit(ctx, st, actor, "service.reset", cur, fmt.Sprintf("backup=%d", saved.ID))
		})
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}

func (s *Services) lifecycle() (Lifecycle, error) {
	if s.opts.Lifecycle == nil {
		return nil, rampart.Errorf(rampart.EUNAVAILABLE, "this process keeps no backups: run the action against `rampart serve`")
	}
	return s.opts.Lifecycle, nil
}

// Delete deletes the named service: a final backup, then its processes
// stop, the edge stops routing it and its certificates are no longer
// renewed; its record, name and domains stay reserved for the grace period
// (Options.DeleteGrace), within which Restore brings it back with its data.
// After it, the purge removes the record and the backups.
func (s *Services) Delete(ctx context.Context, actor Actor, name string) error {
	_, err := s.DeleteService(ctx, actor, name)
	return err
}

// DeleteService is Delete returning the deleted service (with its
// PurgeAfter).
func (s *Services) DeleteService(ctx context.Context, actor Actor, name string) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := s.liveService(ctx, s.store, actor, name)
	if err != nil {
		return nil, err
	}
	if err := refuseIfProtected(svc, actionDelete); err != nil {
		return nil, err
	}
	commit := func(final *rampart.Backup) error {
		return s.store.InTx(ctx, func(st store.Store) error {
			cur, err := s.liveService(ctx, st, actor, name)
			if err != nil {
				return err
			}
			if cur.ID != svc.ID {
				return rampart.Errorf(rampart.ECONFLICT, "service %q changed during the delete: try again", name)
			}
			if err := refuseIfProtected(cur, actionDelete); err != nil {
				return err
			}
			now := s.now().UTC()
			purge := now.Add(s.opts.DeleteGrace)
			cur.State, cur.DeletedAt, cur.PurgeAfter = rampart.StateDeleted, &now, &purge
			if err := st.UpdateService(ctx, cur); err != nil {
				return err
			}
			svc = cur
			detail := "purge_after=" + purge.Format("2006-01-02T15:04:05Z")
			if final != nil {
				detail += fmt.Sprintf(" backup=%d", final.ID)
			}
			return s.audit(ctx, st, actor, "service.delete", cur, detail)
		})
	}
	if s.opts.Lifecycle == nil {
		err = commit(nil)
	} else {
		err = s.opts.Lifecycle.Delete(ctx, svc, commit)
	}
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// Restore brings a deleted service back within its grace period, with the
// data of its final backup (or of backupID, when not 0), or puts an older
// backup's data in place of a live service's (a pre-restore backup is
// taken first). Every checksum of the archive is verified before anything
// changes.
func (s *Services) Restore(ctx context.Context, actor Actor, name string, backupID int64) (*rampart.Service, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := s.visibleService(ctx, s.store, actor, name)
	if err != nil {
		return nil, err
	}
	deleted := svc.State == rampart.StateDeleted
	if deleted && svc.PurgeAfter != nil && !s.now().Before(*svc.PurgeAfter) {
		return nil, rampart.Errorf(rampart.ECONFLICT, "service %q is past its grace period and is being purged: it can no longer be restored", name)
	}
	if !deleted && backupID == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "service %q is not deleted: to put a backup's data in place of its data, name the backup (rampart backup list %s)", name, name)
	}
	var b *rampart.Backup
	if backupID != 0 {
		if b, err = s.store.BackupByID(ctx, backupID); err != nil || b.ServiceID != svc.ID {
			return nil, rampart.Errorf(rampart.ENOTFOUND, "service %q has no backup %d: see rampart backup list %s", name, backupID, name)
		}
	} else {
		list, err := s.store.ListBackups(ctx, svc.ID)
		if err != nil {
			return nil, err
		}
		for _, x := range list { // newest first; the final one if there is one
			if b == nil || (x.Kind == rampart.BackupFinal && b.Kind != rampart.BackupFinal) {
				b = x
			}
			if x.Kind == rampart.BackupFinal {
				break
			}
		}
	}
	commit := func() error {
		return s.store.InTx(ctx, func(st store.Store) error {
			cur, err := s.visibleService(ctx, st, actor, name)
			if err != nil {
				return err
			}
			if cur.ID != svc.ID || (cur.State == rampart.StateDeleted) != deleted {
				return rampart.Errorf(rampart.ECONFLICT, "service %q changed during the restore: try again", name)
			}
			if deleted {
				cur.State, cur.DeletedAt, cur.PurgeAfter = rampart.StateActive, nil, nil
			}
			cur.Generation++
			if err := st.UpdateService(ctx, cur); err != nil {
				return err
			}
			svc = cur
			detail := "from deletion"
			if !deleted {
				detail = "over live data"
			}
			if b != nil {
				detail += fmt.Sprintf(" backup=%d", b.ID)
			}
			return s.audit(ctx, st, actor, "service.restore", cur, detail)
		})
	}
	switch {
	case b == nil && svc.Runtime.Runs() && s.opts.Lifecycle != nil:
		return nil, rampart.Errorf(rampart.ECONFLICT, "service %q has no backup to restore its data from", name)
	case b == nil || s.opts.Lifecycle == nil:
		// A proxy service without backups keeps no data: its record is
		// all there is to bring back.
		if s.opts.Lifecycle == nil && b != nil {
			return nil, rampart.Errorf(rampart.EUNAVAILABLE, "this process keeps no backups: run the restore against `rampart serve`")
		}
		err = commit()
	default:
		err = s.opts.Lifecycle.Restore(ctx, svc, b, commit)
	}
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// Backups lists the named service's backups, newest first.
func (s *Services) Backups(ctx context.Context, actor Actor, name string) ([]*rampart.Backup, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := s.visibleService(ctx, s.store, actor, name)
	if err != nil {
		return nil, err
	}
	return s.store.ListBackups(ctx, svc.ID)
}

// CreateBackup takes a backup of the named service now.
func (s *Services) CreateBackup(ctx context.Context, actor Actor, name string) (*rampart.Backup, error) {
	if err := actor.check(); err != nil {
		return nil, err
	}
	svc, err := s.liveService(ctx, s.store, actor, name)
	if err != nil {
		return nil, err
	}
	lc, err := s.lifecycle()
	if err != nil {
		return nil, err
	}
	b, err := lc.Backup(ctx, svc, rampart.BackupManual)
	if err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(st store.Store) error {
		return s.audit(ctx, st, actor, "service.backup", svc, fmt.Sprintf("backup=%d size=%d", b.ID, b.Size))
	})
	return b, err
}

// OpenBackup reads one of the named service's backup archives, for a
// download.
func (s *Services) OpenBackup(ctx context.Context, actor Actor, name string, id int64) (*rampart.Backup, io.ReadCloser, error) {
	if err := actor.check(); err != nil {
		return nil, nil, err
	}
	svc, err := s.visibleService(ctx, s.store, actor, name)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.store.BackupByID(ctx, id)
	if err != nil || b.ServiceID != svc.ID {
		return nil, nil, rampart.Errorf(rampart.ENOTFOUND, "service %q has no backup %d", name, id)
	}
	lc, err := s.lifecycle()
	if err != nil {
		return nil, nil, err
	}
	r, err := lc.Open(ctx, b)
	if err != nil {
		return nil, nil, err
	}
	return b, r, nil
}
