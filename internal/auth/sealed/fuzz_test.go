package sealed

import (
	"bytes"
	"testing"
)

// FuzzOpen gives Open arbitrary bytes, as a corrupted or hostile database
// row would: it must never panic, and nothing but the exact sealed value
// with its own associated data may open.
func FuzzOpen(f *testing.F) {
	b := newBox(f, 7)
	ad := []byte("totp:42")
	valid := b.Seal([]byte("JBSWY3DPEHPK3PXP"), ad)
	f.Add(valid, ad)
	f.Add(valid, []byte("totp:43"))
	f.Add(valid[:overhead], ad)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{version1}, ad)
	f.Add([]byte{2, 0, 0, 0, 0}, ad)
	f.Add(bytes.Repeat([]byte{version1}, overhead), ad)
	f.Fuzz(func(t *testing.T, sealed, ad2 []byte) {
		pt, err := b.Open(sealed, ad2)
		if err == nil && !(bytes.Equal(sealed, valid) && bytes.Equal(ad2, ad)) {
			t.Fatalf("forged value opened: %x (ad %q) -> %q", sealed, ad2, pt)
		}
	})
}
