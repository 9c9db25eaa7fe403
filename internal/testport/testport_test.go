package testport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrIsBelowEphemeralRangeAndBindable(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr := Addr(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		if p := Number(t); p < low || p >= high {
			t.Fatalf("port %d outside [%d, %d)", p, low, high)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port handed out but not bindable: %v", err)
		}
		ln.Close()
	}
}

func TestAddrSkipsBoundPorts(t *testing.T) {
	// Take the next port the walk would hand out; Addr must pass over it
	// (if another process holds it already, the same holds).
	busy := net.JoinHostPort("127.0.0.1", strconv.Itoa(low+int((next.Load()+1)%(high-low))))
	if ln, err := net.Listen("tcp", busy); err == nil {
		defer ln.Close()
	}
	if got := Addr(t); got == busy {
		t.Fatalf("Addr returned the bound port %s", got)
	}
}
