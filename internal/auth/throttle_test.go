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

func TestThrottleGrowingDelay(t *testing.T) {
	th := &Throttle{Limit: 10, Window: 15 * time.Minute, Free: 3, Delay: time.Second}
	now := time.Unix(1_700_000_000, 0)
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second}
	for i, w := range want {
		th.Fail("k", now)
		if got := th.Blocked("k", now); got != w {
			t.Fatalf("after failure %d: wait %v, want %v", i+1, got, w)
		}
		now = now.Add(w) // the client waits as told
	}
	if got := th.Blocked("k", now); got != 0 {
		t.Fatalf("after waiting: %v", got)
	}
	th.Fail("k", now) // the 10th: locked out until the window ends
	if got := th.Blocked("k", now); got <= time.Minute {
		t.Fatalf("after the limit: wait %v, want the rest of the window", got)
	}
	if n := th.Fails("k", now); n != 10 {
		t.Fatalf("Fails = %d", n)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"::ffff:192.0.2.7":           "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":       "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:0:1": "2001:db8:1:2::/64",
		"not-an-ip":                  "not-an-ip",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
