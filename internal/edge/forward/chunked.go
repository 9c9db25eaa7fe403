package forward

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/textproto"

	"golang.org/x/net/http/httpguts"
)

// maxChunkLine bounds a chunk-size line (with its extensions) and a
// trailer field line.
const maxChunkLine = 4 << 10

// chunkReader reads a chunked body from buf[r:e] and then the connection.
type chunkReader struct {
	c    net.Conn
	buf  []byte
	r, e int
}

// line returns the next line without its CRLF, refusing one that does not
// end in CRLF or holds another CR.
func (cr *chunkReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(cr.buf[cr.r:cr.e], '\n'); i >= 0 {
			ln := cr.buf[cr.r : cr.r+i+1]
			cr.r += i + 1
			if len(ln) < 2 || ln[len(ln)-2] != '\r' || bytes.IndexByte(ln[:len(ln)-2], '\r') >= 0 {
				return nil, malformed("a chunk line that does not end in CRLF")
			}
			return ln[:len(ln)-2], nil
		}
		if cr.e-cr.r >= maxChunkLine {
			return nil, malformed("a chunk line longer than 4 KiB")
		}
		if err := cr.fill(); err != nil {
			return nil, err
		}
	}
}

// fill moves the unread bytes to the front and reads once more.
func (cr *chunkReader) fill() error {
	if cr.r > 0 {
		cr.e = copy(cr.buf, cr.buf[cr.r:cr.e])
		cr.r = 0
	}
	n, err := cr.c.Read(cr.buf[cr.e:])
	cr.e += n
	if n > 0 {
		return nil
	}
	if err == io.EOF || err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// copyChunked decodes a chunked body whose first bytes are buf[start:end]
// and writes its data to w. It returns the trailer fields and how many
// bytes past the body's end were read.
func copyChunked(w http.ResponseWriter, c net.Conn, buf []byte, start, end int, flush bool) ([]field, int, error) {
	cr := &chunkReader{c: c, buf: buf, r: start, e: end}
	for {
		ln, err := cr.line()
		if err != nil {
			return nil, 0, err
		}
		size, ok := chunkSize(ln)
		if !ok {
			return nil, 0, malformed("an invalid chunk size")
		}
		if size == 0 {
			break
		}
		for size > 0 {
			if cr.r == cr.e {
				if err := cr.fill(); err != nil {
					return nil, 0, err
				}
			}
			p := cr.buf[cr.r:cr.e]
			if int64(len(p)) > size {
				p = p[:size]
			}
			cr.r += len(p)
			size -= int64(len(p))
			if err := write(w, p, flush); err != nil {
				return nil, 0, err
			}
		}
		if ln, err := cr.line(); err != nil {
			return nil, 0, err
		} else if len(ln) != 0 {
			return nil, 0, malformed("chunk data longer than its size")
		}
	}
	// The trailer section, up to an empty line.
	var trailers []field
	for {
		ln, err := cr.line()
		if err != nil {
			return nil, 0, err
		}
		if len(ln) == 0 {
			return trailers, cr.e - cr.r, nil
		}
		if ln[0] == ' ' || ln[0] == '\t' {
			return nil, 0, malformed("obsolete line folding in the trailers")
		}
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			return nil, 0, malformed("a trailer line without a name and colon")
		}
		name, value := string(ln[:colon]), textproto.TrimString(string(ln[colon+1:]))
		if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			return nil, 0, malformed("an invalid trailer field")
		}
		trailers = append(trailers, field{textproto.CanonicalMIMEHeaderKey(name), value})
	}
}

// chunkSize parses a chunk-size line: hex digits, then optionally
// whitespace and extensions after ';', which are ignored.
func chunkSize(ln []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(ln); i++ {
		c := ln[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto ext
		}
		if i >= 15 {
			return 0, false
		}
		n = n<<4 | int64(d)
	}
ext:
	if i == 0 {
		return 0, false
	}
	rest := ln[i:]
	for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0] != ';' {
		return 0, false
	}
	for _, c := range rest {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, false
		}
	}
	return n, true
}
