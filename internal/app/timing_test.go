package app

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

// TestLoginTimingDoesNotRevealAccounts: a wrong password for an account
// that exists takes the same time, within the noise, as any password for
// one that does not or for an invited account that has no password yet, so
// timing the answers does not enumerate accounts. The tries alternate, so
// that a noisy neighbour slows both alike, and the clock jumps past the
// throttle window between them.
func TestLoginTimingDoesNotRevealAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if err := f.st.CreateUser(ctx, &rampart.User{Email: "invited@example.com", Role: rampart.RoleMember}); err != nil {
		t.Fatal(err)
	}
	// One round: alternating tries, compared by their lower quartiles (the
	// least disturbed by a busy machine). A real leak shows in every
	// round; a neighbour's burst of load rarely in three.
	round := func() (k, u, gap time.Duration) {
		const tries = 26
		var known, unusable []time.Duration
		for i := range 2 * tries {
			f.clock.add(2 * LoginFailureWindow)
			email := "mia@example.com"
			switch i % 4 {
			case 1:
				email = fmt.Sprintf("nobody%d@example.com", i)
			case 3:
				email = "invited@example.com"
			}
			start := time.Now()
			_, _, err := f.app.Accounts.StartLogin(ctx, rampart.LoginInput{Email: email, Password: "wrong password!", IP: fmt.Sprintf("192.0.2.%d", i%250+1)})
			took := time.Since(start)
			if rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
				t.Fatalf("try %d (%s): %v", i, email, err)
			}
			if i%2 == 0 {
				known = append(known, took)
			} else {
				unusable = append(unusable, took)
			}
		}
		quartile := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/4] }
		k, u = quartile(known), quartile(unusable)
		return k, u, max(k-u, u-k)
	}
	for r := 1; ; r++ {
		k, u, gap := round()
		t.Logf("round %d: wrong-password login, lower quartile: known account %s, unknown or invited %s (gap %s)", r, k, u, gap)
		// The password hash dominates (tens of ms); an audit row for the
		// known account costs well under a millisecond or two. A gap of a
		// quarter of the hash would be a real leak.
		if gap <= max(k, u)/4 {
			return
		}
		if r == 3 {
			t.Fatalf("known %s vs unknown or invited %s in 3 rounds: the gap reveals which accounts exist", k, u)
		}
	}
}
