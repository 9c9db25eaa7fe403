package agent

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-dev/rampart/internal/store"
)

// Reconciler makes one enforcement point match the store. It is a sync
// function and the kinds of change that wake it; the Loop does the rest
// (waking, polling, backoff, metrics), so a new reconciler is one file
// with these three methods and one line in the list `serve` runs.
//
// Sync must be level-triggered, as Kubernetes controllers are: it reads
// the whole desired state it acts on and converges from whatever state the
// machine is in, so a missed or doubled wake-up does no harm.
type Reconciler interface {
	// Name labels log lines and metrics ("routes", "domains", …).
	Name() string
	// Kinds are the kinds of desired state whose changes wake Sync.
	Kinds() []store.Kind
	// Sync runs one pass. Changed is true when a watched kind's revision
	// moved since the last successful pass (and on the first pass);
	// reconcilers that do expensive checks (DNS) run them all then.
	Sync(ctx context.Context, t Trigger) error
}

// Trigger says why Sync runs.
type Trigger struct {
	// Changed: desired state of a watched kind changed since the last
	// successful pass, or this is the first pass.
	Changed bool
	// Revisions are the watched kinds' revisions read before this pass;
	// a reconciler that reports status records them as applied.
	Revisions map[store.Kind]int64
}

// Waker is implemented by reconcilers that have wake-ups of their own
// besides changes of desired state: the domains reconciler is woken by the
// certificate manager when a certificate's state changes.
type Waker interface {
	Wake() <-chan struct{}
}

// Resyncer is implemented by reconcilers that must run every so often
// even when nothing changed: the domains reconciler rechecks DNS.
type Resyncer interface {
	ResyncEvery() time.Duration
}

// Loop runs reconcilers. The zero value works on a Store given in Store.
type Loop struct {
	Store store.Changes
	// Poll is how often revisions are read, to notice changes made by
	// other processes (an operator command, a second server). Default 2s.
	// Changes made in this process arrive at once through Subscribe.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed pass is
	// retried; it doubles with every failure in a row. Defaults 1s and 1m.
	MinBackoff, MaxBackoff time.Duration
	// Metrics, when set, gets the loop's metrics (see newLoopMetrics).
	Metrics prometheus.Registerer
	Log     *slog.Logger

	once    sync.Once
	metrics *loopMetrics
	mu      sync.Mutex
	stats   map[string]Stats
}

// Stats is what a reconciler's loop last did.
type Stats struct {
	Passes      int64
	LastSuccess time.Time
	LastError   error
	LastErrorAt time.Time
	Duration    time.Duration // of the last pass
}

// Stats returns the named reconciler's stats.
func (l *Loop) Stats(name string) Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats[name]
}

func (l *Loop) init() {
	l.once.Do(func() {
		if l.Poll <= 0 {
			l.Poll = 2 * time.Second
		}
		if l.MinBackoff <= 0 {
			l.MinBackoff = time.Second
		}
		if l.MaxBackoff < l.MinBackoff {
			l.MaxBackoff = max(time.Minute, l.MinBackoff)
		}
		if l.Log == nil {
			l.Log = slog.Default()
		}
		l.stats = map[string]Stats{}
		l.metrics = newLoopMetrics(l.Metrics)
	})
}

// RunAll runs every reconciler on its own loop until ctx ends.
func (l *Loop) RunAll(ctx context.Context, rs []Reconciler) {
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { l.Run(ctx, r) })
	}
	wg.Wait()
}

// Run runs r until ctx ends: a pass at start, then one after every change
// of its kinds (at once for this process's changes, within Poll for other
// processes'), after each of its own wake-ups, every ResyncEvery, and
// after a failure, with backoff.
func (l *Loop) Run(ctx context.Context, r Reconciler) {
	l.init()
	log := l.Log.With("reconciler", r.Name())
	kinds := r.Kinds()
	changes, stop := l.Store.Subscribe(kinds...)
	defer stop()
	var wake <-chan struct{}
	if w, ok := r.(Waker); ok {
		wake = w.Wake()
	}
	var resync <-chan time.Time
	if rs, ok := r.(Resyncer); ok && rs.ResyncEvery() > 0 {
		t := time.NewTicker(rs.ResyncEvery())
		defer t.Stop()
		resync = t.C
	}
	poll := time.NewTicker(l.Poll)
	defer poll.Stop()

	var (
		applied  map[store.Kind]int64 // revisions of the last successful pass; nil before it
		failures int
		retry    *time.Timer
		retryC   <-chan time.Time
	)
	// pass syncs when a watched revision moved since the last successful
	// pass, or always when asked (own wake-ups, resyncs, retries).
	pass := func(always bool) {
		revs, err := l.revisions(ctx, kinds)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("reading revisions; will retry", "err", err)
			}
			return
		}
		changed := applied == nil
		for k, v := range revs {
			if applied[k] != v {
				changed = true
			}
		}
		if !changed && !always {
			return
		}
		start := time.Now()
		err = safeSync(ctx, r, Trigger{Changed: changed, Revisions: revs})
		if ctx.Err() != nil {
			return
		}
		l.record(r.Name(), start, err)
		if err != nil {
			failures++
			wait := backoff(l.MinBackoff, l.MaxBackoff, failures)
			log.Error("sync failed; the previous state stays in place", "err", err, "retry_in", wait, "failures", failures)
			if retry == nil {
				retry = time.NewTimer(wait)
			} else {
				retry.Reset(wait)
			}
			retryC = retry.C
			return
		}
		failures, retryC, applied = 0, nil, revs
	}
	pass(true)
	for {
		select {
		case <-ctx.Done():
			if retry != nil {
				retry.Stop()
			}
			return
		case <-changes:
			pass(false)
		case <-wake:
			pass(true)
		case <-resync:
			pass(true)
		case <-retryC:
			retryC = nil
			pass(true)
		case <-poll.C:
			if retryC == nil { // a failing reconciler waits for its backoff
				pass(false)
			}
		}
	}
}

// SyncOnce runs one pass of r now, with the revisions it watches: what
// `serve` does with the routes before the edge takes its first request.
func (l *Loop) SyncOnce(ctx context.Context, r Reconciler) error {
	l.init()
	revs, err := l.revisions(ctx, r.Kinds())
	if err != nil {
		return err
	}
	return safeSync(ctx, r, Trigger{Changed: true, Revisions: revs})
}

// safeSync runs one pass and turns a panic into an error: a bug in one
// reconciler must not take the edge, which serves from what the
// reconcilers installed before, down with it.
func safeSync(ctx context.Context, r Reconciler, t Trigger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the %s reconciler panicked: %v\n%s", r.Name(), p, debug.Stack())
		}
	}()
	return r.Sync(ctx, t)
}

func (l *Loop) revisions(ctx context.Context, kinds []store.Kind) (map[store.Kind]int64, error) {
	revs := make(map[store.Kind]int64, len(kinds))
	for _, k := range kinds {
		v, err := l.Store.Revision(ctx, k)
		if err != nil {
			return nil, err
		}
		revs[k] = v
	}
	return revs, nil
}

func (l *Loop) record(name string, start time.Time, err error) {
	took := time.Since(start)
	l.mu.Lock()
	st := l.stats[name]
	st.Passes++
	st.Duration = took
	if err == nil {
		st.LastSuccess = time.Now()
	} else {
		st.LastError, st.LastErrorAt = err, time.Now()
	}
	l.stats[name] = st
	l.mu.Unlock()
	l.metrics.observe(name, took, err)
}

// backoff is lo doubled for every failure after the first, at most hi.
func backoff(lo, hi time.Duration, failures int) time.Duration {
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// loopMetrics are the reconcilers' Prometheus metrics; nil-safe, so a
// loop without a registry records nothing.
type loopMetrics struct {
	duration    *prometheus.HistogramVec
	errors      *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	lastError   *prometheus.GaugeVec
}

func newLoopMetrics(reg prometheus.Registerer) *loopMetrics {
	if reg == nil {
		return nil
	}
	m := &loopMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_reconciler_sync_duration_seconds",
			Help:    "How long a reconciler's passes take.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"reconciler"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_reconciler_errors_total",
			Help: "Reconciler passes that failed (they are retried with backoff).",
		}, []string{"reconciler"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_reconciler_last_success_timestamp_seconds",
			Help: "When a reconciler last finished a pass without error (Unix time).",
		}, []string{"reconciler"}),
		lastError: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_reconciler_last_error_timestamp_seconds",
			Help: "When a reconciler's pass last failed (Unix time; 0: never).",
		}, []string{"reconciler"}),
	}
	reg.MustRegister(m.duration, m.errors, m.lastSuccess, m.lastError)
	return m
}

func (m *loopMetrics) observe(name string, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(name).Observe(took.Seconds())
	now := float64(time.Now().UnixNano()) / 1e9
	if err != nil {
		m.errors.WithLabelValues(name).Inc()
		m.lastError.WithLabelValues(name).Set(now)
		return
	}
	m.lastSuccess.WithLabelValues(name).Set(now)
}
