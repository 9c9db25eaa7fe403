package relay

import (
	"sync"
	"time"
)

// window counts events per key over a sliding span (an hour for the quota).
// Entries older than the span are dropped as keys are touched, so memory is
// bounded by what was committed within the span.
type window struct {
	span      time.Duration
	mu        sync.Mutex
	m         map[string][]stamp // per key, oldest first
	lastSweep time.Time
}

type stamp struct {
	t time.Time
	n int
}

func newWindow(span time.Duration) *window {
	return &window{span: span, m: map[string][]stamp{}}
}

// prune drops key's entries at or before now-span; callers hold mu.
func (w *window) prune(key string, now time.Time) []stamp {
	s := w.m[key]
	cut := now.Add(-w.span)
	i := 0
	for i < len(s) && !s[i].t.After(cut) {
		i++
	}
	if i == len(s) {
		delete(w.m, key)
		return nil
	}
	s = s[i:]
	w.m[key] = s
	return s
}

// count returns the events within the span and the time of the oldest.
func (w *window) count(key string, now time.Time) (n int, oldest time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.prune(key, now)
	for _, e := range s {
		n += e.n
	}
	if len(s) > 0 {
		oldest = s[0].t
	}
	return n, oldest
}

// reserve adds n events at now if they fit within limit, atomically, so
// concurrent sessions of one service cannot together overshoot it; otherwise
// it returns when they would fit.
func (w *window) reserve(key string, now time.Time, limit, n int) (ok bool, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if at = w.freeAtLocked(key, now, limit, n); at.After(now) {
		return false, at
	}
	w.addLocked(key, now, n)
	return true, now
}

// undo removes one entry added at t with n events (a reservation whose
// message was not accepted after all).
func (w *window) undo(key string, t time.Time, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.m[key]
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].t.Equal(t) && s[i].n == n {
			w.m[key] = append(s[:i], s[i+1:]...)
			if len(w.m[key]) == 0 {
				delete(w.m, key)
			}
			return
		}
	}
}

// freeAt returns when the count within the span drops to at most limit-want,
// i.e. when want more events fit; now if they already do.
func (w *window) freeAt(key string, now time.Time, limit, want int) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.freeAtLocked(key, now, limit, want)
}

func (w *window) freeAtLocked(key string, now time.Time, limit, want int) time.Time {
	s := w.prune(key, now)
	total := 0
	for _, e := range s {
		total += e.n
	}
	excess := total + want - limit
	if excess <= 0 {
		return now
	}
	for _, e := range s {
		excess -= e.n
		if excess <= 0 {
			return e.t.Add(w.span)
		}
	}
	// want alone exceeds the limit: it never fits; say when the window is empty.
	if len(s) > 0 {
		return s[len(s)-1].t.Add(w.span)
	}
	return now.Add(w.span)
}

// add records n events at t, keeping entries in time order (Seed may pass old times).
func (w *window) add(key string, t time.Time, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.addLocked(key, t, n)
}

func (w *window) addLocked(key string, t time.Time, n int) {
	s := w.m[key]
	i := len(s)
	for i > 0 && s[i-1].t.After(t) {
		i--
	}
	s = append(s, stamp{})
	copy(s[i+1:], s[i:])
	s[i] = stamp{t, n}
	w.m[key] = s
	// Keys never touched again (a body hash sent once) would stay forever:
	// once per span, drop every expired entry.
	if t.Sub(w.lastSweep) > w.span {
		w.lastSweep = t
		for k := range w.m {
			w.prune(k, t)
		}
	}
}

// failures counts AUTH failures per peer address within a span.
type failures struct {
	w *window
}

func newFailures(span time.Duration) *failures { return &failures{w: newWindow(span)} }

func (f *failures) add(ip string, now time.Time) { f.w.add(ip, now, 1) }
func (f *failures) blocked(ip string, now time.Time) bool {
	n, _ := f.w.count(ip, now)
	return n >= authFailLimit
}
