package ratelimit

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sync"
	"time"
)

// shard is one part of the client table, with its own lock. The rate lives
// here too, read under the same lock as the TATs it applies to, so that
// SetConfig can convert a shard's TATs and switch its rate in one step.
type shard struct {
	mu   sync.Mutex
	rate *rate // nil: disabled
	t    table // client key → TAT, in nanoseconds on the limiter's clock

	sinceSweep int   // clients added since expired ones were last dropped
	lastSweep  int64 // when they were

	allowed, limited, evicted uint64
	top                       *topStats // nil until the first refusal

	_ [24]byte // keep hot shards on separate cache lines
}

// take is GCRA for one request of client k (hash h) at time now.
func (sh *shard) take(k, h uint64, now int64, l *Limiter) Decision {
	r := sh.rate
	if r == nil {
		return Decision{Allowed: true} // turned off while this request waited
	}
	i, found := sh.t.find(k, h)
	tat := now
	if found {
		tat = max(sh.t.e[i].tat, now)
	}
	next := tat + r.interval
	allowAt := next - r.tol
	if now < allowAt {
		sh.limited++
		sh.recordLimited(k, now, l.statsWindow)
		return Decision{
			Limit:      r.limit,
			Window:     r.window,
			RetryAfter: time.Duration(allowAt - now),
			Reset:      time.Duration(tat - now),
			rate:       r,
		}
	}
	if found {
		sh.t.e[i].tat = next
	} else {
		sh.admit(now, l.shardCap)
		sh.t.insert(k, h, next, l.maxSlots)
	}
	sh.allowed++
	rem := (now - allowAt) / r.interval
	d := Decision{
		Allowed:   true,
		Limit:     r.limit,
		Window:    r.window,
		Remaining: int(rem),
		Reset:     time.Duration(next - now),
		rate:      r,
	}
	if rem == 0 {
		d.RetryAfter = time.Duration(allowAt + r.interval - now)
	}
	return d
}

// admit makes room for one more client.
func (sh *shard) admit(now int64, capacity int) {
	switch {
	case sh.t.n >= capacity:
		sh.sweep(now)
		// Free an eighth of the shard at least, so that the next full
		// sweep is that many new clients away.
		if excess := sh.t.n - (capacity - max(capacity/8, 1)); excess > 0 {
			sh.evict(now, excess)
		}
	case sh.sinceSweep >= max(capacity/4, 64), now-sh.lastSweep >= sh.rate.tol:
		sh.sweep(now)
	}
	sh.sinceSweep++
}

// sweep drops the clients whose TAT has passed: they carry no information,
// since a client without an entry gets the same answer. It runs when the
// shard is full, after a quarter of its capacity in new clients, and at
// most once per period on a new client or a Stats call. A table left
// nearly empty is shrunk.
func (sh *shard) sweep(now int64) {
	sh.t.filter(func(e *entry) bool { return e.tat > now })
	sh.t.shrink()
	sh.sinceSweep, sh.lastSweep = 0, now
}

const evictBuckets = 64

// evict forgets n live clients, those whose TAT is nearest: they have used
// the least of their quota, so forgetting them grants the fewest extra
// requests. A histogram of the remaining lifetimes finds the cut-off in two
// passes without sorting or allocating. Among the clients at the cut-off
// the ones to forget are drawn at random (selection sampling), which also
// keeps the free slots spread over the table: evicting one end of it would
// pile the survivors into long probe runs.
func (sh *shard) evict(now int64, n int) {
	width := sh.rate.tol/evictBuckets + 1
	bucket := func(tat int64) int {
		return int(min(max((tat-now)/width, 0), evictBuckets-1))
	}
	var hist [evictBuckets]int
	for _, e := range sh.t.e {
		if e.tat != 0 {
			hist[bucket(e.tat)]++
		}
	}
	cut, below := 0, 0
	for cut < evictBuckets-1 && below+hist[cut] < n {
		below += hist[cut]
		cut++
	}
	need, pool := n-below, hist[cut] // take need of the pool at the cut
	sh.t.filter(func(e *entry) bool {
		switch b := bucket(e.tat); {
		case b < cut:
			return false
		case b == cut:
			take := need > 0 && rand.IntN(max(pool, 1)) < need
			pool--
			if take {
				need--
				return false
			}
		}
		return true
	})
	sh.evicted += uint64(n)
}

// rescale converts the TATs from rate old to rate nu, keeping how many
// requests each client has used: its lifetime TAT-now is that number times
// the emission interval. Lifetimes are capped at nu's whole quota.
func (sh *shard) rescale(now int64, old, nu *rate) {
	sh.t.filter(func(e *entry) bool {
		life := e.tat - now
		if life <= 0 {
			return false
		}
		e.tat = now + min(mulDiv(life, nu.interval, old.interval), nu.tol)
		return true
	})
}

// mulDiv returns a·b/c for positive a, b, c without overflow, saturating
// at MaxInt64.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(min(q, math.MaxInt64))
}
