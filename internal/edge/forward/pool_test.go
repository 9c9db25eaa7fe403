package forward

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestPoolForgetsOldAddresses: a tenant that changes its upstream's port
// again and again must not grow the pool's map without bound; an address
// with idle connections is kept.
func TestPoolForgetsOldAddresses(t *testing.T) {
	p := NewPool(nil, nil)
	kept := p.Host("127.0.0.1:1")
	a, b := net.Pipe()
	defer b.Close()
	kept.put(&pconn{Conn: a})
	defer kept.closeIdle(time.Time{})
	for i := range 100_000 {
		p.Host(fmt.Sprintf("127.0.0.2:%d", i))
	}
	p.mu.Lock()
	n := len(p.hosts)
	p.mu.Unlock()
	if n > 2*minPruneAt {
		t.Errorf("the pool remembers %d addresses after 100,000 were used once, want at most %d", n, 2*minPruneAt)
	}
	if p.Host("127.0.0.1:1") != kept {
		t.Error("an address with an idle connection was forgotten")
	}
	// A live route's Host keeps working after its address was forgotten.
	h := p.Host("127.0.0.3:1")
	for i := range 1000 {
		p.Host(fmt.Sprintf("127.0.0.4:%d", i))
	}
	c, d := net.Pipe()
	defer d.Close()
	h.put(&pconn{Conn: c})
	if got := h.get(); got == nil || got.Conn != c {
		t.Errorf("a forgotten Host lost its idle connection: %v", got)
	}
	c.Close()
}

// TestPoolIdleTotal: however many upstreams, the pool keeps at most
// maxIdleTotal idle connections (file descriptors) in all.
func TestPoolIdleTotal(t *testing.T) {
	p := NewPool(nil, nil)
	var peers []net.Conn
	defer func() {
		for _, c := range peers {
			c.Close()
		}
		p.CloseIdle()
	}()
	for i := range maxIdleTotal/maxIdle + 2 {
		h := p.Host(fmt.Sprintf("127.0.0.5:%d", i))
		for range maxIdle {
			a, b := net.Pipe()
			peers = append(peers, b)
			h.put(&pconn{Conn: a})
		}
	}
	if n := p.idle.Load(); n != maxIdleTotal {
		t.Errorf("%d idle connections kept, want the cap %d", n, maxIdleTotal)
	}
	h := p.Host("127.0.0.5:0")
	if h.get() == nil || p.idle.Load() != maxIdleTotal-1 {
		t.Errorf("get: idle count %d, want %d", p.idle.Load(), maxIdleTotal-1)
	}
	p.CloseIdle()
	if n := p.idle.Load(); n != 0 {
		t.Errorf("%d idle connections counted after CloseIdle", n)
	}
}
