package auth

import (
	"net/netip"
	"sync"
	"time"
)

// Throttle counts failures per key (an account, an IP) in a fixed window and
// says when a key has had too many. With Delay set, each failure past Free
// also makes the next try wait, twice as long each time (Delay, 2·Delay,
// 4·Delay…): a guesser slows down long before the lockout. Only failures count, so a person who
// types the right password is never slowed down by their own earlier typos
// once the window passes. Memory is bounded: at most Max keys are tracked,
// expired ones are dropped first, and when every slot is live the oldest
// window is evicted — an attacker spraying keys can only make the throttle
// forget, never make it grow.
type Throttle struct {
	Limit  int           // failures allowed per window
	Window time.Duration // counted from the first failure
	Max    int           // keys tracked at most; 0 means 100,000
	// Free failures cost no wait; after them each one doubles the wait
	// before the next try, from Delay. Delay 0: lockout only.
	Free  int
	Delay time.Duration

	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	fails int
	start time.Time
	last  time.Time // the latest failure
}

func (t *Throttle) max() int {
	if t.Max > 0 {
		return t.Max
	}
	return 100_000
}

// Blocked returns how long key must wait, or 0 if it may try now.
func (t *Throttle) Blocked(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.m[key]
	if w == nil {
		return 0
	}
	end := w.start.Add(t.Window)
	if !now.Before(end) {
		delete(t.m, key)
		return 0
	}
	if w.fails >= t.Limit {
		return end.Sub(now)
	}
	if d := t.delay(w.fails); d > 0 {
		if wait := w.last.Add(d).Sub(now); wait > 0 {
			return wait
		}
	}
	return 0
}

// delay is the wait after the fails-th failure.
func (t *Throttle) delay(fails int) time.Duration {
	if t.Delay <= 0 || fails <= t.Free {
		return 0
	}
	d := t.Delay
	for i := t.Free + 1; i < fails && d < t.Window; i++ {
		d *= 2
	}
	return min(d, t.Window)
}

// Fails returns key's failures in its current window.
func (t *Throttle) Fails(key string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.m[key]; w != nil && now.Before(w.start.Add(t.Window)) {
		return w.fails
	}
	return 0
}

// Fail records a failure for key.
func (t *Throttle) Fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]*window)
	}
	w := t.m[key]
	if w != nil && !now.Before(w.start.Add(t.Window)) {
		w = nil
	}
	if w == nil {
		if len(t.m) >= t.max() {
			t.evict(now)
		}
		w = &window{start: now}
		t.m[key] = w
	}
	w.fails++
	w.last = now
}

// Reset forgets key, e.g. after a successful login.
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// evict drops expired windows; if none has expired, the oldest one goes.
// It is O(n) but runs only when the table is full.
func (t *Throttle) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k, w := range t.m {
		if !now.Before(w.start.Add(t.Window)) {
			delete(t.m, k)
			continue
		}
		if oldestKey == "" || w.start.Before(oldest) {
			oldestKey, oldest = k, w.start
		}
	}
	if len(t.m) >= t.max() {
		delete(t.m, oldestKey)
	}
}

// ClientKey is the throttling key of a client address: the address itself
// for IPv4, its /64 for IPv6 (one subscriber usually gets a whole /64, so
// counting single addresses would let one client try 2^64 times). Anything
// that is not an IP address is its own key.
func ClientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
