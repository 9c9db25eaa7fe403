package totp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// oathtool returns the path of Debian's oathtool (package oathtool), an
// independent implementation to check interoperability against. Under CI
// its absence is a failure: a skipped cross-check would pass unnoticed.
func oathtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("oathtool is not installed and CI=true: apt-get install -y oathtool")
		}
		t.Skip("oathtool is not installed (apt-get install -y oathtool); skipping the cross-check")
	}
	return p
}

func runOathtool(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// crossTimes are moments to compare at: around the epoch, step edges, now,
// and past 2038 (the 32-bit time_t limit).
func crossTimes() []time.Time {
	return []time.Time{
		time.Unix(59, 0),
		time.Unix(1111111109, 0),
		time.Unix(1_800_000_000, 0),
		time.Unix(1_800_000_029, 0),
		time.Now(),
		time.Unix(4_000_000_000, 0),
	}
}

// TestOathtoolAcceptsOurCodes: a code this package makes is accepted by
// oathtool at the same moment, with no window.
func TestOathtoolAcceptsOurCodes(t *testing.T) {
	bin := oathtool(t)
	k, err := Generate("rampart", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, now := range crossTimes() {
		c, err := Code(k.Secret, now)
		if err != nil {
			t.Fatal(err)
		}
		at := fmt.Sprintf("@%d", now.Unix())
		out, err := runOathtool(t, bin, "--totp", "-b", "-N", at, "-w", "0", k.Secret, c)
		if err != nil {
			t.Errorf("oathtool refused our code %s at %s: %v: %s", c, at, err, out)
		}
	}
}

// TestWeAcceptOathtoolCodes: a code oathtool makes validates here, at the
// step oathtool used.
func TestWeAcceptOathtoolCodes(t *testing.T) {
	bin := oathtool(t)
	k, err := Generate("rampart", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, now := range crossTimes() {
		at := fmt.Sprintf("@%d", now.Unix())
		c, err := runOathtool(t, bin, "--totp", "-b", "-N", at, k.Secret)
		if err != nil {
			t.Fatalf("oathtool --totp at %s: %v: %s", at, err, c)
		}
		step, err := Validate(k.Secret, c, now, 0)
		if err != nil || step != stepAt(now) {
			t.Errorf("oathtool's code %s at %s: step %d, %v; want %d, nil", c, at, step, err, stepAt(now))
		}
	}
	// And a wrong one is refused by both, so the two agree on refusals too.
	now := time.Unix(1_800_000_000, 0)
	good, _ := Code(k.Secret, now)
	bad := fmt.Sprintf("%06d", (atoi(good)+1)%1000000)
	if _, err := Validate(k.Secret, bad, now, 0); !errors.Is(err, ErrWrongCode) {
		t.Errorf("Validate(%s) = %v, want ErrWrongCode", bad, err)
	}
	if out, err := runOathtool(t, bin, "--totp", "-b", "-N", "@1800000000", "-w", "0", k.Secret, bad); err == nil {
		t.Errorf("oathtool accepted a wrong code %s: %s", bad, out)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
