package fastlane

import (
	"bytes"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// verdict is what the lane does with one request head.
type verdict int

const (
	// needMore: the buffer holds no complete head yet.
	needMore verdict = iota
	// answer: a plain request (no body, or one of Content-Length) the
	// lane may answer itself, if its Eligible hook agrees.
	answer
	// handOver: a head net/http answers, with a body the lane can frame
	// (none, or one Content-Length), so the lane can take the connection
	// back after it.
	handOver
	// giveUp: anything else (chunked bodies, upgrades, odd framing or
	// syntax): net/http gets this head and the rest of the connection.
	giveUp
)

// head is one parsed request head. Its strings share one copy of the
// head's bytes, made only for heads the lane may answer.
type head struct {
	size    int   // bytes of the head, final CRLF included
	bodyLen int64 // the body's length, from Content-Length (handOver)

	method, target, host string
	close                bool // Connection: close
	fields               []field
}

type field struct{ name, value string }

// scan parses the head at the start of b. It is strict where net/http is
// lenient, because the lane and net/http must agree on where a request
// ends: a head the lane cannot read exactly (bare LF, a CR inside a line,
// obsolete line folding, a malformed field) is given up, and net/http
// reads it and everything after it with its own rules.
func scan(b []byte, fields []field) (h head, v verdict) {
	// Find the end of the head: the first empty line. Every line must end
	// in CRLF and hold no other CR or LF.
	end := 0
	for {
		i := bytes.IndexByte(b[end:], '\n')
		if i < 0 {
			if bytes.IndexByte(b[end:], '\r') >= 0 && b[len(b)-1] != '\r' {
				return h, giveUp // a CR that is not the start of a line's end
			}
			return h, needMore
		}
		line := b[end : end+i+1]
		if len(line) < 2 || line[len(line)-2] != '\r' || bytes.IndexByte(line[:len(line)-2], '\r') >= 0 {
			return h, giveUp
		}
		end += i + 1
		if len(line) == 2 {
			if end == 2 {
				return h, giveUp // an empty line before the request line
			}
			break
		}
	}
	h.size = end

	// The request line: method SP target SP version.
	lineEnd := bytes.IndexByte(b, '\r')
	line := b[:lineEnd]
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return h, giveUp
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return h, giveUp
	}
	sp2 += sp1 + 1
	method, target, proto := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	for _, c := range method {
		if !httpguts.IsTokenRune(rune(c)) {
			return h, giveUp
		}
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return h, giveUp
		}
	}
	var http11 bool
	switch string(proto) {
	case "HTTP/1.1":
		http11 = true
	case "HTTP/1.0":
	default:
		return h, giveUp
	}

	// The fields. Only their syntax and the framing ones matter here.
	// Any method but CONNECT (whose target is an authority, and whose
	// connection becomes a tunnel) in origin form, with a body of a known
	// length or none.
	v = answer
	if !http11 || target[0] != '/' || string(method) == "CONNECT" {
		v = handOver
	}
	var hosts, lengths, nf int
	rest := b[lineEnd+2 : end-2]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\r')
		ln := rest[:i]
		rest = rest[i+2:]
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			return h, giveUp
		}
		name, value := ln[:colon], textproto.TrimBytes(ln[colon+1:])
		if !validName(name) || !httpguts.ValidHeaderFieldValue(string(value)) {
			return h, giveUp
		}
		switch {
		case equalFold(name, "Content-Length"):
			lengths++
			n, ok := parseLength(value)
			if !ok || lengths > 1 {
				return h, giveUp
			}
			h.bodyLen = n
		case equalFold(name, "Transfer-Encoding"), equalFold(name, "Upgrade"):
			return h, giveUp
		case equalFold(name, "Host"):
			hosts++
			if hosts > 1 || !httpguts.ValidHostHeader(string(value)) {
				v = max(v, handOver) // net/http answers 400
			}
		case equalFold(name, "Expect"):
			v = max(v, handOver)
		case equalFold(name, "Connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = textproto.TrimBytes(tok)
				switch {
				case equalFold(tok, "close"):
					h.close = true
				case equalFold(tok, "keep-alive"):
				case equalFold(tok, "upgrade"):
					return h, giveUp
				default:
					v = max(v, handOver)
				}
			}
		}
		nf++
	}
	if hosts != 1 {
		v = max(v, handOver) // HTTP/1.1 requires exactly one Host
	}
	if v != answer {
		return h, v
	}

	// One copy for every string of the head.
	s := string(b[:end])
	h.method = s[:sp1]
	h.target = s[sp1+1 : sp2]
	off := lineEnd + 2
	for range nf {
		ln := s[off:]
		ln = ln[:strings.IndexByte(ln, '\r')]
		off += len(ln) + 2
		colon := strings.IndexByte(ln, ':')
		f := field{textproto.CanonicalMIMEHeaderKey(ln[:colon]), textproto.TrimString(ln[colon+1:])}
		if f.name == "Host" {
			h.host = f.value
		}
		fields = append(fields, f)
	}
	h.fields = fields
	return h, answer
}

// validName is httpguts.ValidHeaderFieldName on bytes, without the
// conversion.
func validName(b []byte) bool {
	for _, c := range b {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return len(b) > 0
}

// parseLength parses a Content-Length value as net/http does: digits only.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}
