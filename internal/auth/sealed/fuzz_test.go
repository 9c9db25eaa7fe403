package sealed

import (
	"bytes"
	"testing"
)

// FuzzOpen gives Open arbitrary bytes, as a corrupted or hostile database
// row would: it must never panic, and nothing but a value this key sealed,
// with its own associated data, may open. (The seed is sealed again in each
// fuzzing process with a fresh nonce, so the check is on what opens, not on
// the exact bytes.)
func FuzzOpen(f *testing.F) {
	b := newBox(f, 7)
	ad := []byte("totp:42")
	secret := []byte("JBSWY3DPEHPK3PXP")
	valid := b.Seal(secret, ad)
	f.Add(valid, ad)
	f.Add(valid, []byte("totp:43"))
	f.Add(valid[:overhead], ad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version1}, ad)
	f.Add([]byte{2, 0, 0, 0, 0}, ad)
	f.Add(bytes.Repeat([]byte{version1}, overhead), ad)
	f.Fuzz(func(t *testing.T, sealed, ad2 []byte) {
		pt, err := b.Open(sealed, ad2)
		if err == nil && !(bytes.Equal(pt, secret) && bytes.Equal(ad2, ad) && len(sealed) == overhead+len(secret)) {
			t.Fatalf("forged value opened: %x (ad %q) -> %q", sealed, ad2, pt)
		}
	})
}
