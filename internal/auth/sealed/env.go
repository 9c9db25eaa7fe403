package sealed

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// EnvKey is the environment variable that may hold the key instead of the
// key file, for hosts whose service manager keeps secrets (systemd
// credentials, a container orchestrator). To move a key file's key there:
// base64 -w0 KEYFILE.
const EnvKey = "RAMPART_SECRET_KEY"

// ParseKey decodes a key given as text: KeySize bytes in base64, standard or
// URL alphabet, padded or not, surrounding spaces ignored. The error never
// repeats the input, which is a secret even when it is wrong.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("sealed: %s must be %d random bytes in base64 (%d characters); make one with: head -c %d /dev/urandom | base64",
		EnvKey, KeySize, base64.StdEncoding.EncodedLen(KeySize), KeySize)
}
