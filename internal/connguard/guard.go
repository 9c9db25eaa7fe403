// Package connguard keeps slow and greedy clients from using up a server's
// connections and file descriptors, so that one client (or a few hundred
// connections from a handful of addresses) cannot take down the edge, the
// dashboard and the API together.
//
// Why here and not in net/http: net/http has no cap on connections, its
// ReadTimeout and WriteTimeout bound a whole request (cutting off long
// uploads, server-sent events and WebSockets), and on EMFILE its accept loop
// retries while the waiting connections keep their place in the backlog.
//
// A [Guard] wraps listeners ([Guard.Listener]):
//
//   - It caps the open connections per client address (an IPv4 address, or
//     an IPv6 /64, the smallest block a subscriber usually gets) and in
//     total. A connection over a cap is closed at once, before any byte is
//     read: that costs the server an accept and a close. Past the total cap
//     a client that holds fewer than [NewcomerConns] connections still gets
//     in, up to a hard ceiling a quarter above the cap, so that an attack
//     from many addresses does not lock everyone else out.
//   - Each connection's writes must make progress: at least MinBytes every
//     Window while the client has data waiting, else the connection is
//     closed (a client that reads nothing, the "slow read" attack). A slow
//     download that moves is never cut, however long it takes.
//   - When accept fails with EMFILE or ENFILE (no descriptors left) it
//     closes a spare descriptor it holds for the purpose, accepts the
//     waiting connection and closes it, reopens the spare and backs off,
//     instead of leaving the connection in the backlog and spinning.
//
// [BodyRate] is the read side: a handler wrapper that requires a request
// body to move at least MinBytes every Window (like nginx's
// client_body_timeout, with a minimum rate).
package connguard

import (
	"errors"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of the limits.* settings, here so that the configuration and
// the servers that fall back on them cannot disagree. 256 connections let a
// large office behind one NAT in and keep one address to a sliver of the
// descriptors. Every real link moves 4 KiB in 30 s (137 B/s; nginx allows
// 60 s between any two reads of a body), and 30 s is a long stall for a
// client that is still there; a slow-body or slow-read attacker must keep
// spending bandwidth, and is capped per address anyway.
const (
	DefaultPerClient     = 256
	DefaultHeaderTimeout = 10 * time.Second
	DefaultWindow        = 30 * time.Second
	DefaultMinBytes      = 4096
)

// NewcomerConns is how many connections a client may hold and still be let
// in once the total cap is reached: a browser needs one or two to load a
// page, an attacker gains little from a couple more.
const NewcomerConns = 2

// Limits are one guard's caps. A zero field means no cap (or, for Window,
// no write progress check).
type Limits struct {
	// PerClient caps the open connections of one client address (IPv6: one
	// /64).
	PerClient int
	// Total is the soft cap on open connections; past it only newcomers
	// (clients holding fewer than NewcomerConns) are let in, up to
	// Hard().
	Total int
	// Window and MinBytes: a write must move at least MinBytes every
	// Window, else the connection is closed.
	Window   time.Duration
	MinBytes int
	// Exempt, if set, names peers the per-client cap does not apply to:
	// the trusted proxies in front of the server, whose connections carry
	// many clients. They still count towards the total.
	Exempt func(netip.Addr) bool
}

// Hard is the ceiling that is never passed: Total and a quarter.
func (l Limits) Hard() int {
	if l.Total <= 0 {
		return 0
	}
	return l.Total + max(l.Total/4, NewcomerConns)
}

// Reasons a connection is refused, as the Refused counters name them.
const (
	ReasonPerClient = "per_client"
	ReasonTotal     = "total"
	ReasonNoFiles   = "no_descriptors"
)

const shards = 64

// Guard counts the open connections of the listeners it wraps. One Guard
// may wrap several listeners (the edge's HTTP and HTTPS sides): the caps
// apply to their sum. Create it with New.
type Guard struct {
	limits Limits
	log    *slog.Logger
	name   string
	seed   maphash.Seed
	open   atomic.Int64
	shard  [shards]shard

	refusedPerClient, refusedTotal, refusedNoFiles atomic.Uint64
	lastLog                                        atomic.Int64 // unix nanoseconds

	// spare is a descriptor held in reserve for EMFILE; mu serializes its
	// use across the wrapped listeners.
	mu    sync.Mutex
	spare *os.File
}

// shard is one part of the per-client table; padding keeps two shards'
// locks off one cache line.
type shard struct {
	mu sync.Mutex
	n  map[netip.Addr]int32
	_  [40]byte
}

// New returns a guard with the given limits. name says which listeners it
// guards in its log lines ("edge", "admin"); log may be nil.
func New(name string, l Limits, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	g := &Guard{limits: l, log: log, name: name, seed: maphash.MakeSeed()}
	for i := range g.shard {
		g.shard[i].n = make(map[netip.Addr]int32)
	}
	g.spare, _ = os.Open(os.DevNull) // without it, EMFILE still backs off
	return g
}

// Limits returns the guard's caps.
func (g *Guard) Limits() Limits { return g.limits }

// Open is the number of connections open through the guard.
func (g *Guard) Open() int64 { return g.open.Load() }

// Refused is how many connections were closed at accept for reason (one of
// the Reason constants).
func (g *Guard) Refused(reason string) uint64 {
	switch reason {
	case ReasonPerClient:
		return g.refusedPerClient.Load()
	case ReasonTotal:
		return g.refusedTotal.Load()
	case ReasonNoFiles:
		return g.refusedNoFiles.Load()
	}
	return 0
}

// Close releases the spare descriptor. The wrapped listeners are the
// caller's to close.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spare == nil {
		return nil
	}
	err := g.spare.Close()
	g.spare = nil
	return err
}

// clientKey is what the per-client cap counts by: the IPv4 address, or the
// /64 of an IPv6 address. keyed is false for a peer that is not an IP
// address, or one the limits exempt.
func (l *Limits) clientKey(a net.Addr) (key netip.Addr, keyed bool) {
	ip, ok := peerIP(a)
	if !ok || l.Exempt != nil && l.Exempt(ip) {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

func peerIP(a net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case nil:
		return netip.Addr{}, false
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}, false
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	return ip, ip.IsValid()
}

func (g *Guard) shardOf(k netip.Addr) *shard {
	b := k.As16()
	return &g.shard[maphash.Bytes(g.seed, b[:])%shards]
}

// admit counts a new connection from key, or says why it may not open.
func (g *Guard) admit(key netip.Addr, keyed bool) (ok bool, reason string) {
	l := g.limits
	open := g.open.Add(1)
	if hard := l.Hard(); hard > 0 && open > int64(hard) {
		g.open.Add(-1)
		return false, ReasonTotal
	}
	if !keyed {
		if l.Total > 0 && open > int64(l.Total) {
			g.open.Add(-1)
			return false, ReasonTotal
		}
		return true, ""
	}
	s := g.shardOf(key)
	s.mu.Lock()
	n := s.n[key]
	switch {
	case l.PerClient > 0 && int(n) >= l.PerClient:
		reason = ReasonPerClient
	case l.Total > 0 && open > int64(l.Total) && n >= NewcomerConns:
		reason = ReasonTotal
	default:
		s.n[key] = n + 1
	}
	s.mu.Unlock()
	if reason != "" {
		g.open.Add(-1)
		return false, reason
	}
	return true, ""
}

// release undoes admit when the connection closes. The entry of a client
// with no connection left is deleted, so the table holds at most one entry
// per open connection.
func (g *Guard) release(key netip.Addr, keyed bool) {
	g.open.Add(-1)
	if !keyed {
		return
	}
	s := g.shardOf(key)
	s.mu.Lock()
	if n := s.n[key] - 1; n > 0 {
		s.n[key] = n
	} else {
		delete(s.n, key)
	}
	s.mu.Unlock()
}

func (g *Guard) refuse(reason string, remote net.Addr) {
	switch reason {
	case ReasonPerClient:
		g.refusedPerClient.Add(1)
	case ReasonTotal:
		g.refusedTotal.Add(1)
	case ReasonNoFiles:
		g.refusedNoFiles.Add(1)
	}
	// An attack refuses thousands of connections a second: one line per
	// 10 s says it is happening without flooding the log.
	now := time.Now().UnixNano()
	last := g.lastLog.Load()
	if now-last < int64(10*time.Second) || !g.lastLog.CompareAndSwap(last, now) {
		return
	}
	var what string
	switch reason {
	case ReasonPerClient:
		what = "a client holds as many connections as limits.connections_per_client allows"
	case ReasonTotal:
		what = "the listeners hold as many connections as limits.connections_total allows"
	default:
		what = "the process has no file descriptors left: raise LimitNOFILE (systemd) or lower limits.connections_total"
	}
	g.log.Warn("refusing connections: "+what+" (logged at most every 10 s; see rampart_connections_refused_total)",
		"listener", g.name, "client", addrString(remote), "open", g.open.Load(),
		"refused_per_client", g.refusedPerClient.Load(), "refused_total", g.refusedTotal.Load(), "refused_no_descriptors", g.refusedNoFiles.Load())
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Listener wraps ln: its Accept returns only connections within the caps,
// and handles running out of descriptors itself.
func (g *Guard) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, g: g}
}

type listener struct {
	net.Listener
	g *Guard
}

// Accept returns the next connection within the caps. Connections over a
// cap are closed here, and EMFILE/ENFILE make it back off, so the only
// errors it returns are the wrapped listener's others (net.ErrClosed).
func (ln *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			if !isNoFiles(err) {
				return nil, err
			}
			ln.shed()
			// As net/http's Serve does for temporary errors: 5 ms,
			// doubling up to 1 s.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else {
				delay = min(2*delay, time.Second)
			}
			time.Sleep(delay)
			continue
		}
		delay = 0
		key, keyed := ln.g.limits.clientKey(c.RemoteAddr())
		if ok, reason := ln.g.admit(key, keyed); !ok {
			ln.g.refuse(reason, c.RemoteAddr())
			abort(c)
			continue
		}
		return ln.g.wrap(c, key, keyed), nil
	}
}

// shed frees the spare descriptor for long enough to accept the connection
// at the head of the backlog and close it: the client learns at once, and
// the backlog does not keep a connection the server cannot take.
func (ln *listener) shed() {
	g := ln.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.spare != nil {
		_ = g.spare.Close()
		g.spare = nil
	}
	if c, err := ln.Listener.Accept(); err == nil {
		g.refuse(ReasonNoFiles, c.RemoteAddr())
		abort(c)
	} else {
		g.refuse(ReasonNoFiles, nil)
	}
	g.spare, _ = os.Open(os.DevNull)
}

func isNoFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// abort closes a refused connection with a reset rather than a FIN: the
// kernel drops it at once instead of keeping it in FIN-WAIT/TIME-WAIT, and
// the client sees a refusal rather than an empty answer.
func abort(c net.Conn) {
	if tc, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
