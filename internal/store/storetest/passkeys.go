package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/store"
)

func testPasskeysRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	bob := mustUser(t, s, "bob@example.com")
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	p := &rampart.Passkey{UserID: ada.ID, CredentialID: []byte("cred-1"), PublicKey: []byte("cose-key"), SignCount: 3,
		Transports: []string{"internal", "hybrid"}, AAGUID: bytes.Repeat([]byte{1}, 16), Flags: 0x45, RPID: "localhost", Name: "laptop", CreatedAt: at}
	if err := s.CreatePasskey(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.ID == 0 {
		t.Fatal("CreatePasskey did not set ID")
	}
	got, err := s.PasskeyByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != ada.ID || !bytes.Equal(got.CredentialID, p.CredentialID) || !bytes.Equal(got.PublicKey, p.PublicKey) ||
		got.SignCount != 3 || !slices.Equal(got.Transports, p.Transports) || !bytes.Equal(got.AAGUID, p.AAGUID) ||
		got.Flags != 0x45 || got.RPID != "localhost" || got.Name != "laptop" || got.LastUsedAt != nil {
		t.Fatalf("passkey = %+v, want %+v", got, p)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, at)

	// The credential is unique across users; the name within one user.
	wantCode(t, s.CreatePasskey(ctx, &rampart.Passkey{UserID: bob.ID, CredentialID: []byte("cred-1"), PublicKey: []byte("k"), RPID: "localhost", Name: "other"}), rampart.ECONFLICT)
	err = s.CreatePasskey(ctx, &rampart.Passkey{UserID: ada.ID, CredentialID: []byte("cred-2"), PublicKey: []byte("k"), RPID: "localhost", Name: "laptop"})
	wantCode(t, err, rampart.ECONFLICT)
	wantMessage(t, err, `"laptop"`)
	if err := s.CreatePasskey(ctx, &rampart.Passkey{UserID: bob.ID, CredentialID: []byte("cred-3"), PublicKey: []byte("k"), RPID: "localhost", Name: "laptop"}); err != nil {
		t.Fatalf("another user's passkey of the same name: %v", err)
	}
	wantCode(t, s.CreatePasskey(ctx, &rampart.Passkey{UserID: 99999, CredentialID: []byte("cred-4"), PublicKey: []byte("k"), RPID: "localhost", Name: "x"}), rampart.ENOTFOUND)
	p2 := &rampart.Passkey{UserID: ada.ID, CredentialID: []byte("cred-5"), PublicKey: []byte("k"), RPID: "rampart.example.com", Name: "phone"}
	if err := s.CreatePasskey(ctx, p2); err != nil {
		t.Fatal(err)
	}
	recent(t, "CreatedAt stamped by the store", p2.CreatedAt)

	list, err := s.ListPasskeys(ctx, ada.ID)
	if err != nil || len(list) != 2 || list[0].Name != "laptop" || list[1].Name != "phone" {
		t.Fatalf("ListPasskeys = %v, %v; want laptop, phone", list, err)
	}
	if list, err := s.ListPasskeys(ctx, 99999); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListPasskeys(nobody) = %#v, %v; want an empty list", list, err)
	}

	// A use moves the counter and the time; the time never backwards.
	if err := s.UsePasskey(ctx, p.ID, 9, 0x05, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.UsePasskey(ctx, p.ID, 10, 0x05, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.PasskeyByID(ctx, p.ID)
	if got.SignCount != 10 || got.Flags != 0x05 {
		t.Fatalf("after use: count %d flags %#x", got.SignCount, got.Flags)
	}
	want := at.Add(time.Hour)
	sameTimePtr(t, "LastUsedAt", got.LastUsedAt, &want)
	wantCode(t, s.UsePasskey(ctx, 99999, 1, 0, at), rampart.ENOTFOUND)

	if err := s.DeletePasskey(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.DeletePasskey(ctx, p.ID), rampart.ENOTFOUND)
	_, err = s.PasskeyByID(ctx, p.ID)
	wantCode(t, err, rampart.ENOTFOUND)

	if err := s.DeleteUserPasskeys(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListPasskeys(ctx, ada.ID); len(list) != 0 {
		t.Fatalf("after DeleteUserPasskeys: %d left", len(list))
	}
	if list, _ := s.ListPasskeys(ctx, bob.ID); len(list) != 1 {
		t.Fatalf("DeleteUserPasskeys took another user's: %d left", len(list))
	}
}

func testPasskeyHandle(t *testing.T, s store.Store) {
	ctx := t.Context()
	ada := mustUser(t, s, "ada@example.com")
	h, err := s.PasskeyHandle(ctx, ada.ID, []byte("first"))
	if err != nil || string(h) != "first" {
		t.Fatalf("PasskeyHandle = %q, %v; want the fresh one", h, err)
	}
	h, err = s.PasskeyHandle(ctx, ada.ID, []byte("second"))
	if err != nil || string(h) != "first" {
		t.Fatalf("PasskeyHandle again = %q, %v; want the stored one", h, err)
	}
	_, err = s.PasskeyHandle(ctx, 99999, []byte("x"))
	wantCode(t, err, rampart.ENOTFOUND)
	if err := s.DeleteUserPasskeys(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.PasskeyHandle(ctx, ada.ID, []byte("third")); string(h) != "third" {
		t.Fatalf("after DeleteUserPasskeys the handle is %q, want a new one", h)
	}
}
