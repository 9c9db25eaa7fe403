package auth

import (
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not in PHC form", h)
	}
	for pw, want := range map[string]bool{
		"correct horse battery staple":  true,
		"correct horse battery staple ": false,
		"":                              false,
	} {
		ok, err := VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Error("two hashes of one password are equal: salt is not random")
	}
}

// A hash made by the reference argon2 tool:
// echo -n "password" | argon2 somesalt -id -t 2 -m 16 -p 1 -l 32 -e
func TestVerifyReferenceHash(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := VerifyPassword(ref, "password")
	if err != nil || !ok {
		t.Fatalf("reference hash: ok=%v err=%v", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"$argon2id$v=18$m=16,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c29tZXNhbHQ$aGFzaA",
		"$argon2id$v=19$m=16,t=2,p=1$!!!$aGFzaA",
		"$argon2id$v=19$m=16,t=2,p=1$c29tZXNhbHQ$",
		"$argon2id$v=19$m=99999999,t=2,p=1$c29tZXNhbHQ$aGFzaA",
	} {
		if ok, err := VerifyPassword(h, "x"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, error", h, ok, err)
		}
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=16,t=1,p=1$c29tZXNhbHQ$aGFzaA", "pw")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		_, _ = VerifyPassword(hash, pw) // must not panic or run away
	})
}

func TestSecrets(t *testing.T) {
	a, ha := NewSecret(TokenPrefix)
	b, _ := NewSecret(TokenPrefix)
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if !LooksLikeToken(a) {
		t.Errorf("LooksLikeToken(%q) = false", a)
	}
	if LooksLikeToken("rpt_short") || LooksLikeToken(strings.TrimPrefix(a, TokenPrefix)) {
		t.Error("LooksLikeToken accepts malformed tokens")
	}
	if string(HashSecret(a)) != string(ha) {
		t.Error("HashSecret differs from the hash NewSecret returned")
	}
}

// BenchmarkVerifyPassword is the cost of one login's password check (the
// README quotes it): time per op, and the memory argon2id takes.
func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := VerifyPassword(h, "correct horse battery"); !ok {
			b.Fatal("no match")
		}
	}
}
