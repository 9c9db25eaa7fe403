package app

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

// TestLoginTimingDoesNotRevealAccounts: a wrong password for an account
// that exists, any password for one that does not, and any password for an
// invited account that has none yet take the same time, within the noise,
// so timing the answers does not enumerate accounts. The tries take turns,
// so that a noisy neighbour slows all alike, and the clock jumps past the
// throttle window between them.
func TestLoginTimingDoesNotRevealAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.st.CreateUser(ctx, &rampart.User{Email: "invited@example.com", Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	const tries = 25
	took := make([][]time.Duration, 3) // known, unknown, invited
	for i := range 3 * tries {
		f.clock.add(2 * LoginFailureWindow)
		email := []string{"mia@example.com", fmt.Sprintf("nobody%d@example.com", i), "invited@example.com"}[i%3]
		start := time.Now()
		_, _, err := f.app.Accounts.StartLogin(ctx, rampart.LoginInput{Email: email, Password: "wrong password!", IP: fmt.Sprintf("192.0.2.%d", i%250+1)})
		took[i%3] = append(took[i%3], time.Since(start))
		if rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
			t.Fatalf("try %d (%s): %v", i, email, err)
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	k, u, inv := median(took[0]), median(took[1]), median(took[2])
	t.Logf("median wrong-password login: known account %s, unknown %s, invited %s", k, u, inv)
	// The password hash dominates (tens of ms); an audit row for the known
	// account costs well under a millisecond or two. A gap of a quarter of
	// the hash would be a real leak.
	for _, other := range []struct {
		name string
		d    time.Duration
	}{{"unknown", u}, {"invited", inv}} {
		gap := k - other.d
		if gap < 0 {
			gap = -gap
		}
		if gap > max(k, other.d)/4 {
			t.Errorf("known %s vs %s %s: the gap reveals which accounts exist", k, other.name, other.d)
		}
	}
}
