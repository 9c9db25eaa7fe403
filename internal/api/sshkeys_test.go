package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/rampart-dev/rampart"
	"github.com/rampart-dev/rampart/internal/app"
)

// testPubKey returns a fresh Ed25519 public key line and its private key
// in OpenSSH PEM form.
func testPubKey(t *testing.T) (pub, priv string) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(sk, "test")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " test", string(pem.EncodeToMemory(block))
}

// sshKeyRef adds a key (as the operator) and returns its ID, for the
// operations on one key.
func sshKeyRef(t *testing.T, e *env) string {
	t.Helper()
	pub, _ := testPubKey(t)
	k, err := e.app.SSHKeys.Add(context.Background(), app.OperatorActor(), rampart.SSHKeyInput{Title: "fixture", PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(k.ID, 10)
}

func TestSSHKeysAPI(t *testing.T) {
	e := newEnv(t)
	pub, priv := testPubKey(t)
	body := func(title, key string) string {
		b, _ := json.Marshal(rampart.SSHKeyInput{Title: title, PublicKey: key})
		return string(b)
	}

	// Members may not, and are told why.
	rec := e.do("POST", "/api/v1/ssh-keys", e.alice, body("mine", pub))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "only an admin can manage SSH keys") {
		t.Errorf("member POST: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("GET", "/api/v1/ssh-keys", e.alice, ""); rec.Code != http.StatusForbidden {
		t.Errorf("member GET: %d %s", rec.Code, rec.Body)
	}

	rec = e.do("POST", "/api/v1/ssh-keys", e.admin, body("laptop", pub))
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	var k rampart.SSHKey
	if err := json.Unmarshal(rec.Body.Bytes(), &k); err != nil {
		t.Fatal(err)
	}
	if k.Title != "laptop" || k.AddedBy != "admin@example.com" || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
		t.Errorf("added %+v", k)
	}
	rec = e.do("POST", "/api/v1/ssh-keys", e.admin, body("again", pub))
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `\"laptop\"`) {
		t.Errorf("duplicate: %d %s", rec.Code, rec.Body)
	}
	// A private key: 400, saying so, quoting nothing of it.
	rec = e.do("POST", "/api/v1/ssh-keys", e.admin, body("oops", priv))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "private key") {
		t.Errorf("private key: %d %s", rec.Code, rec.Body)
	}
	for _, l := range strings.Split(priv, "\n")[2:4] {
		if strings.Contains(rec.Body.String(), l) {
			t.Errorf("the answer quotes the private key")
		}
	}

	rec = e.do("GET", "/api/v1/ssh-keys", e.admin, "")
	var list rampart.SSHKeyList
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	if len(list.Keys) != 1 || list.Status.Enforced || !strings.Contains(list.Status.Message, "Not enforced") {
		t.Errorf("list %+v", list)
	}
	// Removed by fingerprint, its "/" escaped.
	if rec := e.do("DELETE", "/api/v1/ssh-keys/"+url.PathEscape(k.Fingerprint), e.alice, ""); rec.Code != http.StatusForbidden {
		t.Errorf("member DELETE: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/api/v1/ssh-keys/"+url.PathEscape(k.Fingerprint), e.admin, ""); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE by fingerprint: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do("DELETE", "/api/v1/ssh-keys/"+strconv.FormatInt(k.ID, 10), e.admin, ""); rec.Code != http.StatusNotFound {
		t.Errorf("DELETE again: %d %s", rec.Code, rec.Body)
	}
	audit := e.audit(e.admin, "")
	if len(audit) < 2 || audit[0] != "ssh_key.remove" || audit[1] != "ssh_key.add" {
		t.Errorf("audit %v", audit)
	}
}
