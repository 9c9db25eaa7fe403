// Package auth holds the credential primitives: argon2id password hashes,
// random secrets for API tokens and sessions, and their at-rest hashes. It
// knows nothing about users or storage; internal/app decides who may log in.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's 2023 baseline (19 MiB, 2 passes, 1 lane). It
// costs ~25–40 ms here, slow for a guesser, quick enough for a login form.
// They are stored in each hash, so raising them later keeps old hashes valid.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

var b64 = base64.RawStdEncoding

// slots bounds how many hashes run at once. Each takes argonMemory; without
// a bound, a burst of logins (most of them wrong, from anyone) would take
// 19 MiB each at the same time. Past the bound a login waits its turn.
var slots = make(chan struct{}, max(2, runtime.NumCPU()))

// idKey is argon2.IDKey inside a slot.
func idKey(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey(pw, salt, t, m, p, n)
}

// HashPassword returns an argon2id hash of pw in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) that the reference tool also reads.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	key := idKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrMalformedHash means a stored hash is not one this package wrote.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// VerifyPassword reports whether pw matches hash, in constant time.
func VerifyPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 256*1024 || t > 16 {
		return false, ErrMalformedHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, ErrMalformedHash
	}
	got := idKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a login names an unknown account, so
// that the response time does not reveal which accounts exist.
var dummyHash, _ = HashPassword("rampart-dummy-password")

// BurnVerify spends the same time as a real VerifyPassword and returns false.
func BurnVerify(pw string) {
	_, _ = VerifyPassword(dummyHash, pw)
}
