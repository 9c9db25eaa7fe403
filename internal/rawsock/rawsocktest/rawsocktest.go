// Package rawsocktest counts system calls for tests of package rawsock and
// its users: that a path makes the calls it should is a property to test,
// not only to measure.
package rawsocktest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// ThreadReads returns how many read(2) calls the calling thread has made
// (syscr in /proc/thread-self/io, Linux only). Lock the goroutine to its
// thread (runtime.LockOSThread) around what is counted, and subtract what
// a call of ThreadReads itself reads: take two counts in a row.
func ThreadReads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no syscr in /proc/thread-self/io: %q", b)
	return 0
}
