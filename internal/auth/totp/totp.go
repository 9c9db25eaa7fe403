// Package totp implements the authenticator-app second factor (RFC 6238):
// enrolment keys with their QR code, and validation of the codes a user
// types. The HMAC arithmetic is github.com/pquerna/otp's; this package adds
// what that library leaves to its callers: refusing a code that was already
// used (replay), telling a typo from a wrong code, and fixing the
// parameters every authenticator app understands (SHA-1, 6 digits, 30 s).
//
// It knows nothing about users, HTTP or storage. The caller keeps, per user,
// the secret (sealed at rest, see internal/auth/sealed) and the last step
// Validate returned, and passes that step back on the next login.
package totp

import (
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// The parameters are the ones Google Authenticator and its peers assume
// whatever the otpauth URL says, so they are fixed rather than configurable.
const (
	// Digits is the length of a code.
	Digits = 6
	// Period is how long one code is valid for, in seconds.
	Period = 30
	// Skew is how many steps before or after the server's clock a code may
	// be from: one step absorbs a phone clock a little off and a user who
	// types the code as it changes, and makes a blind guess right 3 times
	// in a million instead of once.
	Skew = 1
)

// minSecretLen is RFC 4226's minimum shared secret (128 bits); Generate
// makes 160-bit ones.
const minSecretLen = 16

var (
	// ErrMalformed means the input is not a code at all (not 6 digits once
	// spaces are removed): tell the user to type the 6 digits the app shows.
	ErrMalformed = errors.New("totp: a code is 6 digits")
	// ErrWrongCode means a well-formed code that does not match: a wrong
	// code, a code for another account, or a phone clock far off.
	ErrWrongCode = errors.New("totp: wrong code (check that the phone's clock is set automatically)")
	// ErrReplay means the code matched, but for a step at or before the
	// last one accepted for this user: it was already used (perhaps by
	// someone watching), so wait for the app to show the next code.
	ErrReplay = errors.New("totp: code already used; wait for the next one")
	// ErrSecret means the stored secret is not one Generate made (not
	// base32, or too short): the user must enrol again.
	ErrSecret = errors.New("totp: stored secret is not a valid base32 key of at least 128 bits; the user must enrol again")
)

// Validate checks code against secret at time now and returns the step
// (Unix time / Period) it matched, which the caller must store and pass as
// lastStep next time: a code for that step or an earlier one is then refused
// with ErrReplay, so every code works at most once. Pass 0 as lastStep for a
// user who has never used a code (steps today are in the tens of millions).
//
// Spaces in code are ignored ("123 456"). The comparison is constant-time and
// every candidate step is computed, so the time taken says nothing about
// which step matched. Errors: ErrMalformed, ErrWrongCode, ErrReplay, ErrSecret.
//
// Validate does not count attempts: a million codes are guessed quickly, so
// the caller throttles per account and per address (internal/auth's
// throttle) before calling it. If the server's clock is set back, codes are
// refused as replays until it passes lastStep again; that is the price of
// never accepting a code twice.
func Validate(secret, code string, now time.Time, lastStep int64) (step int64, err error) {
	return validate(secret, code, now, lastStep, Digits)
}

// Code returns the code for secret at time t: what the user's app shows. The
// server needs it only in tests and tools that play the app's part.
func Code(secret string, t time.Time) (string, error) {
	if err := checkSecret(secret); err != nil {
		return "", err
	}
	return code(secret, stepAt(t), Digits)
}

// validate is Validate with the code length as a parameter, so that RFC 6238's
// 8-digit test vectors go through the same path as the product's 6-digit codes.
func validate(secret, input string, now time.Time, lastStep int64, digits int) (int64, error) {
	want, err := parseCode(input, digits)
	if err != nil {
		return 0, err
	}
	if err := checkSecret(secret); err != nil {
		return 0, err
	}
	current := stepAt(now)
	// Try every candidate without stopping at a match. Prefer the latest
	// step above lastStep: in the (one in a million) case where a code
	// matches two steps, the one still unused must win over a replay.
	var matched, replayed bool
	var best int64
	for s := current - Skew; s <= current+Skew; s++ {
		if s < 0 {
			continue // before 1970: no counter
		}
		got, err := code(secret, s, digits)
		if err != nil {
			return 0, err
		}
		eq := subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
		switch {
		case eq && s > lastStep:
			matched, best = true, s
		case eq:
			replayed = true
		}
	}
	switch {
	case matched:
		return best, nil
	case replayed:
		return 0, ErrReplay
	default:
		return 0, ErrWrongCode
	}
}

// stepAt is the RFC 6238 time step T = floor(unix / Period), rounding down
// for times before 1970 too.
func stepAt(t time.Time) int64 {
	u := t.Unix()
	s := u / Period
	if u%Period < 0 {
		s--
	}
	return s
}

// code is the HOTP value of secret at counter step (RFC 4226), zero-padded
// to digits.
func code(secret string, step int64, digits int) (string, error) {
	c, err := hotp.GenerateCodeCustom(secret, uint64(step), hotp.ValidateOpts{
		Digits:    otp.Digits(digits),
		Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", ErrSecret
	}
	return c, nil
}

// checkSecret refuses a secret that would make codes anyone could guess: an
// empty or short key is valid HMAC input, so the library would accept it.
func checkSecret(secret string) error {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "="))
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(b) < minSecretLen {
		return ErrSecret
	}
	return nil
}
