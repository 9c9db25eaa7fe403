package fastlane

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// heads are request heads, good and bad, that the tests and the fuzzer
// start from.
var heads = []string{
	"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
	"HEAD /x?y=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n",
	"GET / HTTP/1.1\r\nhost: A.example:8080\r\nconnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-a: 2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
	"GET / HTTP/1.1\nHost: a\n\n",
	"GET / HTTP/1.1\r\nHost: a\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, TE\r\nTE: trailers\r\n\r\n",
	"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nCookie: s=1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n",
	"G\xe9T / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n",
}

func TestScanVerdicts(t *testing.T) {
	want := map[string]verdict{
		heads[0]:  answer,
		heads[1]:  answer,
		heads[2]:  answer,
		heads[3]:  answer,
		heads[4]:  answer,
		heads[5]:  answer,
		heads[6]:  giveUp,
		heads[7]:  giveUp,
		heads[8]:  giveUp,
		heads[9]:  giveUp,
		heads[10]: giveUp,
		heads[11]: giveUp,
		heads[12]: giveUp,
		heads[13]: giveUp,
		heads[14]: giveUp,
		heads[15]: handOver,
		heads[16]: handOver,
		heads[17]: handOver,
		heads[18]: handOver,
		heads[19]: handOver,
		heads[21]: handOver,
		heads[22]: giveUp,
		heads[23]: handOver,
		heads[24]: handOver,
		heads[25]: giveUp,
		heads[26]: giveUp,
		heads[27]: handOver,
		heads[28]: giveUp,
		heads[29]: giveUp,
		heads[30]: giveUp,
		heads[31]: answer,
		heads[32]: giveUp,
		heads[33]: answer,
	}
	for in, v := range want {
		if _, got := scan([]byte(in), nil); got != v {
			t.Errorf("scan(%q) = %d, want %d", in, got, v)
		}
	}
	// Every prefix of a complete head needs more bytes, or is given up
	// for what it already shows; it is never answered early.
	for _, in := range heads {
		end := len(in)
		if i := strings.Index(in, "\r\n\r\n"); i >= 0 {
			end = i + 3 // the body may be partial; the head may not
		}
		for i := range end {
			if _, v := scan([]byte(in[:i]), nil); v == answer || v == handOver {
				t.Errorf("scan(%q) = %d on a partial head", in[:i], v)
			}
		}
	}
}

func TestScanFields(t *testing.T) {
	in := "GET /a?b=c HTTP/1.1\r\nhost: A.example\r\nx-a:  1 \r\nX-A: 2\r\nConnection: close\r\n\r\nGET /next"
	h, v := scan([]byte(in), nil)
	if v != answer {
		t.Fatalf("verdict %d", v)
	}
	if h.size != strings.Index(in, "GET /next") || h.method != "GET" || h.target != "/a?b=c" || h.host != "A.example" || !h.close {
		t.Errorf("head = %+v", h)
	}
	want := []field{{"Host", "A.example"}, {"X-A", "1"}, {"X-A", "2"}, {"Connection", "close"}}
	if len(h.fields) != len(want) {
		t.Fatalf("fields = %q, want %q", h.fields, want)
	}
	for i := range want {
		if h.fields[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, h.fields[i], want[i])
		}
	}
}

// FuzzScan checks the lane against net/http's own parser, which has the
// last word: a head the lane answers must be one net/http reads the same
// way, and a head it hands over must end, body included, exactly where
// net/http's request ends. Disagreement there is request smuggling.
func FuzzScan(f *testing.F) {
	for _, h := range heads {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, v := scan(in, nil)
		if v == needMore || v == giveUp {
			return
		}
		if v == answer {
			if _, err := url.ParseRequestURI(h.target); err != nil {
				v = handOver // what conn.request does with such a target
			}
		}
		br := bufio.NewReaderSize(bytes.NewReader(in), len(in)+16)
		req, err := http.ReadRequest(br)
		if err != nil {
			if v == answer {
				t.Fatalf("scan answers %q, net/http rejects it: %v", in, err)
			}
			return // net/http answers 400 to what the lane handed over
		}
		consumed := len(in) - br.Buffered()
		if consumed != h.size {
			t.Fatalf("head of %q: scan says %d bytes, net/http read %d", in, h.size, consumed)
		}
		if len(req.TransferEncoding) > 0 || req.ContentLength != h.bodyLen && !(req.ContentLength == -1 && h.bodyLen == 0) {
			t.Fatalf("body of %q: scan says %d bytes, net/http %d (%q)", in, h.bodyLen, req.ContentLength, req.TransferEncoding)
		}
		if v != answer {
			return
		}
		if req.Method != h.method || req.RequestURI != h.target || req.Host != h.host || req.Close != h.close {
			t.Fatalf("%q: scan %q %q host %q close %v; net/http %q %q host %q close %v",
				in, h.method, h.target, h.host, h.close, req.Method, req.RequestURI, req.Host, req.Close)
		}
		n := 0
		for _, vs := range req.Header {
			n += len(vs)
		}
		if n+1 != len(h.fields) { // net/http moves Host out of the header
			t.Fatalf("%q: scan has %d fields, net/http %d besides Host", in, len(h.fields), n)
		}
		for _, fl := range h.fields {
			if fl.name == "Host" {
				continue
			}
			found := false
			for _, val := range req.Header[fl.name] {
				found = found || val == fl.value
			}
			if !found {
				t.Fatalf("%q: field %s: %q not in net/http's %q", in, fl.name, fl.value, req.Header[fl.name])
			}
		}
	})
}
