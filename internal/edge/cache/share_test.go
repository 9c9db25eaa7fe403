package cache

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServiceShare: a service that stores distinct URLs as fast as it can
// stays within its share, and the other services' responses stay cached.
func TestServiceShare(t *testing.T) {
	page := strings.Repeat("p", 4000)
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }}
	clk := newClock()
	c := New(Options{MaxBytes: 400_000, Now: clk.Now})
	if u := c.Usage(); u.MaxServiceBytes != 100_000 {
		t.Fatalf("default share %d, want a quarter of MaxBytes", u.MaxServiceBytes)
	}
	quiet := c.Handler("quiet", Config{TTL: time.Hour}, o)
	spray := c.Handler("spray", Config{TTL: time.Hour}, o)
	for i := range 10 {
		get(quiet, "GET", fmt.Sprintf("/%d", i))
	}
	for i := range 2000 {
		get(spray, "GET", fmt.Sprintf("/spray/%d", i))
		if b := c.ServiceBytes("spray"); b > 100_000 {
			t.Fatalf("after %d stores the spraying service holds %d bytes, over its share of 100000", i+1, b)
		}
	}
	for i := range 10 {
		if w := get(quiet, "GET", fmt.Sprintf("/%d", i)); w.Header().Get("X-Cache") != "HIT" {
			t.Fatalf("the quiet service's /%d was evicted by another service's spray", i)
		}
	}
	// Its newest responses are the ones it keeps.
	if w := get(spray, "GET", "/spray/1999"); w.Header().Get("X-Cache") != "HIT" {
		t.Fatalf("the spraying service lost its newest response: %q", w.Header().Get("X-Cache"))
	}
	if w := get(spray, "GET", "/spray/0"); w.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("the spraying service kept its oldest response past its share")
	}
	checkAccounting(t, c)
}

// TestShareBoundsObjects: a response larger than a service's share is not
// stored, so one response cannot put a service over it.
func TestShareBoundsObjects(t *testing.T) {
	body := strings.Repeat("b", 20_000)
	o := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(body)) }}
	c := New(Options{MaxServiceBytes: 10_000})
	h := c.Handler("svc", Config{TTL: time.Hour}, o)
	get(h, "GET", "/big")
	if w := get(h, "GET", "/big"); w.Header().Get("X-Cache") == "HIT" || w.Body.Len() != len(body) {
		t.Fatalf("a response over the service's share was cached (X-Cache %q, %d bytes)", w.Header().Get("X-Cache"), w.Body.Len())
	}
	checkAccounting(t, c)
}

// TestForgetLateStore: a response that was on its way when its service was
// forgotten is not stored, neither for the new service of the same name
// nor in the forgotten one's namespace; nor is one that an old handler
// fetches after the Forget.
func TestForgetLateStore(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	old := &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		_, _ = w.Write([]byte("old"))
	}}
	c := New(Options{})
	h := c.Handler("x", Config{TTL: time.Hour}, old)
	done := make(chan string)
	go func() { done <- get(h, "GET", "/slow").Body.String() }()
	<-started
	c.Forget("x")
	fresh := c.Handler("x", Config{TTL: time.Hour}, &origin{respond: func(n int64, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("new"))
	}})
	close(release)
	if got := <-done; got != "old" {
		t.Fatalf("the request in flight got %q", got)
	}
	get(h, "GET", "/after") // an old handler, used after the Forget
	if u := c.Usage(); u.Entries != 0 {
		t.Fatalf("%d entries stored for a forgotten service", u.Entries)
	}
	for range 2 {
		if w := get(fresh, "GET", "/slow"); w.Body.String() != "new" {
			t.Fatalf("the new service got %q (X-Cache %s)", w.Body.String(), w.Header().Get("X-Cache"))
		}
	}
	checkAccounting(t, c)
}
