package forward

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-dev/rampart/internal/testport"
)

func dialer(addr string, calls *int) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		*calls++
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// TestDialHoldingWaitsForListener: an upstream that starts listening while
// a dial is held gets the connection.
func TestDialHoldingWaitsForListener(t *testing.T) {
	addr := testport.Addr(t)
	listening := make(chan net.Listener, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			close(listening)
			return
		}
		listening <- ln
	}()
	calls := 0
	start := time.Now()
	c, err := DialHolding(context.Background(), 5*time.Second, dialer(addr, &calls))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
	if ln := <-listening; ln != nil {
		ln.Close()
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("connected after %v, want soon after 300ms", d)
	}
	// 20, 40, 80, 160, 250, 250… ms apart: a handful of tries, not a spin.
	if calls < 3 || calls > 8 {
		t.Errorf("%d dials in 300ms", calls)
	}
}

// TestDialHoldingGivesUp: past the hold the refusal is returned, saying
// how long it waited; without a hold it is returned at once.
func TestDialHoldingGivesUp(t *testing.T) {
	addr := testport.Addr(t)
	calls := 0
	start := time.Now()
	_, err := DialHolding(context.Background(), 0, dialer(addr, &calls))
	if !errors.Is(err, syscall.ECONNREFUSED) || calls != 1 || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("hold 0: %v after %d dials and %v", err, calls, time.Since(start))
	}

	calls = 0
	start = time.Now()
	_, err = DialHolding(context.Background(), 400*time.Millisecond, dialer(addr, &calls))
	d := time.Since(start)
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "for the service to listen") {
		t.Errorf("err %v", err)
	}
	if d < 400*time.Millisecond || d > time.Second {
		t.Errorf("gave up after %v, want just past 400ms", d)
	}
}

// TestDialHoldingOnlyRetriesRefusals: a failure other than a refusal (a
// timeout, the egress policy) is not waited out.
func TestDialHoldingOnlyRetriesRefusals(t *testing.T) {
	policy := errors.New("upstream address 10.0.0.1:80 is not allowed")
	calls := 0
	_, err := DialHolding(context.Background(), 5*time.Second, func(context.Context) (net.Conn, error) {
		calls++
		return nil, policy
	})
	if err != policy || calls != 1 {
		t.Errorf("err %v after %d dials", err, calls)
	}
}

// TestDialHoldingClientGone: a held dial ends when the request's context
// does (the client went away), with the context's error.
func TestDialHoldingClientGone(t *testing.T) {
	addr := testport.Addr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	calls := 0
	start := time.Now()
	_, err := DialHolding(ctx, time.Minute, dialer(addr, &calls))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v", d)
	}
}
