package forward

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rampart-dev/rampart/internal/rawsock"
)

// Limits of a pool, as the edge's http.Transport has them (see
// edge.NewTransport).
const (
	dialTimeout = 5 * time.Second
	// headerTimeout bounds the wait for a response head once the request
	// is sent, like nginx's proxy_read_timeout: a hung upstream becomes a
	// 504 instead of a hung client.
	headerTimeout = 60 * time.Second
	// idleTimeout closes pooled connections unused this long.
	idleTimeout = 90 * time.Second
	// maxIdle is how many idle connections a pool keeps per upstream:
	// below the number of concurrent requests, every burst would close
	// and redial connections.
	maxIdle = 128
	// maxIdleTotal is how many idle connections a pool keeps in all, like
	// http.Transport's MaxIdleConns in the edge's old transport: each is
	// a file descriptor, and many upstreams of one tenant at maxIdle each
	// must not take the descriptors that other services' clients need.
	maxIdleTotal = 4096
)

// Pool keeps keep-alive connections to upstreams, per address. The edge
// keeps one pool per egress policy setting: a connection that a route
// allowed to reach private addresses opened must never be reused by a
// route that may not (see edge.UpstreamTransport).
type Pool struct {
	dialer net.Dialer
	// HeaderTimeout bounds the wait for a response head once the
	// request is sent; NewPool sets 60 seconds. Set it before use.
	HeaderTimeout time.Duration

	idle atomic.Int64 // idle connections over all hosts

	mu      sync.Mutex
	hosts   map[string]*Host
	pruneAt int // prune hosts when the map reaches this size
}

// minPruneAt is the smallest map size at which Host looks for entries to
// forget.
const minPruneAt = 256

// NewPool returns a pool that dials with control (the egress policy's
// check of each resolved address; nil: none) and resolver (nil: the
// system's).
func NewPool(control func(network, address string, c syscall.RawConn) error, resolver *net.Resolver) *Pool {
	return &Pool{
		dialer:  net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: control, Resolver: resolver},
		hosts:   make(map[string]*Host),
		pruneAt: minPruneAt,

		HeaderTimeout: headerTimeout,
	}
}

// Host returns the pool's connections to addr (host:port): a route looks
// its upstreams up when it is compiled, not per request, and routes to one
// address share its connections.
//
// The pool forgets an address once it holds no idle connection to it and
// the map has doubled since the last look: services come and go and
// change their upstreams, and the addresses of the past must not pile up.
// A route still holding a forgotten Host keeps using it; the next route
// compiled for that address gets a new one.
func (p *Pool) Host(addr string) *Host {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[addr]
	if h == nil {
		if len(p.hosts) >= p.pruneAt {
			p.prune()
		}
		h = &Host{p: p, addr: addr}
		p.hosts[addr] = h
	}
	return h
}

// prune forgets the hosts without idle connections. p.mu is held.
func (p *Pool) prune() {
	for addr, h := range p.hosts {
		h.mu.Lock()
		idle := len(h.idle)
		h.mu.Unlock()
		if idle == 0 {
			delete(p.hosts, addr)
		}
	}
	p.pruneAt = max(minPruneAt, 2*len(p.hosts))
}

// CloseIdle closes every idle connection of the pool.
func (p *Pool) CloseIdle() {
	p.mu.Lock()
	hosts := make([]*Host, 0, len(p.hosts))
	for _, h := range p.hosts {
		hosts = append(hosts, h)
	}
	p.mu.Unlock()
	for _, h := range hosts {
		h.closeIdle(time.Time{})
	}
}

// Host is a pool's idle connections to one upstream address, most
// recently used last.
type Host struct {
	p    *Pool
	addr string

	mu       sync.Mutex
	idle     []*pconn
	sweeping bool
}

// pconn is one upstream connection.
type pconn struct {
	net.Conn
	idleSince time.Time
	deadline  time.Time // the read deadline in force; zero: none
}

// headDeadline starts the wait for a response head. A deadline set less
// than a second ago is left as it is (moving one costs a timer update per
// request): the wait may end up to a second early.
func (pc *pconn) headDeadline(d time.Duration) {
	now := time.Now()
	if !pc.deadline.IsZero() && pc.deadline.Sub(now) > d-time.Second {
		return
	}
	pc.deadline = now.Add(d)
	_ = pc.SetReadDeadline(pc.deadline)
}

// noDeadline lifts the read deadline, for a body that takes its time.
func (pc *pconn) noDeadline() {
	if !pc.deadline.IsZero() {
		pc.deadline = time.Time{}
		_ = pc.SetReadDeadline(time.Time{})
	}
}

// get returns an idle connection, or nil.
func (h *Host) get() *pconn {
	now := time.Now()
	h.mu.Lock()
	for n := len(h.idle); n > 0; n = len(h.idle) {
		pc := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		h.p.idle.Add(-1)
		if now.Sub(pc.idleSince) < idleTimeout {
			h.mu.Unlock()
			return pc
		}
		go pc.Close() // not under the lock
	}
	h.mu.Unlock()
	return nil
}

// dial opens a new connection, waiting up to hold for an upstream that
// refuses it.
func (h *Host) dial(ctx context.Context, hold time.Duration) (*pconn, error) {
	c, err := DialHolding(ctx, hold, h.dialOnce)
	if err != nil {
		return nil, err
	}
	// Raw reads and writes: see package rawsock for why.
	return &pconn{Conn: rawsock.Wrap(c)}, nil
}

func (h *Host) dialOnce(ctx context.Context) (net.Conn, error) {
	return h.p.dialer.DialContext(ctx, "tcp", h.addr)
}

// put returns a connection whose last response was read to its end.
func (h *Host) put(pc *pconn) {
	pc.idleSince = time.Now()
	h.mu.Lock()
	if len(h.idle) >= maxIdle || h.p.idle.Load() >= maxIdleTotal {
		h.mu.Unlock()
		_ = pc.Close()
		return
	}
	h.idle = append(h.idle, pc)
	h.p.idle.Add(1)
	if !h.sweeping {
		h.sweeping = true
		time.AfterFunc(idleTimeout/3, h.sweep)
	}
	h.mu.Unlock()
}

// sweep closes connections idle longer than idleTimeout, from the least
// recently used end; get never reaches them while traffic keeps the
// newer ones busy. It runs while the pool holds any.
func (h *Host) sweep() {
	if h.closeIdle(time.Now().Add(-idleTimeout)) {
		time.AfterFunc(idleTimeout/3, h.sweep)
	}
}

// closeIdle closes the idle connections unused since before (all, for
// the zero time) and reports whether any are left; when none are, the
// sweeper stops.
func (h *Host) closeIdle(before time.Time) bool {
	h.mu.Lock()
	n := 0
	for n < len(h.idle) && (before.IsZero() || h.idle[n].idleSince.Before(before)) {
		n++
	}
	old := make([]*pconn, n)
	copy(old, h.idle[:n])
	rest := copy(h.idle, h.idle[n:])
	clear(h.idle[rest:])
	h.idle = h.idle[:rest]
	h.p.idle.Add(-int64(n))
	left := len(h.idle) > 0
	if !left {
		h.sweeping = false
	}
	h.mu.Unlock()
	for _, pc := range old {
		_ = pc.Close()
	}
	return left
}
