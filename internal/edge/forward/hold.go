package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// Waits between connection attempts while a dial is held: short at first,
// because a restarted process usually listens within milliseconds, then
// no more often than four times a second.
const (
	firstRedial = 20 * time.Millisecond
	maxRedial   = 250 * time.Millisecond
)

// DialHolding dials with dial and, while the upstream refuses the
// connection, tries again until hold has passed or ctx ends. It is for
// upstreams that rampart runs itself: between the old process closing its
// listener and the new one opening it, a restart refuses connections for
// a moment, and a request that waits that moment out is better served than
// one answered 502. Only a refusal is retried: the request has not been
// sent, so any method may wait, body and all. A timeout, an unreachable
// host or a refusal by the egress policy fails at once, as does every
// refusal when hold is 0.
//
// Past hold, the last refusal is returned, saying how long it waited; when
// ctx ends first (the client went away), ctx's error.
func DialHolding(ctx context.Context, hold time.Duration, dial func(context.Context) (net.Conn, error)) (net.Conn, error) {
	c, err := dial(ctx)
	if err == nil || hold <= 0 || !refused(err) {
		return c, err
	}
	begin := time.Now()
	deadline := begin.Add(hold)
	for wait := firstRedial; ; wait = nextRedial(wait) {
		if !pause(ctx, min(wait, time.Until(deadline))) {
			return nil, ctx.Err()
		}
		if c, err = dial(ctx); err == nil || !refused(err) {
			return c, err
		}
		if time.Until(deadline) <= 0 {
			return nil, fmt.Errorf("%w (waited %s for the service to listen)", err, time.Since(begin).Round(time.Millisecond))
		}
	}
}

// nextRedial is the wait after wait.
func nextRedial(wait time.Duration) time.Duration { return min(wait*2, maxRedial) }

// pause waits d, or until ctx ends: then it returns false.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// refused reports whether err is a connection the upstream's host refused:
// nothing listens on the port (yet).
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}
