package sealed

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func newBox(t testing.TB, fill byte) *Box {
	t.Helper()
	b, err := FromKey(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	b := newBox(t, 1)
	for _, pt := range [][]byte{nil, {}, []byte("JBSWY3DPEHPK3PXP"), bytes.Repeat([]byte{0xff}, 1<<16)} {
		for _, ad := range [][]byte{nil, []byte("totp:42")} {
			s := b.Seal(pt, ad)
			if len(s) != overhead+len(pt) {
				t.Errorf("sealed %d bytes into %d, want %d", len(pt), len(s), overhead+len(pt))
			}
			got, err := b.Open(s, ad)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("Open(Seal(%d bytes, %q)) = %d bytes, %v", len(pt), ad, len(got), err)
			}
		}
	}
	// Fresh nonce every time.
	if bytes.Equal(b.Seal([]byte("x"), nil), b.Seal([]byte("x"), nil)) {
		t.Error("sealing the same plaintext twice gave the same value")
	}
}

func TestTamperRefused(t *testing.T) {
	b := newBox(t, 1)
	s := b.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:42"))
	for i := range s {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(s)
			c[i] ^= bit
			if _, err := b.Open(c, []byte("totp:42")); err == nil {
				t.Fatalf("flipping bit %#x of byte %d went unnoticed", bit, i)
			}
		}
	}
	for _, c := range [][]byte{nil, {}, {version1}, s[:overhead-1], s[:len(s)-1]} {
		if _, err := b.Open(c, []byte("totp:42")); err == nil {
			t.Errorf("a truncated value (%d bytes) opened", len(c))
		}
	}
	if _, err := b.Open(append(bytes.Clone(s), 0), []byte("totp:42")); !errors.Is(err, ErrAuth) {
		t.Errorf("a value with a byte appended: %v, want ErrAuth", err)
	}
	c := bytes.Clone(s)
	c[0] = 2
	if _, err := b.Open(c, []byte("totp:42")); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("unknown version: %v, want ErrMalformed saying a newer rampart may have written it", err)
	}
}

func TestWrongAssociatedData(t *testing.T) {
	b := newBox(t, 1)
	s := b.Seal([]byte("secret"), []byte("totp:42"))
	for _, ad := range [][]byte{nil, []byte("totp:43"), []byte("totp:4"), []byte("totp:420")} {
		if _, err := b.Open(s, ad); !errors.Is(err, ErrAuth) {
			t.Errorf("Open with associated data %q: %v, want ErrAuth", ad, err)
		}
	}
}

func TestWrongKey(t *testing.T) {
	a, b := newBox(t, 1), newBox(t, 2)
	s := a.Seal([]byte("secret"), []byte("totp:42"))
	_, err := b.Open(s, []byte("totp:42"))
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), a.KeyID()) || !strings.Contains(err.Error(), b.KeyID()) {
		t.Errorf("Open with another key: %v, want ErrWrongKey naming both key ids", err)
	}
	// Even with the key id forged to match, the other key cannot open it.
	forged := bytes.Clone(s)
	copy(forged[1:headerLen], b.id[:])
	if _, err := b.Open(forged, []byte("totp:42")); !errors.Is(err, ErrAuth) {
		t.Errorf("forged key id: %v, want ErrAuth", err)
	}
}

func TestFromKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := FromKey(make([]byte, n)); err == nil {
			t.Errorf("FromKey(%d bytes) succeeded", n)
		}
	}
}

func TestStringHidesKey(t *testing.T) {
	b := newBox(t, 0x41)
	for _, s := range []string{b.String(), fmt.Sprint(b), fmt.Sprintf("%v", b), fmt.Sprintf("%+v", struct{ B *Box }{b})} {
		if strings.Contains(s, "AAAA") || strings.Contains(s, "65 65") || strings.Contains(s, "0x41") {
			t.Errorf("printed Box shows the key: %q", s)
		}
	}
	if !strings.Contains(fmt.Sprint(b), b.KeyID()) {
		t.Errorf("printed Box %q does not name its key id", fmt.Sprint(b))
	}
	if s := fmt.Sprintf("%#v", b); strings.Contains(s, "65, 65") || strings.Contains(s, "0x41, 0x41") {
		t.Errorf("%%#v shows the key: %s", s)
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i*7 + 250) // covers + / - _ in the encodings
	}
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(key),
		base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key),
		base64.RawURLEncoding.EncodeToString(key),
		"  " + base64.StdEncoding.EncodeToString(key) + "\n",
	} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	secretish := base64.StdEncoding.EncodeToString(key[:31])
	for _, s := range []string{"", "not base64!", secretish, base64.StdEncoding.EncodeToString(append(key, 0))} {
		_, err := ParseKey(s)
		if err == nil {
			t.Errorf("ParseKey(%q) succeeded", s)
			continue
		}
		if !strings.Contains(err.Error(), EnvKey) || !strings.Contains(err.Error(), "/dev/urandom") {
			t.Errorf("ParseKey error does not say what to do: %v", err)
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("ParseKey error repeats the secret: %v", err)
		}
	}
}
