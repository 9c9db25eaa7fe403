// Package lifecycle keeps services' data safe through the actions that
// could lose it: backups (on demand, daily and before every destructive
// action), delete with a grace period, restore, reset and the purge after
// the grace period.
//
// Every action is ordered so that a crash (kill -9, power loss) at any
// point leaves the old state or the new one, never a mix: an archive is
// written whole (the store's Put is atomic) before its record; a delete
// commits only after its final backup is recorded; a restore verifies every
// checksum into a directory of its own before it swaps that directory in;
// the purge deletes archives before the records that name them, and treats
// what is already gone as done. Leftovers of an interrupted action (a temp
// directory, an archive without a record) are swept later.
package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/store"
)

// Runner is what the lifecycle needs of the runtime supervisor. Pause
// returns nil when nothing runs to pause; Kill when nothing runs to kill.
type Runner interface {
	Pause(ctx context.Context, serviceID int64) error
	Resume(ctx context.Context, serviceID int64) error
	Kill(ctx context.Context, serviceID int64) error
}

// Manager does the lifecycle's work. Set the fields before first use.
type Manager struct {
	Store   store.Store
	Backups backup.Store
	// Root holds a directory per service: <Root>/<id>/data is the data
	// directory, <Root>/<id>/run the runtime's own files.
	Root string
	// Runner is the runtime supervisor; nil: nothing runs (proxy only).
	Runner Runner
	Log    *slog.Logger
	// Now is the clock of backups, the schedule and the purge; default
	// time.Now. Tests inject one.
	Now func() time.Time
	// Interval is how often each service is backed up (default 24h);
	// Keep how many scheduled backups each keeps (default 7).
	Interval time.Duration
	Keep     int
	// Failpoint, if set, is called at named points of each action; the
	// crash-safety tests make it kill the process there. Nil in
	// production.
	Failpoint func(name string)

	locks sync.Map // service ID → *sync.Mutex
}

// DefaultInterval and DefaultKeep are the scheduled backups' defaults.
const (
	DefaultInterval = 24 * time.Hour
	DefaultKeep     = 7
)

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

func (m *Manager) failpoint(name string) {
	if m.Failpoint != nil {
		m.Failpoint(name)
	}
}

// lock serialises the lifecycle's actions on one service: a backup, a
// delete and a restore of one service never overlap.
func (m *Manager) lock(id int64) func() {
	v, _ := m.locks.LoadOrStore(id, new(sync.Mutex))
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// ServiceDir is the directory of everything rampart keeps for a service.
func (m *Manager) ServiceDir(id int64) string {
	return filepath.Join(m.Root, strconv.FormatInt(id, 10))
}

// DataDir is a service's data directory: what backups copy.
func (m *Manager) DataDir(id int64) string { return filepath.Join(m.ServiceDir(id), "data") }

// ProjectDir is where a runtime keeps its own files (a compose project).
func (m *Manager) ProjectDir(id int64) string { return filepath.Join(m.ServiceDir(id), "run") }

// EnsureDataDir creates a service's data directory if it is missing.
func (m *Manager) EnsureDataDir(id int64) (string, error) {
	dir := m.DataDir(id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create the data directory of service %d: %w", id, err)
	}
	return dir, nil
}

// pause freezes the service's runtime and returns the undo.
func (m *Manager) pause(ctx context.Context, svc *rampart.Service) (resume func(), err error) {
	if m.Runner == nil || !svc.Runtime.Runs() {
		return func() {}, nil
	}
	if err := m.Runner.Pause(ctx, svc.ID); err != nil {
		return nil, fmt.Errorf("pause %s for a consistent copy of its data: %w", svc.Name, err)
	}
	return func() {
		if err := m.Runner.Resume(context.WithoutCancel(ctx), svc.ID); err != nil {
			m.log().Error("resume after a backup failed", "service", svc.Name, "err", err)
		}
	}, nil
}

// kill kills the service's runtime; a paused one is resumed first if the
// runtime cannot kill it paused.
func (m *Manager) kill(ctx context.Context, svc *rampart.Service, resume func()) error {
	if m.Runner == nil || !svc.Runtime.Runs() {
		return nil
	}
	if err := m.Runner.Kill(ctx, svc.ID); err != nil {
		resume()
		return m.Runner.Kill(ctx, svc.ID)
	}
	return nil
}

// Config is what an archive's config.json holds: the service's whole
// configuration as it was when the backup was taken.
type Config struct {
	Format  int                `json:"format"`
	Service *rampart.Service   `json:"service"`
	Domains []*rampart.Domain  `json:"domains"`
	TakenAt time.Time          `json:"taken_at"`
	Kind    rampart.BackupKind `json:"kind"`
}

func (m *Manager) config(ctx context.Context, svc *rampart.Service, kind rampart.BackupKind, at time.Time) ([]byte, error) {
	domains, err := m.Store.ListDomains(ctx, store.DomainFilter{ServiceID: svc.ID})
	if err != nil {
		return nil, err
	}
	s := *svc
	s.Run, s.Status = nil, rampart.Status{}
	return json.MarshalIndent(Config{Format: 1, Service: &s, Domains: domains, TakenAt: at, Kind: kind}, "", "  ")
}

// Backup archives the service's data directory and configuration, with
// its runtime paused for the copy, and records the backup.
func (m *Manager) Backup(ctx context.Context, svc *rampart.Service, kind rampart.BackupKind) (*rampart.Backup, error) {
	defer m.lock(svc.ID)()
	resume, err := m.pause(ctx, svc)
	if err != nil {
		return nil, err
	}
	defer resume()
	return m.backupLocked(ctx, svc, kind)
}

// keyPrefix is where a service's archives live in the backup store.
func keyPrefix(id int64) string { return fmt.Sprintf("svc-%d/", id) }

func (m *Manager) backupLocked(ctx context.Context, svc *rampart.Service, kind rampart.BackupKind) (*rampart.Backup, error) {
	at := m.now()
	dataDir, err := m.EnsureDataDir(svc.ID)
	if err != nil {
		return nil, err
	}
	config, err := m.config(ctx, svc, kind, at)
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	key := fmt.Sprintf("%s%s-%s-%s.tar.zst", keyPrefix(svc.ID), at.Format("20060102T150405.000Z"), kind, hex.EncodeToString(rnd[:]))
	key = strings.ReplaceAll(key, ".000Z", "Z")

	pr, pw := io.Pipe()
	type result struct {
		man *backup.Manifest
		sum backup.Sum
		err error
	}
	done := make(chan result, 1)
	go func() {
		man, sum, err := backup.Write(ctx, pw, dataDir, config, backup.Info{Service: svc.Name, ServiceID: svc.ID, Kind: string(kind), CreatedAt: at})
		pw.CloseWithError(err)
		done <- result{man, sum, err}
	}()
	size, putErr := m.Backups.Put(ctx, key, failpointReader{pr, m, "backup.write"})
	pr.CloseWithError(errors.New("the backup store stopped reading"))
	res := <-done
	if err := errors.Join(res.err, putErr); err != nil {
		_ = m.Backups.Delete(context.WithoutCancel(ctx), key)
		if errors.Is(err, backup.ErrDiskFull) {
			return nil, diskFull("back up "+svc.Name, putErr)
		}
		return nil, fmt.Errorf("back up %s: %w", svc.Name, err)
	}
	m.failpoint("backup.put")
	b := &rampart.Backup{
		ServiceID: svc.ID, Service: svc.Name, Kind: kind, Key: key,
		Size: size, DataBytes: res.man.DataBytes, Files: regularFiles(res.man),
		SHA256: res.sum.String(), CreatedAt: at,
	}
	if err := m.Store.CreateBackup(ctx, b); err != nil {
		_ = m.Backups.Delete(context.WithoutCancel(ctx), key)
		return nil, fmt.Errorf("record the backup of %s: %w", svc.Name, err)
	}
	m.failpoint("backup.recorded")
	return b, nil
}

func regularFiles(m *backup.Manifest) int {
	n := 0
	for _, f := range m.Files {
		if f.Type == backup.TypeFile {
			n++
		}
	}
	return n
}

// failpointReader calls the failpoint once, halfway through an archive
// (after its first MiB), so that the crash tests can die mid-write.
type failpointReader struct {
	r    io.Reader
	m    *Manager
	name string
}

func (f failpointReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.m.Failpoint != nil && n > 0 {
		f.m.Failpoint(f.name)
	}
	return n, err
}

// Delete takes the final backup with the runtime paused, commits, kills
// the runtime and removes the data directory (see app.Lifecycle).
func (m *Manager) Delete(ctx context.Context, svc *rampart.Service, commit func(*rampart.Backup) error) error {
	defer m.lock(svc.ID)()
	resume, err := m.pause(ctx, svc)
	if err != nil {
		return err
	}
	final, err := m.backupLocked(ctx, svc, rampart.BackupFinal)
	if err != nil {
		resume()
		return err
	}
	m.failpoint("delete.backed-up")
	if err := commit(final); err != nil {
		resume()
		return err
	}
	m.failpoint("delete.committed")
	if err := m.kill(ctx, svc, resume); err != nil {
		// Desired state says deleted: the runtimes reconciler stops it.
		m.log().Warn("kill after delete failed; the reconciler will stop it", "service", svc.Name, "err", err)
	}
	m.removeData(svc.ID)
	return nil
}

// removeData moves the data directory aside in one rename, then removes
// it: a crash leaves a .trash- directory that the sweep removes, never a
// half-removed data directory.
func (m *Manager) removeData(id int64) {
	dir := m.DataDir(id)
	trash := filepath.Join(m.ServiceDir(id), fmt.Sprintf(".trash-%d", time.Now().UnixNano()))
	if err := os.Rename(dir, trash); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log().Error("moving a data directory aside failed", "dir", dir, "err", err)
		}
		return
	}
	syncDir(m.ServiceDir(id))
	m.failpoint("delete.data-moved")
	if err := os.RemoveAll(trash); err != nil {
		m.log().Error("removing a data directory failed; the sweep will retry", "dir", trash, "err", err)
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// diskFull is a backup or restore that stopped to leave the disk its
// reserve: the caller's to fix (free space), not a bug, so it is said
// whole, with the figures of err's backup.DiskFullError.
func diskFull(doing string, err error) error {
	var df *backup.DiskFullError
	if !errors.As(err, &df) {
		return err
	}
	return rampart.Errorf(rampart.EUNAVAILABLE, "cannot %s: %v; nothing was changed", doing, df)
}

// ChecksumError is how a restore refuses a damaged archive.
func checksumError(svc *rampart.Service, b *rampart.Backup, err error) error {
	if errors.Is(err, backup.ErrDiskFull) {
		return diskFull(fmt.Sprintf("restore backup %d of %s", b.ID, svc.Name), err)
	}
	if errors.Is(err, backup.ErrChecksum) {
		return rampart.Errorf(rampart.EINVALID, "backup %d of %s failed its checksum (%v): the archive is damaged, nothing was changed; restore another backup (rampart backup list %s)", b.ID, svc.Name, err, svc.Name)
	}
	return fmt.Errorf("read backup %d of %s: %w (nothing was changed)", b.ID, svc.Name, err)
}

// Restore verifies backup b whole into a directory of its own, then swaps
// it in place of the data directory and commits (see app.Lifecycle).
func (m *Manager) Restore(ctx context.Context, svc *rampart.Service, b *rampart.Backup, commit func() error) error {
	defer m.lock(svc.ID)()
	if err := os.MkdirAll(m.ServiceDir(svc.ID), 0o750); err != nil {
		return err
	}
	want, err := backup.ParseSum(b.SHA256)
	if err != nil {
		return checksumError(svc, b, fmt.Errorf("%w: the recorded checksum is unreadable", backup.ErrChecksum))
	}
	r, err := m.Backups.Get(ctx, b.Key)
	if err != nil {
		return fmt.Errorf("read backup %d of %s from the backup store: %w (nothing was changed)", b.ID, svc.Name, err)
	}
	tmp := filepath.Join(m.ServiceDir(svc.ID), fmt.Sprintf(".restore-%d", time.Now().UnixNano()))
	_, _, err = backup.Extract(ctx, r, tmp, want)
	r.Close()
	if err != nil {
		os.RemoveAll(tmp)
		return checksumError(svc, b, err)
	}
	m.failpoint("restore.extracted")
	if svc.State != rampart.StateDeleted {
		resume, err := m.pause(ctx, svc)
		if err != nil {
			os.RemoveAll(tmp)
			return err
		}
		if _, err := m.backupLocked(ctx, svc, rampart.BackupPreRestore); err != nil {
			resume()
			os.RemoveAll(tmp)
			return err
		}
		if err := m.kill(ctx, svc, resume); err != nil {
			resume()
			os.RemoveAll(tmp)
			return fmt.Errorf("stop %s before the restore: %w", svc.Name, err)
		}
	}
	m.removeData(svc.ID)
	if err := os.Rename(tmp, m.DataDir(svc.ID)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("put the restored data of %s in place: %w", svc.Name, err)
	}
	syncDir(m.ServiceDir(svc.ID))
	m.failpoint("restore.swapped")
	return commit()
}

// Reset takes a pre-reset backup, kills the runtime, empties the data
// directory and commits (see app.Lifecycle).
func (m *Manager) Reset(ctx context.Context, svc *rampart.Service, commit func(*rampart.Backup) error) error {
	defer m.lock(svc.ID)()
	resume, err := m.pause(ctx, svc)
	if err != nil {
		return err
	}
	saved, err := m.backupLocked(ctx, svc, rampart.BackupPreReset)
	if err != nil {
		resume()
		return err
	}
	if err := m.kill(ctx, svc, resume); err != nil {
		resume()
		return fmt.Errorf("stop %s for the reset: %w", svc.Name, err)
	}
	m.removeData(svc.ID)
	if _, err := m.EnsureDataDir(svc.ID); err != nil {
		return err
	}
	return commit(saved)
}

// Kill kills the service's runtime at once.
func (m *Manager) Kill(ctx context.Context, svc *rampart.Service) error {
	return m.kill(ctx, svc, func() {})
}

// Open reads a backup's archive.
func (m *Manager) Open(ctx context.Context, b *rampart.Backup) (io.ReadCloser, error) {
	return m.Backups.Get(ctx, b.Key)
}
