package ratelimit

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxClients  = 1_000_000
	DefaultStatsWindow = 5 * time.Minute
)

const (
	// A full shard of 3,072 clients fills 3/4 of a 4,096-slot table
	// (64 KiB): big enough that sweeps are rare, small enough that one
	// takes microseconds.
	shardClients  = 3072
	maxShards     = 1024
	maxMaxClients = 1 << 30
)

// Options are the parts of a Limiter that are fixed for its lifetime.
type Options struct {
	// MaxClients bounds how many clients the limiter tracks at once, and
	// with that its memory. 0 means DefaultMaxClients. See the package
	// documentation for what happens at the bound.
	MaxClients int

	// Now is the clock. Nil means time.Now, whose monotonic reading makes
	// the limiter immune to changes of the wall clock. Tests use a fake.
	Now func() time.Time

	// StatsWindow is how far back Stats looks for the most-limited
	// clients. 0 means DefaultStatsWindow.
	StatsWindow time.Duration
}

// Limiter decides whether a client may make a request. It is safe for
// concurrent use; create it with New.
type Limiter struct {
	policy atomic.Pointer[policy]

	shards      []shard
	seed        uint64 // random per Limiter: where a key lands is not predictable
	shardCap    int    // the most clients in one shard
	maxSlots    int    // the largest table a shard may grow
	statsWindow int64
	now         func() int64 // nanoseconds since New, plus one: never 0

	mu sync.Mutex // serializes SetConfig
}

// policy is a compiled Config.
type policy struct {
	cfg   Config
	allow allowSet
	rate  *rate // nil: disabled
}

// rate is the GCRA form of Requests per Period. It is immutable and shared
// by the shards and the Decisions made with it.
type rate struct {
	limit     int
	window    time.Duration
	interval  int64    // T, the emission interval, in nanoseconds
	tol       int64    // limit·T: how far ahead of now a client's TAT may be
	policyHdr []string // the RateLimit-Policy field value; never modified
}

func newPolicy(cfg Config) *policy {
	cfg = cfg.withDefaults()
	cfg.Allow = slices.Clone(cfg.Allow)
	p := &policy{cfg: cfg, allow: newAllowSet(cfg.Allow)}
	if !cfg.Disabled {
		interval := int64(cfg.Period) / int64(cfg.Requests)
		p.rate = &rate{
			limit:    cfg.Requests,
			window:   cfg.Period,
			interval: interval,
			tol:      interval * int64(cfg.Requests),
			policyHdr: []string{`"` + PolicyName + `";q=` + strconv.Itoa(cfg.Requests) +
				";w=" + strconv.FormatInt(int64(cfg.Period/time.Second), 10)},
		}
	}
	return p
}

// New returns a limiter that enforces cfg.
func New(cfg Config, opts Options) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var errs []error
	if opts.MaxClients < 0 || opts.MaxClients > maxMaxClients {
		errs = append(errs, fmt.Errorf("ratelimit: MaxClients must be 0..%d (got %d): use 0 for the default of %d", maxMaxClients, opts.MaxClients, DefaultMaxClients))
	}
	if opts.StatsWindow < 0 {
		errs = append(errs, fmt.Errorf("ratelimit: StatsWindow must not be negative (got %v): use 0 for the default of %v", opts.StatsWindow, DefaultStatsWindow))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.MaxClients == 0 {
		opts.MaxClients = DefaultMaxClients
	}
	if opts.StatsWindow == 0 {
		opts.StatsWindow = DefaultStatsWindow
	}
	n := min((opts.MaxClients+shardClients-1)/shardClients, maxShards)
	shardCap := opts.MaxClients / n
	nowFn := opts.Now
	if nowFn == nil {
		nowFn = time.Now
	}
	base := nowFn()
	l := &Limiter{
		shards:      make([]shard, n),
		seed:        rand.Uint64(),
		shardCap:    shardCap,
		maxSlots:    max(minSlots, nextPow2((shardCap*4+2)/3)), // at most 3/4 full
		statsWindow: int64(opts.StatsWindow),
		// Time since New on the monotonic clock. A fake clock that
		// goes back before New is held at the start.
		now: func() int64 { return max(int64(nowFn().Sub(base)), 0) + 1 },
	}
	for i := range l.shards {
		l.shards[i].t.seed = l.seed
	}
	l.apply(newPolicy(cfg))
	return l, nil
}

// Allow decides whether the client at ip may make a request now, and counts
// the request if so. Allow-listed addresses, the zero Addr and a disabled
// limiter get an allowing Decision with Limit 0.
func (l *Limiter) Allow(ip netip.Addr) Decision {
	pol := l.policy.Load()
	if pol.rate == nil {
		return Decision{Allowed: true}
	}
	c, ok := clientOf(ip)
	if !ok || (!pol.allow.empty() && pol.allow.contains(c)) {
		return Decision{Allowed: true}
	}
	k := c.key()
	h := mix(k ^ l.seed)
	// The high half of h picks the shard, the low bits the slot in it.
	sh := &l.shards[(h>>32)*uint64(len(l.shards))>>32]
	now := l.now()
	sh.mu.Lock()
	d := sh.take(k, h, now, l)
	sh.mu.Unlock()
	return d
}

// SetConfig changes the policy at once, for requests that follow. On an
// invalid cfg it returns the error and changes nothing.
//
// What clients have used so far still counts: a client that had sent 50 of
// 150 requests per minute has 50 of 100 left after a change to 100 per
// minute, and 250 of 300 after a change to 300; one that has sent more than
// the new limit must wait for the new rate. Turning the limiter off forgets
// every client and frees the memory; turning it on again starts afresh.
func (l *Limiter) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.apply(newPolicy(cfg))
	return nil
}

// apply installs np. Requests see either the old or the new rate per shard,
// never a mix.
func (l *Limiter) apply(np *policy) {
	if np.rate == nil {
		// Off first, so that no request adds to a map being dropped.
		l.policy.Store(np)
		for i := range l.shards {
			sh := &l.shards[i]
			sh.mu.Lock()
			sh.rate, sh.sinceSweep = nil, 0
			sh.t.e, sh.t.n = nil, 0
			sh.mu.Unlock()
		}
		return
	}
	now := l.now()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if old := sh.rate; old != nil && (old.interval != np.rate.interval || old.tol != np.rate.tol) {
			sh.rescale(now, old, np.rate)
		}
		sh.rate = np.rate
		sh.mu.Unlock()
	}
	l.policy.Store(np)
}

// Config returns the policy in force, with defaults filled in.
func (l *Limiter) Config() Config {
	cfg := l.policy.Load().cfg
	cfg.Allow = slices.Clone(cfg.Allow)
	return cfg
}
