package edge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// errLoop is the access log's reason for a 508.
var errLoop = errors.New("loop detected: the request already passed through this edge (its Via names it); the service's upstream points back at the edge")

// maxViaName bounds Config.ViaName: it is sent with every upstream request.
const maxViaName = 32

// via is the edge's own entry for the Via header, one per protocol version
// a request can arrive with, built once so that proxying allocates nothing
// for it.
type via struct {
	name             string // the pseudonym: "rampart-" and a random token, or Config.ViaName
	v10, v11, v2, v3 string // "1.1 " + name, and so on
}

// newVia returns the Via entries for name, or for a random pseudonym when
// name is empty. A random one is per process: it must differ between nodes
// (two nodes proxying to each other are not a loop) and reveals nothing
// about the machine, unlike a host name or an address would.
func newVia(name string) (via, error) {
	if name == "" {
		var b [4]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		name = "rampart-" + hex.EncodeToString(b[:])
	} else if err := CheckViaName(name); err != nil {
		return via{}, err
	}
	return via{name: name, v10: "1.0 " + name, v11: "1.1 " + name, v2: "2 " + name, v3: "3 " + name}, nil
}

// CheckViaName says whether name can be a [Config.ViaName], so that a caller
// can name its own setting in the error.
func CheckViaName(name string) error {
	if len(name) > maxViaName {
		return fmt.Errorf("via name %.40q is longer than %d characters: keep it short, it goes with every request", name, maxViaName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("via name %q has the character %q: use letters, digits, '-', '.' and '_'", name, string(rune(c)))
		}
	}
	return nil
}

// entry returns the Via entry for a request received as r.
func (v *via) entry(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return v.v2
	case r.ProtoMajor == 3:
		return v.v3
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return v.v10
	}
	return v.v11
}

// looped reports whether r's Via already names this edge: the request is
// one the edge itself sent upstream, and proxying it again would go on
// until something runs out. Most requests carry no Via, and they cost one
// map lookup.
func (v *via) looped(r *http.Request) bool {
	for _, line := range r.Header["Via"] {
		if v.names(line) {
			return true
		}
	}
	return false
}

// names reports whether one Via field line has an entry received by
// v.name: "1.1 rampart-1a2b3c4d", possibly among others ("1.0 fred, 1.1
// rampart-1a2b3c4d (comment)").
func (v *via) names(line string) bool {
	for line != "" {
		i := strings.Index(line, v.name)
		if i < 0 {
			return false
		}
		end := i + len(v.name)
		// The name is the second word of an entry: after the protocol and
		// whitespace, and followed by the end, whitespace or a comma.
		before := i > 0 && (line[i-1] == ' ' || line[i-1] == '\t')
		after := end == len(line) || line[end] == ' ' || line[end] == '\t' || line[end] == ','
		if before && after {
			return true
		}
		line = line[end:]
	}
	return false
}
