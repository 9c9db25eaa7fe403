package lifecycle

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

// Run does the lifecycle's periodic work until ctx ends: at start and then
// every tick, the sweep, the purge of services past their grace period and
// the scheduled backups. Each pass reads everything from the store, so a
// restart in between changes nothing.
func (m *Manager) Run(ctx context.Context, tick time.Duration) {
	if tick <= 0 {
		tick = time.Minute
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		m.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass is one round of Run.
func (m *Manager) Pass(ctx context.Context) {
	if err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
		m.log().Error("lifecycle sweep", "err", err)
	}
	if _, err := m.Purge(ctx); err != nil && ctx.Err() == nil {
		m.log().Error("lifecycle purge", "err", err)
	}
	if err := m.Scheduled(ctx); err != nil && ctx.Err() == nil {
		m.log().Error("scheduled backups", "err", err)
	}
}

// Purge removes the services whose grace period is over: their archives
// first, then their directories, then (in one transaction) their records
// and backup records, with an audit event. It returns how many it purged.
// An archive already gone counts as deleted, so a purge interrupted at
// any point finishes on the next pass.
func (m *Manager) Purge(ctx context.Context) (int, error) {
	svcs, err := m.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return 0, err
	}
	now := m.now()
	n := 0
	for _, svc := range svcs {
		if svc.State != rampart.StateDeleted || svc.PurgeAfter == nil || now.Before(*svc.PurgeAfter) {
			continue
		}
		if err := m.purge(ctx, svc, rampart.AuditEvent{Actor: "system"}); err != nil {
			return n, fmt.Errorf("purge %s: %w", svc.Name, err)
		}
		n++
	}
	return n, nil
}

// PurgeNow purges one deleted service before its grace period ends (an
// admin's decision: see app.Services.Purge), as the purge job would.
// The audit event names by (the admin).
func (m *Manager) PurgeNow(ctx context.Context, svc *rampart.Service, by rampart.AuditEvent) error {
	if svc.State != rampart.StateDeleted {
		return fmt.Errorf("service %s is not deleted", svc.Name)
	}
	by.Detail = "before the end of the grace period"
	return m.purge(ctx, svc, by)
}

func (m *Manager) purge(ctx context.Context, svc *rampart.Service, by rampart.AuditEvent) error {
	defer m.lock(svc.ID)()
	backups, err := m.Store.ListBackups(ctx, svc.ID)
	if err != nil {
		return err
	}
	for _, b := range backups {
		if err := m.Backups.Delete(ctx, b.Key); err != nil {
			return err
		}
		m.failpoint("purge.archive-deleted")
	}
	// Archives that never got a record (a crash between the two).
	objs, err := m.Backups.List(ctx, keyPrefix(svc.ID))
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := m.Backups.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(m.ServiceDir(svc.ID)); err != nil {
		return err
	}
	err = m.Store.InTx(ctx, func(st store.Store) error {
		cur, err := st.ServiceByID(ctx, svc.ID)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.State != rampart.StateDeleted {
			return fmt.Errorf("service %s was restored during its purge", svc.Name)
		}
		if err := st.DeleteService(ctx, svc.ID); err != nil {
			return err
		}
		e := by
		e.At, e.Action, e.Service, e.ServiceID, e.OwnerID = m.now(), "service.purge", svc.Name, svc.ID, svc.OwnerID
		e.Detail = strings.TrimSpace(fmt.Sprintf("deleted_at=%s backups=%d %s", svc.DeletedAt.UTC().Format(time.RFC3339), len(backups), by.Detail))
		return st.AddAudit(ctx, &e)
	})
	if err == nil {
		m.log().Info("purged a deleted service after its grace period", "service", svc.Name, "id", svc.ID, "backups", len(backups))
	}
	return err
}

// Scheduled backs up every live service whose newest backup is older than
// Interval, and keeps only the newest Keep scheduled backups of each.
func (m *Manager) Scheduled(ctx context.Context) error {
	interval, keep := m.Interval, m.Keep
	if interval <= 0 {
		interval = DefaultInterval
	}
	if keep <= 0 {
		keep = DefaultKeep
	}
	svcs, err := m.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	now := m.now()
	var errs []error
	for _, svc := range svcs {
		if svc.State == rampart.StateDeleted {
			continue
		}
		list, err := m.Store.ListBackups(ctx, svc.ID)
		if err != nil {
			return err
		}
		var newest time.Time
		var scheduled []*rampart.Backup
		for _, b := range list {
			if b.Kind == rampart.BackupScheduled || b.Kind == rampart.BackupManual {
				if b.CreatedAt.After(newest) {
					newest = b.CreatedAt
				}
			}
			if b.Kind == rampart.BackupScheduled {
				scheduled = append(scheduled, b)
			}
		}
		if newest.IsZero() || now.Sub(newest) >= interval {
			b, err := m.Backup(ctx, svc, rampart.BackupScheduled)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			scheduled = append([]*rampart.Backup{b}, scheduled...)
		}
		for _, old := range scheduled[min(keep, len(scheduled)):] { // newest first
			if err := m.Backups.Delete(ctx, old.Key); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := m.Store.DeleteBackup(ctx, old.ID); err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d backups failed, the first: %w", len(errs), errs[0])
	}
	return nil
}

// orphanAge is how old an archive without a record must be before the
// sweep deletes it: a backup in progress writes its archive before its
// record.
const orphanAge = time.Hour

// Sweep removes what interrupted actions left: temp and trash directories,
// the data directories of deleted services, the directories of purged
// ones, and archives without a record.
func (m *Manager) Sweep(ctx context.Context) error {
	svcs, err := m.Store.ListServices(ctx, store.ServiceFilter{})
	if err != nil {
		return err
	}
	byID := make(map[int64]*rampart.Service, len(svcs))
	for _, s := range svcs {
		byID[s.ID] = s
	}
	entries, err := os.ReadDir(m.Root)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, e := range entries {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		m.sweepService(id, byID[id])
	}
	recorded := map[string]bool{}
	all, err := m.Store.ListBackups(ctx, 0)
	if err != nil {
		return err
	}
	for _, b := range all {
		recorded[b.Key] = true
	}
	objs, err := m.Backups.List(ctx, "")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if recorded[o.Key] || m.now().Sub(o.ModTime) < orphanAge {
			continue
		}
		if err := m.Backups.Delete(ctx, o.Key); err != nil {
			return err
		}
		m.log().Info("swept an archive without a record", "key", o.Key)
	}
	return nil
}

func (m *Manager) sweepService(id int64, svc *rampart.Service) {
	defer m.lock(id)()
	dir := m.ServiceDir(id)
	if svc == nil {
		// Purged (or never recorded): nothing of it should remain.
		if err := os.RemoveAll(dir); err != nil {
			m.log().Error("sweep", "dir", dir, "err", err)
		}
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".trash-") || strings.HasPrefix(e.Name(), ".restore-") {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	if svc.State == rampart.StateDeleted {
		m.removeData(id)
	}
}
