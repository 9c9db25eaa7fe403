package forward

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// FuzzResponseHead checks the forwarder's response head parser against
// net/http's: a head it accepts, net/http must accept too and read the
// same status, fields and framing. The forwarder may refuse more (that is
// the point: no ambiguous framing), never less.
func FuzzResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close, x-hop\r\n\r\nbody",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		h, err := parseHead([]byte(in), method, nil)
		if err != nil {
			return
		}
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(in)), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("accepted what net/http refuses (%v): %q", err, in)
		}
		defer res.Body.Close()
		if res.StatusCode != h.status {
			t.Fatalf("status %d, net/http %d: %q", h.status, res.StatusCode, in)
		}
		got := make(http.Header)
		for _, f := range h.fields {
			got[f.name] = append(got[f.name], f.value)
		}
		for name, vals := range res.Header {
			switch name {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				continue // net/http moves or rewrites these
			}
			if strings.Join(got[name], "\x00") != strings.Join(vals, "\x00") {
				t.Fatalf("field %s: %q, net/http %q: %q", name, got[name], vals, in)
			}
		}
		chunked := len(res.TransferEncoding) > 0 && res.TransferEncoding[0] == "chunked"
		switch h.framing {
		case bodyChunked:
			if !chunked {
				t.Fatalf("chunked, net/http %v: %q", res.TransferEncoding, in)
			}
		case bodyLength:
			if chunked || res.ContentLength != h.length {
				t.Fatalf("length %d, net/http %d %v: %q", h.length, res.ContentLength, res.TransferEncoding, in)
			}
		case bodyClose:
			if chunked || res.ContentLength != -1 || !res.Close {
				t.Fatalf("until close, net/http %d %v close=%v: %q", res.ContentLength, res.TransferEncoding, res.Close, in)
			}
		}
		if h.framing != bodyClose && h.framing != bodyNone && h.close != res.Close {
			t.Fatalf("close %v, net/http %v: %q", h.close, res.Close, in)
		}
	})
}

// TestDuplicateContentLength: repeated Content-Length fields pass only
// when they are spelled the same; "0" and "00" mean one length to us but
// are refused, as net/http refuses them, so that no peer can read them as
// two framings.
func TestDuplicateContentLength(t *testing.T) {
	for in, ok := range map[string]bool{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n":  true,
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length:2 \r\n\r\n":  true,
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 02\r\n\r\n": false,
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 00\r\n\r\n": false,
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n":  false,
	} {
		if _, err := parseHead([]byte(in), "GET", nil); (err == nil) != ok {
			t.Errorf("%q: err %v, want accepted=%v", in, err, ok)
		}
	}
}
