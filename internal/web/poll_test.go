package web

import (
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestPollsAreNotUse: what a page fetches by itself (its htmx polls carry
// X-Rampart-Poll) is not use of the session, so a tab left open ends its
// session after the idle time (2h); a page the person opens is use. Each
// polling element sends the header.
func TestPollsAreNotUse(t *testing.T) {
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	e := newEnvWith(t, edge{now: now})
	e.createExec(adminEmail, "app")
	poll := http.Header{"HX-Request": {"true"}, pollHeader: {"1"}}

	// Polled for 2h, nothing opened: the session ends.
	b := e.browser()
	b.login(adminEmail)
	res := b.get("/services/app")
	wantContains(t, res, `hx-get="/services/app/run-state"`, `hx-headers='{"X-Rampart-Poll": "1"}'`)
	for range 12 {
		advance(10 * time.Minute)
		wantStatus(t, b.do("GET", "/services/app/run-state", nil, poll), http.StatusOK)
	}
	advance(time.Minute)
	if res := b.get("/services/app"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") == "" {
		t.Errorf("after 2h of polls only: %d %s, want the login page", res.StatusCode, res.Header.Get("Location"))
	}

	// A page opened on the way is use: the session lives on.
	b = e.browser()
	b.login(adminEmail)
	advance(90 * time.Minute)
	wantStatus(t, b.get("/services/app"), http.StatusOK)
	advance(90 * time.Minute)
	wantStatus(t, b.do("GET", "/services/app/run-state", nil, poll), http.StatusOK)
}
