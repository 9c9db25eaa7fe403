package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	th := &Throttle{Limit: 3, Window: time.Minute}
	t0 := time.Unix(1_000_000, 0)
	for i := 0; i < 3; i++ {
		if d := th.Blocked("a", t0); d != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		th.Fail("a", t0.Add(time.Duration(i)*time.Second))
	}
	if d := th.Blocked("a", t0.Add(10*time.Second)); d != 50*time.Second {
		t.Errorf("blocked for %v, want 50s (the rest of the window)", d)
	}
	if d := th.Blocked("b", t0); d != 0 {
		t.Error("another key is blocked")
	}
	if d := th.Blocked("a", t0.Add(time.Minute)); d != 0 {
		t.Errorf("still blocked after the window: %v", d)
	}
	th.Fail("c", t0)
	th.Fail("c", t0)
	th.Reset("c")
	th.Fail("c", t0)
	th.Fail("c", t0)
	if th.Blocked("c", t0) != 0 {
		t.Error("Reset did not forget")
	}
}

func TestThrottleBounded(t *testing.T) {
	th := &Throttle{Limit: 1, Window: time.Hour, Max: 100}
	now := time.Unix(1_000_000, 0)
	for i := 0; i < 10_000; i++ {
		th.Fail(fmt.Sprint(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(th.m); n > 100 {
		t.Fatalf("tracks %d keys, bound is 100", n)
	}
	// The newest keys survive; the oldest were evicted.
	if th.Blocked("9999", now.Add(10*time.Second)) == 0 {
		t.Error("newest key forgotten")
	}
}
