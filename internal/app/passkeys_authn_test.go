package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rampart-dev/rampart"
)

// softKey is a minimal software authenticator for the service layer's
// tests: one P-256 credential, "none" attestation, a counter it sets as
// told. The browser test uses Chromium's virtual authenticator; this one
// can do what a browser would not, such as a counter that goes back.
type softKey struct {
	t      *testing.T
	key    *ecdsa.PrivateKey
	id     []byte
	origin string
}

func newSoftKey(t *testing.T, origin string) *softKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{t: t, key: k, id: id, origin: origin}
}

var b64u = base64.RawURLEncoding

// options reads what the service layer asks of the browser.
func (k *softKey) options(raw []byte) (challenge, rpID string) {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		k.t.Fatalf("options %s: %v", raw, err)
	}
	rpID = o.PublicKey.RPID
	if rpID == "" {
		rpID = o.PublicKey.RP.ID
	}
	return o.PublicKey.Challenge, rpID
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// authData is the authenticator data: RP ID hash, flags (user present and
// verified), counter, and for a registration the credential.
func (k *softKey) authData(rpID string, count uint32, withCredential bool) []byte {
	h := sha256.Sum256([]byte(rpID))
	flags := byte(0x01 | 0x04)
	if withCredential {
		flags |= 0x40
	}
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	if withCredential {
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(out, k.id...)
		// The COSE key, CBOR by hand: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
		x, y := make([]byte, 32), make([]byte, 32)
		k.key.X.FillBytes(x)
		k.key.Y.FillBytes(y)
		out = append(out, 0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20)
		out = append(out, x...)
		out = append(out, 0x22, 0x58, 0x20)
		out = append(out, y...)
	}
	return out
}

// register answers registration options.
func (k *softKey) register(options []byte) []byte {
	challenge, rpID := k.options(options)
	ad := k.authData(rpID, 0, true)
	// {"fmt": "none", "attStmt": {}, "authData": ad}, CBOR by hand.
	att := []byte{0xa3, 0x63, 'f', 'm', 't', 0x64, 'n', 'o', 'n', 'e', 0x67, 'a', 't', 't', 'S', 't', 'm', 't', 0xa0,
		0x68, 'a', 'u', 't', 'h', 'D', 'a', 't', 'a', 0x59}
	att = binary.BigEndian.AppendUint16(att, uint16(len(ad)))
	att = append(att, ad...)
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(k.clientData("webauthn.create", challenge)),
			"attestationObject": b64u.EncodeToString(att),
			"transports":        []string{"internal"},
		},
	})
	return b
}

// assert answers login options with the counter at count.
func (k *softKey) assert(options []byte, count uint32) []byte {
	challenge, rpID := k.options(options)
	ad := k.authData(rpID, count, false)
	cd := k.clientData("webauthn.get", challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(k.id), "rawId": b64u.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64u.EncodeToString(cd),
			"authenticatorData": b64u.EncodeToString(ad),
			"signature":         b64u.EncodeToString(sig),
		},
	})
	return b
}

func TestPasskeyRegisterAndLogin(t *testing.T) {
	f := newMFAFixture(t)
	ctx := t.Context()
	me := UserActor(f.member, "192.0.2.9")
	key := newSoftKey(t, localSite.Origin)

	opts, err := f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	p, codes, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, " laptop ", key.register(opts))
	if err != nil {
		t.Fatalf("registration: %v", err)
	}
	if p.Name != "laptop" || p.RPID != "localhost" || len(codes) != rampart.RecoveryCodeCount {
		t.Fatalf("passkey %+v with %d recovery codes; want laptop at localhost, and a first set of codes", p, len(codes))
	}
	if last := f.mail.Last(t, "mia@example.com"); !strings.Contains(last.Subject, "passkey was added") {
		t.Errorf("last mail: %q, want the notice of the new passkey", last.Subject)
	}
	// The same authenticator again: the browser would refuse (it is
	// excluded); a forged answer still finds the credential taken.
	opts, err = f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, "again")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(opts), b64u.EncodeToString(key.id)) {
		t.Error("the registration options do not exclude the passkey the user has")
	}
	if _, _, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, "again", key.register(opts)); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("registering one credential twice: %v, want ECONFLICT", err)
	}
	// A second passkey gets no new recovery codes: the first set stands.
	other := newSoftKey(t, localSite.Origin)
	opts, _ = f.app.Accounts.BeginPasskeyRegistration(ctx, me, localSite, "phone")
	if _, codes, err := f.app.Accounts.FinishPasskeyRegistration(ctx, me, localSite, "phone", other.register(opts)); err != nil || len(codes) != 0 {
		t.Fatalf("second passkey: %d codes, %v", len(codes), err)
	}

	login := func(k *softKey, count uint32) (*rampart.User, error) {
		t.Helper()
		step := f.start(t)
		opts, err := f.app.Accounts.BeginPasskeyLogin(ctx, step.Challenge, localSite)
		if err != nil {
			t.Fatal(err)
		}
		return f.app.Accounts.FinishPasskeyLogin(ctx, step.Challenge, localSite, k.assert(opts, count), "192.0.2.9")
	}
	u, err := login(key, 5)
	if err != nil || u.ID != f.member.ID {
		t.Fatalf("passkey login: %v, %v", u, err)
	}
	evs, _ := f.app.Audit.List(ctx, OperatorActor(), rampart.AuditFilter{Limit: 5})
	if evs[0].Action != "login.success" || evs[0].Detail != "second factor: passkey" {
		t.Errorf("last audit event %s %q, want login.success with the passkey", evs[0].Action, evs[0].Detail)
	}
	got, _ := f.st.PasskeyByID(ctx, p.ID)
	if got.SignCount != 5 || got.LastUsedAt == nil {
		t.Errorf("after the login: counter %d, last used %v", got.SignCount, got.LastUsedAt)
	}

	// A counter that goes back means a copy of the key: refused.
	if _, err := login(key, 3); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED || !strings.Contains(err.Error(), "copied") {
		t.Fatalf("counter back from 5 to 3: %v, want a refusal that says the key may be copied", err)
	}
	if got, _ := f.st.PasskeyByID(ctx, p.ID); got.SignCount != 5 {
		t.Errorf("the refused login moved the counter to %d", got.SignCount)
	}
	// A key the account does not have, and a signature from the wrong key.
	if _, err := login(newSoftKey(t, localSite.Origin), 1); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("an unknown credential: %v", err)
	}
	forged := *key
	forged.key = other.key
	if _, err := login(&forged, 9); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("a bad signature: %v", err)
	}
	// An answer made for another origin (a phishing page) is refused.
	phished := *key
	phished.origin = "http://localhost:6666"
	if _, err := login(&phished, 10); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("an answer from another origin: %v", err)
	}
	// Four refusals in a row: the throttle makes the next try wait.
	f.clock.add(time.Minute)
	if u, err := login(key, 11); err != nil || u.ID != f.member.ID {
		t.Fatalf("the real key after the refusals: %v", err)
	}
}
