package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/rampart-dev/rampart/internal/agent"
	"github.com/rampart-dev/rampart/internal/backup"
	"github.com/rampart-dev/rampart/internal/backup/s3store"
	"github.com/rampart-dev/rampart/internal/config"
	"github.com/rampart-dev/rampart/internal/edge"
	"github.com/rampart-dev/rampart/internal/edge/logtail"
	"github.com/rampart-dev/rampart/internal/lifecycle"
	"github.com/rampart-dev/rampart/internal/runtime"
	"github.com/rampart-dev/rampart/internal/runtime/compose"
	"github.com/rampart-dev/rampart/internal/store"
)

// newBackupStore opens the backup store the configuration names: S3 when
// backups.s3.endpoint is set, the local directory otherwise.
func newBackupStore(cfg config.Config) (backup.Store, string, error) {
	if s3 := cfg.Backups.S3; s3.Endpoint != "" {
		secret := s3.SecretKey
		if s3.SecretKeyFile != "" {
			b, err := os.ReadFile(s3.SecretKeyFile)
			if err != nil {
				return nil, "", fmt.Errorf("backups.s3.secret_key_file: %w", err)
			}
			secret = strings.TrimSpace(string(b))
		}
		st, err := s3store.NewS3(s3store.Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Prefix: s3.Prefix,
			AccessKey: s3.AccessKey, SecretKey: secret, Region: s3.Region, UseTLS: !s3.Insecure})
		if err != nil {
			return nil, "", fmt.Errorf("backups.s3: %w", err)
		}
		return st, "s3://" + s3.Bucket + "/" + s3.Prefix + " at " + s3.Endpoint, nil
	}
	dir := cfg.Backups.Dir
	if dir == "" {
		dir = filepath.Join(cfg.Data, "backups")
	}
	st, err := backup.NewLocal(dir)
	if err != nil {
		return nil, "", fmt.Errorf("backups.dir: %w", err)
	}
	return st, dir, nil
}

// servicesDir is where each service's data directory and runtime files are.
func servicesDir(cfg config.Config) string {
	if cfg.Services.Dir != "" {
		return cfg.Services.Dir
	}
	return filepath.Join(cfg.Data, "services")
}

// supervisorRunner adapts the runtime supervisor to what the lifecycle
// asks of it: pausing or killing a service that does not run is nothing
// to do, not an error.
type supervisorRunner struct {
	sup *runtime.Supervisor
	// beforeKill runs before a kill: a routes pass, so that the edge
	// answers 503 for the service (marked stopped already) before its
	// process dies, not 502 until the routes catch up. It takes
	// milliseconds; an error is logged and the kill goes ahead.
	beforeKill func(ctx context.Context) error
	log        *slog.Logger
}

func (r supervisorRunner) Pause(ctx context.Context, id int64) error {
	if o, ok := r.sup.Observed(id); !ok || o.State != runtime.StateRunning {
		return nil
	}
	return r.sup.Pause(ctx, id)
}

func (r supervisorRunner) Resume(ctx context.Context, id int64) error {
	if o, ok := r.sup.Observed(id); !ok || o.State != runtime.StatePaused {
		return nil
	}
	return r.sup.Resume(ctx, id)
}

func (r supervisorRunner) Kill(ctx context.Context, id int64) error {
	if _, ok := r.sup.Observed(id); ok && r.beforeKill != nil {
		if err := r.beforeKill(ctx); err != nil && r.log != nil {
			r.log.Warn("taking a killed service off the edge before killing it; it may answer 502 until the routes catch up", "service_id", id, "err", err)
		}
	}
	err := r.sup.Kill(ctx, id)
	if errors.Is(err, runtime.ErrNotSupervised) {
		return nil
	}
	return err
}

// appLog publishes a service's output into the live log, beside the
// edge's requests, marked as the app's.
func appLog(l *logtail.Log) func(runtime.LogLine) {
	return func(line runtime.LogLine) {
		l.Publish(edge.LogEntry{Time: line.Time, Service: line.Service, ServiceID: agent.RouteID(line.ServiceID),
			Source: edge.SourceApp, Stream: line.Stream, Message: line.Text})
	}
}

// newRuntimes makes the supervisor with its drivers and the reconciler
// that drives it.
// The compose driver's log followers end with closeCompose.
func newRuntimes(db store.Store, lc *lifecycle.Manager, logs *logtail.Log, log *slog.Logger) (sup *runtime.Supervisor, rec *agent.Runtimes, closeCompose func() error) {
	rec = &agent.Runtimes{Store: db, Dirs: lc, Log: log.With("log", "runtimes")}
	cd := compose.New(compose.Options{Logs: appLog(logs)})
	drivers := map[runtime.Kind]runtime.Driver{
		runtime.KindExec:    runtime.NewExec(runtime.ExecOptions{Logs: appLog(logs)}),
		runtime.KindCompose: cd,
	}
	sup = runtime.NewSupervisor(runtime.Options{Drivers: drivers, Log: log.With("log", "runtimes"),
		OnChange: func(id int64, o runtime.Observed) { rec.Report(context.Background(), id, o) }})
	rec.Supervisor = sup
	return sup, rec, func() error { cd.Close(); return nil }
}

// failpointFromEnv is for the crash-safety tests only: with
// RAMPART_FAILPOINT=name or name:N set, the process kills itself (SIGKILL,
// as a power cut would) the Nth time the lifecycle passes that point.
func failpointFromEnv(log *slog.Logger) func(string) {
	v := os.Getenv("RAMPART_FAILPOINT")
	if v == "" {
		return nil
	}
	name, count, _ := strings.Cut(v, ":")
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		n = 1
	}
	log.Warn("crash-test failpoint armed: this process will kill itself", "point", name, "at", n)
	var seen atomic.Int64
	return func(point string) {
		if point == name && seen.Add(1) == int64(n) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
