package sshkeys

import (
	"crypto/elliptic"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestParseAccepts(t *testing.T) {
	edPub, _ := newEd25519(t)
	ed := authLine(t, edPub, "alice@laptop")
	tests := []struct {
		name    string
		paste   string
		typ     string
		bits    int
		comment string
	}{
		{"ed25519", ed, "ssh-ed25519", 256, "alice@laptop"},
		{"ed25519 no comment", authLine(t, edPub, ""), "ssh-ed25519", 256, ""},
		{"comment with spaces", authLine(t, edPub, "alice  at\tthe   laptop"), "ssh-ed25519", 256, "alice at the laptop"},
		{"surrounding whitespace and CRLF", "  \t" + ed + " \r\n", "ssh-ed25519", 256, "alice@laptop"},
		{"comment and blank lines around", "# my key\n\n" + ed + "\n\n", "ssh-ed25519", 256, "alice@laptop"},
		{"ecdsa p256", authLine(t, &newECDSA(t, elliptic.P256()).PublicKey, "e"), "ecdsa-sha2-nistp256", 256, "e"},
		{"ecdsa p384", authLine(t, &newECDSA(t, elliptic.P384()).PublicKey, "e"), "ecdsa-sha2-nistp384", 384, "e"},
		{"ecdsa p521", authLine(t, &newECDSA(t, elliptic.P521()).PublicKey, "e"), "ecdsa-sha2-nistp521", 521, "e"},
		{"rsa 2048", authLine(t, &newRSA(t, 2048).PublicKey, "r"), "ssh-rsa", 2048, "r"},
		{"sk ed25519", skEd25519Line(t), "sk-ssh-ed25519@openssh.com", 256, "yubi@desk"},
		{"sk ecdsa", skECDSALine(t), "sk-ecdsa-sha2-nistp256@openssh.com", 256, "yubi@desk"},
		{"byte-order mark", "\ufeff" + ed + "\r\n", "ssh-ed25519", 256, "alice@laptop"},
		{"unicode comment", authLine(t, edPub, "zoë@portable"), "ssh-ed25519", 256, "zoë@portable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := Parse(tt.paste)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(keys) != 1 {
				t.Fatalf("got %d keys, want 1", len(keys))
			}
			k := keys[0]
			if k.Type != tt.typ || k.Bits != tt.bits || k.Comment != tt.comment || k.Title != "" {
				t.Errorf("got type %q bits %d comment %q title %q; want %q %d %q \"\"", k.Type, k.Bits, k.Comment, k.Title, tt.typ, tt.bits, tt.comment)
			}
			f := strings.Fields(strings.TrimSpace(strings.Split(strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(tt.paste, "\ufeff"), "# my key\n")), "\n")[0]))
			want := f[0] + " " + f[1]
			if tt.comment != "" {
				want += " " + tt.comment
			}
			if k.Line != want {
				t.Errorf("Line = %q, want %q", k.Line, want)
			}
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Line))
			if err != nil {
				t.Fatalf("the canonical line does not parse: %v", err)
			}
			if fp := ssh.FingerprintSHA256(pk); k.Fingerprint != fp || !strings.HasPrefix(fp, "SHA256:") {
				t.Errorf("Fingerprint = %q, want %q", k.Fingerprint, fp)
			}
		})
	}
}

func TestParseSeveralKeys(t *testing.T) {
	a, _ := newEd25519(t)
	b, _ := newEd25519(t)
	paste := authLine(t, a, "a") + "\r\n" + authLine(t, &newECDSA(t, elliptic.P256()).PublicKey, "b") + "\r\n# third\r\n" + authLine(t, b, "c")
	keys, err := Parse(paste)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, k.Comment)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("keys in order %v, want a,b,c", got)
	}
}

func TestParseRefuses(t *testing.T) {
	edPub, _ := newEd25519(t)
	ed := authLine(t, edPub, "alice@laptop")
	edData := strings.Fields(ed)[1]
	other, _ := newEd25519(t)
	many := ""
	for i := 0; i <= MaxKeysPerPaste; i++ {
		pub, _ := newEd25519(t)
		many += authLine(t, pub, fmt.Sprint(i)) + "\n"
	}
	tests := []struct {
		name  string
		paste string
		want  []string // substrings of the error
	}{
		{"empty", "", []string{"no public key found"}},
		{"only comments", "# nothing\n\n", []string{"no public key found"}},
		{"dsa", dsaLine(t), []string{"line 1", "DSA", "ssh-keygen -t ed25519"}},
		{"rsa 1024", authLine(t, &newRSA(t, 1024).PublicKey, "old"), []string{"line 1", "1024 bits", "2048"}},
		{"certificate", certLine(t), []string{"line 1", "certificate"}},
		{"command option", `command="uptime" ` + ed, []string{"line 1", "options"}},
		{"from option", `from="10.0.0.0/8",no-pty ` + ed, []string{"options"}},
		{"restrict", "restrict " + ed, []string{"options"}},
		{"quoted option with spaces", `command="echo hi there" ` + ed, []string{"options"}},
		{"garbage", "hello world this is not a key", []string{"line 1", "not an SSH public key"}},
		{"type only", "ssh-ed25519", []string{"no key data"}},
		{"bad base64", "ssh-ed25519 AAAA!!!! x", []string{"not valid base64"}},
		{"cut off", "ssh-ed25519 " + edData[:len(edData)-8] + " x", []string{"line 1"}},
		{"type mismatch", "ssh-rsa " + edData + " x", []string{"says ssh-rsa", "ssh-ed25519"}},
		{"control character in comment", authLine(t, edPub, "a\x1b[2Jb"), []string{"control characters"}},
		{"mldsa", "ssh-mldsa-44 AAAA x", []string{"not accepted by OpenSSH"}},
		{"rfc4716 public key", "---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----", []string{"RFC 4716", "ssh-keygen -i"}},
		{"duplicate in paste", ed + "\n" + authLine(t, other, "o") + "\n" + authLine(t, edPub, "again"), []string{"line 3", "same key as line 1"}},
		{"one bad line among good", authLine(t, other, "o") + "\n" + dsaLine(t) + "\n" + ed + "\nnonsense", []string{"line 2", "DSA", "line 4"}},
		{"too long", strings.Repeat("# padding\n", MaxPasteBytes/10+1), []string{"bytes", "more than"}},
		{"long line", "ssh-ed25519 " + strings.Repeat("A", MaxLineBytes), []string{"longer than"}},
		{"too many keys", many, []string{"more than 100 keys"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := Parse(tt.paste)
			if err == nil {
				t.Fatalf("accepted %d keys, want an error", len(keys))
			}
			if keys != nil {
				t.Errorf("returned %d keys along with the error", len(keys))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Errorf("error %T is not a *LineError", err)
			}
			assertQuotesNothing(t, tt.paste, err)
		})
	}
}

// assertQuotesNothing fails when err repeats a piece of the paste at least
// 12 bytes long (key data, a comment, a line of a private key) that is not
// part of the messages' own wording: the key type names and advice that
// every error message may contain, gathered in messageText.
func assertQuotesNothing(t *testing.T, paste string, err error) {
	t.Helper()
	msg := err.Error()
	for _, f := range strings.Fields(paste) {
		if len(f) >= 12 && strings.Contains(msg, f) && !strings.Contains(messageText, f) {
			t.Errorf("error %q quotes %q from the paste", msg, f)
		}
	}
}

// messageText is the wording of every refusal Parse can give, with no
// paste content in it: each message made from a paste that contains
// nothing else to quote.
var messageText = func() string {
	var b strings.Builder
	for _, paste := range []string{
		"", "x", "ssh-ed25519", "ssh-ed25519 !", "ssh-ed25519 AAAA", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==",
		"ssh-dss", "ssh-ed25519-cert-v01@openssh.com", "ssh-mldsa-44", "---- BEGIN", "restrict",
		"-----BEGIN PRIVATE KEY-----", strings.Repeat("#", MaxPasteBytes+1), strings.Repeat("#", MaxLineBytes+1),
	} {
		if _, err := Parse(paste); err != nil {
			b.WriteString(err.Error() + "\n")
		}
	}
	for typ := range certTypes {
		b.WriteString(typ + "\n")
	}
	for typ := range otherTypes {
		b.WriteString(typ + "\n")
	}
	for typ := range acceptedTypes {
		b.WriteString(typ + "\n")
	}
	return b.String()
}()

func TestParseRefusesPrivateKeys(t *testing.T) {
	for name, priv := range privateKeys(t) {
		t.Run(name, func(t *testing.T) {
			for _, paste := range []string{priv, "# mine\n" + priv, strings.ReplaceAll(priv, "\n", "\r\n")} {
				keys, err := Parse(paste)
				if !errors.Is(err, ErrPrivateKey) {
					t.Fatalf("got %d keys, error %v; want ErrPrivateKey", len(keys), err)
				}
				if keys != nil {
					t.Errorf("returned keys along with the error")
				}
				if !strings.Contains(err.Error(), "paste the .pub file instead; it was not stored") {
					t.Errorf("error %q does not say what to do", err)
				}
				assertQuotesNothing(t, paste, err)
			}
		})
	}
}

func TestParseOne(t *testing.T) {
	a, _ := newEd25519(t)
	b, _ := newEd25519(t)
	k, err := ParseOne(authLine(t, a, "a") + "\n")
	if err != nil || k.Comment != "a" {
		t.Fatalf("ParseOne = %+v, %v", k, err)
	}
	if _, err := ParseOne(authLine(t, a, "a") + "\n" + authLine(t, b, "b")); err == nil || !strings.Contains(err.Error(), "2 keys but one title") {
		t.Errorf("two keys: error %v, want one saying 2 keys", err)
	}
}

func TestCheckDuplicate(t *testing.T) {
	a, _ := newEd25519(t)
	b, _ := newEd25519(t)
	ka, _ := ParseOne(authLine(t, a, "first comment"))
	ka.Title = "alice's laptop"
	kb, _ := ParseOne(authLine(t, b, ""))
	kb.Title = "bob"
	again, _ := ParseOne(authLine(t, a, "another comment"))
	again.Title = "work"
	existing := []Key{ka, kb}
	err := CheckDuplicate(existing, again)
	if err == nil || !strings.Contains(err.Error(), `"alice's laptop"`) || !strings.Contains(err.Error(), ka.Fingerprint) {
		t.Errorf("same key, other title and comment: error %v, want one naming \"alice's laptop\" and the fingerprint", err)
	}
	c, _ := newEd25519(t)
	kc, _ := ParseOne(authLine(t, c, ""))
	if err := CheckDuplicate(existing, kc); err != nil {
		t.Errorf("a new key: %v", err)
	}
}

func TestValidateTitle(t *testing.T) {
	for title, ok := range map[string]bool{
		"alice's laptop":                     true,
		"zoë — portable":                     true,
		"":                                   false,
		"   ":                                false,
		"two\nlines":                         false,
		strings.Repeat("x", MaxTitleBytes):   true,
		strings.Repeat("x", MaxTitleBytes+1): false,
		"bad \xff utf8":                      false,
	} {
		if err := ValidateTitle(title); (err == nil) != ok {
			t.Errorf("ValidateTitle(%q) = %v, want ok=%v", title, err, ok)
		}
	}
}

// TestFingerprintMatchesSSHKeygen checks the fingerprint against the one
// operators compare with: `ssh-keygen -lf key.pub`.
func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	keygen := need(t, "ssh-keygen")
	edPub, _ := newEd25519(t)
	lines := []string{
		authLine(t, edPub, "ed"),
		authLine(t, &newECDSA(t, elliptic.P384()).PublicKey, "ec"),
		authLine(t, &newRSA(t, 2048).PublicKey, "rsa"),
		skEd25519Line(t),
		skECDSALine(t),
	}
	for _, line := range lines {
		k, err := ParseOne(line)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "key.pub")
		if err := os.WriteFile(file, []byte(k.Line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(keygen, "-lf", file).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen -lf %s: %v\n%s", k.Type, err, out)
		}
		// "256 SHA256:… comment (ED25519)"
		f := strings.Fields(string(out))
		if len(f) < 2 || f[0] != fmt.Sprint(k.Bits) || f[1] != k.Fingerprint {
			t.Errorf("%s: ssh-keygen says %q; we say %d %s", k.Type, strings.TrimSpace(string(out)), k.Bits, k.Fingerprint)
		}
	}
}

func FuzzParse(f *testing.F) {
	edPub, _ := newEd25519(f)
	ed := authLine(f, edPub, "alice@laptop")
	for _, s := range []string{
		ed, ed + "\r\n" + skEd25519Line(f), skECDSALine(f), dsaLine(f), certLine(f),
		authLine(f, &newECDSA(f, elliptic.P521()).PublicKey, ""),
		`command="x" ` + ed, "garbage", "", "#", "ssh-ed25519 AAAA",
	} {
		f.Add(s)
	}
	for _, priv := range privateKeys(f) {
		f.Add(priv)
	}
	f.Fuzz(func(t *testing.T, paste string) {
		keys, err := Parse(paste)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys along with error %v", err)
			}
			assertQuotesNothing(t, paste, err)
			if privateKeyLine(paste) > 0 && !errors.Is(err, ErrPrivateKey) {
				t.Fatalf("a paste with a private key marker was refused for another reason: %v", err)
			}
			return
		}
		if len(keys) == 0 || len(keys) > MaxKeysPerPaste {
			t.Fatalf("%d keys and no error", len(keys))
		}
		for _, k := range keys {
			again, err := ParseOne(k.Line)
			if err != nil {
				t.Fatalf("accepted line %q does not parse again: %v", k.Line, err)
			}
			if again != k {
				t.Fatalf("re-parse changed the key: %+v, then %+v", k, again)
			}
			if !acceptedTypes[k.Type] || strings.ContainsAny(k.Line, "\r\n") {
				t.Fatalf("accepted %+v", k)
			}
		}
	})
}
