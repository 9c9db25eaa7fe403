package auth

import (
	"sync"
	"time"
)

// Throttle counts failures per key (an account, an IP) in a fixed window and
// says when a key has had too many. Only failures count, so a person who
// types the right password is never slowed down by their own earlier typos
// once the window passes. Memory is bounded: at most Max keys are tracked,
// expired ones are dropped first, and when every slot is live the oldest
// window is evicted — an attacker spraying keys can only make the throttle
// forget, never make it grow.
type Throttle struct {
	Limit  int           // failures allowed per window
	Window time.Duration // counted from the first failure
	Max    int           // keys tracked at most; 0 means 100,000

	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	fails int
	start time.Time
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
