package relay

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// guardListener refuses peers before go-smtp sees them: go-smtp creates its
// session only at EHLO (and answers a refusal there with 451), so a peer
// outside the allowed networks would otherwise get a greeting and a chance
// to talk. Refused peers get one 554 (or 421 when over a connection limit)
// line and are closed.
type guardListener struct {
	net.Listener
	r *Relay

	mu    sync.Mutex
	total int
	perIP map[netip.Addr]int
}

func newGuardListener(ln net.Listener, r *Relay) *guardListener {
	return &guardListener{Listener: ln, r: r, perIP: map[netip.Addr]int{}}
}

func peerAddr(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (g *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerAddr(c.RemoteAddr())
		if !g.r.allowed(ip) {
			g.r.log.Warn("mail: refused connection from outside mail.allowed_networks", "peer", ip.String())
			go refuse(c, "554 5.7.1 "+ip.String()+" is not allowed to use this mail relay")
			continue
		}
		g.mu.Lock()
		switch {
		case g.total >= g.r.cfg.MaxConnections:
			g.mu.Unlock()
			go refuse(c, "421 4.7.0 too many connections; try again later")
			continue
		case g.perIP[ip] >= g.r.cfg.MaxConnectionsPerIP:
			g.mu.Unlock()
			go refuse(c, "421 4.7.0 too many connections from "+ip.String()+"; try again later")
			continue
		}
		g.total++
		g.perIP[ip]++
		g.mu.Unlock()
		return &guardConn{Conn: c, g: g, ip: ip}, nil
	}
}

func (g *guardListener) release(ip netip.Addr) {
	g.mu.Lock()
	g.total--
	if g.perIP[ip]--; g.perIP[ip] <= 0 {
		delete(g.perIP, ip)
	}
	g.mu.Unlock()
}

// refuse writes one reply line and closes, never waiting long on the peer.
func refuse(c net.Conn, line string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(line + "\r\n"))
	c.Close()
}

func (r *Relay) allowed(ip netip.Addr) bool {
	for _, p := range r.cfg.Allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// guardConn releases its slot once, and can be told to close right after
// its next write (to cut off a peer after a final 421).
type guardConn struct {
	net.Conn
	g    *guardListener
	ip   netip.Addr
	once sync.Once

	mu          sync.Mutex
	closeAfterW bool
	onWrite     func() // run once after the next write
}

func (c *guardConn) Close() error {
	c.once.Do(func() { c.g.release(c.ip) })
	c.mu.Lock()
	hook := c.onWrite
	c.onWrite = nil
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return c.Conn.Close()
}

func (c *guardConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	cut, hook := c.closeAfterW, c.onWrite
	c.onWrite = nil
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	if cut {
		c.Close()
	}
	return n, err
}

// afterNextWrite runs f once the next write (the reply to DATA) is done, or
// at Close if none comes.
func (c *guardConn) afterNextWrite(f func()) {
	c.mu.Lock()
	c.onWrite = f
	c.mu.Unlock()
}

func (c *guardConn) closeAfterWrite() {
	c.mu.Lock()
	c.closeAfterW = true
	c.mu.Unlock()
}
