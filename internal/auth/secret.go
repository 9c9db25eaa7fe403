package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// TokenPrefix marks rampart API tokens so that secret scanners (and people)
// can recognise one that leaked into a repository or a log.
const TokenPrefix = "rpt_"

// NewSecret returns a fresh random secret (256 bits, URL-safe) with the given
// prefix, and the hash under which it is stored. The plaintext is shown to
// its owner once and never kept.
func NewSecret(prefix string) (plaintext string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux ≥ 3.17 (getrandom)
	plaintext = prefix + base64.RawURLEncoding.EncodeToString(b)
	return plaintext, HashSecret(plaintext)
}

// HashSecret is the at-rest form of a token or session secret. A plain
// SHA-256 is enough here: the secret has 256 bits of entropy, so unlike a
// password it cannot be guessed from its hash.
func HashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// LooksLikeToken reports whether s has the shape of an API token, so that a
// caller can say "that is not a rampart token" instead of "invalid token".
func LooksLikeToken(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) && len(s) == len(TokenPrefix)+43
}
