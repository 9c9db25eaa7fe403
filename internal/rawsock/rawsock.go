// Package rawsock gives TCP connections a Read and Write that enter the
// kernel without the Go scheduler's system-call hand-off.
//
// Why: a Read or Write on a *net.TCPConn calls the kernel through
// syscall.Syscall, which marks the goroutine's processor (P) as in a
// system call. On loopback or a fast LAN a write does the receiver's TCP
// work in the same call and often lasts tens of microseconds. The
// runtime's monitor thread, which wakes every 20 µs while it keeps finding
// such processors, then takes the P away and starts another thread on it,
// and the writer, back from the kernel, must find a P again. For a proxy,
// which makes four such calls per request, that hand-off is a sizeable part
// of its cost: profiled beside nginx on two cores, the monitor thread alone
// took 7.5 % of rampart's CPU per proxied request and the scheduler's
// hand-offs about as much again; with raw calls, 0.4 % and 3 %
// (docs/benchmarks.md, "Raw socket calls").
//
// Go's sockets are non-blocking: read and write copy what the kernel has
// or can take and return EAGAIN rather than wait. Such a call can keep
// its P, as an event loop's thread does, through syscall.RawSyscall; the
// wait for readiness still goes through the runtime's poller
// (syscall.RawConn), so deadlines, Close and the scheduler work as for
// any net.Conn. What is given up is another goroutine's use of the P
// during the call: each call copies at most 64 KiB, and a longer write
// goes through the TCPConn as before.
//
// A proxy that sends a request upstream and then reads makes a read that
// finds nothing yet (Go tries the socket before it waits) whenever the
// upstream takes longer than the write: a wasted system call per request.
// WriteRead makes the write inside the read, where the wait can start
// without that first try and still miss nothing.
//
// Only Linux has the raw path; elsewhere Wrap returns the connection as it
// is. Under the race detector the calls go through syscall.Read and
// syscall.Write, whose annotations tell the detector that a socket orders
// what its two ends do.
package rawsock

import "net"

// Listener returns ln, whose Accept returns connections wrapped by Wrap.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (ln listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// WriteReader is a connection that writes a request and reads its answer
// in one call, without a read that finds nothing first (Conn.WriteRead).
type WriteReader interface {
	WriteRead(w, r []byte) (wn, rn int, err error)
}

// WriteRead writes all of w to c, then reads once into r: through
// c.WriteRead when c has it, and Write then Read otherwise or for what
// WriteRead leaves. werr is the write's error, and then nothing was read;
// n and rerr are the read's.
func WriteRead(c net.Conn, w, r []byte) (n int, werr, rerr error) {
	wn := 0
	if x, ok := c.(WriteReader); ok {
		var err error
		wn, n, err = x.WriteRead(w, r)
		if wn == len(w) {
			return n, nil, err
		}
		if err != nil {
			return 0, err, nil
		}
	}
	if _, err := c.Write(w[wn:]); err != nil {
		return 0, err, nil
	}
	n, err := c.Read(r)
	return n, nil, err
}
