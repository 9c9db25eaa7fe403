package client

import (
	"net/url"
	"testing"
)

// FuzzParseServer checks that --server is either refused with a message or
// normalized to an http(s) URL with a host that normalizes to itself.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8443", "https://x/api/v1/", "localhost:8443", "http://[::1]", "http://a b", "http://u:p@h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := parseServer(in)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		u, err := url.Parse(out)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Fatalf("parseServer(%q) = %q, not an http(s) URL with a host", in, out)
		}
		if again, err := parseServer(out); err != nil || again != out {
			t.Fatalf("parseServer(%q) = %q, but that normalizes to %q, %v", in, out, again, err)
		}
	})
}
