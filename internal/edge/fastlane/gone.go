package fastlane

import "time"

// The watch for clients that leave while a slow request is answered (see
// the package doc). It asks only about requests that have run for a
// watch period, so a fast request pays an atomic load and two stores for
// it, and no clock reading: a request notes the watch's tick count, and
// one noted two ticks ago has run for at least a period. The question is
// one getsockopt that reads nothing, so it cannot disturb the handler's
// own reads of the request body or a pipelined next request.

// watchEvery is how often the lane looks, and at least how long a request
// runs before it is looked at (at most twice that).
const watchEvery = time.Second

// startWatch makes sure the watch runs while the lane has connections.
// Called with l.mu held.
func (l *Lane) startWatch() {
	if !l.watching {
		l.watching = true
		go l.watch()
	}
}

// watch cancels the contexts of slow requests whose clients are gone,
// until the lane has no connections left (newConn starts it again).
func (l *Lane) watch() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	var slow []*conn
	for range t.C {
		// A request that noted tick (or earlier) began before the
		// previous tick: a whole period ago.
		tick := l.ticks.Add(1) - 2
		l.mu.Lock()
		if len(l.conns) == 0 {
			l.watching = false
			l.mu.Unlock()
			return
		}
		for c := range l.conns {
			if s := c.since.Load(); s != 0 && s <= tick {
				slow = append(slow, c)
			}
		}
		l.mu.Unlock()
		for i, c := range slow {
			if peerGone(c.Conn) {
				c.cancel()
			}
			slow[i] = nil
		}
		slow = slow[:0]
	}
}
