package relay

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/mail"
	"strings"
)

// Limits on the header block, so a message cannot make the relay parse
// megabytes of headers or thousands of fields.
const (
	maxHeaderBytes  = 64 << 10
	maxHeaderFields = 500
)

// refusal is a message-level refusal with its SMTP codes; bulk marks the
// ones that count as violations.
type refusal struct {
	code int
	enh  [3]int
	msg  string
	bulk bool
}

func (r *refusal) Error() string { return r.msg }

// checkedMessage is what the header check learned about a message.
type checkedMessage struct {
	headerEnd int // offset of the body in the normalized message
	subject   string
	hasDate   bool
	hasMsgID  bool
	bodyHash  [32]byte
}

// normalizeCRLF makes every line end in CRLF (clients and go-smtp's reader
// may hand us bare LFs), so added headers and the DKIM signature agree.
func normalizeCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) && !bytes.Contains(b, []byte("\r")) {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/40)
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
			out = append(out, '\r', '\n')
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// checkMessage validates a CRLF-normalized message from sender (the allowed
// address) and detects bulk markers in its headers. It never accepts a From
// or Sender other than sender.
func checkMessage(msg []byte, sender string) (*checkedMessage, *refusal) {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		if bytes.HasSuffix(msg, []byte("\r\n")) || len(msg) == 0 {
			end = len(msg) // headers only, no body
		} else {
			return nil, &refusal{code: 550, enh: [3]int{5, 6, 0}, msg: "message has no header block ending in an empty line"}
		}
	} else {
		end += 4
	}
	if end > maxHeaderBytes {
		return nil, &refusal{code: 552, enh: [3]int{5, 3, 4}, msg: fmt.Sprintf("header block larger than %d bytes", maxHeaderBytes)}
	}
	if n := bytes.Count(msg[:end], []byte("\r\n")) - bytes.Count(msg[:end], []byte("\r\n ")) - bytes.Count(msg[:end], []byte("\r\n\t")); n > maxHeaderFields {
		return nil, &refusal{code: 552, enh: [3]int{5, 3, 4}, msg: fmt.Sprintf("more than %d header fields", maxHeaderFields)}
	}
	hdrBlock := msg[:end]
	if end == len(msg) && !bytes.HasSuffix(hdrBlock, []byte("\r\n\r\n")) {
		hdrBlock = append(append([]byte(nil), hdrBlock...), '\r', '\n')
	}
	m, err := mail.ReadMessage(bytes.NewReader(hdrBlock))
	if err != nil {
		return nil, &refusal{code: 550, enh: [3]int{5, 6, 0}, msg: "message header block does not parse: " + short(err)}
	}
	h := m.Header
	if len(canonical(h, "From")) == 0 {
		return nil, &refusal{code: 550, enh: [3]int{5, 7, 1}, msg: "message has no From header; use From: " + sender}
	}
	if err := sameAddress(canonical(h, "From"), sender); err != nil {
		return nil, &refusal{code: 550, enh: [3]int{5, 7, 1}, msg: "From header " + err.Error() + "; the only allowed sender is " + sender}
	}
	if s := canonical(h, "Sender"); len(s) > 0 {
		if err := sameAddress(s, sender); err != nil {
			return nil, &refusal{code: 550, enh: [3]int{5, 7, 1}, msg: "Sender header " + err.Error() + "; the only allowed sender is " + sender}
		}
	}
	if len(canonical(h, "List-Unsubscribe")) > 0 || len(canonical(h, "List-Id")) > 0 {
		return nil, &refusal{code: 550, enh: [3]int{5, 7, 1}, bulk: true, msg: "bulk mail is not permitted: the message has a List-Unsubscribe/List-Id header; this relay is for transactional mail only"}
	}
	for _, p := range canonical(h, "Precedence") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return nil, &refusal{code: 550, enh: [3]int{5, 7, 1}, bulk: true, msg: "bulk mail is not permitted: Precedence: " + strings.TrimSpace(p) + "; this relay is for transactional mail only"}
		}
	}
	subj := h.Get("Subject")
	if len(subj) > 200 {
		subj = strings.ToValidUTF8(subj[:200], "")
	}
	return &checkedMessage{
		headerEnd: end,
		subject:   subj,
		hasDate:   len(canonical(h, "Date")) > 0,
		hasMsgID:  len(canonical(h, "Message-Id")) > 0,
		bodyHash:  bodyHash(msg[end:]),
	}, nil
}

// canonical returns every value of a field whatever the case of its name;
// net/mail canonicalizes names, but "Message-ID" and "Message-Id" differ.
func canonical(h mail.Header, name string) []string {
	var out []string
	for k, v := range h {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
		}
	}
	return out
}

// sameAddress checks that values hold exactly one field with exactly one
// address equal to want (domain compared case-insensitively).
func sameAddress(values []string, want string) error {
	if len(values) != 1 {
		return fmt.Errorf("appears %d times, must appear once", len(values))
	}
	list, err := mail.ParseAddressList(values[0])
	if err != nil {
		return fmt.Errorf("does not parse (%s)", short(err))
	}
	if len(list) != 1 {
		return fmt.Errorf("has %d addresses, must have one", len(list))
	}
	if !sameMailbox(list[0].Address, want) {
		return fmt.Errorf("is %q", list[0].Address)
	}
	return nil
}

// sameMailbox compares local parts exactly and domains case-insensitively.
func sameMailbox(got, want string) bool {
	gi, wi := strings.LastIndexByte(got, '@'), strings.LastIndexByte(want, '@')
	if gi < 0 || wi < 0 {
		return false
	}
	return got[:gi] == want[:wi] && strings.EqualFold(got[gi+1:], want[wi+1:])
}

// bodyHash hashes the body with every run of whitespace folded to one space,
// so re-wrapped copies of one mailing count as the same body.
func bodyHash(body []byte) [32]byte {
	h := sha256.New()
	space, started := false, false
	buf := make([]byte, 0, 4096)
	for _, c := range body {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v' {
			space = true
			continue
		}
		if space && started {
			buf = append(buf, ' ')
		}
		space, started = false, true
		buf = append(buf, c)
		if len(buf) >= 4000 {
			h.Write(buf)
			buf = buf[:0]
		}
	}
	h.Write(buf)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// short trims an error text for a reply line.
func short(err error) string {
	s := err.Error()
	var line = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(line) > 120 {
		line = line[:120]
	}
	return line
}
