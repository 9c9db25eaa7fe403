// Package sealed encrypts small secrets that rampart must be able to read
// back (TOTP secrets today), so that a copy of the database without the key
// — a backup or SQL dump, a replica, a PostgreSQL server run by someone
// else — does not give them away. (Whoever has both the database and the
// key file, e.g. root on the host, reads them; that is not what this is for.) Passwords and API tokens are hashed instead and never
// come here: only what must be recovered in plaintext is sealed.
//
// The key lives outside the database: a 0600 file in the data directory
// (LoadOrCreateKey) or the RAMPART_SECRET_KEY environment variable (ParseKey,
// FromKey) for hosts that keep secrets in their service manager. Losing the
// key loses every sealed secret (users then enrol their authenticator again),
// so it belongs in backups, kept apart from the database's.
//
// A sealed value is XChaCha20-Poly1305 with a random 192-bit nonce: random
// nonces that large never repeat in practice, so there is no counter to keep
// and no limit on how many values one key seals. The caller's associated
// data (a user id, say) is authenticated with it, so a value copied to
// another row does not open there.
package sealed

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of a key in bytes.
const KeySize = chacha20poly1305.KeySize

// version 1 is: version (1 byte) | key id (4) | nonce (24) | ciphertext+tag.
// The version byte lets a later format (another cipher, a key rotation
// scheme) be read beside this one; the key id tells "wrong key" from
// "tampered" in errors, which is what an operator who restored the database
// without its key needs to hear.
const (
	version1  = 1
	idSize    = 4
	headerLen = 1 + idSize
	nonceLen  = chacha20poly1305.NonceSizeX
	overhead  = headerLen + nonceLen + chacha20poly1305.Overhead
)

var (
	// ErrMalformed means the input is not a value Seal made: too short, or
	// a format version this rampart does not know (written by a newer one?).
	ErrMalformed = errors.New("sealed: not a sealed value")
	// ErrWrongKey means the value was sealed with another key: the key file
	// or RAMPART_SECRET_KEY is not the one the database was written with.
	// Restore that key; without it the value cannot be read.
	ErrWrongKey = errors.New("sealed: sealed with a different key")
	// ErrAuth means the value does not open with this key: it was altered,
	// or it was sealed for another row (different associated data).
	ErrAuth = errors.New("sealed: value does not open: altered, or sealed for another record")
)

// Box seals and opens values with one key. It is safe for concurrent use.
// The zero Box is not usable: get one from LoadOrCreateKey or FromKey.
type Box struct {
	aead cipher.AEAD
	id   [idSize]byte
}

// FromKey returns a Box for a KeySize-byte key, such as ParseKey's result.
// The key is copied; the caller may clear its slice.
func FromKey(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealed: a key is %d bytes, got %d", KeySize, len(key))
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	b := &Box{aead: aead}
	copy(b.id[:], keyID(key))
	return b, nil
}

// keyID names a key without revealing it: a hash under a label of its own,
// so it is useless as anything but a name.
func keyID(key []byte) []byte {
	h := sha256.New()
	h.Write([]byte("rampart sealed key id v1\x00"))
	h.Write(key)
	return h.Sum(nil)[:idSize]
}

// KeyID is a short public name for the key (8 hex digits), for logs and
// errors: two hosts or two backups with the same KeyID have the same key.
func (b *Box) KeyID() string { return hex.EncodeToString(b.id[:]) }

// String names the Box by its KeyID so that printing one never shows the key.
func (b *Box) String() string { return "sealed.Box(key " + b.KeyID() + ")" }

// Seal encrypts plaintext and binds it to associatedData, which is not
// stored: Open needs the same bytes. Use the identity of the record the
// value belongs to (e.g. "totp:" + user id) so that it cannot be moved to
// another record. Each call uses a fresh random nonce, so sealing the same
// plaintext twice gives different values.
func (b *Box) Seal(plaintext, associatedData []byte) []byte {
	out := make([]byte, headerLen+nonceLen, overhead+len(plaintext))
	out[0] = version1
	copy(out[1:headerLen], b.id[:])
	nonce := out[headerLen : headerLen+nonceLen]
	_, _ = rand.Read(nonce) // never fails since Go 1.24: it crashes the program instead
	return b.aead.Seal(out, nonce, plaintext, ad(out[:headerLen], associatedData))
}

// Open decrypts a value from Seal given the same associatedData. Errors:
// ErrMalformed, ErrWrongKey, ErrAuth (wrapped; test with errors.Is).
func (b *Box) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < 1 {
		return nil, ErrMalformed
	}
	if sealed[0] != version1 {
		return nil, fmt.Errorf("%w: format version %d is unknown (was it written by a newer rampart?)", ErrMalformed, sealed[0])
	}
	if len(sealed) < overhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(sealed))
	}
	if id := sealed[1:headerLen]; string(id) != string(b.id[:]) {
		return nil, fmt.Errorf("%w (value's key %x, this key %s): restore the key file or RAMPART_SECRET_KEY the data was written with", ErrWrongKey, id, b.KeyID())
	}
	nonce := sealed[headerLen : headerLen+nonceLen]
	pt, err := b.aead.Open(nil, nonce, sealed[headerLen+nonceLen:], ad(sealed[:headerLen], associatedData))
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// ad is what the cipher authenticates besides the ciphertext: the header,
// so that neither the version nor the key id can be changed, then the
// caller's data. The header's length is fixed, so the two cannot blur.
func ad(header, associatedData []byte) []byte {
	a := make([]byte, 0, len(header)+len(associatedData))
	return append(append(a, header...), associatedData...)
}
