package main

import (
	"runtime"
	"testing"
)

// TestLeaveACPU: serve's scheduler uses one CPU fewer than Go would, at
// least one, and GOMAXPROCS in the environment wins.
func TestLeaveACPU(t *testing.T) {
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })

	runtime.GOMAXPROCS(4)
	if procs, of, changed := leaveACPU(); !changed || procs != 3 || of != 4 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("on 4: %d of %d (changed %v), GOMAXPROCS now %d", procs, of, changed, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(1)
	if _, _, changed := leaveACPU(); changed || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("on 1: changed %v, GOMAXPROCS now %d", changed, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(2)
	t.Setenv("GOMAXPROCS", "2")
	if _, _, changed := leaveACPU(); changed || runtime.GOMAXPROCS(0) != 2 {
		t.Errorf("with GOMAXPROCS set: changed %v, GOMAXPROCS now %d", changed, runtime.GOMAXPROCS(0))
	}
}
