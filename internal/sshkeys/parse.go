// Package sshkeys is rampart's SSH Keys feature at the machine's edge: it
// parses the public keys an operator pastes, refusing with a reason
// everything OpenSSH would reject or that should never be stored (DSA,
// short RSA, certificates, options, private keys pasted by mistake), and
// writes the accepted keys into a block of the target user's
// ~/.ssh/authorized_keys that rampart owns, leaving every other line of
// that file as it was.
//
// The parser depends on the standard library and golang.org/x/crypto/ssh
// only, so the service layer can validate a paste before anything is
// stored; the writer adds golang.org/x/sys/unix for the *at system calls
// that keep it from following a symlink planted by the user whose file it
// rewrites. Neither knows about the store or HTTP (ARCHITECTURE.md:
// enforcement packages take plain values).
package sshkeys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// Bounds on a paste. One bound, one place: the service layer and the
// dashboard use these rather than their own numbers.
const (
	// MaxPasteBytes bounds a whole paste: a few dozen 16384-bit RSA keys
	// fit, and a pasted log file or binary does not get parsed line by line.
	MaxPasteBytes = 64 << 10
	// MaxKeysPerPaste bounds the keys one paste may add.
	MaxKeysPerPaste = 100
	// MaxLineBytes bounds one line: a 16384-bit RSA key (the largest
	// ssh-keygen makes) with a long comment is about 3 KiB.
	MaxLineBytes = 8 << 10
	// MinRSABits is the smallest RSA key accepted; OpenSSH itself refuses
	// RSA keys under 1024 bits and NIST deprecated 1024-bit keys long ago.
	MinRSABits = 2048
	// MaxKeys bounds the keys rampart manages for one account: sshd tries
	// every line of authorized_keys on each login attempt.
	MaxKeys = 1000
	// MaxTitleBytes bounds a key's title.
	MaxTitleBytes = 100
)

// Key is one accepted public key.
type Key struct {
	// Title is the operator's name for the key. Parse leaves it empty (the
	// title is given separately); the caller sets it before storing the key
	// or checking it for duplicates.
	Title string
	// Type is the key's algorithm as authorized_keys spells it, e.g.
	// "ssh-ed25519" or "sk-ecdsa-sha2-nistp256@openssh.com".
	Type string
	// Bits is the key's size: the RSA modulus, the ECDSA curve, 256 for
	// Ed25519.
	Bits int
	// Fingerprint is the SHA256 fingerprint exactly as `ssh-keygen -lf`
	// prints it ("SHA256:" and unpadded base64), which is what an operator
	// compares against.
	Fingerprint string
	// Comment is the text after the key on its line ("alice@laptop"),
	// possibly empty.
	Comment string
	// Line is the canonical authorized_keys line: type, base64 key data and
	// comment separated by single spaces, no options, no newline.
	Line string
}

// ErrPrivateKey is the reason a paste that contains a private key is
// refused. Nothing of the paste is kept, and no error or log message quotes
// it: the message names the line only.
var ErrPrivateKey = errors.New("this is a private key: paste the .pub file instead; it was not stored")

// LineError is why one line of a paste was refused. Its message names the
// line by number and never quotes the line's content: a refused line may
// be part of a secret, and errors end up in logs and audit entries.
type LineError struct {
	Line   int    // 1-based line number in the paste; 0 for the paste as a whole
	Reason string // what is wrong and what to do instead
	Err    error  // a sentinel such as ErrPrivateKey, when there is one
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return e.Reason
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

func (e *LineError) Unwrap() error { return e.Err }

// The key types authorized_keys may carry, split into those accepted and
// those refused with a specific reason. A type name is the only part of a
// refused line an error message repeats, so only names from these closed
// sets are ever repeated.
var (
	acceptedTypes = map[string]bool{
		ssh.KeyAlgoED25519:    true,
		ssh.KeyAlgoECDSA256:   true,
		ssh.KeyAlgoECDSA384:   true,
		ssh.KeyAlgoECDSA521:   true,
		ssh.KeyAlgoRSA:        true,
		ssh.KeyAlgoSKED25519:  true,
		ssh.KeyAlgoSKECDSA256: true,
	}
	certTypes = map[string]bool{
		ssh.CertAlgoRSAv01:                true,
		dsaType + "-cert-v01@openssh.com": true,
		ssh.CertAlgoECDSA256v01:           true,
		ssh.CertAlgoECDSA384v01:           true,
		ssh.CertAlgoECDSA521v01:           true,
		ssh.CertAlgoSKECDSA256v01:         true,
		ssh.CertAlgoED25519v01:            true,
		ssh.CertAlgoSKED25519v01:          true,
		ssh.CertAlgoRSASHA256v01:          true,
		ssh.CertAlgoRSASHA512v01:          true,
	}
	// otherTypes parse with x/crypto/ssh but the sshd rampart manages does
	// not accept them (ML-DSA is a Go-only experiment so far).
	otherTypes = map[string]bool{
		dsaType:            true,
		ssh.KeyAlgoMLDSA44: true,
		ssh.KeyAlgoMLDSA65: true,
		ssh.KeyAlgoMLDSA87: true,
	}
)

// dsaType is spelled out because x/crypto/ssh deprecates its name for it:
// rampart still has to recognise DSA keys to refuse them with a reason.
const dsaType = "ssh-dss"

func knownType(s string) bool { return acceptedTypes[s] || certTypes[s] || otherTypes[s] }

// optionNames are the authorized_keys options sshd knows (sshd(8),
// AUTHORIZED_KEYS FILE FORMAT); a line starting with one is a key with
// options, which rampart does not offer.
var optionNames = []string{
	"agent-forwarding", "cert-authority", "command", "environment", "expiry-time",
	"from", "no-agent-forwarding", "no-port-forwarding", "no-pty", "no-user-rc",
	"no-X11-forwarding", "no-touch-required", "permitlisten", "permitopen",
	"port-forwarding", "principals", "pty", "restrict", "tunnel", "user-rc",
	"verify-required", "X11-forwarding",
}

const acceptedList = "ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more), sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com"

// Parse reads a paste of one or more public keys in authorized_keys form,
// one per line, as an operator copies them from id_ed25519.pub or an
// existing authorized_keys file. Blank lines and lines starting with '#'
// are skipped. Either every key line is accepted, or Parse returns no keys
// and an error listing each refused line (a *LineError each, joined), so a
// paste is never half applied.
func Parse(text string) ([]Key, error) {
	// A byte-order mark, as some Windows editors save a .pub file with,
	// would otherwise make the first key's type unrecognisable.
	text = strings.TrimPrefix(text, "\ufeff")
	if len(text) > MaxPasteBytes {
		return nil, &LineError{Reason: fmt.Sprintf("the paste is %d bytes, more than the %d a paste of public keys can be: paste the .pub files only, a few at a time", len(text), MaxPasteBytes)}
	}
	// A private key anywhere refuses the whole paste, before any line is
	// looked at on its own: the lines of its base64 body must not each
	// produce an error of their own, and nothing in the paste is kept.
	if n := privateKeyLine(text); n > 0 {
		return nil, &LineError{Line: n, Reason: ErrPrivateKey.Error(), Err: ErrPrivateKey}
	}
	var (
		keys []Key
		errs []error
		seen = map[string]int{} // fingerprint → line
	)
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		k, skip, err := parseLine(line)
		if skip {
			continue
		}
		if len(keys)+len(errs) == MaxKeysPerPaste {
			return nil, &LineError{Line: n, Reason: fmt.Sprintf("more than %d keys in one paste: add them in several pastes", MaxKeysPerPaste)}
		}
		if err != nil {
			errs = append(errs, &LineError{Line: n, Reason: err.Error()})
			continue
		}
		if first, ok := seen[k.Fingerprint]; ok {
			errs = append(errs, &LineError{Line: n, Reason: fmt.Sprintf("the same key as line %d: paste each key once", first)})
			continue
		}
		seen[k.Fingerprint] = n
		keys = append(keys, k)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys) == 0 {
		return nil, &LineError{Reason: "no public key found: paste the contents of a .pub file, e.g. ~/.ssh/id_ed25519.pub (\"ssh-ed25519 AAAA… comment\")"}
	}
	return keys, nil
}

// ParseOne parses a paste that must hold exactly one key, as when a key is
// added under one title.
func ParseOne(text string) (Key, error) {
	keys, err := Parse(text)
	if err != nil {
		return Key{}, err
	}
	if len(keys) != 1 {
		return Key{}, &LineError{Reason: fmt.Sprintf("the paste has %d keys but one title: add one key at a time", len(keys))}
	}
	return keys[0], nil
}

// privateKeyLine returns the 1-based number of the first line that starts
// a private key in any format an operator is likely to have (OpenSSH,
// PEM/PKCS#1/PKCS#8 including encrypted ones, PuTTY .ppk, SSH.COM), or 0.
func privateKeyLine(text string) int {
	for i, line := range strings.Split(text, "\n") {
		l := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(l, "-----BEGIN") && strings.Contains(l, "PRIVATE KEY"),
			strings.HasPrefix(l, "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY"),
			strings.HasPrefix(l, "PUTTY-USER-KEY-FILE-"),
			// The body of an OpenSSH private key pasted without its armour:
			// base64 of "openssh-key-v1\0".
			strings.HasPrefix(l, "B3BLBNNZAC1RZXKTDJEAAAAA"):
			return i + 1
		}
	}
	return 0
}

// parseLine parses one line. skip reports a blank or comment line. An
// error's message is the reason only (Parse adds the line number) and
// never contains the line's content beyond a known type name.
func parseLine(line string) (k Key, skip bool, err error) {
	if len(line) > MaxLineBytes {
		return Key{}, false, fmt.Errorf("the line is longer than %d bytes, too long for a public key: paste each key on its own line", MaxLineBytes)
	}
	line = strings.TrimSpace(line) // also drops a CRLF paste's '\r'
	if line == "" || strings.HasPrefix(line, "#") {
		return Key{}, true, nil
	}
	fields := strings.Fields(line)
	typ := fields[0]
	switch {
	case strings.HasPrefix(typ, "-----BEGIN") || strings.HasPrefix(typ, "----"):
		return Key{}, false, errors.New("this is a PEM or RFC 4716 block, not an OpenSSH public key line: convert it with `ssh-keygen -i -f FILE` (or paste the .pub file)")
	case certTypes[typ]:
		return Key{}, false, fmt.Errorf("%s is an SSH certificate: rampart manages plain keys only; paste the public key the certificate was issued for", typ)
	case typ == dsaType:
		return Key{}, false, errors.New("DSA (ssh-dss) keys are refused: they are limited to 1024 bits and OpenSSH no longer accepts them; make a new key with `ssh-keygen -t ed25519`")
	case otherTypes[typ]:
		return Key{}, false, fmt.Errorf("%s keys are not accepted by OpenSSH's sshd; accepted: %s", typ, acceptedList)
	case !acceptedTypes[typ]:
		if hasOptions(fields) {
			return Key{}, false, errors.New("authorized_keys options (command=, from=, no-pty, restrict, …) are not offered: paste the key alone, starting with its type (e.g. ssh-ed25519)")
		}
		return Key{}, false, fmt.Errorf("not an SSH public key or an unsupported key type: paste the contents of a .pub file (\"ssh-ed25519 AAAA… comment\"); accepted: %s", acceptedList)
	}
	if len(fields) < 2 {
		return Key{}, false, fmt.Errorf("the %s key has no key data after its type: the line may be cut off; paste the whole .pub file", typ)
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return Key{}, false, fmt.Errorf("the %s key data is not valid base64: the line may be cut off or wrapped; paste it again on one line", typ)
	}
	pk, err := ssh.ParsePublicKey(blob)
	if err != nil {
		// x/crypto's errors describe the structure ("short read"), never the
		// bytes, but they add nothing an operator can act on either.
		return Key{}, false, fmt.Errorf("the %s key data is damaged or incomplete: paste the .pub file again", typ)
	}
	if _, ok := pk.(*ssh.Certificate); ok || pk.Type() != typ {
		// pk.Type() comes from x/crypto's closed set of algorithms.
		return Key{}, false, fmt.Errorf("the line says %s but its key data is %s: the line was edited or two keys were mixed; paste the .pub file again", typ, pk.Type())
	}
	bits, err := keyBits(pk)
	if err != nil {
		return Key{}, false, err
	}
	comment := strings.Join(fields[2:], " ")
	if !utf8.ValidString(comment) || strings.ContainsFunc(comment, unicode.IsControl) {
		return Key{}, false, errors.New("the key's comment has control characters or is not UTF-8: edit the comment (the text after the key) and paste again")
	}
	k = Key{
		Type:        typ,
		Bits:        bits,
		Fingerprint: ssh.FingerprintSHA256(pk),
		Comment:     comment,
		Line:        string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pk))),
	}
	if comment != "" {
		k.Line += " " + comment
	}
	return k, false, nil
}

// hasOptions reports whether a line that does not start with a key type is
// a key with an options prefix: a later field is a key type, or the first
// field is (or starts with) an option name.
func hasOptions(fields []string) bool {
	for _, f := range fields[1:] {
		if knownType(f) {
			return true
		}
	}
	first := strings.ToLower(fields[0])
	for _, o := range optionNames {
		o = strings.ToLower(o)
		if first == o || strings.HasPrefix(first, o+"=") || strings.HasPrefix(first, o+",") {
			return true
		}
	}
	return false
}

// keyBits returns the key's size, refusing RSA keys under MinRSABits.
func keyBits(pk ssh.PublicKey) (int, error) {
	switch pk.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519:
		return 256, nil
	}
	cpk, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return 0, fmt.Errorf("the %s key's size cannot be read: paste another key type; accepted: %s", pk.Type(), acceptedList)
	}
	switch k := cpk.CryptoPublicKey().(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		if bits < MinRSABits {
			return 0, fmt.Errorf("the RSA key has %d bits, fewer than the %d required: make a new key with `ssh-keygen -t ed25519` (or `ssh-keygen -t rsa -b 4096`)", bits, MinRSABits)
		}
		return bits, nil
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize, nil
	}
	return 0, fmt.Errorf("the %s key's size cannot be read: paste another key type; accepted: %s", pk.Type(), acceptedList)
}

// CheckDuplicate refuses k when existing already holds the same key, under
// whatever title: one key authorizes the same logins whatever it is called,
// and two entries would make removing "the" key leave access in place.
func CheckDuplicate(existing []Key, k Key) error {
	for _, e := range existing {
		if e.Fingerprint == k.Fingerprint {
			return fmt.Errorf("this key (%s) is already added as %q: remove that one first to add it under another title", k.Fingerprint, e.Title)
		}
	}
	return nil
}

// ValidateTitle checks a key's title: present, short, one line of
// printable text, since it is shown in lists and audit entries.
func ValidateTitle(title string) error {
	switch {
	case strings.TrimSpace(title) == "":
		return errors.New("a key needs a title, e.g. \"alice's laptop\"")
	case len(title) > MaxTitleBytes:
		return fmt.Errorf("the title is %d bytes, more than %d: shorten it", len(title), MaxTitleBytes)
	case !utf8.ValidString(title) || strings.ContainsFunc(title, unicode.IsControl):
		return errors.New("the title has control characters or is not UTF-8: use plain text on one line")
	}
	return nil
}
