// Package testport hands tests loopback ports for the servers they start.
//
// The usual trick, listening on ":0" and closing, returns a port from the
// kernel's ephemeral range (32768–60999 on Linux), which stays free only
// until the next outgoing connection of any test in any package takes it as
// its source port; a server started on it a moment later then fails with
// "address already in use". Ports below that range are taken only by an
// explicit bind, so they stay free between the check and the server's own
// bind unless another test binds the same one, and each process walks the
// range from its own offset to make that unlikely.
package testport

import (
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
)

const low, high = 20000, 32000

var next atomic.Int64

func init() { next.Store(int64(os.Getpid() * 97 % (high - low))) }

// Addr returns "127.0.0.1:port" for a port that is free now and that the
// kernel does not hand out as a source port.
func Addr(t testing.TB) string {
	t.Helper()
	for range high - low {
		p := low + int(next.Add(1)%(high-low))
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatalf("testport: no free port between %d and %d on 127.0.0.1", low, high)
	return ""
}

// Number is Addr's port alone.
func Number(t testing.TB) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(Addr(t))
	n, _ := strconv.Atoi(p)
	return n
}
