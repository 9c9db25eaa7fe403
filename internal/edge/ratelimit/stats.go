package ratelimit

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
)

// Stats is a snapshot of a limiter's counters, for metrics and the
// dashboard.
type Stats struct {
	Allowed uint64 // requests allowed that counted against a limit, since New
	Limited uint64 // requests refused, since New
	Evicted uint64 // live clients forgotten because the table was full, since New

	Tracked  int // clients tracked now
	Capacity int // the most clients that can be tracked at once (≤ MaxClients)

	// Top lists the clients refused most often over about the last
	// Options.StatsWindow, most first. Counts are estimates: exact for
	// the clients that stand out, possibly high for those near the bottom.
	Top []LimitedClient
}

// LimitedClient is one entry of Stats.Top.
type LimitedClient struct {
	Network netip.Prefix // an IPv4 /32 or an IPv6 /64
	Limited int          // refused requests in the window
}

// Stats returns the counters and up to top of the most-limited clients.
// It locks each shard in turn, and drops expired clients from shards that
// have not done so for a period, so that the memory of a past spray is
// given back even when no new clients arrive. Call it every few seconds (a
// metrics scrape), not per request.
func (l *Limiter) Stats(top int) Stats {
	s := Stats{Capacity: l.shardCap * len(l.shards)}
	est := make(map[uint64]float64)
	now := l.now()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		s.Allowed += sh.allowed
		s.Limited += sh.limited
		s.Evicted += sh.evicted
		if sh.rate != nil && now-sh.lastSweep >= sh.rate.tol {
			sh.sweep(now) // so that Tracked counts live clients only
		}
		s.Tracked += sh.t.n
		if sh.top != nil && top > 0 {
			sh.top.rotate(now, l.statsWindow)
			sh.top.estimate(now, l.statsWindow, est)
		}
		sh.mu.Unlock()
	}
	for k, v := range est {
		if n := int(math.Round(v)); n > 0 {
			s.Top = append(s.Top, LimitedClient{keyPrefix(k), n})
		}
	}
	slices.SortFunc(s.Top, func(a, b LimitedClient) int {
		if c := cmp.Compare(b.Limited, a.Limited); c != 0 {
			return c
		}
		return a.Network.Addr().Compare(b.Network.Addr())
	})
	if len(s.Top) > top {
		s.Top = s.Top[:top]
	}
	return s
}

// recordLimited counts a refusal of client k for Stats.Top.
func (sh *shard) recordLimited(k uint64, now, window int64) {
	if sh.top == nil {
		sh.top = &topStats{start: now}
	}
	sh.top.rotate(now, window)
	sh.top.cur.add(k)
}

// topStats finds a shard's most-limited clients over a sliding window with
// two fixed tables: the current period of length window and the one before,
// weighted by how much of it still lies inside the window. Each table keeps
// the heaviest clients with the space-saving algorithm, so its size is
// fixed however many clients are refused. Keys never span shards, so the
// per-shard counts need no merging.
type topStats struct {
	start     int64 // when cur began
	cur, prev topTable
}

func (t *topStats) rotate(now, window int64) {
	d := now - t.start
	if d < window {
		return
	}
	if d < 2*window {
		t.prev = t.cur
	} else {
		t.prev = topTable{}
	}
	t.cur = topTable{}
	t.start = now - d%window
}

func (t *topStats) estimate(now, window int64, into map[uint64]float64) {
	w := float64(window-(now-t.start)) / float64(window) // share of prev still in the window
	for i := range t.prev.n {
		into[t.prev.keys[i]] += w * float64(t.prev.counts[i])
	}
	for i := range t.cur.n {
		into[t.cur.keys[i]] += float64(t.cur.counts[i])
	}
}

const topPerShard = 16

type topTable struct {
	n      int
	keys   [topPerShard]uint64
	counts [topPerShard]uint32
}

// add counts one refusal of k. When the table is full, k takes the place
// of the least-counted client and inherits its count plus one (space
// saving): a client refused more often than the table's smallest count is
// always in the table.
func (t *topTable) add(k uint64) {
	low := 0
	for i := range t.n {
		if t.keys[i] == k {
			if t.counts[i] < math.MaxUint32 {
				t.counts[i]++
			}
			return
		}
		if t.counts[i] < t.counts[low] {
			low = i
		}
	}
	if t.n < topPerShard {
		t.keys[t.n], t.counts[t.n] = k, 1
		t.n++
		return
	}
	t.keys[low] = k
	if t.counts[low] < math.MaxUint32 {
		t.counts[low]++
	}
}
