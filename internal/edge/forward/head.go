package forward

import (
	"bytes"
	"errors"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errNeedMore: the buffer holds no complete response head yet.
var errNeedMore = errors.New("forward: incomplete response head")

// errMalformed wraps what is wrong with an upstream's response head. The
// forwarder refuses (502) any head whose framing it could read in two
// ways: another proxy or cache between the edge and the upstream might
// read it the other way, and the upstream's next response would be taken
// for the end of this one.
type errMalformed struct{ why string }

func (e *errMalformed) Error() string { return "malformed response from the upstream: " + e.why }

func malformed(why string) error { return &errMalformed{why} }

// Body framings of a response.
const (
	bodyNone    = iota // HEAD, 1xx, 204, 304
	bodyLength         // Content-Length
	bodyChunked        // Transfer-Encoding: chunked
	bodyClose          // neither: the body ends when the upstream closes
)

// resHead is one parsed response head. Its strings share one copy of the
// head's bytes.
type resHead struct {
	size    int // bytes of the head, final CRLF included
	status  int
	http10  bool
	framing int
	length  int64 // bodyLength
	close   bool  // the upstream closes the connection after this response
	fields  []field
}

type field struct{ name, value string }

// maxHead bounds a response head, like http.Transport's default
// MaxResponseHeaderBytes (1 MiB) but lower: a response head that does not
// fit the forwarder's buffer is refused.
const maxHead = 32 << 10

// parseHead parses the response head at the start of b, for a request
// made with method. It returns errNeedMore while b holds no complete head,
// and an *errMalformed for a head it refuses: every line must end in CRLF
// and hold no other CR or LF (no bare LF, no obsolete line folding), field
// names must be tokens and values free of control characters, and the
// body's framing must be unambiguous (not both Content-Length and
// Transfer-Encoding, no differing Content-Lengths, no transfer coding but
// a final chunked one).
func parseHead(b []byte, method string, fields []field) (h resHead, err error) {
	end := 0
	for {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 {
			if len(b) >= maxHead {
				return h, malformed("the head is larger than 32 KiB")
			}
			return h, errNeedMore
		}
		line := b[end : end+i+1]
		if len(line) < 2 || line[len(line)-2] != '\r' || bytes.IndexByte(line[:len(line)-2], '\r') >= 0 {
			return h, malformed("a line that does not end in CRLF")
		}
		end += i + 1
		if len(line) == 2 {
			if end == 2 {
				return h, malformed("an empty line before the status line")
			}
			break
		}
		if end > maxHead {
			return h, malformed("the head is larger than 32 KiB")
		}
	}
	h.size = end

	// One copy for every string of the head.
	s := string(b[:end])
	lineEnd := strings.IndexByte(s, '\r')
	line := s[:lineEnd]
	// HTTP-version SP 3DIGIT SP [reason-phrase]; the reason may be absent,
	// and then the second space may be too (as net/http accepts).
	switch {
	case strings.HasPrefix(line, "HTTP/1.1 "):
	case strings.HasPrefix(line, "HTTP/1.0 "):
		h.http10 = true
	default:
		return h, malformed("the status line is not HTTP/1.x")
	}
	code := line[len("HTTP/1.1 "):]
	if len(code) > 3 {
		if code[3] != ' ' {
			return h, malformed("the status code is not three digits")
		}
		for i := 4; i < len(code); i++ {
			if c := code[i]; c < ' ' && c != '\t' || c == 0x7f {
				return h, malformed("a control character in the reason phrase")
			}
		}
		code = code[:3]
	}
	if len(code) != 3 {
		return h, malformed("the status code is not three digits")
	}
	for i := range 3 {
		if code[i] < '0' || code[i] > '9' {
			return h, malformed("the status code is not three digits")
		}
		h.status = h.status*10 + int(code[i]-'0')
	}
	if h.status < 100 {
		return h, malformed("a status code under 100")
	}

	var lengths, encodings int
	var firstLength string // the first Content-Length value, as sent
	var chunked, keepAlive bool
	rest := s[lineEnd+2 : end-2]
	for len(rest) > 0 {
		i := strings.IndexByte(rest, '\r')
		ln := rest[:i]
		rest = rest[i+2:]
		if ln[0] == ' ' || ln[0] == '\t' {
			return h, malformed("obsolete line folding")
		}
		colon := strings.IndexByte(ln, ':')
		if colon <= 0 {
			return h, malformed("a field line without a name and colon")
		}
		name, value := ln[:colon], textproto.TrimString(ln[colon+1:])
		if !httpguts.ValidHeaderFieldName(name) {
			return h, malformed("an invalid field name")
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return h, malformed("a control character in a field value")
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		switch name {
		case "Content-Length":
			n, ok := parseLength(value)
			if !ok {
				return h, malformed("an invalid Content-Length")
			}
			if lengths > 0 && value != firstLength {
				// "0" and "00" too: a peer that parses them apart from
				// us must not frame the body otherwise (net/http
				// refuses them alike).
				return h, malformed("differing Content-Lengths")
			}
			if lengths > 0 {
				continue // net/http keeps one of identical values
			}
			lengths++
			firstLength = value
			h.length = n
		case "Transfer-Encoding":
			// Only "chunked", alone: anything else (gzip, chunked
			// twice, identity, a typo) is a framing the edge would
			// guess at.
			encodings++
			if encodings > 1 || !strings.EqualFold(value, "chunked") {
				return h, malformed("a transfer coding other than chunked")
			}
			chunked = true
		case "Connection":
			for tok := range strings.SplitSeq(value, ",") {
				tok = textproto.TrimString(tok)
				switch {
				case strings.EqualFold(tok, "close"):
					h.close = true
				case strings.EqualFold(tok, "keep-alive"):
					keepAlive = true
				}
			}
		}
		fields = append(fields, field{name, value})
	}
	h.fields = fields
	if h.http10 && !keepAlive {
		h.close = true // HTTP/1.0 keeps a connection only when asked to
	}
	switch {
	case h.status < 200 || h.status == 204 || h.status == 304 || method == "HEAD":
		h.framing = bodyNone
		if chunked && lengths > 0 {
			return h, malformed("both Content-Length and Transfer-Encoding")
		}
	case chunked && lengths > 0:
		return h, malformed("both Content-Length and Transfer-Encoding")
	case chunked:
		if h.http10 {
			return h, malformed("chunked in an HTTP/1.0 response")
		}
		h.framing = bodyChunked
	case lengths > 0:
		h.framing = bodyLength
	default:
		h.framing = bodyClose
		h.close = true
	}
	return h, nil
}

// parseLength parses a Content-Length value: digits only, as net/http.
func parseLength(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
